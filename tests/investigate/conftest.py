"""One simulated fleet, ingested once, and its truth indexed for the investigation tests."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

import hindsight
from hindsight.sim import SimConfig, iter_truth, simulate


@dataclass
class Truth:
    """Every execution's complete result set, per (host key, osquery table), in time order."""

    manifest: dict[str, Any]
    tables: dict[str, str]  # query name -> osquery table
    runs: dict[tuple[str, str], list[tuple[int, list[dict[str, str]]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    events: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))

    def times(self, host: str, table: str) -> list[int]:
        return [t for t, _ in self.runs[(host, table)]]

    def state(self, host: str, table: str, at: int) -> list[dict[str, str]] | None:
        """Rows of the latest execution at or before `at` (None before the first)."""
        runs = self.runs[(host, table)]
        i = bisect.bisect_right([t for t, _ in runs], at)
        return runs[i - 1][1] if i else None

    def offset(self, host: str) -> int:
        return next(h["clock_offset"] for h in self.manifest["hosts"] if h["uuid"].lower() == host)

    def moments(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.manifest["moments"] if m["kind"] == kind]


@pytest.fixture(scope="package")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet")
    simulate(SimConfig(hosts=20, days=1, out=out, seed=3))
    return out


@pytest.fixture(scope="package")
def truth(fleet: Path) -> Truth:
    manifest = orjson.loads((fleet / "manifest.json").read_bytes())
    tables = {q["name"]: q["table"] for q in manifest["queries"]}
    events = {q["name"] for q in manifest["queries"] if q["event"]}
    found = Truth(manifest, tables)
    for host, query, unix, rows in iter_truth(fleet):
        key = (host.lower(), tables[query])
        if query in events:
            found.events[key].extend(rows)
        else:
            found.runs[key].append((unix, rows))
    for runs in found.runs.values():
        runs.sort(key=lambda r: r[0])
    return found


@pytest.fixture(scope="package")
def store(fleet: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[hindsight.Hindsight]:
    data = tmp_path_factory.mktemp("data")
    with hindsight.open(data) as hs:
        summary = hs.ingest([fleet / "hosts", fleet / "late"])
        assert summary.rejected == 0
    with hindsight.open(data, read_only=True) as hs:
        yield hs
