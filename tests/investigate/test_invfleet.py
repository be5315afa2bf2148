"""bench/invfleet.py, the investigation bench's fleet, at a tiny scale: what it promises (its
docstring) holds, and its ground truth is what the investigations answer."""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import hindsight
from bench.invfleet import DAY, START, generate, read_truth

HOSTS, DAYS, EVENTS, SAMPLES = 40, 2, 2000, 40


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("invfleet")
    return root, generate(root, HOSTS, DAYS, EVENTS, samples=SAMPLES)


@pytest.fixture(scope="module")
def store(fleet: tuple[Path, dict[str, Any]]) -> Iterator[hindsight.Hindsight]:
    root, stats = fleet
    with hindsight.open(root / "data") as hs:
        summary = hs.ingest(sorted((root / "logs").glob("*.log.gz")))
        assert summary.rejected == 0 and summary.lines == stats["lines"]
    with hindsight.open(root / "data", read_only=True) as hs:
        yield hs


def lines(root: Path) -> Iterator[dict[str, Any]]:
    for path in sorted((root / "logs").glob("*.log.gz")):
        with gzip.open(path, "rb") as f:
            yield from (orjson.loads(line) for line in f)


def test_logs_are_one_gzip_per_day_in_both_formats(fleet: tuple[Path, dict[str, Any]]) -> None:
    root, stats = fleet
    assert sorted(p.name for p in (root / "logs").iterdir()) == [
        f"osquery-day{d:03d}.log.gz" for d in range(DAYS)
    ]
    seen = list(lines(root))
    assert len(seen) == stats["lines"] and stats["hosts"] == HOSTS and stats["days"] == DAYS
    assert all(START <= x["unixTime"] < START + DAYS * DAY for x in seen)
    shapes = {(x["hostIdentifier"], "columns" in x, x["numerics"]) for x in seen}
    event_format = {h for h, columns, _ in shapes if columns}
    assert all(numerics == columns for _, columns, numerics in shapes)  # event format: numerics true
    names = {h for h, _, _ in shapes}
    assert len(names) == HOSTS and len(event_format) == HOSTS // 4  # a quarter in event format
    assert 0 < sum(h.startswith("lt-") for h in names) < HOSTS and stats["ip_handovers"] > HOSTS
    assert all("diffResults" in x or x["action"] in ("added", "removed") for x in seen)
    assert all(x["decorations"]["hostname"] == x["hostIdentifier"] for x in seen)
    events = sum(
        len(x["diffResults"]["added"]) if "diffResults" in x else 1
        for x in seen
        if x["name"] == "process_events"
    )
    assert events == stats["process_events"] and 0.5 * EVENTS < events < 1.5 * EVENTS


def test_address_truth_is_what_who_ip_answers(
    fleet: tuple[Path, dict[str, Any]], store: hindsight.Hindsight
) -> None:
    probes = read_truth(fleet[0], "ip")
    assert len(probes) == SAMPLES and all(p["hosts"] for p in probes)
    for p in probes:
        got = sorted(r["host"] for r in store.investigate.who_ip(p["address"], p["at"]).dicts())
        assert got == p["hosts"], p


def test_uid_truth_is_what_who_uid_answers(
    fleet: tuple[Path, dict[str, Any]], store: hindsight.Hindsight
) -> None:
    probes = read_truth(fleet[0], "uid")
    assert len(probes) == SAMPLES
    assert Counter(len(p["accounts"]) > 1 for p in probes)[True] > SAMPLES / 2  # reused uids
    for p in probes:
        rows = store.investigate.who_uid(p["uid"], p["host"], p["at"]).dicts()
        assert sorted([r["relation"], r["username"]] for r in rows) == p["accounts"], p


def test_mount_truth_is_what_who_mount_answers(
    fleet: tuple[Path, dict[str, Any]], store: hindsight.Hindsight
) -> None:
    probes = read_truth(fleet[0], "mount")
    assert 3 <= len(probes) <= fleet[1]["usb_drives"]
    for p in probes:
        rows = store.investigate.who_mount(p["path"], p["host"], p["at"]).dicts()
        assert [(r["mount_path"], r["usb_serial"]) for r in rows] == [(p["mount_path"], p["serial"])], p


def test_event_truth_is_what_enrich_answers(
    fleet: tuple[Path, dict[str, Any]], store: hindsight.Hindsight
) -> None:
    want = {(t["host"], t["pid"], t["time"]): t["username"] for t in read_truth(fleet[0], "events")}
    assert len(want) == SAMPLES
    rows = store.investigate.enrich("process_events").dicts()
    assert len(rows) == fleet[1]["process_events"]
    got = Counter((r["host"], r["pid"], r["time"]) for r in rows)
    names = {(r["host"], r["pid"], r["time"]): r["user_username"] for r in rows}
    for key, username in want.items():
        assert got[key] == 1 and names[key] == username, key


def test_a_fleet_too_small_for_uid_reuse_still_has_uid_truth(tmp_path: Path) -> None:
    stats = generate(tmp_path, 4, 1, 50, samples=10)
    probes = read_truth(tmp_path, "uid")
    assert stats["hosts"] == 4 and len(probes) == 10
    assert all([relation for relation, _ in p["accounts"]].count("at") == 1 for p in probes)
