"""Helpers for writes: typed columns from a row's text struct, Arrow tables on the connection."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from hindsight.store.fit import loose_value, typed_value
from hindsight.store.layout import quote

if TYPE_CHECKING:
    from hindsight.store.catalog import QueryInfo


def typed_select(info: QueryInfo, fixed: str, relation: str) -> str:
    """SELECT of the FIXED columns and the query's typed columns, read from the texts `_j` of
    RELATION; a value its type cannot hold stops the statement (store.fit). Each value is cast
    once, below the checks that read the cast."""
    casts, exprs = [], [fixed] if fixed else []
    for n, (name, typ) in enumerate(info.columns.items()):
        value = f"_j.{quote(name)}"
        if name in info.loose:
            value = loose_value(value, typ)
        elif typ != "VARCHAR":
            casts.append(f", TRY_CAST({value} AS {typ}) AS __cast{n}")
            value = typed_value(info.query_id, name, typ, value, f"__cast{n}")
        exprs.append(f"{value} AS {quote(name)}")
    return f"SELECT {', '.join(exprs)} FROM (SELECT *{''.join(casts)} FROM {relation})"


def register(
    con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, tuple[list[Any], pa.DataType]]
) -> None:
    attach(con, name, pa.table({k: pa.array(v, type=t) for k, (v, t) in columns.items()}))


def attach(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """Register an Arrow table on the connection (first finishing any result left unread, which
    DuckDB requires before a registration)."""
    con.complete()
    con.register(name, table)


def detach(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Unregister an Arrow table: after a failed statement too, whose error is the one to tell
    (in a transaction it aborted, unregistering fails in turn and would hide it)."""
    with contextlib.suppress(duckdb.Error):
        con.unregister(name)
