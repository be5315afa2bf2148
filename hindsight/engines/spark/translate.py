"""DuckDB SQL (as Hindsight writes it, once) -> Spark SQL, with sqlglot.

sqlglot does the dialect work; this module adds what a plain transpile cannot:
- `ASOF LEFT JOIN t ON t.k = x.k AND x.time >= t.start` (DuckDB) becomes a range join on
  [start, next start) computed with LEAD, the same rows for distinct starts; `x.time > t.start`
  a join on (start, next start];
- `quantile_cont(x, p)` becomes Spark's `percentile(x, p)` (both interpolate linearly), and
  `AS MATERIALIZED` CTEs plain ones (Spark decides what it computes once);
- types Spark lacks (unsigned integers) map to the next wider type;
- features Spark cannot run are refused with `Unsupported`, naming the feature.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from hindsight.engines.spark.errors import Unsupported

_WIDER = {
    exp.DataType.Type.UBIGINT: "DECIMAL(20, 0)",
    exp.DataType.Type.UINT: "BIGINT",
    exp.DataType.Type.USMALLINT: "INT",
    exp.DataType.Type.UTINYINT: "SMALLINT",
    exp.DataType.Type.INT128: "DECIMAL(38, 0)",
}


def to_spark(sql: str) -> str:
    """One DuckDB statement as Spark SQL."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return tree_to_spark(tree)


def tree_to_spark(tree: exp.Expr) -> str:
    tree = tree.transform(_widen_types).transform(_percentile)
    for window in list(tree.find_all(exp.Window)):
        _order_row_number(window)
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    for join in list(tree.find_all(exp.Join)):
        if str(join.args.get("method") or "").upper() == "ASOF":
            _asof_to_range(join)
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.GenerateSeries):
            raise Unsupported("the table function generate_series()/range()")
    for agg in tree.find_all(exp.ArrayAgg):
        if isinstance(agg.this, exp.Order):  # (Spark's collect_list has no order: dropped)
            raise Unsupported("an ordered list()/array_agg(... ORDER BY ...)")
    return tree.sql(dialect="spark")


def _widen_types(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.DataType) and node.this in _WIDER:
        return exp.DataType.build(_WIDER[node.this], dialect="spark")
    return node


def _order_row_number(window: exp.Window) -> None:
    """`ROW_NUMBER() OVER ()` or `OVER (PARTITION BY ...)` (DuckDB numbers rows in any order;
    Spark wants an order): ordered by the other columns of its SELECT, so that identical rows
    alone may swap numbers."""
    if not isinstance(window.this, exp.RowNumber) or any(
        window.args.get(k) for k in ("order", "alias")
    ):
        return  # ordered already, or over a named window (`OVER w`)
    select = window.find_ancestor(exp.Select)
    if select is None:
        return
    keys = [
        e.unalias().copy()
        for e in select.expressions
        if window not in e.walk() and not isinstance(e, exp.Star)
    ]
    if not keys:
        raise Unsupported("ROW_NUMBER() OVER () without other columns")
    window.set("order", exp.Order(expressions=[exp.Ordered(this=k) for k in keys]))


def _percentile(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    return node


def _asof_to_range(join: exp.Join) -> None:
    table = join.this
    on = join.args.get("on")
    alias = table.alias_or_name if isinstance(table, exp.Table) else ""
    conds = list(on.flatten()) if isinstance(on, exp.And) else [on]
    eqs = [c for c in conds if isinstance(c, exp.EQ)]
    ranges = [c for c in conds if isinstance(c, exp.GTE | exp.GT) and _side(c.expression, alias)]
    if not isinstance(table, exp.Table) or len(ranges) != 1 or len(eqs) + 1 != len(conds):
        raise Unsupported(
            "ASOF JOIN", hint="only `ON t.k = x.k AND x.time >= t.start` (or >) is translated"
        )
    start = ranges[0].expression.name
    keys = [c.this if _side(c.this, alias) else c.expression for c in eqs]
    partition = ", ".join(k.name for k in keys)
    ties = ", identifier" if table.name in ("host_names", "host_runs") else ""  # stable among ties
    sub = sqlglot.parse_one(
        f"SELECT *, LEAD({start}) OVER (PARTITION BY {partition} ORDER BY {start}{ties}) "
        f"AS _asof_next FROM {table.name}",
        read="duckdb",
    )
    probe = ranges[0].this.copy()
    nxt = exp.column("_asof_next", table=alias)
    below: type[exp.Expr] = exp.LTE if isinstance(ranges[0], exp.GT) else exp.LT
    bound = exp.or_(
        exp.Is(this=nxt, expression=exp.Null()), below(this=probe, expression=nxt.copy())
    )
    join.set("on", exp.and_(on, bound))
    join.set("method", None)
    join.set("this", exp.Subquery(this=sub, alias=exp.TableAlias(this=exp.to_identifier(alias))))


def _side(node: exp.Expr, alias: str) -> bool:
    return isinstance(node, exp.Column) and node.table == alias
