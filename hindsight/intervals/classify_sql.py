"""Executions and their classification as set-based SQL: what `apply.group_executions` and
`apply.classify` do one execution at a time, for every stream of a batch at once.

Plain DuckDB SQL close to ANSI (window functions, no UDFs), so that sqlglot can translate it like
`build_sql`. Inputs:
- lines(host_id, query_id, t, epoch, counter, snap, n_add, n_rem, src): the lines of the
  executions to apply; `src` tells the batch's own lines (0) from replayed ones (1);
- positions(host_id, query_id, epoch, counter): where extended streams stand (their last
  execution's epoch and counter); replayed and new streams have none.

Output `execs(src, host_id, query_id, seq, time, epoch, counter, ckey, snap, added, removed,
extended, full_set, counter_gap, prev_counter, reset_with_removed)`: one row per execution,
numbered from 0 in key order (time, epoch, counter or -1, snapshot) within its stream.
"""

from __future__ import annotations


def executions_sql(lines: str, positions: str, out: str) -> str:
    return f"""
CREATE OR REPLACE TEMP TABLE {out} AS
WITH x AS (
  SELECT src, host_id, query_id, t AS time, epoch, counter, COALESCE(counter, -1) AS ckey, snap,
    CAST(SUM(n_add) AS INTEGER) AS added, CAST(SUM(n_rem) AS INTEGER) AS removed
  FROM {lines}
  GROUP BY src, host_id, query_id, t, epoch, counter, snap
),
o AS (
  SELECT x.*, p.host_id IS NOT NULL AS extended,
    ROW_NUMBER() OVER w - 1 AS seq,
    CASE WHEN ROW_NUMBER() OVER w = 1 THEN p.epoch ELSE LAG(x.epoch) OVER w END AS prev_epoch,
    CASE WHEN ROW_NUMBER() OVER w = 1 THEN p.counter ELSE LAG(x.counter) OVER w END AS prev_counter
  FROM x LEFT JOIN {positions} p
    ON x.src = 0 AND p.host_id = x.host_id AND p.query_id = x.query_id
  WINDOW w AS (PARTITION BY x.host_id, x.query_id ORDER BY x.time, x.epoch, x.ckey, x.snap)
),
c AS (
  SELECT o.*, COALESCE(counter = 0, FALSE) OR COALESCE(epoch <> prev_epoch, FALSE) AS reset
  FROM o
)
SELECT src, host_id, query_id, CAST(seq AS BIGINT) AS seq, time, epoch, counter, ckey, snap,
  added, removed, extended,
  snap OR (reset AND removed = 0) AS full_set,
  NOT snap AND counter IS NOT NULL AND prev_counter IS NOT NULL AND epoch = prev_epoch
    AND counter > prev_counter + 1 AS counter_gap,
  prev_counter,
  NOT snap AND reset AND removed > 0 AS reset_with_removed
FROM c"""


def first_not_after_sql(execs: str, streams: str) -> str:
    """Streams whose first new execution is not after their last applied one (they replay).
    `execs` needs (host_id, query_id, time, epoch, ckey, snap): executions or their lines."""
    # the least key per stream: a STRUCT compares field by field (DuckDB only: the store's)
    return f"""
SELECT x.host_id, x.query_id FROM (
  SELECT host_id, query_id, UNNEST(MIN(STRUCT_PACK(time := time, epoch := epoch, ckey := ckey,
    snap := snap))) FROM {execs} GROUP BY host_id, query_id
) x JOIN {streams} s ON s.host_id = x.host_id AND s.query_id = x.query_id
WHERE NOT (x.time > s.last_time OR (x.time = s.last_time AND (x.epoch > s.last_epoch
  OR (x.epoch = s.last_epoch AND (x.ckey > s.last_counter
  OR (x.ckey = s.last_counter AND x.snap AND NOT s.last_snapshot))))))"""
