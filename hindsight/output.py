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
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hindsight import jsonout
from hindsight.columns import unique_names
from hindsight.literal import literal, visible
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
    elif len(rows) <= RICH_ROWS:
        table = Table(show_lines=False, header_style="bold")
        for column in columns:
            table.add_column(literal(column))
        for row in rows:
            table.add_row(*(literal(_text(v)) for v in row))
        console.print(table)
    else:
        _long_table(columns, rows, console)


#: Tables of up to this many rows are laid out by rich, their cells wrapped to fit the terminal;
#: longer ones are written line by line at their full width (rich takes ~0.5 ms a row: 50 s
#: for the 100,000 rows a query may return, against ~1.5 s).
RICH_ROWS = 100
_LINES_AT_ONCE = 4096


def _long_table(columns: list[str], rows: list[tuple[Any, ...]], console: Console) -> None:
    """The table rich draws (the same box, header and padding), each row a line of the full
    width of its columns, written _LINES_AT_ONCE lines at a time: nothing wrapped, nothing cut."""
    header = [visible(c) for c in columns]
    cells = [[_cell(v) for v in row] for row in rows]
    sizes = [[_width(c) for c in row] for row in cells]
    widths = [max(column) for column in zip([_width(h) for h in header], *sizes, strict=True)]
    frame = box.HEAVY_HEAD.substitute(console.options, safe=True)
    padded = [w + 2 for w in widths]  # (a space each side)
    write = console.file.write
    write(frame.get_top(padded) + "\n")
    head = Text(frame.head_left)
    for n, (name, width) in enumerate(zip(header, widths, strict=True)):
        head.append(" ", style="bold")
        head.append(name + " " * (width - _width(name)), style="bold")
        head.append(" ", style="bold")
        head.append(frame.head_right if n == len(widths) - 1 else frame.head_vertical)
    console.print(head, soft_wrap=True, highlight=False)
    write(frame.get_row(padded, "head") + "\n")
    left, mid, right = f"{frame.mid_left} ", f" {frame.mid_vertical} ", f" {frame.mid_right}\n"
    for start in range(0, len(cells), _LINES_AT_ONCE):
        write(
            "".join(
                left
                + mid.join(c + " " * (w - n) for c, n, w in zip(row, size, widths, strict=True))
                + right
                for row, size in zip(
                    cells[start : start + _LINES_AT_ONCE],
                    sizes[start : start + _LINES_AT_ONCE],
                    strict=True,
                )
            )
        )
    write(frame.get_bottom(padded) + "\n")


def _cell(value: Any) -> str:
    """VALUE as a table shows it (text from hosts and users with its controls escaped)."""
    return visible(value) if isinstance(value, str) else _text(value)


def _width(text: str) -> int:
    """The terminal cells TEXT takes (a wide character takes two)."""
    return len(text) if text.isascii() else cell_len(text)
