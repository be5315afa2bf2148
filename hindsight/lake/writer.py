"""LakeWriter: accepted osquery lines -> raw observation files in the lake, published atomically.

One writer per process, no coordination between writers: each flush writes new files with unique
names, one per (query, day) with rows, plus one hosts file and one rejects file per day. A batch
is durable once `flush()` returns; a writer that dies before leaves no visible file, and a client
that re-sends the batch causes no double count: the build drops repeated lines (same host, time
and line key), so an at-least-once delivery is exactly-once in the intervals.

The ingest server calls `write(lines)` per request (append + flush, then acknowledge); file
ingest calls `append` per batch and `flush` every `max_rows` rows and at the end.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import xxhash

from hindsight.lake.layout import (
    HOSTS_SCHEMA,
    RAW_SCHEMA,
    REJECTS_SCHEMA,
    LakePaths,
    day_of,
    encode_name,
    publish_table,
    unique_name,
)
from hindsight.osquery.blocks import Line
from hindsight.osquery.lines import ResultLine, Row, StatusLine
from hindsight.osquery.scopes import Occurrences
from hindsight.store.columns import bad_columns

_I64 = 1 << 63


@dataclass
class WriteSummary:
    """What a writer accepted and published."""

    lines: int = 0
    rows: int = 0
    rejected: int = 0
    statuses: int = 0
    files: list[str] = field(default_factory=list)
    rejections: list[tuple[str, str]] = field(default_factory=list)  # capped

    def as_dict(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "rows": self.rows,
            "lines_rejected": self.rejected,
            "status_lines": self.statuses,
            "files_published": len(self.files),
        }


def _signed(h: int) -> int:
    """A 64-bit unsigned hash as the signed BIGINT every Parquet engine reads."""
    return h - (1 << 64) if h >= _I64 else h


@dataclass
class _Columns:
    values: dict[str, list[object]] = field(
        default_factory=lambda: {f.name: [] for f in RAW_SCHEMA if f.name != "batch"}
    )

    def add(self, line: ResultLine, key: int, number: int, op: int, row: Row | None) -> None:
        v = self.values
        v["host_key"].append(line.host_key)
        v["identifier"].append(line.identifier)
        v["unix_time"].append(line.unix_time)
        v["epoch"].append(line.epoch)
        v["counter"].append(line.counter)
        v["shape"].append(str(line.shape))
        v["line_key"].append(key)
        v["line"].append(number)
        v["op"].append(op)
        v["rh"].append(None if row is None else _signed(row.hash))
        v["row"].append(None if row is None else row.canon.decode())

    def __len__(self) -> int:
        return len(self.values["op"])

    def table(self, batch: str) -> pa.Table:
        cols = {k: pa.array(v, RAW_SCHEMA.field(k).type) for k, v in self.values.items()}
        cols["batch"] = pa.array([batch] * len(self), pa.string())
        table = pa.table({f.name: cols[f.name] for f in RAW_SCHEMA}, schema=RAW_SCHEMA)
        return table.sort_by(
            [("host_key", "ascending"), ("unix_time", "ascending"), ("line", "ascending")]
        )


class LakeWriter:
    """Buffers accepted lines and publishes them as raw observation files."""

    MAX_REJECTIONS_KEPT = 1000

    def __init__(
        self, lake: str | LakePaths, writer_id: str | None = None, max_rows: int = 1_000_000
    ) -> None:
        self.paths = lake if isinstance(lake, LakePaths) else LakePaths.open(lake, create=True)
        self.writer_id = (
            writer_id or f"{os.uname().nodename[:16]}-{os.getpid()}-{secrets.token_hex(3)}"
        )
        self.max_rows = max_rows
        self.summary = WriteSummary()
        self._number = 0
        self._occurrences = Occurrences()
        self._columns: dict[str, set[str]] = {}  # per query, the columns met (store/columns.py)
        self._reset()

    def _reset(self) -> None:
        self._raw: dict[tuple[str, str], _Columns] = defaultdict(_Columns)
        # (day, host key) -> the (unixTime, identifier) of its lines
        self._hosts: dict[tuple[str, str], set[tuple[int, str]]] = {}
        self._rejects: list[tuple[str, int, str, bytes]] = []

    @property
    def buffered_rows(self) -> int:
        return sum(len(c) for c in self._raw.values())

    # -- accepting ---------------------------------------------------------------------------
    def append(self, lines: Iterable[Line]) -> None:
        """Buffer lines (unreadable ones go to rejects); flushes past `max_rows` rows."""
        for line in lines:
            self.summary.lines += 1
            p = line.parsed
            if p is None:
                self._reject(line)
            elif isinstance(p, StatusLine):
                self.summary.statuses += 1
                if line.item is None:
                    self._occurrences.end_scope()  # it ends a run of an execution's lines
                if p.unix_time is not None:
                    self._seen(p.host_key or "unknown", p.identifier, p.unix_time)
            else:
                self._result(p, line)
        if self.buffered_rows >= self.max_rows:
            self.flush()

    def write(self, lines: Iterable[Line]) -> WriteSummary:
        """Append and publish one batch (a server request): durable when this returns."""
        before = len(self.summary.files)
        self.append(lines)
        self.flush()
        return WriteSummary(files=self.summary.files[before:])

    def new_source(self) -> None:
        """The next lines do not follow the previous ones (another file, another journal segment):
        they start a scope of their own. The keys of a source's lines then depend on that source
        alone, so a source published again after a crash gets the same keys, and the build drops
        it as repeats."""
        self._occurrences.end_scope()

    def _reject(self, line: Line, why: str | None = None) -> None:
        self.summary.rejected += 1
        reason = why or line.error or "unreadable"
        if len(self.summary.rejections) < self.MAX_REJECTIONS_KEPT:
            self.summary.rejections.append((line.where, reason))
        self._rejects.append((line.origin, line.number, line.kept_reason(reason), line.raw))

    def _result(self, p: ResultLine, line: Line) -> None:
        known = self._columns.setdefault(p.name, set())
        bad = bad_columns(known, p.columns)
        if bad:  # a column no store can hold: the line is kept aside, as the store keeps it
            self._reject(line, next(iter(bad.values())))
            return
        known.update(p.columns)
        self._number += 1
        key = self._line_key(p, line)
        cols = self._raw[(p.name, day_of(p.unix_time))]
        rows = [(1, r) for r in p.added] + [(-1, r) for r in p.removed]
        for op, row in rows:
            cols.add(p, key, self._number, op, row)
        if not rows:
            cols.add(p, key, self._number, 0, None)
        self.summary.rows += len(rows)
        self._seen(p.host_key, p.identifier, p.unix_time)

    def _line_key(self, p: ResultLine, line: Line) -> int:
        """The line's content hash, made distinct by its occurrence among identical lines of
        its scope (hindsight.osquery.scopes): identical rows of one execution are rows; the
        same line in another scope is a copy sent again."""
        occurrence = self._occurrences.of(line, p)
        key = p.key
        if occurrence:
            key = xxhash.xxh3_64_intdigest(
                key.to_bytes(8, "little") + occurrence.to_bytes(4, "little")
            )
        return _signed(key)

    def _seen(self, host_key: str, identifier: str, t: int) -> None:
        self._hosts.setdefault((day_of(t), host_key), set()).add((t, identifier))

    # -- publishing --------------------------------------------------------------------------
    def flush(self) -> list[str]:
        """Publish everything buffered; returns the paths of the files written."""
        written: list[str] = []
        for (query, day), cols in sorted(self._raw.items()):
            name = unique_name(self.writer_id)
            path = f"{self.paths.raw(query, day)}/{name}"
            publish_table(self.paths.fs, path, cols.table(name.removesuffix(".parquet")))
            written.append(path)
        written += self._flush_hosts()
        written += self._flush_rejects()
        self.summary.files += written
        self._reset()
        return written

    def _flush_hosts(self) -> list[str]:
        by_day: dict[str, list[tuple[str, str, int, int]]] = defaultdict(list)
        for (day, host), seen in self._hosts.items():
            by_day[day] += [(host, *run) for run in _runs(sorted(seen))]
        out = []
        for day, items in sorted(by_day.items()):
            table = pa.table(
                [pa.array(c) for c in zip(*sorted(items), strict=True)], schema=HOSTS_SCHEMA
            )
            path = f"{self.paths.dataset('hosts', day)}/{unique_name(self.writer_id)}"
            publish_table(self.paths.fs, path, table)
            out.append(path)
        return out

    def _flush_rejects(self) -> list[str]:
        if not self._rejects:
            return []
        now = int(time.time())
        cols = list(zip(*self._rejects, strict=True))
        table = pa.table(
            [
                pa.array(cols[0]),
                pa.array(cols[1], pa.int64()),
                pa.array(cols[2]),
                pa.array(cols[3], pa.binary()),
                pa.array([now] * len(self._rejects), pa.int64()),
            ],
            schema=REJECTS_SCHEMA,
        )
        path = f"{self.paths.dataset('rejects', day_of(now))}/{unique_name(self.writer_id)}"
        publish_table(self.paths.fs, path, table)
        return [path]


__all__ = ["LakeWriter", "WriteSummary", "encode_name"]


def _runs(seen: list[tuple[int, str]]) -> list[tuple[str, int, int]]:
    """`(identifier, first, last)`: the runs of one name in SEEN, a host's (unixTime,
    identifier) in order (`hindsight.query.relations.name_runs`, which merges the writers')."""
    runs: list[tuple[str, int, int]] = []
    for t, ident in seen:
        if runs and runs[-1][0] == ident:
            runs[-1] = (ident, runs[-1][1], t)
        else:
            runs.append((ident, t, t))
    return runs
