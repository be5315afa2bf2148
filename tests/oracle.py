"""A small, independent model of osqueryd's scheduler output, for property tests.

Given the complete result set of each execution, it writes the lines osquery would write in a
chosen shape, following FORMATS.md: counter 0 with the full set on the first run and on resets,
+1 on each execution with a diff, nothing when nothing changed (event format), removed before
added, identical rows adjacent, snapshots always complete.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

Row = tuple[tuple[str, str], ...]  # sorted (column, text value) pairs


@dataclass(frozen=True)
class Run:
    time: int
    rows: tuple[Row, ...]
    reset: bool = False  # results database lost: counter 0, full set
    new_epoch: bool = False  # --schedule_epoch bumped


@dataclass
class Host:
    uuid: str
    names: list[str]  # hostIdentifier per run (renames)
    shape: str  # event | batch | snapshot | snapshot_event
    numerics: bool
    runs: list[Run] = field(default_factory=list)


def calendar(t: int) -> str:
    g = time.gmtime(t)
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{days[g.tm_wday]} {months[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} {g.tm_year} UTC"


def _value(v: str, numerics: bool, numeric_cols: set[str], col: str) -> Any:
    if numerics and col in numeric_cols and v != "":
        return int(v)
    return v


def _row_obj(row: Row, host: Host, numeric_cols: set[str]) -> dict[str, Any]:
    return {c: _value(v, host.numerics, numeric_cols, c) for c, v in row}


def emit(host: Host, query: str, numeric_cols: set[str] = frozenset()) -> list[list[bytes]]:  # type: ignore[assignment]
    """Lines per execution (empty list where osquery writes nothing)."""
    prev: Counter[Row] = Counter()
    epoch, counter, started = 0, 0, False
    out: list[list[bytes]] = []
    for i, run in enumerate(host.runs):
        head = {
            "name": query,
            "hostIdentifier": host.names[i],
            "calendarTime": calendar(run.time),
            "unixTime": run.time,
            "epoch": 0,
            "counter": 0,
            "numerics": host.numerics,
            "decorations": {"host_uuid": host.uuid, "hostname": host.names[i]},
        }
        cur = Counter(run.rows)
        if run.new_epoch:
            epoch += 1
        if host.shape in ("snapshot", "snapshot_event"):
            head["epoch"] = epoch
            out.append(_snapshot(head, run, host, numeric_cols))
            continue
        full = not started or run.reset or run.new_epoch
        started = True
        if full:
            counter = 0
            added, removed = list(run.rows), []
        else:
            added, removed = _diff(prev, run.rows)
            if added or removed:
                counter += 1
        head["epoch"], head["counter"] = epoch, counter
        prev = cur
        if not full and not added and not removed:
            out.append([])
            continue
        out.append(_diff_lines(head, added, removed, host, numeric_cols, full))
    return out


def _diff(stored: Counter[Row], current: tuple[Row, ...]) -> tuple[list[Row], list[Row]]:
    """osquery's diff (diff_results.cpp): `added` in the query's result order (identical rows
    need not be next to each other), `removed` in the stored multiset's (sorted) order."""
    old, added = Counter(stored), []
    for row in current:
        if old[row] > 0:
            old[row] -= 1
        else:
            added.append(row)
    return added, sorted(old.elements())


def _snapshot(head: dict[str, Any], run: Run, host: Host, numeric_cols: set[str]) -> list[bytes]:
    rows = [_row_obj(r, host, numeric_cols) for r in run.rows]  # the query's result order
    if host.shape == "snapshot":
        return [orjson.dumps({"snapshot": rows, "action": "snapshot", **head})]
    return [orjson.dumps({**head, "columns": r, "action": "snapshot"}) for r in rows]


def _diff_lines(
    head: dict[str, Any],
    added: list[Row],
    removed: list[Row],
    host: Host,
    numeric_cols: set[str],
    full: bool,
) -> list[bytes]:
    if host.shape == "batch":
        diff = {
            "removed": [_row_obj(r, host, numeric_cols) for r in removed],
            "added": [_row_obj(r, host, numeric_cols) for r in added],
        }
        return [orjson.dumps({"diffResults": diff, **head})]
    lines = [
        orjson.dumps({**head, "columns": _row_obj(r, host, numeric_cols), "action": "removed"})
        for r in removed
    ]
    lines += [
        orjson.dumps({**head, "columns": _row_obj(r, host, numeric_cols), "action": "added"})
        for r in added
    ]
    return lines


def truth_at(host: Host, t: int) -> Counter[Row] | None:
    """The result set of the latest execution at or before t (None before the first)."""
    state = None
    for run in host.runs:
        if run.time > t:
            break
        state = Counter(run.rows)
    return state


def canon(row: dict[str, Any]) -> Row:
    return tuple(
        sorted(
            (k, "" if v is None else str(v))
            for k, v in row.items()
            if k not in ("host", "host_key")
        )
    )
