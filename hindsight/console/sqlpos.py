"""Where in the statement an SQL error is: the line and column to point at."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_COL = re.compile(r"\(line (\d+), column (\d+)\)")
_NAMED = re.compile(
    r'(?:column|Table with name|table|Referenced column|function|query) "?\'?([A-Za-z_][\w.]*)"?\'?',
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SqlError:
    message: str
    line: int | None = None
    column: int | None = None
    text: str = ""  # the statement's line in error

    @property
    def caret(self) -> str:
        return " " * max(0, (self.column or 1) - 1) + "^"


def locate(sql: str, message: str) -> SqlError:
    """The error with its position: sqlglot's (line, column) when given, else where the first
    name the message quotes appears in the statement (DuckDB positions refer to the rewritten
    statement, not the one typed)."""
    lines = sql.splitlines() or [""]
    message = message.split(" LINE ")[0]  # DuckDB's excerpt is of the rewritten statement
    found = _LINE_COL.search(message)
    if found:
        line, column = int(found.group(1)), int(found.group(2))
        if 1 <= line <= len(lines):
            return SqlError(message, line, max(1, column), lines[line - 1])
    for name in _NAMED.findall(message):
        for number, text in enumerate(lines, 1):
            hit = re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE)
            if hit:
                return SqlError(message, number, hit.start() + 1, text)
    return SqlError(message)
