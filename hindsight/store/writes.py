"""Writes of rows into the per-query tables, typed from the canonical JSON inside DuckDB."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pyarrow as pa

from hindsight.store.catalog import QueryInfo
from hindsight.store.layout import quote


def typed_select(info: QueryInfo) -> str:
    """SELECT list turning the canonical JSON `_j` into the query's typed columns."""
    exprs = []
    for name, typ in info.columns.items():
        value = f"_j.{quote(name)}"
        if typ != "VARCHAR":
            value = f"TRY_CAST(NULLIF({value}, '') AS {typ})"
        exprs.append(f"{value} AS {quote(name)}")
    return ", ".join(exprs)


def typed_spec(info: QueryInfo) -> str:
    """json_transform structure reading every column of the query as text."""
    spec = json.dumps({name: "VARCHAR" for name in info.columns})
    return spec.replace("'", "''")


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    info: QueryInfo,
    fixed: dict[str, pa.Array | list[Any]],
    canon: list[bytes],
    fixed_types: dict[str, pa.DataType],
    computed: dict[str, str] | None = None,
) -> None:
    """Insert rows given fixed internal columns and each row's canonical JSON.

    `computed` maps more internal columns to SQL expressions over `_j` (the parsed row) and the
    fixed columns.
    """
    if not canon:
        return
    arrays = {k: pa.array(v, type=fixed_types[k]) for k, v in fixed.items()}
    arrays["_canon"] = pa.array([c.decode() for c in canon], type=pa.string())
    batch = pa.table(arrays)
    computed = computed or {}
    names = [*fixed, *computed, *info.columns]
    select = ", ".join([*(quote(k) for k in fixed), *computed.values()])
    typed = typed_select(info)
    con.register("_rows", batch)
    try:
        con.execute(
            f"INSERT INTO {table} ({', '.join(quote(n) for n in names)}) "
            f"SELECT {select}{', ' + typed if typed else ''} "
            f"FROM (SELECT *, json_transform(_canon, '{typed_spec(info)}') AS _j FROM _rows)"
        )
    finally:
        con.unregister("_rows")


def register(
    con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, tuple[list[Any], pa.DataType]]
) -> None:
    con.register(name, pa.table({k: pa.array(v, type=t) for k, (v, t) in columns.items()}))
