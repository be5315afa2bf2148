"""Hindsight's time-travel SQL: a read-only SELECT where each recorded query is a table.

    FROM users                                  state as of --at (default now)
    FROM users FOR SYSTEM_TIME AS OF <literal>  state as of that instant
    JOIN users FOR SYSTEM_TIME AS OF e.time u   state as of a column of a table to its left
    FROM users FOR SYSTEM_TIME ALL              every interval, with valid_from and valid_to
    FROM users FOR SYSTEM_TIME BETWEEN a AND b  intervals overlapping [a, b]

Parsed and rewritten with sqlglot into plain SQL over the store's tables. Only SELECT statements
over recorded queries (and their own CTEs) pass; table functions, other schemas and every other
statement kind are refused before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from hindsight.errors import BadTime, ForbiddenSQL, QueryError, did_you_mean
from hindsight.query import relations
from hindsight.query.names import resolve_query
from hindsight.store.catalog import Catalog, QueryInfo
from hindsight.timeparse import parse_time

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Scalar functions that reach outside the store (files, settings, the environment, the
#: engine's process): DuckDB's, and Spark's (reflection calls any static Java method, such as
#: System.getenv: the lake's credentials come from the environment).
FORBIDDEN_FUNCTIONS = {
    "getenv",
    "current_setting",
    "read_text",
    "read_blob",
    "glob",
    "query",
    "query_table",
    "reflect",
    "java_method",
    "try_reflect",
    "current_user",
    "session_user",
    "user",
    "input_file_name",
    "input_file_block_start",
    "input_file_block_length",
    "json_execute_serialized_sql",  # runs any statement given as text, unchecked
    "getvariable",
    "which_secret",
    "sql_auto_complete",
    "sniff_csv",
}
#: ... and those of these families: files, the catalog's metadata (internal tables, the store's
#: path, settings), pragmas.
_FORBIDDEN_PREFIXES = ("read_", "duckdb_", "pragma_", "parquet_", "iceberg_", "delta_")


def parse(sql: str) -> exp.Query:
    try:
        statements = sqlglot.parse(sql, read="duckdb")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        word = sql.split(maxsplit=1)[0].upper() if sql.split() else ""
        hint = did_you_mean(word, ["SELECT", "WITH"]) if word not in ("SELECT", "WITH") else ""
        raise QueryError(
            f"cannot parse SQL: {first.get('description', exc)}{hint}",
            first.get("line"),
            first.get("col"),
        ) from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise ForbiddenSQL(f"expected one SELECT statement, got {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise ForbiddenSQL(f"only SELECT is allowed, not {tree.key.upper() if tree else 'this'}")
    return tree


def rewrite(sql: str, at: int, catalog: Catalog, max_bytes: int | None = None) -> str:
    """Plain DuckDB SQL for a time-travel SELECT of at most MAX_BYTES (UTF-8): reading it costs
    sqlglot some 14 us a byte here, and cannot be interrupted."""
    size = len(sql.encode("utf-8", "surrogatepass"))
    if max_bytes is not None and size > max_bytes:
        raise QueryError(
            f"the statement is {size} bytes, past HINDSIGHT_MAX_SQL_BYTES ({max_bytes}): for a "
            "long list of values, match fewer at a time or raise the bound"
        )
    try:
        return _rewrite(sql, at, catalog)
    except RecursionError:
        raise QueryError(
            "the statement is nested too deeply to read (parentheses or subqueries): flatten it"
        ) from None


def _rewrite(sql: str, at: int, catalog: Catalog) -> str:
    try:
        tree = parse(sql)
    except ForbiddenSQL:
        raise
    except QueryError as exc:
        raise QueryError(f"{exc.message}{_quoting_hint(sql, catalog)}", exc.line, exc.col) from None
    _check_functions(tree)
    _check_ctes(tree)
    for table in list(tree.find_all(exp.Table)):
        _rewrite_table(table, at, catalog)
    return tree.sql(dialect="duckdb")


def _quoting_hint(sql: str, catalog: Catalog) -> str:
    """A hint when SQL names a query whose name needs quotes (`pack/ir/users`, `a-b`)."""
    for name in sorted(catalog.queries, key=len, reverse=True):
        if not _IDENTIFIER.match(name) and name in sql and f'"{name}"' not in sql:
            return f': quote query names that are not plain words, as in FROM "{name}"'
    return ""


def referenced(sql: str, catalog: Catalog) -> list[str]:
    """The recorded queries a (valid) time-travel SELECT reads, by their full names."""
    tree = parse(sql)
    names = [
        t.name
        for t in tree.find_all(exp.Table)
        if isinstance(t.this, exp.Identifier) and not _names_cte(t)
    ]
    return list(dict.fromkeys(resolve_query(catalog, n).name for n in names))


def _names_cte(table: exp.Table) -> bool:
    """Whether TABLE names a CTE in scope, as DuckDB binds names (without case): one of a query
    around it, but inside a CTE only one defined before it (or itself, in a recursive CTE: a
    UNION). A name that does not read a CTE reads a recorded query, never the engine's tables
    (in its own body, or one defined later, a CTE's name read the store's table of that name)."""
    name = table.name.lower()
    child: Any = table
    node: Any = table.parent
    while node is not None:
        if isinstance(node, exp.With):  # TABLE is in the body of CTE `child`
            ctes = node.expressions
            k = next(i for i, cte in enumerate(ctes) if cte is child)
            own = ctes[k]
            if any(cte.alias_or_name.lower() == name for cte in ctes[:k]) or (
                node.args.get("recursive")
                and own.alias_or_name.lower() == name
                and isinstance(own.this, exp.Union)
            ):
                return True
            child = node.parent  # (past the query this WITH is of)
            node = getattr(child, "parent", None)
            continue
        with_ = node.args.get("with_") if isinstance(node, exp.Query) else None
        if with_ is not None and any(c.alias_or_name.lower() == name for c in with_.expressions):
            return True
        child, node = node, node.parent
    return False


#: Tables the relations put in place of a recorded query read by name: a CTE of the same name
#: would be read instead.
_RESERVED = re.compile(r"^(hosts|host_runs|host_ends|(cur|hist|ev)_\d+)$", re.IGNORECASE)


def _check_ctes(tree: exp.Query) -> None:
    for cte in tree.find_all(exp.CTE):
        if _RESERVED.match(cte.alias_or_name):
            raise QueryError(
                f"a CTE cannot be named {cte.alias_or_name}: Hindsight's own tables are, and "
                "the recorded queries read them; rename it"
            )


def _check_functions(tree: exp.Query) -> None:
    for func in tree.find_all(exp.Func):
        name = (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()
        if (
            name in FORBIDDEN_FUNCTIONS
            or name.startswith(_FORBIDDEN_PREFIXES)
            or name.endswith("_scan")
        ):
            raise ForbiddenSQL(
                f"function {name}() is not allowed: Hindsight SQL reads recorded queries only"
            )
    for lateral in tree.find_all(exp.Lateral):  # (a table function there is no exp.Table)
        if not isinstance(lateral.this, exp.Subquery | exp.Query | exp.Unnest | exp.Explode):
            raise ForbiddenSQL(
                f"table functions are not allowed: {lateral.this.sql(dialect='duckdb')}"
            )
    for node in tree.find_all(exp.Command, exp.Pragma, exp.Set):
        raise ForbiddenSQL(f"{node.key.upper()} is not allowed")


def _rewrite_table(table: exp.Table, at: int, catalog: Catalog) -> None:
    if isinstance(table.this, exp.GenerateSeries):  # range(), generate_series(): computed rows
        return
    if not isinstance(table.this, exp.Identifier):
        raise ForbiddenSQL(f"table functions are not allowed: {table.this.sql(dialect='duckdb')}")
    if table.args.get("db") or table.args.get("catalog"):
        raise ForbiddenSQL(f"{table.sql(dialect='duckdb')}: only recorded queries can be read")
    version = table.args.get("version")
    name = table.name
    if version is None and _names_cte(table):
        return
    info = resolve_query(catalog, name)
    alias = table.alias or name
    source = _source(info, version, at, alias, table)
    replacement = exp.Subquery(this=sqlglot.parse_one(source[1:-1], read="duckdb"))
    _carry_modifiers(table, replacement, alias)
    table.replace(replacement)


#: What a table reference may carry that the subquery in its place takes over: a PIVOT or
#: UNPIVOT, a TABLESAMPLE, the joins of a parenthesised join, LATERAL views.
_MODIFIERS = ("pivots", "sample", "joins", "laterals")


def _carry_modifiers(table: exp.Table, replacement: exp.Subquery, alias: str) -> None:
    """Move TABLE's alias (with its column names, `AS x(a, b)`) and modifiers to REPLACEMENT;
    one it cannot take is refused, never dropped (dropped, it silently changed the answer)."""
    given = table.args.get("alias")
    if isinstance(given, exp.TableAlias) and given.args.get("columns"):
        replacement.set("alias", given.copy())
    else:
        replacement.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    for arg in _MODIFIERS:
        value = table.args.get(arg)
        if value:
            replacement.set(arg, value)
    other = [
        arg
        for arg, value in table.args.items()
        if value and arg not in (*_MODIFIERS, "this", "alias", "version")
    ]
    if other:
        raise QueryError(
            f"{table.sql(dialect='duckdb')}: {', '.join(other)} is not supported on a recorded "
            "query"
        )


def _source(
    info: QueryInfo, version: exp.Version | None, at: int, alias: str, table: exp.Table
) -> str:
    if info.is_event:
        if version is not None:
            raise QueryError(
                f"FOR SYSTEM_TIME applies to state queries; {info.name} is an event query: "
                "filter on its time column instead"
            )
        return relations.events(info)
    if version is None:
        return relations.state_as_of(info, at)
    kind = str(version.args.get("kind", "")).upper()
    expression = version.args.get("expression")
    if kind == "ALL":
        return relations.intervals(info)
    if kind in ("BETWEEN", "FROM") and isinstance(expression, exp.Tuple):
        lo, hi = (_instant(e, info.name) for e in expression.expressions)
        if lo > hi:
            form = "BETWEEN a AND b" if kind == "BETWEEN" else "FROM a TO b"
            raise QueryError(f"FOR SYSTEM_TIME {form} on {info.name}: a is after b")
        # (FROM a TO b excludes b, as SQL:2011 has it; BETWEEN includes it)
        return relations.intervals(info, since=lo, until=hi if kind == "BETWEEN" else hi - 1)
    if kind == "AS OF" and expression is not None:
        instant = _literal_instant(expression, info.name)
        if instant is not None:
            return relations.state_as_of(info, instant)
        _correlate(table, alias, expression)
        return relations.named_intervals(info)
    raise QueryError(f"FOR SYSTEM_TIME {kind} is not supported (use AS OF, ALL or BETWEEN a AND b)")


def _literal_instant(expression: exp.Expression, name: str) -> int | None:
    if isinstance(expression, exp.Literal | exp.Neg | exp.Cast):
        return _instant(expression, name)
    return None


def _instant(expression: exp.Expression, name: str) -> int:
    node = expression.this if isinstance(expression, exp.Cast) else expression
    text = node.sql(dialect="duckdb").strip("'") if not isinstance(node, exp.Literal) else node.this
    try:
        return parse_time(str(text))
    except BadTime as exc:
        raise QueryError(f"FOR SYSTEM_TIME on {name}: {exc}") from None


def _correlate(table: exp.Table, alias: str, expression: exp.Expression) -> None:
    """Add `_named_from <= expr < _named_to` where the table is joined (or to the WHERE): the
    piece of an interval over the instant, named as its host was then
    (`relations.named_intervals`)."""
    said = f"FOR SYSTEM_TIME AS OF {expression.sql(dialect='duckdb')} on {alias}"
    if expression.find(exp.Select):
        raise QueryError(
            f"{said}: takes an instant or a column of a table to its left, not a subquery "
            "(compute the instant first)"
        )
    if isinstance(expression, exp.Null):
        raise QueryError(f"{said}: NULL names no instant")
    later = _joined_after(table)
    for column in expression.find_all(exp.Column):
        if column.table and column.table.lower() in later:
            raise QueryError(
                f"{said}: {column.table} is joined after {alias}; the instant must come from a "
                f"table to its left: move {alias} after {column.table}"
            )
    ref: Callable[[str], exp.Column] = lambda col: exp.column(col, table=alias)  # noqa: E731
    cond = exp.and_(
        exp.LTE(this=ref("_named_from"), expression=expression.copy()),
        exp.GT(this=ref("_named_to"), expression=expression.copy()),
    )
    join = table.parent
    if isinstance(join, exp.Join):
        if str(join.args.get("side", "")).upper() in ("RIGHT", "FULL"):
            raise QueryError(
                f"FOR SYSTEM_TIME AS OF <column> on {alias} in a {join.args['side'].upper()} "
                "JOIN would keep every interval of every time: use JOIN or LEFT JOIN"
            )
        if join.args.get("using") or str(join.args.get("method", "")).upper() == "NATURAL":
            raise QueryError(
                f"FOR SYSTEM_TIME AS OF <column> on {alias} needs an ON condition, not USING or "
                f"NATURAL JOIN: write ON {alias}.host_key = <left>.host_key AND ..."
            )
        on = join.args.get("on")
        join.set("on", exp.and_(on, cond) if on is not None else cond)
        return
    select = table.find_ancestor(exp.Select)
    if select is None:
        raise QueryError("FOR SYSTEM_TIME AS OF <column> needs a SELECT around it")
    select.where(cond, copy=False)


def _joined_after(table: exp.Table) -> set[str]:
    """The names (aliases) of the tables joined after TABLE in its SELECT."""
    select = table.find_ancestor(exp.Select)
    joins = list(select.args.get("joins") or []) if select is not None else []
    k = next((k for k, join in enumerate(joins) if join is table.parent), -1)
    after = joins[k + 1 :]
    return {join.this.alias_or_name.lower() for join in after}
