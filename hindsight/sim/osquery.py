"""osqueryd emulation: schedule with splay, differential/snapshot/event execution, counters,
epochs and serialization of every line (FORMATS.md §1-§2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Protocol

import orjson

from .fleet import HostProfile, Session
from .rand import rng_for
from .serialize import (
    ADDED,
    REMOVED,
    SNAPSHOT,
    LineMeta,
    Row,
    batch_line,
    event_prefix,
    osquery_sort_key,
    row_bytes,
    snapshot_line,
    typed_row_bytes,
)
from .tables import BUILDERS, QuerySpec, columns, host_queries, mask_for
from .world import World

SPLAY_PERCENT = 10  # --schedule_splay_percent
_CACHE_MAX = 20_000


class Sink(Protocol):
    def emit(self, kind: str, t: int, unix_time: int, lines: list[bytes], nrows: int) -> None:
        """lines: complete lines of one execution; nrows: result rows they carry."""

    def new_process(self) -> None: ...


class TruthSink(Protocol):
    def write(self, data: bytes) -> None: ...


class QueryState:
    """One scheduled query on one host: its RocksDB state and serialization caches."""

    def __init__(self, spec: QuerySpec, platform: str, numerics: bool) -> None:
        self.spec = spec
        self.cols = columns(spec.table, platform)
        self.mask = mask_for(spec.table, platform)
        self.name = orjson.dumps(spec.name)
        self.numerics = numerics
        self.stored: list[Row] | None = None  # None: new query (or wiped database)
        self.epoch = -1
        self.counter = 0
        self.seen = -1
        self.rows: list[Row] = []
        self.truth_bytes = b""
        self.log_bytes = b""
        self.interval = spec.interval
        self.truth_head = b'{"query":' + self.name + b',"unixTime":'
        self.getter: Callable[[dict[str, str]], Row] = itemgetter(*self.cols)
        self.numeric = frozenset(c for c, m in zip(self.cols, self.mask, strict=True) if m)
        self._cache: dict[Row, tuple[bytes, bytes]] = {}

    def reset_db(self) -> None:
        self.stored, self.epoch, self.counter = None, -1, 0

    def encode(self, row: Row) -> tuple[bytes, bytes]:
        """(all-strings JSON, JSON as logged under this host's numerics)."""
        b = self._cache.get(row)
        if b is None:
            s = row_bytes(self.cols, row)
            b = (s, typed_row_bytes(self.cols, self.mask, row) if self.numerics else s)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[row] = b
        return b

    def logged(self, rows: list[Row]) -> list[bytes]:
        return [self.encode(r)[1] for r in rows]

    def set_rows(self, rows: list[Row]) -> list[Row]:
        if rows != self.rows:
            self.rows, self.truth_bytes, self.log_bytes = rows, b"", b""
        return self.rows

    def truth_json(self) -> bytes:
        if not self.truth_bytes:
            self.truth_bytes = b"[" + b",".join(self.encode(r)[0] for r in self.rows) + b"]"
        return self.truth_bytes

    def log_json(self) -> bytes:
        if not self.log_bytes:
            self.log_bytes = b",".join(self.logged(self.rows))
        return self.log_bytes


def multiset_diff(
    old: list[Row], new: list[Row], mask: tuple[bool, ...]
) -> tuple[list[Row], list[Row]]:
    """osquery's diff(): added in current order; removed = leftovers of the stored multiset,
    in std::multiset<RowTyped> order."""
    left = Counter(old)
    added: list[Row] = []
    for r in new:
        if left[r] > 0:
            left[r] -= 1
        else:
            added.append(r)
    removed = [r for r, n in left.items() for _ in range(n)]
    removed.sort(key=lambda r: osquery_sort_key(mask, r))
    return added, removed


class Osqueryd:
    def __init__(
        self, seed: int, prof: HostProfile, world: World, sink: Sink, truth: TruthSink
    ) -> None:
        self.p = prof
        self.w = world
        self.sink = sink
        self.truth = truth
        self.rng = rng_for(seed, "osqueryd", prof.index)
        self.queries = [
            QueryState(q, prof.platform, prof.numerics)
            for q in host_queries(prof.platform, prof.has("procsnap"))
        ]
        self.meta = LineMeta(prof.numerics, prof.uuid)
        self.epoch = prof.epochs[0][1]
        self._ei = 0
        self._hi = 0
        self.meta.set_hostname(prof.hostnames[0][1])
        self.executions = 0
        self._runs: list[tuple[int, int]] = []
        self.tbuf = bytearray()

    def run(self) -> None:
        w, heap = self.w, self.w.heap
        runners = [self._runner(q) for q in self.queries]
        queries = self.queries
        for sess in self.p.sessions:
            self._start(sess)
            next_clock = self._next_clock()
            for t, qi in self._schedule(sess):
                if w.cmd_t <= t or (heap and heap[0][0] <= t):
                    w.advance(t)
                if t >= next_clock:
                    self._clock(t)
                    next_clock = self._next_clock()
                runners[qi](queries[qi], t, t + self.p.clock_offset)
            self.executions += len(self._runs)
        w.advance(self.p.end)
        self.truth.write(bytes(self.tbuf))
        self.tbuf.clear()

    def _runner(self, q: QueryState) -> Callable[[QueryState, int, int], None]:
        if q.spec.event:
            return self._run_events
        return self._run_snapshot if q.spec.snapshot else self._run_differential

    def _next_clock(self) -> int:
        ep, hn = self.p.epochs, self.p.hostnames
        nxt = [ep[self._ei + 1][0]] if self._ei + 1 < len(ep) else []
        nxt += [hn[self._hi + 1][0]] if self._hi + 1 < len(hn) else []
        return min(nxt, default=1 << 62)

    def _start(self, sess: Session) -> None:
        if sess.dbwipe:
            for q in self.queries:
                q.reset_db()
            self.w.clear_events()
        self.sink.new_process()
        for q in self.queries:  # splay is drawn at config load, i.e. at each start
            d = q.spec.interval * SPLAY_PERCENT // 100
            q.interval = q.spec.interval + self.rng.randint(-d, d)

    def _schedule(self, sess: Session) -> Iterator[tuple[int, int]]:
        runs = [
            (t, qi)
            for qi, q in enumerate(self.queries)
            for t in range(sess.start + q.interval, sess.end, q.interval)
        ]
        runs.sort()
        self._runs = runs
        return iter(runs)

    def _clock(self, t: int) -> None:
        ep, hn = self.p.epochs, self.p.hostnames
        while self._ei + 1 < len(ep) and ep[self._ei + 1][0] <= t:
            self._ei += 1
            self.epoch = ep[self._ei][1]
        while self._hi + 1 < len(hn) and hn[self._hi + 1][0] <= t:
            self._hi += 1
            self.meta.set_hostname(hn[self._hi][1])

    def _rows(self, q: QueryState) -> list[Row]:
        v = self.w.versions[q.spec.domain]
        if v != q.seen:
            q.seen = v
            q.set_rows(list(map(q.getter, BUILDERS[q.spec.table](self.w))))
        return q.rows

    def _write_truth(self, q: QueryState, ht: int, rows_json: bytes) -> None:
        buf = self.tbuf
        buf += b'%s%d,"epoch":%d,"counter":%d,"rows":%s}\n' % (
            q.truth_head,
            ht,
            self.epoch,
            q.counter,
            rows_json,
        )
        if len(buf) >= 1 << 20:
            self.truth.write(bytes(buf))
            buf.clear()

    def _run_differential(self, q: QueryState, t: int, ht: int) -> None:
        if (
            self.w.versions[q.spec.domain] == q.seen
            and q.stored is q.rows
            and (q.epoch == self.epoch)
        ):  # fast path: nothing changed, nothing logged; only the truth records the run
            self.tbuf += b'%s%d,"epoch":%d,"counter":%d,"rows":%s}\n' % (
                q.truth_head,
                ht,
                self.epoch,
                q.counter,
                q.truth_bytes or q.truth_json(),
            )
            return
        rows = q.rows if self.w.versions[q.spec.domain] == q.seen else self._rows(q)
        if q.stored is None or q.epoch != self.epoch:
            q.stored, q.epoch, q.counter = rows, self.epoch, 0
            self._log_diff(q, t, ht, rows, [], reset=True)
        elif rows is not q.stored:
            added, removed = multiset_diff(q.stored, rows, q.mask)
            q.stored = rows
            if added or removed:
                q.counter += 1
                self._log_diff(q, t, ht, added, removed, reset=False)
        self._write_truth(q, ht, q.truth_json())

    def _log_diff(
        self, q: QueryState, t: int, ht: int, added: list[Row], removed: list[Row], reset: bool
    ) -> None:
        meta = self.meta.meta(ht, self.epoch, q.counter)
        if self.p.event_format:
            pre = event_prefix(q.name, meta)
            lines = [pre + rb + REMOVED for rb in q.logged(removed)]
            lines += [pre + rb + ADDED for rb in q.logged(added)]
            if lines:
                self.sink.emit("results", t, ht, lines, len(lines))
            return
        if added or removed or reset:  # 5.8+: an empty reset still writes a batch line
            line = batch_line(
                q.name, meta, b",".join(q.logged(removed)), b",".join(q.logged(added))
            )
            self.sink.emit("results", t, ht, [line], len(added) + len(removed))

    def _run_snapshot(self, q: QueryState, t: int, ht: int) -> None:
        rows = self._rows(q)
        meta = self.meta.meta(ht, self.epoch, 0)
        if self.p.snapshot_events:
            if rows:
                pre = event_prefix(q.name, meta)
                self.sink.emit(
                    "snapshots", t, ht, [pre + rb + SNAPSHOT for rb in q.logged(rows)], len(rows)
                )
        else:
            self.sink.emit(
                "snapshots", t, ht, [snapshot_line(q.name, meta, q.log_json())], len(rows)
            )
        self._write_truth(q, ht, q.truth_json())

    def _run_events(self, q: QueryState, t: int, ht: int) -> None:
        evs = self.w.take_events(q.spec.table)
        if q.stored is None or q.epoch != self.epoch:
            q.stored, q.epoch, q.counter = [], self.epoch, 0
        if not evs:
            return
        q.counter += 1
        meta = self.meta.meta(ht, self.epoch, q.counter)
        strs = [s for s, _ in evs]
        logged = [lg for _, lg in evs] if q.numerics else strs
        if self.p.event_format:
            pre = event_prefix(q.name, meta)
            self.sink.emit("results", t, ht, [pre + rb + ADDED for rb in logged], len(evs))
        else:
            self.sink.emit(
                "results", t, ht, [batch_line(q.name, meta, b"", b",".join(logged))], len(evs)
            )
        self._write_truth(q, ht, b"[" + b",".join(strs) + b"]")
