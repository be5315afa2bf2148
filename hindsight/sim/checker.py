"""The checker: Hindsight's state against the simulator's truth.

For every (host, query) of a simulated fleet it compares, at every execution instant and at random
instants between them, the rows Hindsight holds valid with the complete result set osquery
computed; event queries are compared as multisets of all their rows. Each mismatch names the
host, the query, the instant, the missing rows and the extra rows.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hindsight.api import Hindsight
from hindsight.errors import UnknownHost, UnknownQuery
from hindsight.query.names import RESERVED
from hindsight.sim.truth import iter_truth

Row = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Mismatch:
    host: str
    query: str
    at: int | None  # None for event queries (compared as a whole)
    missing: list[dict[str, str]]
    extra: list[dict[str, str]]

    def __str__(self) -> str:
        when = "all events" if self.at is None else f"at {self.at}"
        return (
            f"{self.host} {self.query} {when}: missing {len(self.missing)} {self.missing[:3]}, "
            f"extra {len(self.extra)} {self.extra[:3]}"
        )


@dataclass
class CheckReport:
    instants: int = 0
    streams: int = 0
    state_calls: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    total_mismatches: int = 0

    @property
    def ok(self) -> bool:
        return self.total_mismatches == 0

    def add(self, mismatch: Mismatch) -> None:
        self.total_mismatches += 1
        if len(self.mismatches) < 200:
            self.mismatches.append(mismatch)


def _canon(row: dict[str, Any], keys: Iterable[str]) -> Row:
    def text(v: Any) -> str:
        return "" if v is None else str(v)

    return tuple(sorted((k, text(row.get(k))) for k in keys))


def _unrename(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in RESERVED}
    for name in RESERVED:
        if name + "_" in out:
            out[name] = out.pop(name + "_")
    return out


def check(
    hs: Hindsight, out_dir: Path | str, between: int = 2, seed: int = 0, state_samples: int = 1
) -> CheckReport:
    """Compare every (host, query) of the simulated fleet in OUT_DIR with Hindsight's store."""
    manifest = orjson.loads((Path(out_dir) / "manifest.json").read_bytes())
    events = {q["name"] for q in manifest["queries"] if q["event"]}
    report = CheckReport()
    rnd = random.Random(seed)
    streams: dict[tuple[str, str], list[tuple[int, list[dict[str, str]]]]] = defaultdict(list)
    current: str | None = None
    for host, query, at, rows in iter_truth(out_dir):
        if current is not None and host != current:
            _check_host(hs, streams, events, report, rnd, between, state_samples)
            streams.clear()
        current = host
        streams[(host, query)].append((at, rows))
    _check_host(hs, streams, events, report, rnd, between, state_samples)
    return report


def _check_host(
    hs: Hindsight,
    streams: dict[tuple[str, str], list[tuple[int, list[dict[str, str]]]]],
    events: set[str],
    report: CheckReport,
    rnd: random.Random,
    between: int,
    state_samples: int,
) -> None:
    for (host, query), records in streams.items():
        report.streams += 1
        if query in events:
            _check_events(hs, host, query, records, report)
        else:
            _check_state(
                hs,
                host,
                query,
                sorted(records, key=lambda r: r[0]),
                report,
                rnd,
                between,
                state_samples,
            )


def _intervals(hs: Hindsight, host: str, query: str) -> list[dict[str, Any]]:
    try:
        return hs.sql(
            f"SELECT * FROM \"{query}\" FOR SYSTEM_TIME ALL WHERE host_key = '{host.lower()}'"
        ).dicts()
    except UnknownQuery:
        return []


def _check_state(
    hs: Hindsight,
    host: str,
    query: str,
    records: list[tuple[int, list[dict[str, str]]]],
    report: CheckReport,
    rnd: random.Random,
    between: int,
    state_samples: int,
) -> None:
    intervals = _intervals(hs, host, query)
    keys = {k for _, rows in records for r in rows for k in r}
    instants = {t for t, _ in records}
    for (t0, _), (t1, _) in itertools.pairwise(records):
        if t1 - t0 > 1:
            instants.update(rnd.randrange(t0 + 1, t1) for _ in range(between))
    sampled = set(rnd.sample(sorted(instants), min(state_samples, len(instants))))
    times = [t for t, _ in records]
    for at in sorted(instants):
        index = _latest(times, at)
        truth = Counter(_canon(r, keys) for r in records[index][1]) if index >= 0 else Counter()
        held = [
            iv
            for iv in intervals
            if iv["valid_from"] <= at and (iv["valid_to"] is None or at < iv["valid_to"])
        ]
        got = Counter(_canon(_unrename(iv), keys) for iv in held)
        report.instants += 1
        _compare(report, host, query, at, truth, got)
        if at in sampled:
            report.state_calls += 1
            _compare(report, host, query, at, truth, _state(hs, host, query, at, keys))


def _state(hs: Hindsight, host: str, query: str, at: int, keys: set[str]) -> Counter[Row]:
    try:
        rows = hs.state(query, at=at, hosts=[host]).dicts()
    except (UnknownQuery, UnknownHost):
        return Counter()
    return Counter(_canon(_unrename(r), keys) for r in rows)


def _latest(times: list[int], at: int) -> int:
    index = -1
    for i, t in enumerate(times):
        if t > at:
            break
        index = i
    return index


def _check_events(
    hs: Hindsight,
    host: str,
    query: str,
    records: list[tuple[int, list[dict[str, str]]]],
    report: CheckReport,
) -> None:
    keys = {k for _, rows in records for r in rows for k in r}
    truth = Counter(_canon(r, keys) for _, rows in records for r in rows)
    try:
        rows = hs.sql(f"SELECT * FROM \"{query}\" WHERE host_key = '{host.lower()}'").dicts()
    except UnknownQuery:
        rows = []
    report.instants += 1
    _compare(report, host, query, None, truth, Counter(_canon(_unrename(r), keys) for r in rows))


def _compare(
    report: CheckReport,
    host: str,
    query: str,
    at: int | None,
    truth: Counter[Row],
    got: Counter[Row],
) -> None:
    if truth == got:
        return
    report.add(
        Mismatch(
            host,
            query,
            at,
            [dict(r) for r in (truth - got).elements()],
            [dict(r) for r in (got - truth).elements()],
        )
    )
