"""Turn the executions of one (host, query) stream into validity intervals.

The contract (issue #2): the state at T is the result set as of the latest execution at or
before T. `added` opens an interval, `removed` closes one, a snapshot or a reset replaces the
whole result set (rows missing from it close at that execution). Rows are a multiset: identical
rows are separate instances, numbered so that each open interval has a unique key
(row hash, valid_from, n). When a row's count drops, the most recently opened instance closes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from hindsight.osquery.lines import ResultLine, Row, Shape


@dataclass(slots=True)
class Execution:
    """Everything one execution of a query reported (event-format lines merged)."""

    time: int
    epoch: int
    counter: int | None
    snapshot: bool
    added: list[Row] = field(default_factory=list)
    removed: list[Row] = field(default_factory=list)
    removed_count: int = 0  # removed rows known only by their number (the set-based builder)

    @property
    def key(self) -> tuple[int, int, int, bool]:
        return (self.time, self.epoch, -1 if self.counter is None else self.counter, self.snapshot)


@dataclass(frozen=True, slots=True)
class Open:
    row: Row
    start: int
    n: int


@dataclass(frozen=True, slots=True)
class Close:
    row_hash: int
    start: int
    n: int
    end: int


@dataclass(frozen=True, slots=True)
class Signal:
    """A data-quality observation on the stream (ambiguity, gap, inconsistency)."""

    time: int
    kind: str
    detail: str


@dataclass(slots=True)
class StreamState:
    """Open intervals of one stream: row hash -> [(valid_from, n)] in opening order."""

    open: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    epoch: int | None = None
    counter: int | None = None
    last: tuple[int, int, int, bool] | None = None


def group_executions(lines: Iterable[ResultLine]) -> list[Execution]:
    """Merge the lines of each execution (same time, epoch, counter) and order them."""
    groups: dict[tuple[int, int, int, bool], Execution] = {}
    for line in lines:
        snapshot = line.shape is Shape.SNAPSHOT or line.shape is Shape.SNAPSHOT_EVENT
        key = (line.unix_time, line.epoch, -1 if line.counter is None else line.counter, snapshot)
        ex = groups.get(key)
        if ex is None:
            ex = groups[key] = Execution(line.unix_time, line.epoch, line.counter, snapshot)
        ex.added.extend(line.added)
        ex.removed.extend(line.removed)
    return [groups[k] for k in sorted(groups)]


def apply(
    state: StreamState,
    ex: Execution,
    opened: list[Open],
    closed: list[Close],
    signals: list[Signal],
) -> bool:
    """Apply one execution to the stream's open intervals, appending what opened and closed.

    Returns whether the execution was a complete result set (snapshot or reset).
    """
    full = classify(state, ex, signals)
    if full:
        _replace(state, ex, opened, closed, signals)
    else:
        _diff(state, ex, opened, closed, signals)
    return full


def classify(state: StreamState, ex: Execution, signals: list[Signal]) -> bool:
    """Whether an execution is a complete result set, advancing the stream's position.

    Shared by the reference `apply` and the set-based builder (build_sql), which receives the
    classification with each execution.
    """
    _check_counter(state, ex, signals)
    full = _is_full(state, ex, signals)
    state.epoch, state.counter, state.last = ex.epoch, ex.counter, ex.key
    return full


def _is_full(state: StreamState, ex: Execution, signals: list[Signal]) -> bool:
    if ex.snapshot:
        return True
    reset = ex.counter == 0 or (state.epoch is not None and ex.epoch != state.epoch)
    if reset and (ex.removed or ex.removed_count):
        signals.append(
            Signal(
                ex.time,
                "reset_with_removed",
                "counter 0 or new epoch with removed rows: applied as a diff",
            )
        )
        return False
    return reset


def _check_counter(state: StreamState, ex: Execution, signals: list[Signal]) -> None:
    if ex.snapshot or ex.counter is None or state.counter is None or ex.epoch != state.epoch:
        return
    if ex.counter > state.counter + 1:
        signals.append(
            Signal(
                ex.time,
                "counter_gap",
                f"counter {state.counter} -> {ex.counter}: executions missing",
            )
        )


def _open(state: StreamState, row: Row, time: int, opened: list[Open]) -> None:
    instances = state.open.setdefault(row.hash, [])
    n = 1 + max((i for s, i in instances if s == time), default=-1)
    instances.append((time, n))
    opened.append(Open(row, time, n))


def _close(state: StreamState, row_hash: int, time: int, closed: list[Close]) -> bool:
    instances = state.open.get(row_hash)
    if not instances:
        return False
    start, n = instances.pop()
    if not instances:
        del state.open[row_hash]
    closed.append(Close(row_hash, start, n, time))
    return True


def _diff(
    state: StreamState,
    ex: Execution,
    opened: list[Open],
    closed: list[Close],
    signals: list[Signal],
) -> None:
    missing = sum(1 for row in ex.removed if not _close(state, row.hash, ex.time, closed))
    if missing:
        signals.append(
            Signal(ex.time, "removed_not_open", f"{missing} removed rows were not in the state")
        )
    for row in ex.added:
        _open(state, row, ex.time, opened)


def _replace(
    state: StreamState,
    ex: Execution,
    opened: list[Open],
    closed: list[Close],
    signals: list[Signal],
) -> None:
    wanted = Counter(row.hash for row in ex.added)
    dropped = 0
    for row_hash in list(state.open):
        surplus = len(state.open[row_hash]) - wanted.get(row_hash, 0)
        for _ in range(max(surplus, 0)):
            _close(state, row_hash, ex.time, closed)
            dropped += 1
    for row in ex.added:
        have = len(state.open.get(row.hash, ()))
        if wanted[row.hash] > have:
            _open(state, row, ex.time, opened)
    if dropped and not ex.snapshot:
        signals.append(
            Signal(
                ex.time,
                "reset_closed_rows",
                f"reset (counter 0 or new epoch) closed {dropped} rows osquery never reported removed; a pre-5.19 purge diff would not have",
            )
        )
