"""The machinery every investigation shares: bounded SQL through the library, rows as dicts,
hosts named as of an instant, evidence attached, unix seconds shown as UTC datetimes."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from hindsight.investigate.evidence import (
    Edge,
    Evidence,
    Schedule,
    Tolerance,
    gather,
    infer_schedule,
)
from hindsight.investigate.source import ALL_TIME, Window, queries_of, state_sql
from hindsight.query.relations import RUN_ORDER
from hindsight.store.catalog import Catalog, QueryInfo
from hindsight.store.layout import OPEN_END, quote

if TYPE_CHECKING:
    from hindsight.api import Result
    from hindsight.settings import Settings

Row = dict[str, Any]
TIME_COLUMNS = frozenset(
    {
        "valid_from",
        "valid_to",
        "confirmed_from",
        "confirmed_to",
        "from_after",
        "to_after",
        "confirmed_at",
        "checked_in",
        "first_seen",
        "last_seen",
        "time",
        "start",
        "end",
        "attached_from",
        "attached_to",
    }
)


def stamp(value: Any) -> Any:
    """Unix seconds -> an aware UTC datetime (None and the open end stay None)."""
    if value is None or value == OPEN_END:
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


#: Whether a read of the investigation under way was cut by the row bound (None: outside one).
_CUT: ContextVar[list[bool] | None] = ContextVar("hindsight_investigation_cut", default=None)

P = ParamSpec("P")
R = TypeVar("R")


def investigation(method: Callable[P, R]) -> Callable[P, R]:
    """Mark METHOD as one investigation: a read of it that the row bound cut (more rows than
    HINDSIGHT_MAX_ROWS, say intervals of a busy range) makes its answer `truncated`, as a cut
    answer would be, rather than silently incomplete."""

    @functools.wraps(method)
    def scoped(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _CUT.set([])
        try:
            return method(*args, **kwargs)
        finally:
            _CUT.reset(token)

    return scoped


class Engine(Protocol):
    """What investigations need of an engine: the embedded store (`Hindsight`) or Spark's."""

    @property
    def settings(self) -> Settings: ...

    def _run(self, sql: str) -> Result: ...

    def host_ids(self, names: Sequence[str]) -> list[int]: ...


class Base:
    """An investigator over one open store (or another engine's tables of the same names)."""

    def __init__(self, hs: Engine, catalog: Catalog | None = None) -> None:
        self.hs = hs
        self.catalog = catalog if catalog is not None else hs.store.catalog  # type: ignore[attr-defined]

    # -- SQL ------------------------------------------------------------------------------------
    def result(self, sql: str) -> Result:
        """SQL's answer, bounded; a cut one is noted for the investigation's answer."""
        found = self.hs._run(sql)
        cut = _CUT.get()
        if found.truncated and cut is not None:
            cut.append(True)
        return found

    def finish(self, found: Result) -> Result:
        """FOUND as the investigation's answer: `truncated` too when a read before it was cut."""
        if found.truncated or not _CUT.get():
            return found
        return dataclasses.replace(found, truncated=True, truncated_reason="max_rows")

    def run(self, sql: str) -> list[tuple[Any, ...]]:
        return self.result(sql).rows

    def rows(self, sql: str) -> list[Row]:
        return self.result(sql).dicts()

    def queries(self, table: str, kind: str = "state") -> list[QueryInfo]:
        return queries_of(self.catalog, table, kind)

    def state(
        self, table: str, columns: Sequence[str], where: str = "", window: Window = ALL_TIME
    ) -> list[Row]:
        """Intervals of an osquery table (empty when no query collects it)."""
        queries = self.queries(table)
        if not queries:
            return []
        return self.rows(
            f"SELECT * FROM {state_sql(queries, columns, where, window)} ORDER BY _from, _host"
        )

    def states_as_text(
        self, tables: Sequence[tuple[str, Sequence[str]]], window: Window
    ) -> dict[str, list[Row]]:
        """Intervals of several osquery tables in one statement (each lookup statement costs
        more than these small reads): table -> rows in `state`'s order, values as text."""
        width = max((len(cols) for _, cols in tables), default=0)
        parts = []
        for n, (table, columns) in enumerate(tables):
            queries = self.queries(table)
            if queries:
                text = "".join(f", {quote(c)}::VARCHAR" for c in columns) + ", NULL" * (
                    width - len(columns)
                )
                parts.append(
                    f"SELECT {n} AS _t, _host, _q, _from, _to{text} FROM {state_sql(queries, columns, '', window)}"
                )
        found: dict[str, list[Row]] = {table: [] for table, _ in tables}
        if parts:
            for t, host, q, lo, hi, *values in self.run(
                " UNION ALL ".join(parts) + " ORDER BY _t, _from, _host"
            ):
                table, columns = tables[t]
                found[table].append(
                    {
                        "_host": host,
                        "_q": q,
                        "_from": lo,
                        "_to": hi,
                        **dict(zip(columns, values, strict=False)),
                    }
                )
        return found

    # -- hosts and evidence ---------------------------------------------------------------------
    def host_ids(self, host: str | None) -> tuple[int, ...] | None:
        return tuple(self.hs.host_ids([host])) if host else None

    def names(self, hosts: Iterable[int], at: int) -> dict[int, tuple[str, str]]:
        """host id -> (identifier as of `at`, host key)."""
        ids = sorted(set(hosts))
        if not ids:
            return {}
        rows = self.run(
            f"SELECT n.host_id, coalesce(arg_max(n.identifier, {RUN_ORDER}) FILTER "
            f"(WHERE n.first_seen <= {at}), arg_min(n.identifier, {RUN_ORDER})), any_value(h.host_key) "
            "FROM hosts h LEFT JOIN host_runs n USING (host_id) "
            f"WHERE h.host_id IN ({', '.join(map(str, ids))}) GROUP BY n.host_id"
        )
        return {int(h): (name or key, key) for h, name, key in rows}

    def names_each(self, pairs: Sequence[tuple[int, int]]) -> list[tuple[str, str]]:
        """(identifier, host key) of each (host id, instant): the name the host reported then."""
        if not pairs:
            return []
        values = ", ".join(f"({i}, {h}, {t})" for i, (h, t) in enumerate(pairs))
        rows = self.run(
            f"WITH p(i, h, t) AS (VALUES {values}) SELECT p.i, coalesce(n.identifier, "
            "(SELECT arg_min(identifier, first_seen) FROM host_runs WHERE host_id = p.h), hs.host_key), "
            "hs.host_key FROM p JOIN hosts hs ON hs.host_id = p.h "
            "ASOF LEFT JOIN host_runs n ON n.host_id = p.h AND p.t >= n.first_seen ORDER BY p.i"
        )
        return [(str(name), str(key)) for _, name, key in rows]

    @cached_property
    def schedule(self) -> Schedule:
        return infer_schedule(self.run, self.catalog, Tolerance.of(self.hs.settings))

    def evidence(self, rows: Sequence[Row], at: int | None) -> list[Evidence]:
        edges = [Edge(r["_host"], r["_q"], r["_from"], r["_to"]) for r in rows]
        return gather(self.run, self.catalog, self.schedule, edges, at)

    # -- answers --------------------------------------------------------------------------------
    def answer(self, columns: Sequence[str], rows: Iterable[Row]) -> Result:
        from hindsight.api import Result

        limit = self.hs.settings.max_rows
        out = [
            tuple(stamp(r.get(c)) if c in TIME_COLUMNS else r.get(c) for c in columns) for r in rows
        ]
        return Result(list(columns), out[:limit], len(out) > limit or bool(_CUT.get()))


def with_evidence(row: Row, ev: Evidence) -> Row:
    """The row with its interval edges and freshness (a new dict)."""
    return {
        **row,
        "valid_from": row["_from"],
        "valid_to": row["_to"],
        "from_after": ev.from_after,
        "to_after": ev.to_after,
        "confirmed_at": ev.confirmed_at,
        "checked_in": ev.checked_in,
        "freshness": ev.freshness,
    }


EVIDENCE_COLUMNS = (
    "valid_from",
    "from_after",
    "valid_to",
    "to_after",
    "confirmed_at",
    "checked_in",
    "freshness",
)
