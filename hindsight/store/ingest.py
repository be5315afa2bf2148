"""Ingest: batches of lines -> deduplicated raw archive -> events and validity intervals.

Each batch is one transaction: the raw lines, the dedupe keys, the intervals and the stream
positions commit together or not at all. Streams (host, query) whose new executions all come
after what was applied are extended from their open intervals; a stream that receives an
execution at or before its last one (late backlog, files out of order, an execution split across
batches) is rebuilt from its raw lines, so out-of-order ingest gives exactly in-order intervals.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import xxhash
import zstandard

from hindsight.osquery.lines import ResultLine, StatusLine
from hindsight.osquery.reader import Line
from hindsight.store.catalog import Catalog, QueryInfo
from hindsight.store.layout import STATUS_QUERY_ID, event_table
from hindsight.store.streams import StreamKey, StreamWriter, raw_lines
from hindsight.store.writes import insert_rows, register

I32, I64 = pa.int32(), pa.int64()


@dataclass
class IngestSummary:
    """What one ingest did."""

    lines: int = 0
    rows: int = 0
    duplicates: int = 0
    rejected: int = 0
    statuses: int = 0
    rebuilt_streams: int = 0
    hosts: set[int] = field(default_factory=set)
    queries: set[int] = field(default_factory=set)
    rejections: list[tuple[str, str]] = field(default_factory=list)  # (file:line, reason), capped
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "rows": self.rows,
            "hosts": len(self.hosts),
            "queries": len(self.queries),
            "duplicates_skipped": self.duplicates,
            "lines_rejected": self.rejected,
            "status_lines": self.statuses,
            "streams_rebuilt": self.rebuilt_streams,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class Accepted:
    line: Line
    host_id: int
    query_id: int
    time: int
    key: int


class BatchWriter:
    """Writes one batch of read lines into the store (one transaction)."""

    MAX_REJECTIONS_KEPT = 1000

    def __init__(
        self, con: duckdb.DuckDBPyConnection, catalog: Catalog, summary: IngestSummary
    ) -> None:
        self.con = con
        self.catalog = catalog
        self.summary = summary
        self.zstd = zstandard.ZstdCompressor(level=6)

    # -- entry point --------------------------------------------------------------------------
    def write(self, lines: list[Line]) -> None:
        self.con.execute("BEGIN TRANSACTION")
        try:
            accepted = self._identify([ln for ln in lines if self._keep(ln)])
            fresh = self._dedupe(accepted)
            self._archive(fresh)
            self._statuses([a for a in fresh if a.query_id == STATUS_QUERY_ID])
            results = [a for a in fresh if a.query_id != STATUS_QUERY_ID]
            self._events([a for a in results if self.catalog.by_id(a.query_id).is_event])
            self._states([a for a in results if not self.catalog.by_id(a.query_id).is_event])
            self._seen_hosts(fresh)
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            self.catalog.reload()  # ids and columns created by the batch are gone with it
            raise

    def _keep(self, line: Line) -> bool:
        self.summary.lines += 1
        if line.parsed is not None:
            return True
        self.summary.rejected += 1
        if len(self.summary.rejections) < self.MAX_REJECTIONS_KEPT:
            self.summary.rejections.append((line.where, line.error or "unreadable"))
        self.con.execute(
            "INSERT INTO rejects VALUES (?, ?, ?, ?, ?, ?)",
            [
                line.origin,
                line.number,
                line.error,
                len(line.raw),
                self.zstd.compress(line.raw),
                int(time.time()),
            ],
        )
        return False

    # -- identity and dedupe -----------------------------------------------------------------
    def _identify(self, lines: list[Line]) -> list[Accepted]:
        """Ids, and a dedupe key per line: its content hash, plus its repeat count when the same
        line comes again right after itself (osquery writes identical rows of one execution
        next to each other; a retried request re-sends lines after others)."""
        out: list[Accepted] = []
        previous: tuple[int, int, int] | None = None
        repeat = 0
        for line in lines:
            p = line.parsed
            if isinstance(p, StatusLine):
                host_id = self.catalog.host_id(p.host_key or "unknown")
                qid, t, key = STATUS_QUERY_ID, p.unix_time or 0, xxhash.xxh3_64_intdigest(line.raw)
            else:
                assert isinstance(p, ResultLine)
                host_id = self.catalog.host_id(p.host_key)
                qid, t, key = self.catalog.query(p.name, p.columns).query_id, p.unix_time, p.key
            repeat = repeat + 1 if (host_id, qid, key) == previous else 0
            previous = (host_id, qid, key)
            if repeat:
                key = xxhash.xxh3_64_intdigest(
                    key.to_bytes(8, "little") + repeat.to_bytes(4, "little")
                )
            out.append(Accepted(line, host_id, qid, t, key))
        return out

    def _dedupe(self, accepted: list[Accepted]) -> list[Accepted]:
        unique: dict[tuple[int, int, int, int], Accepted] = {}
        for a in accepted:
            unique.setdefault((a.host_id, a.query_id, a.time, a.key & 0xFFFFFFFF), a)
        if not unique:
            self.summary.duplicates += len(accepted)
            return []
        items = list(unique.values())
        register(
            self.con,
            "_keys",
            {
                "i": (list(range(len(items))), I32),
                "host_id": ([a.host_id for a in items], I32),
                "query_id": ([a.query_id for a in items], I32),
                "unix_time": ([a.time for a in items], I64),
                "h": ([a.key & 0xFFFFFFFF for a in items], pa.uint32()),
            },
        )
        lo, hi = min(a.time for a in items), max(a.time for a in items)
        try:
            old = {
                i
                for (i,) in self.con.execute(
                    "SELECT k.i FROM _keys k SEMI JOIN (SELECT * FROM seen WHERE unix_time BETWEEN ? AND ?) s "
                    "USING (host_id, query_id, unix_time, h)",
                    [lo, hi],
                ).fetchall()
            }
            self.con.execute(
                "INSERT INTO seen SELECT host_id, query_id, unix_time, h FROM _keys WHERE i NOT IN (SELECT UNNEST(?::INTEGER[]))",
                [sorted(old)],
            )
        finally:
            self.con.unregister("_keys")
        fresh = [a for i, a in enumerate(items) if i not in old]
        self.summary.duplicates += len(accepted) - len(fresh)
        return fresh

    # -- raw archive -------------------------------------------------------------------------
    def _archive(self, fresh: list[Accepted]) -> None:
        groups: dict[StreamKey, list[Accepted]] = defaultdict(list)
        for a in fresh:
            groups[(a.host_id, a.query_id)].append(a)
        rows = [
            (
                h,
                q,
                min(a.time for a in g),
                max(a.time for a in g),
                len(g),
                self.zstd.compress(b"\n".join(a.line.raw for a in g)),
            )
            for (h, q), g in groups.items()
        ]
        if rows:
            register(
                self.con,
                "_chunks",
                {
                    "host_id": ([r[0] for r in rows], I32),
                    "query_id": ([r[1] for r in rows], I32),
                    "min_time": ([r[2] for r in rows], I64),
                    "max_time": ([r[3] for r in rows], I64),
                    "lines": ([r[4] for r in rows], I32),
                    "data": ([r[5] for r in rows], pa.binary()),
                },
            )
            self.con.execute("INSERT INTO raw_chunks SELECT * FROM _chunks")
            self.con.unregister("_chunks")

    # -- status logs -------------------------------------------------------------------------
    def _statuses(self, items: list[Accepted]) -> None:
        if not items:
            return
        self.summary.statuses += len(items)
        ps = [a.line.parsed for a in items]
        assert all(isinstance(p, StatusLine) for p in ps)
        sl = [p for p in ps if isinstance(p, StatusLine)]
        register(
            self.con,
            "_status",
            {
                "host_id": ([a.host_id for a in items], I32),
                "identifier": ([p.identifier for p in sl], pa.string()),
                "unix_time": ([p.unix_time for p in sl], I64),
                "severity": ([p.severity for p in sl], I32),
                "filename": ([p.filename for p in sl], pa.string()),
                "line": ([p.line for p in sl], I32),
                "message": ([p.message for p in sl], pa.string()),
                "version": ([p.version for p in sl], pa.string()),
            },
        )
        self.con.execute("INSERT INTO status_logs SELECT * FROM _status")
        self.con.unregister("_status")

    # -- events ------------------------------------------------------------------------------
    def _events(self, items: list[Accepted]) -> None:
        by_query: dict[int, list[Accepted]] = defaultdict(list)
        for a in items:
            by_query[a.query_id].append(a)
        for qid, group in by_query.items():
            info = self.catalog.by_id(qid)
            hosts, unix, canon = [], [], []
            for a in group:
                p = a.line.parsed
                assert isinstance(p, ResultLine)
                for row in p.added:  # removed rows of event queries are buffer expiry, not facts
                    hosts.append(a.host_id)
                    unix.append(p.unix_time)
                    canon.append(row.canon)
            self.summary.rows += len(canon)
            self._insert_events(info, hosts, unix, canon)

    def _insert_events(
        self, info: QueryInfo, hosts: list[int], unix: list[int], canon: list[bytes]
    ) -> None:
        event_time = (
            "COALESCE(TRY_CAST(NULLIF(_j.\"time\", '') AS BIGINT), _unix)"
            if "time" in info.columns
            else "_unix"
        )
        insert_rows(
            self.con,
            event_table(info.query_id),
            info,
            {"_host": hosts, "_unix": unix},
            canon,
            {"_host": I32, "_unix": I64},
            {"_time": event_time},
        )

    # -- state -------------------------------------------------------------------------------
    def _states(self, items: list[Accepted]) -> None:
        by_stream: dict[StreamKey, list[ResultLine]] = defaultdict(list)
        for a in items:
            assert isinstance(a.line.parsed, ResultLine)
            by_stream[(a.host_id, a.query_id)].append(a.line.parsed)
            self.summary.rows += len(a.line.parsed.added) + len(a.line.parsed.removed)
        if by_stream:
            self.summary.rebuilt_streams += StreamWriter(self.con, self.catalog).write(by_stream)

    # -- hosts -------------------------------------------------------------------------------
    def _seen_hosts(self, fresh: list[Accepted]) -> None:
        names: dict[tuple[int, str], list[int]] = {}
        spans: dict[tuple[int, int], list[int]] = {}
        for a in fresh:
            p = a.line.parsed
            assert p is not None
            self.summary.hosts.add(a.host_id)
            if a.query_id != STATUS_QUERY_ID:
                self.summary.queries.add(a.query_id)
            if isinstance(p, StatusLine) and p.unix_time is None:
                continue
            _widen(names, (a.host_id, p.identifier), a.time)
            _widen(spans, (a.host_id, a.query_id), a.time)
        if not names:
            return
        register(
            self.con,
            "_names",
            {
                "host_id": ([k[0] for k in names], I32),
                "identifier": ([k[1] for k in names], pa.string()),
                "lo": ([v[0] for v in names.values()], I64),
                "hi": ([v[1] for v in names.values()], I64),
            },
        )
        register(
            self.con,
            "_spans",
            {
                "host_id": ([k[0] for k in spans], I32),
                "query_id": ([k[1] for k in spans], I32),
                "lo": ([v[0] for v in spans.values()], I64),
                "hi": ([v[1] for v in spans.values()], I64),
            },
        )
        self.con.execute(
            "INSERT INTO host_names SELECT host_id, identifier, lo, hi FROM _names "
            "ON CONFLICT (host_id, identifier) DO UPDATE SET "
            "first_seen = least(first_seen, excluded.first_seen), last_seen = greatest(last_seen, excluded.last_seen)"
        )
        for table, key in (("hosts", "host_id"), ("queries", "query_id")):
            self.con.execute(
                f"UPDATE {table} SET first_seen = least(coalesce(first_seen, s.lo), s.lo), "
                f"last_seen = greatest(coalesce(last_seen, s.hi), s.hi) "
                f"FROM (SELECT {key}, min(lo) lo, max(hi) hi FROM _spans GROUP BY ALL) s "
                f"WHERE {table}.{key} = s.{key}"
            )
        self.con.unregister("_names")
        self.con.unregister("_spans")


def _widen(spans: dict, key: object, t: int) -> None:  # type: ignore[type-arg]
    span = spans.get(key)
    if span is None:
        spans[key] = [t, t]
    elif t < span[0]:
        span[0] = t
    elif t > span[1]:
        span[1] = t


def rebuild_events(writer: BatchWriter, host_id: int, query_id: int) -> None:
    """Drop one host's events of one query and reload them from the raw lines."""
    writer.con.execute(f"DELETE FROM {event_table(query_id)} WHERE _host = ?", [host_id])
    hosts, unix, canon = [], [], []
    for line in raw_lines(writer.con, host_id, query_id):
        for row in line.added:
            hosts.append(host_id)
            unix.append(line.unix_time)
            canon.append(row.canon)
    writer._insert_events(writer.catalog.by_id(query_id), hosts, unix, canon)
