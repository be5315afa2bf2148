"""Occurrences across a batch cut.

A batch never ends inside an execution, except one of more lines than two batches hold
(Store._batches: memory stays bounded). Its scope (hindsight.osquery.scopes) then goes on in the
next batch, where identical lines count on from the lines before the cut: otherwise a line
after the cut identical to one before it would pass for a copy of it, and a row would be lost.
The lake's writer counts line by line across batches and needs none of this.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from hindsight.osquery.blocks import Line
from hindsight.osquery.reader import rotation_base
from hindsight.store.writes import attach, detach


@dataclass(frozen=True)
class Carry:
    """The scope a batch ended in, cut: its source and, per event line of it
    `(host_id, query_id, t, key)`, how many came before the cut (`n`)."""

    source: str
    counts: pa.Table


def _lines(units: str | None) -> str:
    """`(i, ex, unit)` of a batch's kept lines: its execution (NULL: a status line) and its
    source (keys.units)."""
    unit = f"(SELECT unit FROM {units} u WHERE u.i = e.i)" if units else "0"
    return (
        f"SELECT e.i, e.ex, {unit} AS unit FROM (SELECT i, hash(host_id, query_id, t, epoch, "
        "coalesce(counter, -1)) AS ex FROM _n_lines UNION ALL SELECT i, NULL FROM _n_status) e"
    )


def taken(con: duckdb.DuckDBPyConnection, last: Line, units: str | None) -> Carry | None:
    """The counts of the last scope of the batch in `_n_keys` (keys.keys_sql's occurrences,
    already counted on from a carry), when LAST, its last line, was cut from the rest of its
    execution."""
    if not last.cut:
        return None
    counts = con.sql(
        f"""
        WITH e AS ({_lines(units)}),
        z AS (SELECT ex, unit FROM e ORDER BY i DESC LIMIT 1),
        s AS (SELECT coalesce(max(e.i) + 1, 0) AS start FROM e, z
              WHERE e.ex IS DISTINCT FROM z.ex OR e.unit <> z.unit)
        SELECT k.host_id, k.query_id, k.t, k.key, max(k.occ) + 1 AS n
        FROM _n_keys k JOIN _n_lines l USING (i), s
        WHERE k.i >= s.start AND l.shape NOT IN ('batch', 'snapshot')
        GROUP BY ALL"""
    ).to_arrow_table()
    return Carry(rotation_base(last.origin), counts)


def resume(
    con: duckdb.DuckDBPyConnection, carry: Carry | None, first: Line, units: str | None
) -> bool:
    """Count the occurrences of the first scope of the batch in `_n_keys` on from CARRY, the
    scope the batch before ended in, cut, where FIRST (the batch's first line) goes on with it;
    ranks among copies (`dup`) again. Returns whether it did."""
    if carry is None or first.item is not None or rotation_base(first.origin) != carry.source:
        return False
    attach(con, "_carry", carry.counts)
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _n_keys_c AS
            WITH e AS ({_lines(units)}),
            z AS (SELECT ex, unit FROM e ORDER BY i LIMIT 1),
            s AS (SELECT coalesce(min(e.i), 2147483647) AS stop FROM e, z
                  WHERE e.ex IS DISTINCT FROM z.ex OR e.unit <> z.unit),
            o AS (
                SELECT k.i, k.host_id, k.query_id, k.t, k.key,
                    k.occ + CASE WHEN k.i < s.stop THEN coalesce(c.n, 0) ELSE 0 END AS occ
                FROM _n_keys k LEFT JOIN _carry c USING (host_id, query_id, t, key), s
            )
            SELECT *, row_number() OVER (PARTITION BY host_id, query_id, t, key, occ ORDER BY i)
                AS dup
            FROM o"""
        )
        con.execute("CREATE OR REPLACE TEMP VIEW _n_keys AS SELECT * FROM _n_keys_c")
    finally:
        detach(con, "_carry")
    return True
