"""Typed columns that never change what the host reported.

A query's columns are typed from the osquery table it reads (osquery.schema). A value can still
not fit its column's type: a computed column named like a table column
(`SELECT datetime(time, 'unixepoch') AS time FROM last`: SQLite's type, not the table's), a
table guessed by its columns, or one odd host. Cast anyway, such a value would read NULL
(`'Mon Jun 10'`) or rounded (`'1.5'` in a BIGINT column reads 2), with nothing to tell.

So a value that does not fit stops the statement writing it (DuckDB's `error()`, evaluated only
for that value), the batch is rolled back, the column is settled (`settle`) and the batch is
written again, with a data-quality signal naming the value, host and instant (`signal`):
- a column that never held a value that fits (stored, or in the batch) becomes text for good
  (`column_as_text`): the computed column; values stored before keep their number's text;
- a column that did stays typed and reads NULL for such values from then on (`value_not_typed`):
  one odd host cannot turn `uid = 1001` into a text comparison, failing, for the whole fleet.
  The raw lines keep the values.

A value fits when the typed value says the same: an integer's text comes back from its number
unchanged (no `1.5`, `1e3`, `007`); a double's parses as one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import duckdb
import orjson

from hindsight.errors import StoreError
from hindsight.store.layout import cur_table, event_table, hist_table, quote

if TYPE_CHECKING:
    from hindsight.store.catalog import Catalog, QueryInfo

#: The text an error raised by a misfit starts with; a JSON array [query id, column] follows.
TAG = "hindsight-column-misfit:"
#: The data-quality signals' kinds: a column made text, a value read NULL.
TEXT, LOOSE = "column_as_text", "value_not_typed"
KINDS = (TEXT, LOOSE)
#: What a signal shows of the value.
SHOWN = 80


@dataclass(frozen=True)
class Misfit:
    """A value of a typed column that its type cannot hold (named, not by ids: the ids of a
    query or host the rolled-back batch created are gone with it), and how its column was
    settled: `loose` (stays typed, NULL for such values) or text."""

    query: str
    column: str
    typ: str
    host_key: str
    unix_time: int
    value: str
    loose: bool = False


def fits(value: str, typ: str, cast: str | None = None) -> str:
    """SQL: whether the text VALUE (not empty) is exactly a value of type TYP (CAST: the column
    holding its TRY_CAST, when computed already)."""
    cast = cast or f"TRY_CAST({value} AS {typ})"
    if typ == "DOUBLE":
        return f"{cast} IS NOT NULL"
    same = f"{cast}::VARCHAR IS NOT DISTINCT FROM {value}"
    if typ == "UBIGINT":  # (DuckDB's cast has the bounds; Spark's, to DECIMAL(20, 0), has not)
        same += f" AND {cast} BETWEEN 0 AND 18446744073709551615"
    return same


def loose_value(value: str, typ: str) -> str:
    """SQL of a loose column's typed value: NULL for a text that does not fit (a cast alone
    reads `0x1f` as 31 and `1.5` as 2)."""
    return f"CASE WHEN {value} <> '' AND {fits(value, typ)} THEN TRY_CAST({value} AS {typ}) END"


def typed_value(query_id: int, column: str, typ: str, value: str, cast: str) -> str:
    """SQL of a column's typed value from its text VALUE and CAST, the column holding its
    TRY_CAST to TYP; a value that does not fit raises an error naming the query and column
    (`misfit_of`; a constant: the host, instant and value are looked up when it happens)."""
    payload = _literal(TAG + orjson.dumps([query_id, column]).decode())
    return (
        f"CASE WHEN {value} = '' THEN NULL WHEN {fits(value, typ, cast)} THEN {cast} "
        f"ELSE error({payload}) END"
    )


def misfit_of(error: BaseException, catalog: Catalog) -> Misfit | None:
    """The query and column an error of a write names, by the CATALOG before the batch's
    rollback reloads it (None for any other error); `settle` finds the value."""
    text = str(error)
    at = text.find(TAG)
    if not isinstance(error, duckdb.Error) or at < 0:
        return None
    try:
        query_id, column = orjson.loads(text[at + len(TAG) :].strip())
        info = catalog.by_id(int(query_id))
        return Misfit(info.name, str(column), info.columns[column], "", 0, "")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def settle(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    misfit: Misfit,
    batch: tuple[str, str] | None,
) -> Misfit:
    """Settle the misfit's column for good, in every table of its query if the store has it,
    else when a batch creates it (in the open transaction): loose if it held a value that fits,
    stored or among the added rows of BATCH (its tables `i, name, op, r` and `i, host_key, t`),
    else text. Returns it with the first value that does not fit (by instant, host, value: as
    the lake names it), from the batch, else from the raw lines kept."""
    q, column = misfit.query, misfit.column
    if column in catalog.as_text.get(q, set()) | catalog.as_loose.get(q, set()):
        # (a settled column raises none: writing again would loop)
        raise StoreError(f"query {q}: column {column!r} is already settled")
    info = catalog.queries.get(q)
    first = (_first(con, misfit, *batch) if batch else None) or _first_kept(con, catalog, misfit)
    if first is None:
        raise StoreError(f"query {q}: no value of column {column!r} that does not fit was found")
    host, t, value = first
    rows = batch[0] if batch else None
    settled = replace(
        misfit, host_key=host, unix_time=t, value=value, loose=_held(con, info, misfit, rows)
    )
    (catalog.as_loose if settled.loose else catalog.as_text).setdefault(q, set()).add(column)
    if info is None or info.columns.get(column, "VARCHAR") == "VARCHAR":
        return settled
    if settled.loose:
        catalog.loosen(info, column)
        return settled
    for table in _tables(info):
        con.execute(f"ALTER TABLE {table} ALTER {quote(column)} SET DATA TYPE VARCHAR")
    con.execute(
        "UPDATE query_columns SET type = 'VARCHAR' WHERE query_id = ? AND name = ?",
        [info.query_id, column],
    )
    info.columns[column] = "VARCHAR"
    return settled


def _first(
    con: duckdb.DuckDBPyConnection, misfit: Misfit, rows: str, lines: str
) -> tuple[str, int, str] | None:
    """The first added value of the misfit's column in ROWS that does not fit (by instant, host,
    value), with its host and instant (from LINES)."""
    found = con.execute(
        f"SELECT l.host_key, l.t, left(x.v, {SHOWN}) FROM {_added(rows)} x JOIN {lines} l USING (i) "
        f"WHERE x.v <> '' AND NOT ({fits('x.v', misfit.typ)}) ORDER BY l.t, l.host_key, x.v LIMIT 1",
        {"path": member_path(misfit.column), "name": misfit.query},
    ).fetchone()
    return (str(found[0]), int(found[1]), str(found[2])) if found else None


def _first_kept(
    con: duckdb.DuckDBPyConnection, catalog: Catalog, misfit: Misfit
) -> tuple[str, int, str] | None:
    """As `_first`, over the raw lines the store keeps of the misfit's query (a replay of a
    stream, or a rebuild, met it: a store written before values were checked)."""
    from hindsight.store.streams import archived_lines

    info = catalog.queries.get(misfit.query)
    if info is None:
        return None
    keys = con.execute(
        "SELECT DISTINCT host_id, query_id FROM raw_chunks WHERE query_id = ? ORDER BY ALL",
        [info.query_id],
    ).fetchall()
    firsts = []
    for n in range(0, len(keys), 500):
        archived_lines(con, catalog, [(h, q) for h, q in keys[n : n + 500]], "_fit")
        if (found := _first(con, misfit, "_fit_rows", "_fit_hdr")) is not None:
            firsts.append(found)
    return min(firsts, key=lambda f: (f[1], f[0], f[2])) if firsts else None


def _added(rows: str) -> str:
    """The value of member `$path` of each added row of query `$name` in ROWS (`i`, `v`)."""
    return f"(SELECT i, json_extract_string(r, $path) AS v FROM {rows} WHERE name = $name AND op > 0)"


def member_path(column: str) -> str:
    """The JSON path of a row's member COLUMN, quoted (`$."load avg"`): any name."""
    return '$."' + column.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _held(
    con: duckdb.DuckDBPyConnection, info: QueryInfo | None, misfit: Misfit, rows: str | None
) -> bool:
    """Whether the misfit's column held a value that fits: stored, or added by ROWS."""
    if rows is not None:
        (found,) = con.execute(
            f"SELECT bool_or(v <> '' AND {fits('v', misfit.typ)}) FROM {_added(rows)}",
            {"path": member_path(misfit.column), "name": misfit.query},
        ).fetchone() or (None,)
        if found:
            return True
    if info is None or misfit.column not in info.columns:
        return False
    return any(
        con.execute(f"SELECT 1 FROM {t} WHERE {quote(misfit.column)} IS NOT NULL LIMIT 1").fetchone()
        for t in _tables(info)
    )


def _tables(info: QueryInfo) -> list[str]:
    if info.is_event:
        return [event_table(info.query_id)]
    return [cur_table(info.query_id), hist_table(info.query_id)]


def signal(con: duckdb.DuckDBPyConnection, catalog: Catalog, misfit: Misfit) -> None:
    """The data-quality signal of a column made text (its query and host known)."""
    info = catalog.queries[misfit.query]
    con.execute(
        "INSERT INTO quality VALUES (?, ?, ?, ?, ?)",
        [
            catalog.hosts[misfit.host_key],
            info.query_id,
            misfit.unix_time,
            kind(misfit),
            detail(misfit, info),
        ],
    )


def kind(misfit: Misfit) -> str:
    return LOOSE if misfit.loose else TEXT


def detail(misfit: Misfit, info: QueryInfo) -> str:
    """The signal's words (the lake's engines give the same)."""
    table = f" (osquery table {info.os_table})" if info.os_table else ""
    then = (
        "such values read NULL (the raw lines keep them)"
        if misfit.loose
        else "kept as text from now on"
    )
    return f"column {misfit.column} holds {misfit.value!r}, not a {misfit.typ}{table}: {then}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
