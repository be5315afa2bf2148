"""Hindsight's exceptions: one root, a small tree.

HindsightError
├── InputError            bad input from the user (time, name, option)
│   ├── BadTime           a TIME that is neither ISO 8601 nor unix seconds
│   ├── UnknownQuery      a query name that was never recorded (suggests the closest)
│   └── UnknownHost       a host that was never recorded (suggests the closest)
├── BadLine               one osquery line that cannot be read (kept aside, never fatal)
├── QueryError            time-travel SQL that is invalid, forbidden or failed
│   ├── ForbiddenSQL      anything but a read-only SELECT over recorded queries
│   ├── NoState           the state of an event query, which has none (its events are SQL's)
│   └── QueryTimeout      a query that ran past its time bound
└── StoreError            the data directory cannot be opened or written
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HindsightError(Exception):
    """Root of every error Hindsight raises on purpose."""


class InputError(HindsightError):
    """A value given by the user is not usable."""


class BadTime(InputError):
    """A TIME is neither ISO 8601 nor unix seconds."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest candidate, or ''."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class UnknownQuery(InputError):
    """A query name that no host ever reported."""

    def __init__(self, name: str, known: Iterable[str], detail: str = "") -> None:
        known = list(known)
        full = sorted(k for k in known if not any(k != o and o.endswith(k) for o in known))
        if detail:
            hint = ""
        elif known:
            listing = f" (recorded queries: {', '.join(full[:8])}{' ...' if len(full) > 8 else ''})"
            hint = did_you_mean(name, known) or listing
        else:
            hint = " (nothing recorded yet)"
        super().__init__(f"unknown query {name!r}{detail}{hint}")
        self.name = name


class UnknownHost(InputError):
    """A host that was never recorded under that uuid or identifier."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(f"unknown host {name!r}{did_you_mean(name, known)}")
        self.name = name


class BadLine(HindsightError):
    """One input line cannot be read; it is kept aside with this reason."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = str(self)
        self.field = field


class QueryError(HindsightError):
    """Time-travel SQL that cannot be run."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None) -> None:
        where = f" (line {line}, column {col})" if line is not None else ""
        super().__init__(f"{message}{where}")
        self.message = message
        self.line = line
        self.col = col


class ForbiddenSQL(QueryError):
    """Statements other than a read-only SELECT over recorded queries."""


class NoState(QueryError):
    """The state of an event query was asked: it has none. HOW says how to read its events,
    in the caller's terms (the library's `sql()`, the command line's `hindsight sql`)."""

    def __init__(self, query: str, how: str = "sql()") -> None:
        super().__init__(f"{query} is an event query: it has no state; use {how} to read its events")
        self.query = query


class QueryTimeout(QueryError):
    """A query that ran past its time bound."""


class StoreError(HindsightError):
    """The data directory cannot be opened or written."""


def first_line(exc: BaseException) -> str:
    """The first line of EXC's message that says something (DuckDB's and Spark's go on with
    context, a Spark parse error's starts with an empty one), or its kind."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
