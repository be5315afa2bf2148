"""Hindsight against the simulator's truth: 100 % agreement is the bar."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import hindsight
from hindsight.cli import main
from hindsight.sim import SimConfig, simulate
from hindsight.sim.checker import check


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every behaviour of the simulator: DHCP churn, uid reuse, USB drives, resets, epoch
    changes, renames, offline hosts with late out-of-order backlogs, duplicates, clock skew,
    numerics on and off, event and batch formats, snapshots."""
    out = tmp_path_factory.mktemp("fleet")
    simulate(SimConfig(hosts=20, days=1, out=out, seed=3))
    return out


def test_agrees_with_truth_everywhere(fleet: Path, tmp_path: Path) -> None:
    with hindsight.open(tmp_path / "data") as hs:
        summary = hs.ingest([fleet / "hosts", fleet / "late"])
        assert summary.rejected == 0 and summary.duplicates > 0
        report = check(hs, fleet)
    assert report.streams > 200 and report.instants > 50_000 and report.state_calls > 200
    assert report.ok, "\n".join(map(str, report.mismatches[:10]))


def reverse_rounds(fleet: Path) -> list[list[Path]]:
    """The files in reverse path order, the late backlogs first, one ingest per file, as each
    host sees them; the k-th ingest of every host goes into round k (hosts' streams are
    independent): the same arrivals per host in a dozen ingests rather than 86, each of which
    costs about a second on this store."""
    files = sorted(p for p in fleet.joinpath("hosts").rglob("*") if p.is_file())
    late = sorted(fleet.joinpath("late").iterdir())
    per_host: dict[str, list[Path]] = {}
    for path in [*reversed(late), *reversed(files)]:
        per_host.setdefault(_host_of(path), []).append(path)
    rounds: list[list[Path]] = []
    for paths in per_host.values():
        for k, path in enumerate(paths):
            if k == len(rounds):
                rounds.append([])
            rounds[k].append(path)
    return rounds


def _host_of(path: Path) -> str:
    """A host's files are in a directory named by its uuid; a late TLS body is named
    <arrival>_<uuid>_<n>.json."""
    return path.name.split("_")[1] if path.parent.name == "late" else path.parent.name


def test_agrees_when_files_arrive_in_reverse(fleet: Path, tmp_path: Path) -> None:
    rounds = reverse_rounds(fleet)
    hosts = {p.name for p in fleet.joinpath("hosts").iterdir()}
    assert {_host_of(p) for r in rounds for p in r} == hosts and len(rounds) < 20
    assert all(len({_host_of(p) for p in r}) == len(r) for r in rounds), "a host twice in one ingest"
    with hindsight.open(tmp_path / "data", batch_lines=5_000) as hs:
        for paths in rounds:
            hs.ingest(paths)
        assert hs.ingest([fleet / "late"]).duplicates > 0
        report = check(hs, fleet, between=1)
    assert report.ok, "\n".join(map(str, report.mismatches[:10]))


def test_checker_names_what_is_missing(fleet: Path, tmp_path: Path) -> None:
    """A host with late backlogs, checked alone (the checker costs a query per instant)."""
    late = sorted({_host_of(p) for p in fleet.joinpath("late").iterdir()})[:1]
    sample = tmp_path / "sample"
    (sample / "truth").mkdir(parents=True)
    (sample / "manifest.json").symlink_to(fleet / "manifest.json")
    for host in late:
        (sample / "truth" / f"{host}.jsonl.zst").symlink_to(fleet / "truth" / f"{host}.jsonl.zst")
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([fleet / "hosts" / host for host in late])  # the late backlogs never arrived
        report = check(hs, sample, between=0)
    assert not report.ok and late
    first = report.mismatches[0]
    assert first.host in late and first.query and (first.missing or first.extra)


def test_demo_answers_the_three_questions(tmp_path: Path) -> None:
    workdir = tmp_path / "demo [bold]x"  # a directory is printed as it is named, not as markup
    result = CliRunner().invoke(main, ["demo", "--hosts", "20", "--days", "1", "--dir", str(workdir)])
    assert result.exit_code == 0, result.output
    assert result.output.count("-> matches") == 3
    assert "hindsight sql" in result.output and "Explore further" in result.output
    assert f"--data {workdir}/data" in result.output
