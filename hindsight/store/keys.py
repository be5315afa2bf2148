"""Dedupe keys of a batch's lines: what makes ingesting a line twice change nothing."""

from __future__ import annotations

import xxhash

from hindsight.osquery.lines import StatusLine


def status_hash(p: StatusLine) -> int:
    """A status line's content hash (its dedupe key, before the repeat count)."""
    return xxhash.xxh3_64_intdigest(repr(p).encode())


def keys_sql(out: str, lines: str, statuses: str, host: str, query: str, sums: str) -> str:
    """Line keys: a content hash over the header and the rows' hashes (independent of key order
    and value typing), then a repeat count for a line identical to the one right before it, and
    `dup`, the line's rank among identical keys of the batch (1: the first). Lines are told apart
    by HOST and QUERY: ids in the writer, host_key and name in the first stage (one to one)."""
    return f"""
CREATE OR REPLACE {out} AS
WITH k AS (
    SELECT l.i, l.{host} AS host, l.{query} AS query, l.t, hash(l.host_key, l.name, l.t, l.epoch,
        coalesce(l.counter, -1), l.shape, coalesce(s.sa, 0), coalesce(s.na, 0),
        coalesce(s.sr, 0), coalesce(s.nr, 0)) AS key
    FROM {lines} l LEFT JOIN {sums} s USING (i)
    UNION ALL
    SELECT i, {host}, {"0" if query == "query_id" else "''"}, t, raw_hash FROM {statuses}
), r AS (
    SELECT *, CASE WHEN lag(key) OVER w = key AND lag(host) OVER w = host
        AND lag(query) OVER w = query THEN 0 ELSE 1 END AS brk
    FROM k WINDOW w AS (ORDER BY i)
), g AS (
    SELECT *, sum(brk) OVER (ORDER BY i ROWS UNBOUNDED PRECEDING) AS run FROM r
), n AS (
    SELECT *, row_number() OVER (PARTITION BY run ORDER BY i) - 1 AS rep FROM g
), h AS (
    SELECT i, host, query, t, CASE WHEN rep = 0 THEN key ELSE hash(key, rep) END AS h FROM n
)
SELECT i, t, h, row_number() OVER (PARTITION BY host, query, t, h ORDER BY i) AS dup FROM h
"""
