"""Typed columns that must hold exactly what the host reported.

A query's columns are typed from the osquery table it reads (osquery.schema). A value can still
not fit its column's type: a computed column named like a table column
(`SELECT datetime(time, 'unixepoch') AS time FROM last`: SQLite's type, not the table's), or a
table guessed by its columns. Cast anyway, such a value would read NULL (`'Mon Jun 10'`) or
rounded (`'1.5'` in a BIGINT column reads 2): a silent wrong answer.

So a value that does not fit stops the statement writing it (DuckDB's `error()`, evaluated only
for that value), the batch is rolled back, the column becomes text for good (`demote`, with a
data-quality signal `column_as_text` naming the value, `signal`) and the batch is written again.
Values stored before keep their number's text (`1001`); `hindsight rebuild` reads them again
from the raw lines. A value fits when the typed value says the same: an integer's text comes
back from its number unchanged (no `1.5`, `1e3`, `007`); a double's parses as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import orjson

from hindsight.errors import StoreError
from hindsight.store.layout import cur_table, event_table, hist_table, quote

if TYPE_CHECKING:
    from hindsight.store.catalog import Catalog, QueryInfo

#: The text an error raised by a misfit starts with; a JSON object follows.
TAG = "hindsight-column-misfit:"
#: The data-quality signal's kind.
KIND = "column_as_text"
#: What a signal shows of the value.
SHOWN = 80


@dataclass(frozen=True)
class Misfit:
    """A value of a typed column that its type cannot hold (named, not by ids: the ids of a
    query or host the rolled-back batch created are gone with it)."""

    query: str
    column: str
    typ: str
    host_key: str
    unix_time: int
    value: str


def typed_value(query_id: int, column: str, typ: str, value: str, host: str, at: str) -> str:
    """SQL of a column's typed value from its text VALUE (`typ` not VARCHAR); a value that
    does not fit raises an error naming the query, column, HOST and instant AT (`misfit_of`)."""
    cast = f"TRY_CAST({value} AS {typ})"
    fits = (
        f"{cast} IS NOT NULL"
        if typ == "DOUBLE"
        else f"{cast}::VARCHAR IS NOT DISTINCT FROM {value}"
    )
    payload = (
        f"'{TAG}' || json_object('q', {query_id}, 'c', {_literal(column)}, 'h', {host}, "
        f"'t', {at}, 'v', left({value}, {SHOWN}))"
    )
    return (
        f"CASE WHEN {value} = '' THEN NULL WHEN {fits} THEN {cast} "
        f"ELSE error({payload}) END"
    )


def misfit_of(error: BaseException, catalog: Catalog) -> Misfit | None:
    """The misfit an error of a write reports, named by the CATALOG before the batch's rollback
    reloads it (None for any other error)."""
    text = str(error)
    at = text.find(TAG)
    if not isinstance(error, duckdb.Error) or at < 0:
        return None
    try:
        doc = orjson.loads(text[at + len(TAG) :].strip())
        info = catalog.by_id(int(doc["q"]))
        host = next(k for k, v in catalog.hosts.items() if v == int(doc["h"]))
        column = str(doc["c"])
        typ = info.columns[column]
        return Misfit(info.name, column, typ, host, int(doc["t"]), str(doc["v"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, StopIteration):
        return None


def demote(con: duckdb.DuckDBPyConnection, catalog: Catalog, misfit: Misfit) -> None:
    """Make the misfit's column text for good: in every table of its query if the store has
    it, else when a batch creates it (in the open transaction)."""
    text = catalog.as_text.setdefault(misfit.query, set())
    if misfit.column in text:  # (a text column raises none: writing again would loop)
        raise StoreError(f"query {misfit.query}: column {misfit.column!r} is already text")
    text.add(misfit.column)
    info = catalog.queries.get(misfit.query)
    if info is None or info.columns.get(misfit.column, "VARCHAR") == "VARCHAR":
        return
    tables = (
        [event_table(info.query_id)]
        if info.is_event
        else [cur_table(info.query_id), hist_table(info.query_id)]
    )
    for table in tables:
        con.execute(f"ALTER TABLE {table} ALTER {quote(misfit.column)} SET DATA TYPE VARCHAR")
    con.execute(
        "UPDATE query_columns SET type = 'VARCHAR' WHERE query_id = ? AND name = ?",
        [info.query_id, misfit.column],
    )
    info.columns[misfit.column] = "VARCHAR"


def signal(con: duckdb.DuckDBPyConnection, catalog: Catalog, misfit: Misfit) -> None:
    """The data-quality signal of a column made text (its query and host known)."""
    info = catalog.queries[misfit.query]
    con.execute(
        f"INSERT INTO quality VALUES (?, ?, ?, '{KIND}', ?)",
        [catalog.hosts[misfit.host_key], info.query_id, misfit.unix_time, detail(misfit, info)],
    )


def detail(misfit: Misfit, info: QueryInfo) -> str:
    """The signal's words (the lake's engines give the same)."""
    table = f" (osquery table {info.os_table})" if info.os_table else ""
    return (
        f"column {misfit.column} holds {misfit.value!r}, not a {misfit.typ}{table}: "
        "kept as text from now on"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
