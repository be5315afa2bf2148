"""Each line of a batch with its host and query ids: the writer's `_n_lines`, `_n_keys`,
`_n_fresh` and `_n_seen`.

Where the library read the whole batch, the first stage makes them beside the writer with each
line's host key and query name as its code in the header's dictionaries
(native.coded_header): `{tables}_lines`, `{tables}_keys` and `{tables}_seen` (each host,
query and name reported, with the span of its lines' instants), and counts them (`Coded`).
The writer's relations are then views that give each code its id, which only the writer knows
(new hosts get theirs in its transaction): a constant step from the first where the ids are so
spaced, else a constant list indexed (`Mapping`). Making them was ~20 ms of each mixed
batch's writing. Otherwise (a batch the SQL path read in part) the writer makes them, joined
with the hosts and queries.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from hindsight.store.catalog import QueryInfo
from hindsight.store.native import SHAPE_SQL
from hindsight.store.writes import attach, detach

#: `_n_keys`: each line's dedupe key (`{lkeys}`, keys.keys_sql) with its host and query
#: (`{ids}`: `i` and the columns `{columns}`).
KEYS_SQL = "SELECT k.i, {columns}, k.t, k.key, k.occ, k.dup FROM {lkeys} k JOIN ({ids}) x USING (i)"

#: A line's columns after its ids, as `_n_lines` has them.
_LINE = (
    "identifier::VARCHAR AS identifier, t, epoch, counter, {shape} AS shape, "
    "shape IN (1, 2) AS snap, n_add, n_rem"
)


@dataclass(frozen=True)
class Coded:
    """What `make_coded` counted: the rows of each query code's lines, the lines, their keys,
    the span of the keys' instants, and the keys first among their copies (`dup` 1)."""

    rows: list[int]
    lines: int
    keys: int
    lo: int | None
    hi: int | None
    fresh: int


def make_coded(con: duckdb.DuckDBPyConnection, tables: str, header: pa.Table) -> Coded:
    """`{tables}_lines`, `{tables}_keys` (from `{tables}_lkeys`) and `{tables}_seen` (each
    host, query and name reported, with the span of its lines' instants) of a batch the
    library read whole, HEADER its coded header: `host_code` and `query_code` in place of the
    ids."""
    src = f"_{tables.rsplit('.', 1)[-1]}_coded"
    attach(
        con,
        src,
        header.select(["i", "identifier", "t", "epoch", "counter", "shape", "n_add", "n_rem"])
        .append_column("host_code", header["host_key"].chunk(0).indices)
        .append_column("query_code", header["name"].chunk(0).indices),
    )
    try:
        con.execute(
            f"CREATE TABLE {tables}_lines AS SELECT i, host_code, query_code, "
            f"{_LINE.format(shape=SHAPE_SQL)} FROM {src}"
        )
    finally:
        detach(con, src)
    con.execute(
        f"CREATE TABLE {tables}_keys AS "
        + KEYS_SQL.format(
            columns="x.host_code, x.query_code",
            lkeys=f"{tables}_lkeys",
            ids=f"SELECT i, host_code, query_code FROM {tables}_lines",
        )
    )
    con.execute(
        f"CREATE TABLE {tables}_seen AS SELECT host_code, query_code, identifier, min(t) AS lo, "
        f"max(t) AS hi FROM {tables}_lines GROUP BY ALL"
    )
    rows = dict(
        con.execute(
            f"SELECT query_code, sum(n_add + n_rem) FROM {tables}_lines GROUP BY ALL"
        ).fetchall()
    )
    ((keys, lo, hi, fresh),) = con.execute(
        f"SELECT count(*), min(t), max(t), count(*) FILTER (dup = 1) FROM {tables}_keys"
    ).fetchall()
    names = len(header["name"].chunk(0).dictionary)
    return Coded(
        [int(rows.get(code, 0)) for code in range(names)], header.num_rows, keys, lo, hi, fresh
    )


@dataclass(frozen=True)
class Mapping:
    """What gives a coded line its ids (`make_coded`): HOSTS and QUERIES the ids and queries of
    its batch's dictionaries, in order, and the SQL expressions of them."""

    hosts: list[int]
    queries: list[QueryInfo]
    host: str
    query: str
    event: str


def mapping(hosts: list[int], queries: list[QueryInfo]) -> Mapping:
    return Mapping(
        hosts,
        queries,
        _mapped("host_code", hosts, "INTEGER"),
        _mapped("query_code", [q.query_id for q in queries], "INTEGER"),
        _mapped("query_code", [int(q.is_event) for q in queries], "BOOLEAN"),
    )


def coded_views(con: duckdb.DuckDBPyConnection, tables: str, codes: Mapping, keys: bool) -> None:
    """`_n_lines` (and with KEYS, `_n_keys`) as views of `make_coded`'s tables, by CODES."""
    ids = f"{codes.host} AS host_id, {codes.query} AS query_id"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _n_lines AS SELECT i, {ids}, {codes.event} AS is_event, "
        f"* EXCLUDE (i, host_code, query_code) FROM {tables}_lines"
    )
    if keys:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW _n_keys AS SELECT i, {ids}, "
            f"* EXCLUDE (i, host_code, query_code) FROM {tables}_keys"
        )


def fresh_view(con: duckdb.DuckDBPyConnection, tables: str, codes: Mapping) -> None:
    """`_n_fresh` as a view of `make_coded`'s `{tables}_keys`, by CODES: the lines first among
    their copies (where the archive holds none of their executions)."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _n_fresh AS SELECT i, {codes.host} AS host_id, "
        f"{codes.query} AS query_id, t FROM {tables}_keys WHERE dup = 1"
    )


def seen_view(con: duckdb.DuckDBPyConnection, tables: str, codes: Mapping) -> None:
    """`_n_seen` as a view of `make_coded`'s `{tables}_seen`, by CODES (every line new)."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _n_seen AS SELECT {codes.host} AS host_id, {codes.query} "
        f"AS query_id, identifier, lo, hi FROM {tables}_seen"
    )


def _mapped(code: str, values: list[int], kind: str) -> str:
    """The value of each CODE (0, 1, ...) in VALUES, as KIND: where they are a constant step
    apart (the usual batch: hosts new to the store get consecutive ids; a fleet's per-host
    files name its queries in one order), the code times the step plus the first; flags, the
    codes of those set; else a constant list indexed, which costs each read of the view
    ~1 ms more (33k lines; the others ~0.2 ms)."""
    if not values:
        return f"NULL::{kind}"
    first, step = (values[0], values[1] - values[0]) if len(values) > 1 else (values[0], 0)
    if all(b - a == step for a, b in itertools.pairwise(values)):
        return f"({first} + {step} * {code})::{kind}"
    if kind == "BOOLEAN":
        return f"({code} IN ({', '.join(str(n) for n, v in enumerate(values) if v)}))"
    return f"([{', '.join(str(int(v)) for v in values)}]::{kind}[])[{code} + 1]"
