"""Validity intervals of many streams at once, as a few set-based SQL statements.

The same computation as `apply.apply` run over every execution of every stream, but vectorised:
window functions, joins and one `UNNEST(generate_series(..))`, no recursion, no per-row Python.
The statements are plain DuckDB SQL close to ANSI, so that sqlglot can translate them (to Spark:
`UNNEST(GENERATE_SERIES(a, b))` becomes `EXPLODE(SEQUENCE(a, b))`; a series is only expanded when
a <= b, Spark's `SEQUENCE` would count down otherwise).

Model. Per stream (host_id, query_id) and row hash `rh`, the number of open instances (the count)
is piecewise constant over the executions. A FULL execution (snapshot or reset) sets the count to
its own multiplicity of `rh`; a DIFF first removes (floored at 0: a removed row that is not open
is ignored), then adds. Instances are "levels": the instance at level k (1-based) is open while the
count >= k, a new instance takes level count + 1 and keeps it, so closing the highest levels first
is exactly apply.py's LIFO. An interval is then the span between an opening of a level and the next
closing of that same level.

1. Per execution: `nfull`, the number of full executions of its stream up to it (its segment),
   and the next full execution after it (`next_full`, `next_full_time`).
2. Events: per (stream, rh, execution) with rows, additions `a` and removals `r` (ignored in a
   full execution). Instances open before the batch are one more event per (stream, rh), first
   (seq NULL), a "full" one setting the count to their number.
3. Count after each event. A diff maps c to max(c - r, 0) + a = max(c + p, a) with p = a - r, and
   these maps compose: from a full event (p = 0, a = its multiplicity), c_k = g_k +
   max_{j<=k}(a_j - g_j) with g the running sum of p. Events of `rh` with the same `nfull` are one
   segment: it starts with the full event of `rh`, or at 0 (a full execution without `rh` reset
   the count; no term needed, a_j - g_j >= -g_(j-1) already), or before the first full execution
   at the count open before (the first event). Adding BIG * nfull to the terms makes the running
   max over the whole (stream, rh) see only the current segment, so one ordering serves every
   window; c_prev (the count when the execution starts) is the previous event's count, or 0 when
   a full execution came in between. That full execution closes the whole count of the event
   before it: a "reset" carried on that event's row, at its `next_full`.
4. Each event closes levels (c_mid, c_prev] and opens levels (c_mid, c_new], with c_mid the count
   after the removals (a full event does one or the other), a reset closes levels [1, c_new].
   Pair every opening of a level (and every instance open before the batch, at its level) with
   the next event of that level, necessarily its closing, with LEAD.

Inputs (tables or views on the connection, names passed in):
- execs(host_id, query_id, seq, time, full_set): every execution of the batch, `seq` increasing
  with time within a stream (times may repeat; intervals of zero length are dropped).
- changes(host_id, query_id, seq, op, rh, payload): one row per row instance, op 1 for an added
  row or a row of a full set, -1 for a removed row (ignored in a full execution, as apply.py does).
  Rows of an execution missing from `execs` are ignored. A new instance's payload is the least
  payload of its execution's added rows with its row hash (one row hash, one canonical JSON).
- open_before(host_id, query_id, rh, _from, _n): instances open before the batch. Their levels
  are their ranks by (_from, _n), which holds both for _n = level - 1 and for apply.py's numbering.

Outputs (TEMP tables, replaced; scratch tables `_iv_*` are dropped at the end):
- iv_closed_existing(host_id, query_id, rh, _from, _n, _to): instances open before the batch that
  closed, also when _to == _from (the caller deletes them and keeps only _to > _from).
- iv_new_closed(host_id, query_id, rh, _from, _to, _n, payload): opened and closed in the batch,
  _from < _to; _n = level - 1.
- iv_new_open(host_id, query_id, rh, _from, _n, payload): opened in the batch, still open.
- iv_signals(host_id, query_id, seq, time, removed_not_open, closed_by_full): per execution,
  removed rows ignored because not open, instances a full execution closed; only executions
  where one of them is not 0.
"""

from __future__ import annotations

import duckdb

OUTPUTS = ("iv_closed_existing", "iv_new_closed", "iv_new_open", "iv_signals")
_SCRATCH = ("_iv_x", "_iv_ob", "_iv_ag", "_iv_ev", "_iv_lv", "_iv_d", "_iv_ag0")

# Segment offset of the running maximum (step 3). It must exceed 3 x the number of changes of one
# row hash of one stream in the batch; times the number of full executions it stays below 2**63.
_BIG = 2**32

_W_ROW = "PARTITION BY host_id, query_id, rh ORDER BY seq NULLS FIRST"


def interval_statements(
    changes: str, execs: str, open_before: str, deltas: bool = False
) -> list[str]:
    """The statements `build_intervals` runs, in order (for inspection or translation).

    DELTAS: `execs` also has `snap`, and a snapshot that follows a full set in the batch is
    applied as its difference from that set (see `_delta_statements`)."""
    pre = _delta_statements(execs) if deltas else []
    if deltas:
        execs = "_iv_d"
    # Step 1. Times increase with seq, so the least time ahead is the time of the next full one.
    execs_sql = f"""
CREATE OR REPLACE TEMP TABLE _iv_x AS
SELECT host_id, query_id, seq, time, full_set,
  CAST(SUM(CASE WHEN full_set THEN 1 ELSE 0 END) OVER (PARTITION BY host_id, query_id
    ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS nfull,
  MIN(CASE WHEN full_set THEN seq END) OVER ahead AS next_full,
  MIN(CASE WHEN full_set THEN time END) OVER ahead AS next_full_time
FROM {execs}
WINDOW ahead AS (PARTITION BY host_id, query_id ORDER BY seq
  ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)"""

    open_sql = f"""
CREATE OR REPLACE TEMP TABLE _iv_ob AS
SELECT host_id, query_id, rh, _from, _n,
  ROW_NUMBER() OVER (PARTITION BY host_id, query_id, rh ORDER BY _from, _n) AS level
FROM {open_before}"""

    agg_sql = f"""
CREATE OR REPLACE TEMP TABLE {"_iv_ag0" if deltas else "_iv_ag"} AS
SELECT host_id, query_id, seq, rh,
  CAST(SUM(CASE WHEN op > 0 THEN 1 ELSE 0 END) AS BIGINT) AS a,
  CAST(SUM(CASE WHEN op < 0 THEN 1 ELSE 0 END) AS BIGINT) AS r,
  MIN(CASE WHEN op > 0 THEN payload END) AS payload
FROM {changes}
GROUP BY host_id, query_id, seq, rh"""

    # Steps 2 and 3, see the module docstring.
    events_sql = f"""
CREATE OR REPLACE TEMP TABLE _iv_ev AS
WITH first_full AS (
  SELECT host_id, query_id, MIN(seq) AS seq, MIN(time) AS time
  FROM _iv_x WHERE full_set GROUP BY host_id, query_id
),
ev AS (
  SELECT g.host_id, g.query_id, g.seq, g.rh, x.time, x.full_set, g.a,
    CASE WHEN x.full_set THEN 0 ELSE g.r END AS r, x.nfull, x.next_full, x.next_full_time
  FROM _iv_ag g JOIN _iv_x x ON g.host_id = x.host_id AND g.query_id = x.query_id AND g.seq = x.seq
  UNION ALL
  SELECT o.host_id, o.query_id, CAST(NULL AS BIGINT), o.rh, CAST(NULL AS BIGINT), TRUE, o.c0, 0,
    0, f.seq, f.time
  FROM (SELECT host_id, query_id, rh, COUNT(*) AS c0 FROM _iv_ob GROUP BY host_id, query_id, rh) o
  LEFT JOIN first_full f ON o.host_id = f.host_id AND o.query_id = f.query_id
),
running AS (
  SELECT ev.*,
    CASE WHEN full_set THEN 0 ELSE a - r END AS p,
    CAST(SUM(CASE WHEN full_set THEN 0 ELSE a - r END) OVER ({_W_ROW}
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS g,
    LAG(nfull) OVER ({_W_ROW}) AS nfull_prev,
    LAG(next_full) OVER ({_W_ROW}) AS next_full_prev,
    LEAD(seq) OVER ({_W_ROW}) AS seq_next
  FROM ev
),
maxed AS (
  SELECT running.*,
    MAX(a - g + {_BIG} * nfull) OVER ({_W_ROW}
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS m,
    MAX(a - g + {_BIG} * nfull) OVER ({_W_ROW}
      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS m_prev
  FROM running
),
counted AS (
  SELECT host_id, query_id, seq, rh, time, full_set, a, r, next_full, next_full_time, seq_next,
    g + m - {_BIG} * nfull AS c_new,
    CASE WHEN m_prev IS NULL OR next_full_prev < seq THEN 0
      ELSE g - p + m_prev - {_BIG} * nfull_prev
    END AS c_prev
  FROM maxed
)
SELECT host_id, query_id, seq, rh, time, full_set, a, r, c_prev, c_new,
  CASE WHEN full_set THEN LEAST(a, c_prev) ELSE GREATEST(c_prev - r, 0) END AS c_mid,
  CASE WHEN c_new > 0 AND (seq_next IS NULL OR seq_next > next_full) THEN next_full END
    AS reset_seq,
  next_full_time AS reset_time
FROM counted"""

    # Step 4: one row per opening (instances open before the batch first) and per closing of a
    # level; LEAD pairs an opening with the event that follows it on its level, its closing.
    levels_sql = """
CREATE OR REPLACE TEMP TABLE _iv_lv AS
WITH lv AS (
  SELECT host_id, query_id, rh, level, 0 AS src, CAST(NULL AS BIGINT) AS seq, _from AS time,
    1 AS opens, _n
  FROM _iv_ob
  UNION ALL
  SELECT host_id, query_id, rh, UNNEST(generate_series(c_mid + 1, c_prev)) AS level, 1, seq, time,
    0, CAST(NULL AS SMALLINT)
  FROM _iv_ev WHERE seq IS NOT NULL AND c_prev > c_mid
  UNION ALL
  SELECT host_id, query_id, rh, UNNEST(generate_series(c_mid + 1, c_new)) AS level, 1, seq, time,
    1, CAST(NULL AS SMALLINT)
  FROM _iv_ev WHERE seq IS NOT NULL AND c_new > c_mid
  UNION ALL
  SELECT host_id, query_id, rh, UNNEST(generate_series(1, c_new)) AS level, 1, reset_seq,
    reset_time, 0, CAST(NULL AS SMALLINT)
  FROM _iv_ev WHERE reset_seq IS NOT NULL
),
paired AS (
  SELECT lv.*, LEAD(time) OVER (
    PARTITION BY host_id, query_id, rh, level ORDER BY src, seq, opens) AS _to
  FROM lv
)
SELECT host_id, query_id, rh, level, src, seq, time AS _from, _to, _n
FROM paired WHERE opens = 1"""

    def new(cols: str, where: str) -> str:
        return f"""
SELECT v.host_id, v.query_id, v.rh, {cols}, CAST(v.level - 1 AS SMALLINT) AS _n, p.payload
FROM _iv_lv v JOIN _iv_ag p
  ON v.host_id = p.host_id AND v.query_id = p.query_id AND v.seq = p.seq AND v.rh = p.rh
WHERE v.src = 1 AND {where}"""

    return [
        *pre,
        execs_sql,
        open_sql,
        agg_sql,
        *([_DELTA_AGG] if deltas else []),
        events_sql,
        levels_sql,
        """
CREATE OR REPLACE TEMP TABLE iv_closed_existing AS
SELECT host_id, query_id, rh, _from, _n, _to FROM _iv_lv WHERE src = 0 AND _to IS NOT NULL""",
        "CREATE OR REPLACE TEMP TABLE iv_new_closed AS" + new("v._from, v._to", "v._to > v._from"),
        "CREATE OR REPLACE TEMP TABLE iv_new_open AS" + new("v._from", "v._to IS NULL"),
        """
CREATE OR REPLACE TEMP TABLE iv_signals AS
SELECT host_id, query_id, seq, MIN(time) AS time,
  CAST(SUM(removed_not_open) AS INTEGER) AS removed_not_open,
  CAST(SUM(closed_by_full) AS INTEGER) AS closed_by_full
FROM (
  SELECT host_id, query_id, seq, time,
    CASE WHEN full_set THEN 0 ELSE GREATEST(r - c_prev, 0) END AS removed_not_open,
    CASE WHEN full_set THEN GREATEST(c_prev - a, 0) ELSE 0 END AS closed_by_full
  FROM _iv_ev WHERE seq IS NOT NULL
  UNION ALL
  SELECT host_id, query_id, reset_seq, reset_time, 0, c_new
  FROM _iv_ev WHERE reset_seq IS NOT NULL
) s
GROUP BY host_id, query_id, seq
HAVING SUM(removed_not_open) > 0 OR SUM(closed_by_full) > 0""",
    ]


def _delta_statements(execs: str) -> list[str]:
    """Snapshots as differences: the first steps when `deltas` is on.

    The state after a full set is exactly its rows. A snapshot that follows a full set of the
    batch is therefore the diff (added: what its multiplicity exceeds the previous set's by,
    removed: the converse), and applying it as that diff opens and closes exactly what replacing
    the set does (c_mid and c_new agree, step 4). Most rows of consecutive snapshots are the
    same, so the window steps see a fraction of the rows. Resets stay full sets: the rows they
    close are a data-quality signal (a delta snapshot reports none in `closed_by_full`: a
    snapshot closing rows is no ambiguity). `_iv_d` is `execs` with `full_set` off for those snapshots
    and `delta`, `prev_seq`; `_DELTA_AGG` turns their aggregated rows into differences."""
    return [
        f"""
CREATE OR REPLACE TEMP TABLE _iv_d AS
SELECT host_id, query_id, seq, time, full_set AND NOT delta AS full_set, delta, prev_seq
FROM (
  SELECT host_id, query_id, seq, time, full_set, prev_seq,
    snap AND full_set AND COALESCE(prev_full, FALSE) AS delta
  FROM (
    SELECT host_id, query_id, seq, time, full_set, snap,
      LAG(full_set) OVER w AS prev_full, LAG(seq) OVER w AS prev_seq
    FROM {execs}
    WINDOW w AS (PARTITION BY host_id, query_id ORDER BY seq)
  ) l
) d"""
    ]


# The aggregated rows (`_iv_ag0`) of the delta snapshots replaced by their differences from the
# previous full set: a row's multiplicity before (a_old) and after (a_new).
_DELTA_AGG = """
CREATE OR REPLACE TEMP TABLE _iv_ag AS
WITH cur AS (
  SELECT g.host_id, g.query_id, g.seq, g.rh, g.a, g.payload
  FROM _iv_ag0 g JOIN _iv_d d
    ON d.delta AND d.host_id = g.host_id AND d.query_id = g.query_id AND d.seq = g.seq
),
prev AS (
  SELECT d.host_id, d.query_id, d.seq, g.rh, g.a
  FROM _iv_ag0 g JOIN _iv_d d
    ON d.delta AND d.host_id = g.host_id AND d.query_id = g.query_id AND d.prev_seq = g.seq
),
diff AS (
  SELECT COALESCE(c.host_id, p.host_id) AS host_id, COALESCE(c.query_id, p.query_id) AS query_id,
    COALESCE(c.seq, p.seq) AS seq, COALESCE(c.rh, p.rh) AS rh,
    COALESCE(c.a, 0) AS a_new, COALESCE(p.a, 0) AS a_old, c.payload
  FROM cur c FULL OUTER JOIN prev p
    ON c.host_id = p.host_id AND c.query_id = p.query_id AND c.seq = p.seq AND c.rh = p.rh
)
SELECT g.host_id, g.query_id, g.seq, g.rh, g.a, g.r, g.payload
FROM _iv_ag0 g LEFT JOIN _iv_d d
  ON d.delta AND d.host_id = g.host_id AND d.query_id = g.query_id AND d.seq = g.seq
WHERE d.seq IS NULL
UNION ALL
SELECT host_id, query_id, seq, rh, GREATEST(a_new - a_old, 0) AS a,
  GREATEST(a_old - a_new, 0) AS r, payload
FROM diff WHERE a_new <> a_old"""


def build_intervals(
    con: duckdb.DuckDBPyConnection,
    changes: str,
    execs: str,
    open_before: str,
    deltas: bool = False,
) -> None:
    """Compute the intervals of one batch into the TEMP tables named in `OUTPUTS`."""
    for sql in interval_statements(changes, execs, open_before, deltas):
        con.execute(sql)
    for name in _SCRATCH:
        con.execute(f"DROP TABLE IF EXISTS {name}")
