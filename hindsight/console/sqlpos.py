"""Where in the statement an SQL error is: the line and column to point at."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_COL = re.compile(r"\(line (\d+), column (\d+)\)")
_NAMED = re.compile(
    r'(?:with name|column|table|function|query) "?\'?(?!with\b)([A-Za-z_][\w.]*)"?\'?',
    re.IGNORECASE,
)
#: a value the message quotes as a string literal ("Could not convert string 'abc' to INT64")
_VALUE = re.compile(r"string '((?:[^']|'')*)'")
_EXCERPT = re.compile(r"\s+LINE \d+:")
#: string literals and comments: where a name in a message never points
_NOT_CODE = re.compile(r"'(?:[^']|'')*'?|--[^\n]*|/\*.*?(?:\*/|$)", re.DOTALL)


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
    message = _EXCERPT.split(message)[0]  # DuckDB's excerpt is of the rewritten statement
    found = _LINE_COL.search(message)
    if found:
        line, column = int(found.group(1)), int(found.group(2))
        if 1 <= line <= len(lines):
            return SqlError(message, line, max(1, column), lines[line - 1])
    code = _NOT_CODE.sub(
        lambda m: " " * len(m.group()) if "\n" not in m.group() else _blank(m.group()), sql
    )
    code_lines = code.splitlines() or [""]
    for name in _NAMED.findall(message):
        for number, text in enumerate(code_lines, 1):
            hit = re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE)
            if hit:
                return SqlError(message, number, hit.start() + 1, lines[number - 1])
    for value in _VALUE.findall(message):
        for number, text in enumerate(lines, 1):
            at = text.find(f"'{value}'")
            if at >= 0:
                return SqlError(message, number, at + 1, text)
    return SqlError(message)


def _blank(text: str) -> str:
    """TEXT with everything but its line breaks made spaces (columns and lines stay put)."""
    return re.sub(r"[^\n]", " ", text)
