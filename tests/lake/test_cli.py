"""`hindsight ingest --lake` and the engine options, without Spark."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from hindsight.cli import main
from tests.lake.test_writer import LINES


def test_ingest_into_a_lake(tmp_path: Path) -> None:
    src = tmp_path / "in.log"
    src.write_bytes(LINES)
    lake = tmp_path / "lake"
    got = CliRunner().invoke(main, ["ingest", "--lake", str(lake), str(src)])
    assert got.exit_code == 1, got.output  # one line rejected, the others written
    assert "lines: 4" in got.output and "lines rejected: 1" in got.output
    assert f"{src}:4: " in got.output  # each rejected line named, as the store's ingest names it
    assert len(list(lake.rglob("raw/*/*/*.parquet"))) == 2


def test_simulate_refuses_a_fleet_that_cannot_be(tmp_path: Path) -> None:
    for option, value in (("--hosts", "-3"), ("--days", "-1"), ("--days", "nan"), ("--days", "inf")):
        got = CliRunner().invoke(main, ["simulate", "--out", str(tmp_path / "x"), option, value])
        assert got.exit_code == 2 and f"Invalid value for '{option}'" in got.output, got.output


def test_spark_engine_needs_a_lake(tmp_path: Path) -> None:
    got = CliRunner().invoke(main, ["state", "users", "--engine", "spark"], env={"HINDSIGHT_LAKE": ""})
    assert got.exit_code == 2 and "--engine spark needs --lake" in got.output
    for listing in ("hosts", "queries", "quality", "rejects"):
        got = CliRunner().invoke(main, [listing, "--engine", "spark"], env={"HINDSIGHT_LAKE": ""})
        assert got.exit_code == 2 and "--engine spark needs --lake" in got.output, listing
