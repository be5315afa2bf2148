"""Rows out: table, json (one array of row objects) or csv, defined once for every command.

Every format names columns alike: repeated names made unique (hindsight.columns). json and
csv keep values exactly; the table shows them literally, control characters escaped
(hindsight.literal)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from hindsight import jsonout
from hindsight.columns import unique_names
from hindsight.literal import literal
from hindsight.timeparse import format_instant, utc_value

FORMATS = ("table", "json", "csv")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_instant(value)
    return str(value)


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: str, console: Console) -> None:
    columns = unique_names(columns)
    if fmt == "json":
        objects = [dict(zip(columns, map(utc_value, row), strict=True)) for row in rows]
        data = jsonout.dumps(objects, orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC)
        console.file.write(data.decode() + "\n")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_text(v) for v in row] for row in rows)
        console.file.write(buffer.getvalue())
    else:
        table = Table(show_lines=False, header_style="bold")
        for column in columns:
            table.add_column(literal(column))
        for row in rows:
            table.add_row(*(literal(_text(v)) for v in row))
        console.print(table)
