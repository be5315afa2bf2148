"""From raw observations to the interval builder's inputs, and back to the lake's tables.

Written once as DuckDB SQL (close to ANSI) and translated per engine with sqlglot, like
`hindsight.intervals.build_sql`, whose statements do the interval building itself. The
statements here reproduce, set-based, what the embedded ingest does per line in Python:

1. `dedupe`: a line seen more than once (a retried request, a compacted file, a TLS body sent
   again) counts once: per (host, unixTime, line key) only the rows of its first copy stay.
2. `executions`: the embedded engine's own classification (`hindsight.intervals.classify_sql`)
   over the observations: lines of one execution merge, executions are numbered in key order,
   each is a full result set or a diff, with its data-quality signals (counter_gap,
   reset_with_removed).
3. `changes`: the rows of each execution, op +1 / -1, for `build_intervals`.
4. `merge`: previous intervals (minus the replayed streams, with the instances the batch closed
   given their end) + the batch's new intervals.
5. `execution_rows`: the executions with the interval builder's own signals (removed_not_open,
   reset_closed_rows) counted as the embedded store counts them; `quality` words all four
   signals as the embedded store's `quality` table does.

Relations: observations `obs(query, host_key, unix_time, epoch, counter, shape, op, rh, row)`,
positions `pos(query, host_key, last_time, last_epoch, last_ckey, last_snapshot)` of the streams
being extended (their previous execution), intervals `prev_iv(query, host_key, _from, _to, _n,
_rh, _row)`; `obs` also carries `query`. A stream is (query, host_key): the builder's query_id
and host_id. Every query of a build goes through the same statements at once.
"""

from __future__ import annotations

import re

import sqlglot

from hindsight.intervals.classify_sql import executions_sql
from hindsight.lake.layout import OPEN_END
from hindsight.store.catalog import QueryInfo
from hindsight.store.fit import loose_value, member_path
from hindsight.store.layout import quote

_EXEC_KEY = "unix_time, epoch, COALESCE(counter, -1), shape IN ('snapshot', 'snapshot_event')"
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def dedupe(raw: str) -> str:
    return f"""
SELECT query, host_key, unix_time, epoch, counter, shape, op, rh, "row" FROM (
  SELECT *, RANK() OVER (PARTITION BY query, host_key, unix_time, line_key ORDER BY batch, line) AS _copy
  FROM {raw}
) d WHERE _copy = 1"""


def lines(obs: str) -> str:
    """Observations as the embedded classification's `lines` (one per row; it sums them)."""
    return f"""
SELECT 0 AS src, host_key AS host_id, query AS query_id, unix_time AS t, epoch, counter,
  shape IN ('snapshot', 'snapshot_event') AS snap, CASE WHEN op > 0 THEN 1 ELSE 0 END AS n_add,
  CASE WHEN op < 0 THEN 1 ELSE 0 END AS n_rem
FROM {obs}"""


def executions(obs: str, pos: str) -> str:
    """One row per execution, numbered and classified by the embedded engine's own SQL
    (`hindsight.intervals.classify_sql`), data-quality signals included: host_id, query_id,
    seq, time, epoch, counter, ckey, snap, added, removed, full_set, counter_gap, prev_counter,
    reset_with_removed."""
    positions = (
        "(SELECT host_key AS host_id, query AS query_id, last_epoch AS epoch, "
        f"CASE WHEN last_ckey = -1 THEN NULL ELSE last_ckey END AS counter FROM {pos})"
    )
    create = sqlglot.parse_one(executions_sql(f"({lines(obs)})", positions, "_x"), read="duckdb")
    return str(create.expression.sql(dialect="duckdb"))


def changes(obs: str, execs: str) -> str:
    return f"""
SELECT x.host_id, x.query_id, x.seq, CAST(o.op AS TINYINT) AS op, o.rh, o."row" AS payload
FROM {obs} o JOIN {execs} x ON x.query_id = o.query AND x.host_id = o.host_key AND x.time = o.unix_time
  AND x.epoch = o.epoch AND x.ckey = COALESCE(o.counter, -1)
  AND x.snap = (o.shape IN ('snapshot', 'snapshot_event'))
WHERE o.op <> 0"""


def first_new(obs: str) -> str:
    """The first execution key of each host in new observations."""
    return f"""
SELECT query, host_key, time, epoch, ckey, snapshot FROM (
  SELECT query, host_key, unix_time AS time, epoch, COALESCE(counter, -1) AS ckey,
    shape IN ('snapshot', 'snapshot_event') AS snapshot,
    ROW_NUMBER() OVER (PARTITION BY query, host_key ORDER BY {_EXEC_KEY}) AS r
  FROM {obs}
) f WHERE r = 1"""


def replayed(first: str, pos: str) -> str:
    """Hosts whose new executions do not all come after their position: rebuilt from all their
    raw lines (late backlogs, files out of order, repeated lines), as the embedded store does."""
    return f"""
SELECT f.query, f.host_key FROM {first} f JOIN {pos} p ON p.query = f.query AND p.host_key = f.host_key
WHERE NOT (f.time > p.last_time OR (f.time = p.last_time AND (f.epoch > p.last_epoch
  OR (f.epoch = p.last_epoch AND (f.ckey > p.last_ckey
  OR (f.ckey = p.last_ckey AND f.snapshot AND NOT p.last_snapshot))))))"""


def positions(execs: str) -> str:
    """Each stream's last execution."""
    return f"""
SELECT query_id AS query, host_id AS host_key, time AS last_time, epoch AS last_epoch, ckey AS last_ckey,
  snap AS last_snapshot FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY query_id, host_id ORDER BY seq DESC) AS r FROM {execs}
) l WHERE r = 1"""


def merge(prev_iv: str, replay: str, closed: str, new_closed: str, new_open: str) -> str:
    return f"""
SELECT p.query, p.host_key, p._from, COALESCE(c._to, p._to) AS _to, p._n, p._rh, p._row
FROM {prev_iv} p LEFT JOIN {closed} c ON p._to = {OPEN_END} AND c.query_id = p.query
  AND c.host_id = p.host_key AND c.rh = p._rh AND c._from = p._from AND c._n = p._n
WHERE NOT EXISTS (SELECT 1 FROM {replay} r WHERE r.query = p.query AND r.host_key = p.host_key)
  AND (c._to IS NULL OR c._to > p._from)
UNION ALL SELECT query_id, host_id, _from, _to, _n, rh, payload FROM {new_closed}
UNION ALL SELECT query_id, host_id, _from, CAST({OPEN_END} AS BIGINT), _n, rh, payload FROM {new_open}"""


def execution_rows(execs: str, signals: str) -> str:
    """The rows of the build's `executions/` files: every classified execution (`executions`)
    with the interval builder's signals (`iv_signals` of `hindsight.intervals.build_sql`) under
    the embedded store's conditions: `removed_not_open`, removed rows that were not open (ignored),
    and `reset_closed_rows`, rows a reset (a full set that is not a snapshot) closed; 0 when none."""
    return f"""
SELECT x.query_id AS query, x.host_id AS host_key, x.time AS unix_time, x.epoch, x.counter,
  x.full_set, x.added, x.removed, x.counter_gap, x.prev_counter, x.reset_with_removed,
  CAST(COALESCE(s.removed_not_open, 0) AS INTEGER) AS removed_not_open,
  CAST(CASE WHEN x.full_set AND NOT x.snap THEN COALESCE(s.closed_by_full, 0) ELSE 0 END AS INTEGER)
    AS reset_closed_rows
FROM {execs} x LEFT JOIN {signals} s
  ON s.host_id = x.host_id AND s.query_id = x.query_id AND s.seq = x.seq"""


#: The embedded store's wording of each signal (hindsight.store.streams), from executions rows.
_SIGNALS = (
    (
        "counter_gap",
        "counter_gap",
        "'counter ' || CAST(prev_counter AS VARCHAR) || ' -> ' || CAST(counter AS VARCHAR) "
        "|| ': executions missing'",
    ),
    (
        "reset_with_removed",
        "reset_with_removed",
        "'counter 0 or new epoch with removed rows: applied as a diff'",
    ),
    (
        "removed_not_open",
        "removed_not_open > 0",
        "CAST(removed_not_open AS VARCHAR) || ' removed rows were not in the state'",
    ),
    (
        "reset_closed_rows",
        "reset_closed_rows > 0",
        "'reset (counter 0 or new epoch) closed ' || CAST(reset_closed_rows AS VARCHAR) "
        "|| ' rows osquery never reported removed; a pre-5.19 purge diff would not have'",
    ),
)


def quality(execs: str) -> str:
    """The data-quality signals of executions rows (`execution_rows`' columns) as the embedded
    store's `quality` table holds them: (query, host_key, unix_time, kind, detail). A column
    missing from older files reads NULL and gives no signal."""
    return "\nUNION ALL\n".join(
        f"SELECT query, host_key, unix_time, '{kind}' AS kind, {detail} AS detail "
        f"FROM {execs} WHERE {cond}"
        for kind, cond, detail in _SIGNALS
    )


def json_path(name: str) -> str | None:
    """The SQL literal of the JSON path reading member NAME of a row (`$.uid`, or quoted:
    `$."load avg"`, `$."count(*)"`, which sqlglot writes `$['load avg']` for Spark); None for
    the names Spark's paths cannot reach (holding a `'`, or `*` alone)."""
    if _COLUMN.match(name):
        return f"'$.{name}'"
    if "'" in name or name == "*":
        return None
    return f"'{member_path(name)}'"


def typed_columns(info: QueryInfo, source: str = "_row", key: str | None = None) -> str:
    """The query's typed columns from a row's canonical JSON (as the embedded store types them);
    the text column `key` is read from `_key` (its copy in the files, for row-group pruning)."""
    exprs = []
    for name, typ in info.columns.items():
        path = json_path(name)
        if name == key and typ == "VARCHAR":
            value = "_key"
        elif path is None:
            value = "CAST(NULL AS VARCHAR)"  # not addressable by a JSON path on every engine
        else:
            value = f"json_extract_string({source}, {path})"
        if name in info.loose:  # (settled by a value that does not fit: NULL for such)
            value = loose_value(value, typ)
        elif typ != "VARCHAR":
            value = f"TRY_CAST(NULLIF({value}, '') AS {typ})"
        exprs.append(f"{value} AS {quote(name)}")
    return ", ".join(exprs)


def events(obs: str, timed: list[str]) -> str:
    """Event rows: added rows of every line, at the event's own `time` for the queries in
    `timed` (those with a time column), else at the line's unixTime."""
    own = "COALESCE(TRY_CAST(NULLIF(json_extract_string(\"row\", '$.time'), '') AS BIGINT), unix_time)"
    time = (
        f"CASE WHEN query IN ({_in(timed)}) THEN {own} ELSE unix_time END" if timed else "unix_time"
    )
    return (
        f'SELECT query, host_key, unix_time AS _unix, {time} AS _time, "row" AS _row '
        f"FROM {obs} WHERE op > 0"
    )


def lookup_key(keys: dict[str, str], source: str = "_row") -> str:
    """`_key`: per query (name -> column) the text of the column investigations look up, the
    sort key of the interval files (NULL for queries without one)."""
    if not keys:
        return "CAST(NULL AS VARCHAR)"
    whens = " ".join(
        f"WHEN '{_literal(q)}' THEN json_extract_string({source}, {path})"
        for q, c in sorted(keys.items())
        if (path := json_path(c)) is not None
    )
    return f"CASE query {whens} END" if whens else "CAST(NULL AS VARCHAR)"


def _in(names: list[str]) -> str:
    return ", ".join(f"'{_literal(n)}'" for n in sorted(names))


def _literal(text: str) -> str:
    return text.replace("'", "''")
