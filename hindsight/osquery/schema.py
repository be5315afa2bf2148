"""osquery's table schemas (from the 5.23.1 specs) and how a query name maps to a table.

A query's columns are typed from its table when the table is known; unknown columns stay text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: osquery column type -> DuckDB column type.
SQL_TYPES = {
    "INTEGER": "BIGINT",
    "BIGINT": "BIGINT",
    "UNSIGNED_BIGINT": "UBIGINT",
    "DOUBLE": "DOUBLE",
    "TEXT": "VARCHAR",
    "DATETIME": "VARCHAR",
}


@dataclass(frozen=True)
class TableSchema:
    name: str
    platforms: tuple[str, ...]
    event: bool
    columns: dict[str, str]  # column -> osquery type

    def sql_type(self, column: str) -> str:
        return SQL_TYPES.get(self.columns.get(column, "TEXT"), "VARCHAR")


@cache
def known_tables() -> dict[str, TableSchema]:
    raw = json.loads((Path(__file__).parent.parent / "data" / "osquery_tables.json").read_text())
    return {
        name: TableSchema(name, tuple(t["platforms"]), bool(t["event"]), dict(t["columns"]))
        for name, t in raw.items()
    }


def table_for_query(name: str, columns: set[str]) -> TableSchema | None:
    """The osquery table a scheduled query most likely reads.

    First by name: the longest known table name the query name ends with, at a word boundary
    (`pack_ir_users`, `pack/ir/user_groups`). Then by columns: the smallest known table holding
    every column the rows have. A name match whose table holds under half the rows' columns
    is refused.
    """
    tables = known_tables()
    by_name = sorted(
        (t for t in tables if name == t or (name.endswith(t) and not name[-len(t) - 1].isalnum())),
        key=len,
        reverse=True,
    )
    for table in by_name:  # the name decides when most of the rows' columns belong to it
        if 2 * len(columns & set(tables[table].columns)) >= len(columns):
            return tables[table]
    if len(columns) < 2:
        return None
    fitting = [t for t in tables.values() if columns <= set(t.columns)]
    return min(fitting, key=lambda t: (len(t.columns), t.name)) if fitting else None
