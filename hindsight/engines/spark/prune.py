"""Partition pruning the relations' SQL cannot say: closed intervals live in `to_day=<day of
_to>` partitions, so `_to > T` (or `T < _to`) on a `hist_N` table also means `to_day >= day(T)`,
a condition Spark prunes whole directories with. Added to each SELECT reading one hist table."""

from __future__ import annotations

import re

from sqlglot import exp

from hindsight.lake.layout import day_of

_HIST = re.compile(r"^hist_\d+$")


def prune_closed(tree: exp.Expr) -> exp.Expr:
    for select in list(tree.find_all(exp.Select)):
        source = select.args.get("from_") or select.args.get("from")
        table = source.this if source is not None else None
        if (
            not isinstance(table, exp.Table)
            or not _HIST.match(table.name)
            or select.args.get("joins")
        ):
            continue
        where = select.args.get("where")
        bound = _lower_bound(where.this) if where is not None else None
        day = _day(bound) if bound is not None else None
        if day is not None:
            select.where(
                exp.GTE(this=exp.column("to_day"), expression=exp.Literal.string(day)), copy=False
            )
    return tree


def _day(t: int) -> str | None:
    try:
        return day_of(t)
    except (OverflowError, ValueError, OSError):  # beyond the calendar: no pruning
        return None


def _lower_bound(condition: exp.Expr) -> int | None:
    """The greatest T with `_to > T` or `T < _to` among the AND-ed conditions."""
    found = []
    for c in condition.flatten() if isinstance(condition, exp.And) else [condition]:
        if isinstance(c, exp.GT) and _is_to(c.this) and _is_int(c.expression):
            found.append(int(c.expression.name))
        elif isinstance(c, exp.LT) and _is_to(c.expression) and _is_int(c.this):
            found.append(int(c.this.name))
    return max(found) if found else None


def _is_to(node: exp.Expr) -> bool:
    return isinstance(node, exp.Column) and node.name == "_to"


def _is_int(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and not node.is_string and node.name.lstrip("-").isdigit()
