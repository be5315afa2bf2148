"""Normalise a batch of raw osquery lines inside DuckDB: the fast path of ingest.

The batch's lines are one Arrow column of text; DuckDB parses them (vectorised, on every core)
into a header per line (`_hdr`) and one record per result row (`_rows`). Lines the SQL cannot
vouch for (invalid JSON, status lines, unusual typings, anything outside the common shapes) go
to the Python normaliser (`hindsight.osquery.lines`), the reference: it rejects them with a
reason, or re-emits them as a plain line that the SQL then reads like any other.

Rows are identified by a hash of their canonical text, computed here for every row: the query's
columns in name order, each value as text (`1001` and `"1001"` are one value), NULL and missing
columns left out, so that adding a column to a query does not change the identity of old rows.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from hindsight.errors import BadLine
from hindsight.osquery.lines import (
    UNIX_MAX,
    UNIX_MIN,
    Parsed,
    ResultLine,
    Shape,
    StatusLine,
    parse_document,
)
from hindsight.osquery.reader import torn, torn_reason
from hindsight.store.catalog import QueryInfo
from hindsight.store.layout import quote
from hindsight.store.writes import attach, detach

# Scalars are read as text (a number and its digit string read the same); containers as JSON,
# whose text is minified, so that its first character tells an object from an array.
_SPEC = json.dumps(
    {
        **dict.fromkeys(
            ("name", "hostIdentifier", "hostname", "unixTime", "epoch", "counter"), "VARCHAR"
        ),
        **dict.fromkeys(("action", "host_uuid", "uuid", "log_type", "data"), "VARCHAR"),
        **dict.fromkeys(("columns", "snapshot", "diffResults"), "JSON"),
        "decorations": {"host_uuid": "VARCHAR", "uuid": "VARCHAR"},
    }
)


def _rows_of(x: str) -> str:
    """A JSON array (or "" / missing: no rows) as JSON[]."""
    return f"CASE WHEN starts_with({x}, '[') THEN CAST({x} AS JSON[]) ELSE []::JSON[] END"


def _array_ok(x: str) -> str:
    return f"({x} IS NULL OR starts_with({x}, '[') OR {x} = '\"\"')"


def _int_ok(x: str) -> str:
    return f"({x} IS NULL OR {x} = '' OR TRY_CAST({x} AS BIGINT) IS NOT NULL)"


# Header of each line the SQL accepts; `ok` false sends the line to the Python normaliser.
# `p` is MATERIALIZED: inlined, the filter `d IS NOT NULL` pushed into it parsed each line twice.
_HEADER = f"""
CREATE OR REPLACE TEMP TABLE @OUT@ AS
WITH p AS MATERIALIZED (
    SELECT i, @TRY@(json_transform(raw, '{_SPEC}')) AS d FROM @SRC@ WHERE starts_with(raw, '{{')
), q AS (
    SELECT i, d.name, d.unixTime, d.epoch, d.counter, d.action, d.columns, d.snapshot,
        d.diffResults AS diff, coalesce(d.hostIdentifier, d.hostname) AS ident,
        nullif(coalesce(nullif(coalesce(d.decorations.host_uuid, d.host_uuid), ''),
                        coalesce(d.decorations.uuid, d.uuid)), '') AS uuid,
        d.log_type IS NULL AND d.data IS NULL AS plain,
        CASE WHEN d.diffResults IS NOT NULL THEN 'batch' WHEN d.snapshot IS NOT NULL THEN 'snapshot'
             WHEN d.columns IS NOT NULL AND d.action = 'snapshot' THEN 'snapshot_event'
             WHEN d.columns IS NOT NULL THEN 'event' END AS shape
    FROM p WHERE d IS NOT NULL
), r AS (
    SELECT *, CASE WHEN shape = 'batch' AND starts_with(diff, '{{')
                   THEN json_extract(diff, ['$.added', '$.removed']) END AS ar
    FROM q
)
SELECT i,
    plain AND name <> '' AND (ident <> '' OR uuid IS NOT NULL)
    AND TRY_CAST(unixTime AS BIGINT) BETWEEN {UNIX_MIN} AND {UNIX_MAX}
    AND {_int_ok("epoch")} AND {_int_ok("counter")}
    AND CASE shape
        WHEN 'batch' THEN ar IS NOT NULL AND {_array_ok("ar[1]")} AND {_array_ok("ar[2]")}
        WHEN 'snapshot' THEN {_array_ok("snapshot")}
        WHEN 'snapshot_event' THEN starts_with(columns, '{{')
        WHEN 'event' THEN starts_with(columns, '{{') AND action IN ('added', 'removed')
        ELSE false END AS ok,
    CASE WHEN uuid IS NOT NULL THEN lower(uuid) ELSE nullif(ident, '') END AS host_key,
    coalesce(nullif(ident, ''), uuid) AS identifier,
    name, TRY_CAST(unixTime AS BIGINT) AS t, coalesce(TRY_CAST(nullif(epoch, '') AS BIGINT), 0) AS epoch,
    TRY_CAST(nullif(counter, '') AS BIGINT) AS counter, shape, shape IN ('snapshot', 'snapshot_event') AS snap,
    CASE shape WHEN 'batch' THEN {_rows_of("ar[1]")}
               WHEN 'snapshot' THEN {_rows_of("snapshot")}
               WHEN 'event' THEN CASE WHEN action = 'added' THEN [columns] ELSE []::JSON[] END
               ELSE [columns] END AS added,
    CASE shape WHEN 'batch' THEN {_rows_of("ar[2]")}
               WHEN 'event' THEN CASE WHEN action = 'removed' THEN [columns] ELSE []::JSON[] END
               ELSE []::JSON[] END AS removed
FROM r
"""


def _header(con: duckdb.DuckDBPyConnection, out: str, src: str, careful: bool) -> None:
    """Run the header SQL; `try()` (per-line errors as NULL) costs, so only after a failure,
    unless CAREFUL (in a transaction, which a failed statement would abort)."""
    sql = _HEADER.replace("@OUT@", out).replace("@SRC@", src)
    if careful:
        con.execute(sql.replace("@TRY@", "try"))
        return
    try:
        con.execute(sql.replace("@TRY@", ""))
    except (duckdb.InvalidInputException, UnicodeDecodeError):
        # (DuckDB's message quotes the line cut at a byte count: one cut inside a character
        # cannot be decoded, and Python raises that instead)
        con.execute(sql.replace("@TRY@", "try"))


# Each row carries its line's query name: the steps per query filter rows by it, none joins
# every row of the batch with its line once per query (a fleet schedules dozens of queries).
_ROWS = """
CREATE OR REPLACE {out} AS
SELECT i, name, 1::TINYINT AS op, CAST(unnest(added) AS VARCHAR) AS r FROM {hdr}
WHERE ok AND len(added) > 0
UNION ALL
SELECT i, name, -1::TINYINT AS op, CAST(unnest(removed) AS VARCHAR) AS r FROM {hdr}
WHERE ok AND len(removed) > 0
"""


@dataclass
class Fallback:
    """Lines the Python normaliser handled: rejections, status lines, re-emitted results."""

    # (index, reason, the bytes rejected when not the whole line: a torn line's first part)
    rejected: list[tuple[int, str, bytes | None]] = field(default_factory=list)
    statuses: list[tuple[int, StatusLine]] = field(default_factory=list)


def normalise(
    con: duckdb.DuckDBPyConnection,
    raws: Sequence[bytes],
    parsed: Sequence[Parsed | None] = (),
    prefix: str = "_n",
    into: str | None = None,
    careful: bool = False,
) -> Fallback:
    """Parse `raws` into TEMP tables `{prefix}_hdr` (ok lines) and `{prefix}_rows` (or, with
    INTO, tables `{into}_hdr` and `{into}_rows`, e.g. in a database other connections see).

    `_hdr(i, host_key, identifier, name, t, epoch, counter, shape, snap, n_add, n_rem, first)`,
    with `i` the index in `raws` and `first` the line's first row; `_rows(i, name, op, r)`:
    the line's query name, op 1 for an added row (or one of a full set), -1 for a removed
    row, `r` the row's JSON text.
    Row hashes come later, per query (`hash_rows`).
    `parsed[i]`, where given, is line i already normalised (lines from TLS bodies).
    CAREFUL: no statement may fail (inside a transaction: lines read back from the archive).
    """
    src, hdr = f"{prefix}_src", f"{prefix}_all"
    texts = _texts(raws)
    attach(con, src, pa.table({"i": pa.array(range(len(raws)), pa.int32()), "raw": texts}))
    try:
        _header(con, hdr, src, careful)
        todo = con.execute(
            f"SELECT i FROM {src} ANTI JOIN (SELECT i FROM {hdr} WHERE ok) USING (i) ORDER BY i"
        ).fetchall()
    finally:
        detach(con, src)
    fallback = Fallback()
    redo: list[tuple[int, str]] = []
    for (i,) in todo:
        known = parsed[i] if i < len(parsed) else None
        if known is None:
            _python(i, raws[i], fallback, redo)
        elif isinstance(known, StatusLine):
            fallback.statuses.append((i, known))
        else:
            redo.append((i, plain_line(known).decode()))
    if redo:
        attach(
            con,
            src,
            pa.table(
                {
                    "i": pa.array([i for i, _ in redo], pa.int32()),
                    "raw": pa.array([r for _, r in redo], pa.string()),
                }
            ),
        )
        try:
            _header(con, f"{prefix}_redo", src, careful)
        finally:
            detach(con, src)
        con.execute(f"INSERT INTO {hdr} SELECT * FROM {prefix}_redo WHERE ok")
        con.execute(f"DROP TABLE {prefix}_redo")
    out = f"TABLE {into}" if into else f"TEMP TABLE {prefix}"
    con.execute(_ROWS.format(out=f"{out}_rows", hdr=hdr))
    con.execute(
        f"CREATE OR REPLACE {out}_hdr AS SELECT * EXCLUDE (ok, added, removed), "
        f"len(added)::INTEGER AS n_add, len(removed)::INTEGER AS n_rem, "
        f"coalesce(added[1], removed[1]) AS first FROM {hdr} WHERE ok"
    )
    con.execute(f"DROP TABLE {hdr}")
    return fallback


def _texts(raws: Sequence[bytes]) -> pa.Array:
    """The lines as an Arrow text column, built from one buffer (no per-line objects); a line
    that is not UTF-8 becomes empty, so that the SQL leaves it to the Python normaliser."""
    offsets = array("q", accumulate(map(len, raws), initial=0))
    texts = pa.LargeStringArray.from_buffers(
        len(raws), pa.py_buffer(offsets), pa.py_buffer(b"".join(raws))
    )
    try:
        texts.validate(full=True)
    except pa.ArrowInvalid:
        return pa.array([_utf8_or_empty(raw) for raw in raws], pa.large_string())
    return texts


def _utf8_or_empty(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return ""


def _python(i: int, raw: bytes, fallback: Fallback, redo: list[tuple[int, str]]) -> None:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        cut = torn(raw)
        if cut is None:
            fallback.rejected.append((i, f"invalid JSON: {exc}", None))
            return
        # the torn first part is kept aside; the line after it is read as line i
        fallback.rejected.append((i, torn_reason(cut), raw[:cut]))
        doc = orjson.loads(raw[cut:])
    try:
        parsed = parse_document(doc)
    except BadLine as exc:
        fallback.rejected.append((i, exc.reason, None))
        return
    if isinstance(parsed, StatusLine):
        fallback.statuses.append((i, parsed))
    else:
        redo.append((i, plain_line(parsed).decode()))


def plain_line(p: ResultLine) -> bytes:
    """A result line re-emitted in the plainest form the SQL reads (canonical text rows)."""
    doc: dict[str, Any] = {
        "name": p.name,
        "hostIdentifier": p.identifier,
        "unixTime": p.unix_time,
        "epoch": p.epoch,
    }
    if p.counter is not None:
        doc["counter"] = p.counter
    if p.host_key != p.identifier:
        doc["decorations"] = {"host_uuid": p.host_key}
    rows = [orjson.loads(r.canon) for r in p.added]
    if p.shape is Shape.BATCH:
        doc["diffResults"] = {"added": rows, "removed": [orjson.loads(r.canon) for r in p.removed]}
    elif p.shape is Shape.SNAPSHOT:
        doc["snapshot"] = rows
    elif p.shape is Shape.SNAPSHOT_EVENT:
        doc.update(columns=rows[0], action="snapshot")
    elif p.added:
        doc.update(columns=rows[0], action="added")
    else:
        doc.update(columns=orjson.loads(p.removed[0].canon), action="removed")
    return orjson.dumps(doc)


def query_columns(con: duckdb.DuckDBPyConnection, prefix: str = "_n") -> dict[str, set[str]]:
    """Column names seen per query name in the batch (from each line's first row)."""
    found: dict[str, set[str]] = {}
    for name, keys in con.execute(  # the distinct key lists (few): no list of every line's keys
        f"SELECT name, json_keys(first) AS k FROM {prefix}_hdr GROUP BY name, k"
    ).fetchall():
        found.setdefault(name, set()).update(keys or ())
    return found


def row_hash(info: QueryInfo, value: str = "_s") -> str:
    """SQL for a row's identity: the XOR of one hash per non-NULL column (of its name and text
    value as one string: hash(name, value) would combine so that equal values in two columns
    cancel out), so that column order, value typing and columns added later do not matter."""
    parts = [
        f"CASE WHEN {value}.{quote(c)} IS NOT NULL "
        f"THEN hash({literal(c + chr(31))} || {value}.{quote(c)}) ELSE 0 END"
        for c in sorted(info.columns)
    ]
    # combined pairwise (a tree: a query of a thousand columns stays under DuckDB's expression
    # depth; XOR's order does not change the value)
    while len(parts) > 1:
        parts = [f"xor({a}, {b})" for a, b in zip(parts[::2], parts[1::2], strict=False)] + (
            [parts[-1]] if len(parts) % 2 else []
        )
    return f"xor(0::UBIGINT, {parts[0]})" if parts else "0::UBIGINT"


def as_text(info: QueryInfo, row: str) -> str:
    """SQL reading a row's JSON `row` into a struct of the query's columns, each as text."""
    if not info.columns:
        return "NULL"
    spec = json.dumps({name: "VARCHAR" for name in info.columns}).replace("'", "''")
    return f"json_transform({row}, '{spec}')"


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


#: Up to this many distinct column sets, state rows are hashed by one `json_transform` per
#: set (`_per_columns`); beyond, by one pass over every row's members (`_per_member`), whose
#: cost does not grow with the number of queries (a fleet schedules dozens to hundreds).
PER_COLUMNS_MAX = 8


def hash_rows(
    con: duckdb.DuckDBPyConnection,
    queries: list[QueryInfo],
    prefix: str = "_n",
    out: str | None = None,
    per_columns_max: int = PER_COLUMNS_MAX,
    given: bool = False,
) -> None:
    """`{prefix}_rh(i, op, rh, r, ref)` (or the table OUT, e.g. `TABLE db.x`): every row of
    `{prefix}_rows` of QUERIES with its hash and `ref`, its number in the batch (its rowid:
    later steps carry it rather than the row's text).

    State rows get their canonical identity (`row_hash`, of the query's columns), computed
    once per distinct text of a query: a snapshot repeats most of its rows from one execution
    to the next. The batch's rows are read and joined back once, whatever the number of
    queries. Event rows only need an identity to tell a re-sent line from a new one, and a
    re-sent line is the same text: their hash is the text's.

    GIVEN: the rows come with both identities computed (`rhs` as a state row, `rht` as an
    event row: the native fast path, store/native/), NULL for those still to hash here.
    """
    rows = f"{prefix}_rows"
    states = [info for info in queries if not info.is_event]
    events = [literal(info.name) for info in queries if info.is_event]
    parts = [
        "SELECT 0::INTEGER AS i, 0::TINYINT AS op, 0::UBIGINT AS rh, ''::VARCHAR AS r, "
        "0::BIGINT AS ref WHERE false"
    ]
    if given:
        names = ", ".join(literal(info.name) for info in queries) or "NULL"
        parts.append(
            f"SELECT i, op, CASE WHEN name IN ({', '.join(events) or 'NULL'}) THEN rht ELSE rhs "
            f"END AS rh, r, rowid AS ref FROM {rows} WHERE rhs IS NOT NULL AND name IN ({names})"
        )
        rows = f"(SELECT i, name, op, r, rowid FROM {rows} WHERE rhs IS NULL)"
    if states:
        by_columns: dict[frozenset[str], list[QueryInfo]] = {}
        for info in states:
            by_columns.setdefault(frozenset(info.columns), []).append(info)
        hashes = (
            f"{_per_columns(list(by_columns.values()))} UNION ALL "
            f"SELECT * FROM ({_per_member(states, '(SELECT name, r FROM _d WHERE dbl)')})"
            if len(by_columns) <= per_columns_max
            else _per_member(states)
        )
        names = ", ".join(literal(info.name) for info in states)
        parts.append(
            f"(WITH _x AS (SELECT i, name, op, r, rowid AS ref FROM {rows} "
            f"WHERE name IN ({names})), _d AS MATERIALIZED (SELECT name, r, "
            f"regexp_matches(r, '{_DOUBLE_MEMBER}') AS dbl FROM (SELECT DISTINCT name, r FROM _x)), "
            f"_h AS ({hashes}) "
            f"SELECT _x.i, _x.op, _h.rh, _x.r, _x.ref FROM _x JOIN _h USING (name, r))"
        )
    if events:
        parts.append(
            f"SELECT i, op, hash(r) AS rh, r, rowid AS ref FROM {rows} "
            f"WHERE name IN ({', '.join(events)})"
        )
    target = out or f"TEMP TABLE {prefix}_rh"
    con.execute(f"CREATE OR REPLACE {target} AS " + " UNION ALL ".join(parts))


#: A member whose value is a JSON number with a fraction or an exponent (a row written with
#: numerics on): such rows are hashed by their members (`_per_member`), which give a double
#: the text osquery gives it with numerics off. (Over-matching, as inside a string, only costs.)
_DOUBLE_MEMBER = r'":\s*-?[0-9]+[.eE]'

#: SQL of the text osquery writes for the double in JSON member `m.value` with numerics off
#: (castvariant.h): 15 significant digits, `.0` appended to a whole number, so that a row
#: logged before and after `--logger_numerics` changed keeps its identity (FORMATS.md §1.5;
#: pitfall 6). As hindsight.osquery.lines._text.
_DOUBLE_TEXT = r"regexp_replace(printf('%.15g', m.value::DOUBLE), '^(-?[0-9]+)$', '\1.0')"


def _per_columns(groups: list[list[QueryInfo]]) -> str:
    """`(name, r, rh)` for the distinct rows `_d` without a double (`dbl`): each group of
    queries (same columns) reads its rows into their columns (`row_hash`)."""
    return " UNION ALL ".join(
        f"SELECT name, r, {row_hash(group[0])} AS rh FROM (SELECT name, r, "
        f"{as_text(group[0], 'r')} AS _s FROM _d WHERE NOT dbl AND name IN "
        f"({', '.join(literal(info.name) for info in group)}))"
        for group in groups
    )


def _per_member(states: list[QueryInfo], rows: str = "_d") -> str:
    """`(name, r, rh)` for the distinct ROWS, as `row_hash` gives them, from each row's
    members (`json_each`): those of the query's columns, the first of a repeated key (as
    `json_transform` reads it), a value as text as `json_transform` gives it but a double as
    osquery writes it with numerics off (`_DOUBLE_TEXT`); a row that is not an object has
    none (`json_transform` reads it as all NULL)."""
    pairs = [f"({literal(info.name)}, {literal(c)})" for info in states for c in info.columns]
    columns = (
        f"_c(name, col) AS (VALUES {', '.join(pairs)})"
        if pairs
        else "_c AS (SELECT ''::VARCHAR AS name, ''::VARCHAR AS col WHERE false)"
    )
    # (an integer past 64 bits reads as a DOUBLE too: its text stays DuckDB's, as before)
    text = (
        "CASE m.type WHEN 'NULL' THEN NULL WHEN 'VARCHAR' THEN m.value->>'$' "
        f"WHEN 'DOUBLE' THEN CASE WHEN regexp_matches(m.value, '[.eE]') THEN {_DOUBLE_TEXT} "
        "ELSE json_transform(m.value, '\"VARCHAR\"') END ELSE m.value::VARCHAR END"
    )
    return (
        f"WITH _dn AS (SELECT name, r, row_number() OVER () AS did FROM {rows}), "
        f"{columns}, "
        f"_m AS (SELECT d.did, m.key, arg_min_null({text}, m.id) AS v FROM _dn d, json_each(d.r) m "
        f"SEMI JOIN _c ON _c.name = d.name AND _c.col = m.key WHERE starts_with(d.r, '{{') "
        f"GROUP BY d.did, m.key), "
        f"_mh AS (SELECT did, bit_xor(CASE WHEN v IS NULL THEN 0::UBIGINT "
        f"ELSE hash(key || chr(31) || v) END) AS rh FROM _m GROUP BY did) "
        f"SELECT _dn.name, _dn.r, coalesce(_mh.rh, 0::UBIGINT) AS rh FROM _dn "
        f"LEFT JOIN _mh USING (did)"
    )


# Per line, the sums and counts of its added and removed rows' hashes (modulo 2^64): the part of
# a line's dedupe key that its rows give (see keys.keys_sql).
LINE_SUMS_SELECT = """
SELECT i, sum(CASE WHEN op > 0 THEN rh::HUGEINT END) % 18446744073709551616 AS sa,
    count(CASE WHEN op > 0 THEN 1 END) AS na,
    sum(CASE WHEN op < 0 THEN rh::HUGEINT END) % 18446744073709551616 AS sr,
    count(CASE WHEN op < 0 THEN 1 END) AS nr
FROM {rh} GROUP BY i
"""
LINE_SUMS = "CREATE OR REPLACE {out} AS" + LINE_SUMS_SELECT
