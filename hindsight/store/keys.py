"""Dedupe keys of a batch's lines: what makes ingesting a line twice change nothing.

A line is known by its content hash and its occurrence among identical lines of its scope (a TLS
body, or in a plain file the run of consecutive lines of one execution: see
hindsight.osquery.scopes, which the lake's writer uses line by line). Here the same rule is
computed set-based over a batch; what the store holds already is counted from the raw archive
(hindsight.store.archive).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import xxhash

from hindsight.osquery.blocks import Lines
from hindsight.osquery.lines import StatusLine
from hindsight.osquery.reader import rotation_base


def status_hash(p: StatusLine) -> int:
    """A status line's content hash (its dedupe key, before the occurrence count)."""
    return xxhash.xxh3_64_intdigest(repr(p).encode())


def status_keys(statuses: Sequence[tuple[int, StatusLine]]) -> pa.Table:
    """`(i, host_key, t, raw_hash)` of a batch's status lines (indexed I), for
    `content_keys_sql`."""
    return pa.table(
        {
            "i": pa.array([i for i, _ in statuses], pa.int32()),
            "host_key": pa.array([p.host_key or "unknown" for _, p in statuses], pa.string()),
            "t": pa.array([p.unix_time or 0 for _, p in statuses], pa.int64()),
            "raw_hash": pa.array([status_hash(p) for _, p in statuses], pa.uint64()),
        }
    )


def units(kept: Lines) -> pa.Table | None:
    """`(i, unit, body, occ)` for the lines of a batch: the source each line was read from (a
    log, its rotated files one source; or one TLS body: a journal record, a relay's one-line
    body, a body file), numbered in read order, whether that source is a body (its lines count
    as one scope), and the receiver's occurrence of a journaled line (hindsight.server.
    continuity). None for the usual batch, lines of one plain file. (Read by spans: a block's
    lines are of one file, and neither bodies nor journaled.)"""
    spans = kept.spans()
    if all(ln.item is None for ln, _ in spans):
        origins = [rotation_base(ln.origin) for ln, _ in spans]
        if len(set(origins)) <= 1:
            return None
        unit = _numbered(origins)
    else:
        unit = _numbered(
            [(ln.origin, ln.number) if ln.item is not None else rotation_base(ln.origin)
             for ln, _ in spans]
        )  # fmt: skip
    counts = [n for _, n in spans]

    def each(values: Sequence[object], kind: pa.DataType) -> pa.Array:  # a value a line
        return pa.array([v for v, n in zip(values, counts, strict=True) for _ in range(n)], kind)

    return pa.table(
        {
            "i": pa.array(range(len(kept)), pa.int32()),
            "unit": each(unit, pa.int32()),
            "body": each([ln.item is not None for ln, _ in spans], pa.bool_()),
            "occ": each([ln.occurrence for ln, _ in spans], pa.int64()),
        }
    )


def _numbered(sources: Sequence[object]) -> list[int]:
    """A number per run of equal sources."""
    out, n, last = [], -1, object()
    for source in sources:
        if source != last:
            n, last = n + 1, source
        out.append(n)
    return out


def content_keys_sql(lines: str, statuses: str, host: str, query: str, sums: str) -> str:
    """`(i, host, query, t, key, ex, whole)`: each line's content hash over its header and its
    rows' hashes (SUMS: normalise.LINE_SUMS; independent of key order and value typing), `ex`,
    its execution, and `whole`: the line is its execution (a batch or a snapshot line: an
    identical one is a copy sent again, wherever it is). Lines are told apart by HOST and QUERY (ids in the writer, host_key and name
    in the first stage: one to one); STATUSES `(i, HOST, t, raw_hash)` are lines of query 0."""
    return f"""
    SELECT l.i, l.{host} AS host, l.{query} AS query, l.t, hash(l.host_key, l.name, l.t, l.epoch,
        coalesce(l.counter, -1), l.shape, coalesce(s.sa, 0), coalesce(s.na, 0),
        coalesce(s.sr, 0), coalesce(s.nr, 0)) AS key,
        hash(l.{host}, l.{query}, l.t, l.epoch, coalesce(l.counter, -1)) AS ex,
        l.shape IN ('batch', 'snapshot') AS whole
    FROM {lines} l LEFT JOIN {sums} s USING (i)
    UNION ALL
    SELECT i, {host}, {"0" if query == "query_id" else "''"}, t, raw_hash, hash({host}, t), false
    FROM {statuses}"""


def keys_sql(
    out: str, lines: str, statuses: str, host: str, query: str, sums: str, unit: str | None
) -> str:
    """`(i, t, key, occ, dup)`: each line's content key (`content_keys_sql`), its occurrence
    among identical lines of its scope (see the module) and `dup`, its rank among lines of the
    batch with the same key and occurrence (1: the first; a later one is a copy sent again
    within the batch). UNIT is a table of `units()`, or None: the lines of one plain file."""
    if unit is None:
        scoped = (
            "k.*, NULL::BIGINT AS given, CASE WHEN lag(k.ex) OVER w = k.ex THEN 0 ELSE 1 END "
            "AS brk FROM k"
        )
    else:
        scoped = (
            "k.*, u.occ AS given, CASE WHEN lag(u.unit) OVER w = u.unit AND (u.body OR "
            f"lag(k.ex) OVER w = k.ex) THEN 0 ELSE 1 END AS brk FROM k JOIN {unit} u USING (i)"
        )
    return f"""
CREATE OR REPLACE {out} AS
WITH k AS ({content_keys_sql(lines, statuses, host, query, sums)}
), r AS (
    SELECT {scoped} WINDOW w AS (ORDER BY i)
), g AS (
    SELECT *, sum(brk) OVER (ORDER BY i ROWS UNBOUNDED PRECEDING) AS scope FROM r
), n AS (
    SELECT *, coalesce(given, CASE WHEN whole THEN 0 ELSE row_number() OVER (PARTITION BY scope,
        host, query, t, key ORDER BY i) - 1 END) AS occ
    FROM g
)
SELECT i, t, key, occ, row_number() OVER (PARTITION BY host, query, t, key, occ ORDER BY i) AS dup
FROM n
"""
