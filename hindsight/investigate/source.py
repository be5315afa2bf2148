"""Where investigations read from: the state intervals and events of an osquery table, whatever
the scheduled queries that collect it are called, as SQL over the store's own tables.

A table may be collected by several queries (`processes` differential on some hosts, a
snapshot on others): its intervals are the union of theirs, each row tagged with its query id
`_q` so freshness and edge windows are looked up in that query's executions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hindsight.errors import InputError
from hindsight.query import relations
from hindsight.store.catalog import Catalog, QueryInfo
from hindsight.store.layout import OPEN_END, cur_table, event_table, hist_table, quote


class MissingTable(InputError):
    """No recorded query collects the osquery table an investigation needs."""

    def __init__(self, table: str, kind: str) -> None:
        super().__init__(
            f"no {kind} query of osquery table {table!r} was recorded: this answer needs it "
            f"(schedule e.g. SELECT * FROM {table})"
        )
        self.table = table


def literal(value: str | int | None) -> str:
    """A SQL literal for a value typed by a user (strings quoted, never interpolated raw)."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Window:
    """Time bounds on the rows read: valid at `at`, or overlapping [since, until]."""

    at: int | None = None
    since: int | None = None
    until: int | None = None
    hosts: tuple[int, ...] | None = None


ALL_TIME = Window()


def queries_of(catalog: Catalog, table: str, kind: str = "state") -> list[QueryInfo]:
    """The recorded queries of `kind` whose results are osquery table `table`."""
    found = [q for q in catalog.queries.values() if q.os_table == table and q.kind == kind]
    if not found:
        found = [q for q in catalog.queries.values() if q.name == table and q.kind == kind]
    return sorted(found, key=lambda q: q.query_id)


def _select(info: QueryInfo, columns: Sequence[str], source: str, end: str) -> str:
    cols = "".join(f", {quote(c) if c in info.columns else 'NULL'} AS {quote(c)}" for c in columns)
    return f"SELECT _host, {info.query_id} AS _q, _from, {end} AS _to{cols} FROM {source}"


def _conds(window: Window, where: str, hist: bool) -> str:
    conds = [f"({where})"] if where else []
    if window.at is not None:
        conds.append(f"_from <= {window.at}")
        if hist:
            conds.append(f"_to > {window.at}")
    if window.until is not None:
        conds.append(f"_from <= {window.until}")
    if window.since is not None and hist:
        conds.append(f"_to > {window.since}")
    if window.hosts is not None:
        conds.append(f"_host IN ({', '.join(map(str, window.hosts)) or 'NULL'})")
    return f" WHERE {' AND '.join(conds)}" if conds else ""


def state_sql(
    queries: Sequence[QueryInfo], columns: Sequence[str], where: str = "", window: Window = ALL_TIME
) -> str:
    """Intervals `(_host, _q, _from, _to, columns...)` of the queries, `_to` = OPEN_END while
    open, ended where their host was superseded (`relations.superseded`). `where` is a
    condition on the osquery columns (pushed into both tables so the hist table's sort order
    prunes row groups)."""
    parts: list[str] = []
    for info in queries:
        parts.append(
            _select(info, columns, cur_table(info.query_id), f"{OPEN_END}::BIGINT")
            + _conds(window, where, hist=False)
        )
        parts.append(
            _select(info, columns, hist_table(info.query_id), "_to")
            + _conds(window, where, hist=True)
        )
    names = ", iv._q" + "".join(f", iv.{quote(c)}" for c in columns)
    ends = [f"_to > {bound}" for bound in (window.at, window.since) if bound is not None]
    cut = f" WHERE {' AND '.join(ends)}" if ends else ""  # (where the cut moved an end)
    return (
        f"(SELECT _host, _q, _from, _to{''.join(f', {quote(c)}' for c in columns)} "
        f"FROM {relations.capped(' UNION ALL '.join(parts), names)}{cut})"
    )


def event_sql(queries: Sequence[QueryInfo], columns: Sequence[str], where: str = "") -> str:
    """Events `(_host, _q, _time, columns...)` of the event queries."""
    parts = []
    for info in queries:
        cols = "".join(
            f", {quote(c) if c in info.columns else 'NULL'} AS {quote(c)}" for c in columns
        )
        cond = f" WHERE {where}" if where else ""
        parts.append(
            f"SELECT _host, {info.query_id} AS _q, _time{cols} FROM {event_table(info.query_id)}{cond}"
        )
    return "(" + " UNION ALL ".join(parts) + ")"
