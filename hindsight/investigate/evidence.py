"""How much an answer can be trusted: freshness at the instant asked, and the window in which
each interval edge happened.

- `confirmed_at`: the last execution of the row's query on its host at or before the instant;
  `checked_in`: the host's last sign of life at or before it (any execution or event line).
- `freshness`: "fresh", or "unknown" when the host was silent for longer than
  `stale_factor` (a setting) x the query's interval (or the fleet's usual check-in spacing, whichever is
  longer): the state is then a guess, not a fact.
- `from_after` .. `valid_from`: the row appeared after the previous execution of its query on
  its host (which did not show it) and by the one that did; `to_after` .. `valid_to`: it was
  last shown by `to_after` and gone by `valid_to`. Differential queries log only changes, so the
  previous execution is the later of the last one recorded and, when the interval is known and
  the host showed signs of life within one interval before then, one interval (plus splay)
  earlier (splay: `splay_slack`). NULL `from_after` means
  no earlier execution within `lookback_s` seconds: the start is not bounded from below.

Intervals are inferred from the executions' spacing (per query: the smallest spacing between
two executions on a sample of hosts; differential queries only log when something changed, so
spacings are multiples of the interval, and a restart's first run comes one interval after it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hindsight.settings import Settings
from hindsight.store.catalog import Catalog
from hindsight.store.layout import OPEN_END, event_table

# Algorithmic constants, not settings: they bound the work of inferring the schedule and do not
# change what an answer means.
#: hosts whose executions the schedule is inferred from (the first by host key: the same hosts
#: on every engine, whatever its ids)
SAMPLE_HOSTS = 64
SAMPLE = f"(SELECT host_id FROM hosts ORDER BY host_key LIMIT {SAMPLE_HOSTS})"
#: spacings shorter than this are one run logged twice (or a restart's), not an interval
MIN_INTERVAL = 10
Runner = Callable[[str], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Tolerance:
    """How loosely the schedule is read: the settings stale_factor, splay_slack, lookback_s."""

    stale_factor: float = Settings.stale_factor
    splay_slack: float = Settings.splay_slack
    lookback: int = Settings.lookback_s

    @classmethod
    def of(cls, settings: Settings) -> Tolerance:
        """The settings' tolerance; a clear error for a value that makes no sense."""
        settings.require(("stale_factor", "splay_slack", "lookback_s"), lambda v: v > 0, "above 0")
        return cls(settings.stale_factor, settings.splay_slack, settings.lookback_s)


@dataclass(frozen=True)
class Schedule:
    """Inferred query intervals (seconds) and the fleet's usual check-in spacing."""

    intervals: dict[int, int]
    heartbeat: int
    tolerance: Tolerance = field(default_factory=Tolerance)

    def interval(self, query_id: int) -> int | None:
        return self.intervals.get(query_id)

    def stale_after(self, query_id: int) -> int:
        spacing = max(self.interval(query_id) or 0, self.heartbeat)
        return int(self.tolerance.stale_factor * spacing)

    def splay(self, query_id: int) -> int:
        """The query's interval with room for splay (osquery's is 10 % per start), 0 if unknown."""
        return int((self.interval(query_id) or 0) * self.tolerance.splay_slack)

    def splayed(self) -> dict[int, int]:
        """query id -> `splay` of each query whose interval is known."""
        return {q: self.splay(q) for q in self.intervals}

    def before(self, query_id: int, instant: int) -> int | None:
        """The latest instant the query surely ran before `instant` if the host was up:
        one interval earlier, with room for splay."""
        return None if self.interval(query_id) is None else instant - self.splay(query_id)


def infer_schedule(run: Runner, catalog: Catalog, tolerance: Tolerance | None = None) -> Schedule:
    """Intervals and heartbeat from the executions of a sample of hosts (bounded work), read
    with `tolerance` (default: the settings' defaults)."""
    rows = run(
        "WITH g AS (SELECT host_id, query_id, unix_time - lag(unix_time) OVER "
        "(PARTITION BY host_id, query_id ORDER BY unix_time) AS gap FROM "
        f"(SELECT DISTINCT host_id, query_id, unix_time FROM executions WHERE host_id IN {SAMPLE})) "
        f"SELECT query_id, min(gap) FROM g WHERE gap >= {MIN_INTERVAL} GROUP BY query_id"
    )
    intervals = {int(q): int(g) for q, g in rows if g is not None}
    heartbeat = _heartbeat(run, catalog, max(intervals.values(), default=3600))
    return Schedule(intervals, heartbeat, tolerance or Tolerance())


def _heartbeat(run: Runner, catalog: Catalog, fallback: int) -> int:
    """The 90th percentile of a host's silences between two signs of life."""
    sources = [f"SELECT host_id, unix_time AS t FROM executions WHERE host_id IN {SAMPLE}"]
    sources += [
        f"SELECT _host, _unix FROM {event_table(q.query_id)} WHERE _host IN {SAMPLE}"
        for q in catalog.queries.values()
        if q.is_event
    ]
    rows = run(
        "SELECT CAST(quantile_cont(gap, 0.9) AS BIGINT) FROM (SELECT t - lag(t) OVER "
        f"(PARTITION BY host_id ORDER BY t) AS gap FROM (SELECT DISTINCT * FROM ({' UNION ALL '.join(sources)}))) "
        "WHERE gap > 0"
    )
    value = rows[0][0] if rows else None
    return int(value) if value else fallback


@dataclass(frozen=True)
class Edge:
    """One interval of one host's query, as found."""

    host: int
    query: int
    valid_from: int
    valid_to: int  # OPEN_END while open


@dataclass(frozen=True)
class Evidence:
    """What backs one interval (unix seconds; see the module docstring)."""

    from_after: int | None
    to_after: int | None
    confirmed_at: int | None
    checked_in: int | None
    freshness: str  # "fresh" or "unknown"


def _values(edges: Sequence[Edge], at: int, schedule: Schedule) -> str:
    def sql(v: int | None) -> str:
        return "NULL::BIGINT" if v is None else str(v)

    return ", ".join(
        f"({i}, {e.host}, {e.query}, {e.valid_from}, {e.valid_to}, {at}, "
        f"{sql(schedule.before(e.query, e.valid_from))}, "
        f"{sql(schedule.before(e.query, e.valid_to) if e.valid_to != OPEN_END else None)})"
        for i, e in enumerate(edges)
    )


def checkins(catalog: Catalog, hosts: str, lo: int, hi: int, with_query: bool = False) -> str:
    """SQL `(h, t)`: every sign of life of the hosts in [lo, hi]: executions and event lines;
    `with_query`: `(h, q, t)`, q the execution's query (NULL for an event line)."""
    q = ("query_id, ", "NULL::INTEGER, ") if with_query else ("", "")
    parts = [
        f"SELECT host_id AS h, {q[0]}unix_time AS t FROM executions WHERE host_id IN ({hosts}) "
        f"AND unix_time BETWEEN {lo} AND {hi}"
    ]
    parts += [
        f"SELECT _host, {q[1]}_unix FROM {event_table(info.query_id)} WHERE _host IN ({hosts}) "
        f"AND _unix BETWEEN {lo} AND {hi}"
        for info in catalog.queries.values()
        if info.is_event
    ]
    return " UNION ALL ".join(parts)


#: at most this many edges per host: per-edge aggregates over one scan and one hash join (a few
#: ms) instead of six ASOF joins (each a partitioned sort); the join grows with edges x signs of
#: life per host. A plan choice, not a setting: both plans give the same answer.
FEW_PER_HOST = 4


def gather(
    run: Runner,
    catalog: Catalog,
    schedule: Schedule,
    edges: Sequence[Edge],
    at: int | None,
    asof: bool | None = None,
) -> list[Evidence]:
    """Evidence for each edge, in order, in one set-based query.

    Freshness is judged at `at` (default now), or at the interval's last instant if it closed
    before then. `asof` picks the plan (default: aggregates when each host has at most
    `FEW_PER_HOST` edges, as for one lookup; ASOF joins otherwise); both give the same answer."""
    if not edges:
        return []
    probe = at if at is not None else int(time.time())
    hosts = ", ".join(sorted({str(e.host) for e in edges}))
    queries = ", ".join(sorted({str(e.query) for e in edges}))
    lo = min(e.valid_from for e in edges) - schedule.tolerance.lookback
    hi = max([probe, *(e.valid_to for e in edges if e.valid_to != OPEN_END)])
    if asof is None:
        asof = max(Counter(e.host for e in edges).values()) > FEW_PER_HOST
    head = f"WITH r(i, h, q, f, t, a, fi, ti) AS (VALUES {_values(edges, probe, schedule)}), "
    if asof:
        head += (
            "ex AS MATERIALIZED (SELECT DISTINCT host_id AS h, query_id AS q, unix_time AS x FROM executions "
            f"WHERE host_id IN ({hosts}) AND query_id IN ({queries}) AND unix_time BETWEEN {lo} AND {hi}), "
            f"ci AS MATERIALIZED (SELECT DISTINCT h, t AS x FROM ({checkins(catalog, hosts, lo, hi)})), "
        )
    else:  # one scan of the executions serves both lookups
        head += f"s(h, q, x) AS ({checkins(catalog, hosts, lo, hi, with_query=True)}), "
    found = {row[0]: row[1:] for row in run(head + (_ASOF if asof else _AGGREGATES))}
    return [_evidence(e, found[i], schedule) for i, e in enumerate(edges)]


# per edge: the last execution of its query before its start (p) and end (l) and at or before
# the instant (c); the host's last sign of life at or before the instant (k) and one interval
# before the start (kf) and end (kt)
_ASOF = (
    "ra AS (SELECT *, least(a, t - 1) AS a2 FROM r) "
    "SELECT ra.i, ra.a2, p.x, l.x, c.x, k.x, ra.fi, kf.x, ra.ti, kt.x FROM ra "
    "ASOF LEFT JOIN ex p ON p.h = ra.h AND p.q = ra.q AND ra.f > p.x "
    "ASOF LEFT JOIN ex l ON l.h = ra.h AND l.q = ra.q AND ra.t > l.x "
    "ASOF LEFT JOIN ex c ON c.h = ra.h AND c.q = ra.q AND ra.a2 >= c.x "
    "ASOF LEFT JOIN ci k ON k.h = ra.h AND ra.a2 >= k.x "
    "ASOF LEFT JOIN ci kf ON kf.h = ra.h AND ra.fi >= kf.x "
    "ASOF LEFT JOIN ci kt ON kt.h = ra.h AND ra.ti >= kt.x ORDER BY ra.i"
)
_AGGREGATES = (
    "ra AS (SELECT *, least(a, t - 1) AS a2 FROM r) "
    "SELECT ra.i, ra.a2, max(x) FILTER (WHERE s.q = ra.q AND x < ra.f), max(x) FILTER (WHERE s.q = ra.q AND x < ra.t), "
    "max(x) FILTER (WHERE s.q = ra.q AND x <= ra.a2), max(x) FILTER (WHERE x <= ra.a2), ra.fi, "
    "max(x) FILTER (WHERE x <= ra.fi), ra.ti, max(x) FILTER (WHERE x <= ra.ti) "
    "FROM ra LEFT JOIN s ON s.h = ra.h GROUP BY ra.i, ra.a2, ra.fi, ra.ti ORDER BY ra.i"
)


def _evidence(edge: Edge, row: tuple[Any, ...], schedule: Schedule) -> Evidence:
    instant, prev, last, confirmed, checked, fi, alive_f, ti, alive_t = row
    stale = schedule.stale_after(edge.query)
    near = schedule.splay(edge.query)
    prev = _latest(prev, fi if _up(alive_f, fi, near) else None)
    lookback = schedule.tolerance.lookback
    from_after = prev if prev is not None and prev >= edge.valid_from - lookback else None
    closed = edge.valid_to != OPEN_END
    last = _latest(last, ti if _up(alive_t, ti, near) else None)
    to_after = last if closed and last is not None and last >= edge.valid_from else None
    silent = checked is None or instant - checked > stale
    return Evidence(from_after, to_after, confirmed, checked, "unknown" if silent else "fresh")


def _up(checked: int | None, instant: int | None, within: int) -> bool:
    """Whether the host showed signs of life within `within` seconds before `instant`."""
    return checked is not None and instant is not None and instant - checked <= within


def _latest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
