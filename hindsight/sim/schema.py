"""Column types from hindsight/data/osquery_tables.json."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_DATA = Path(__file__).resolve().parent.parent / "data" / "osquery_tables.json"
INT_TYPES = frozenset({"INTEGER", "BIGINT", "UNSIGNED_BIGINT"})


@cache
def tables() -> dict[str, Any]:
    with _DATA.open("rb") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def column_type(table: str, column: str) -> str:
    cols: dict[str, str] = tables()[table]["columns"]
    return cols[column]


def numeric_mask(table: str, columns: tuple[str, ...]) -> tuple[bool, ...]:
    """For each column: is it typed as a JSON integer under numerics=true."""
    return tuple(column_type(table, c) in INT_TYPES for c in columns)


def is_event_table(table: str) -> bool:
    return bool(tables()[table]["event"])
