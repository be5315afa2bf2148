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
    assert len(list(lake.rglob("raw/*/*/*.parquet"))) == 2


def test_spark_engine_needs_a_lake(tmp_path: Path) -> None:
    got = CliRunner().invoke(main, ["state", "users", "--engine", "spark"], env={"HINDSIGHT_LAKE": ""})
    assert got.exit_code == 2 and "--engine spark needs --lake" in got.output
    for listing in ("hosts", "queries", "quality", "rejects"):
        got = CliRunner().invoke(main, [listing, "--engine", "spark"], env={"HINDSIGHT_LAKE": ""})
        assert got.exit_code == 2 and "--engine spark needs --lake" in got.output, listing
