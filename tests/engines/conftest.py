"""One small Spark session for the whole test run, and one simulated fleet answered by both the
embedded engine and Spark over the lake."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import hindsight
from hindsight.engines.spark.build import BuildReport, SparkBuilder
from hindsight.engines.spark.engine import SparkEngine
from hindsight.engines.spark.session import LOCAL_SMALL, get_session
from hindsight.lake.ingest import ingest_files
from hindsight.sim import SimConfig, simulate


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    session = get_session(LOCAL_SMALL)
    yield session
    session.stop()


@dataclass
class Fleet:
    out: Path
    embedded: hindsight.Hindsight
    spark: SparkEngine
    first: BuildReport
    second: BuildReport


def _rotated(out: Path) -> tuple[list[Path], list[Path]]:
    """Each host's rotated (older) log files, and everything else."""
    files = sorted(p for p in (out / "hosts").rglob("*") if p.is_file())
    old = [p for p in files if p.name.split(".log", 1)[1][:1] == "."]
    return old, [p for p in files if p not in old]


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Iterator[Fleet]:
    """Two days of a few hosts, with resets, epoch changes, duplicates and late out-of-order
    backlogs. The lake is built in two rounds: the rotated files first, then the rest, the late
    backlogs and one host's files again, so the second build both extends streams and replays
    them; the embedded store ingests everything at once."""
    out = tmp_path_factory.mktemp("fleet")
    simulate(SimConfig(hosts=4, days=2, out=out, seed=5))
    lake = str(tmp_path_factory.mktemp("lake") / "lake")
    old, rest = _rotated(out)
    ingest_files(lake, old)
    first = SparkBuilder(spark, lake).build()
    again = sorted((out / "hosts").iterdir())[0]
    ingest_files(lake, [*rest, out / "late", again])
    second = SparkBuilder(spark, lake).build()
    with hindsight.open(tmp_path_factory.mktemp("data")) as hs:
        hs.ingest([out / "hosts", out / "late"])
        yield Fleet(out, hs, SparkEngine(lake, spark), first, second)
