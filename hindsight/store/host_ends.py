"""Table `host_ends`: the hosts another host key took over, and when (see
`hindsight.query.relations.superseded`). Kept whole after every batch: it reads the hosts and
the names they reported, a table of a row per host, and each as-of lookup joins it."""

from __future__ import annotations

import duckdb

from hindsight.query import relations


def refresh(con: duckdb.DuckDBPyConnection) -> None:
    """Compute `host_ends` again from `hosts` and `host_names`."""
    con.execute("DELETE FROM host_ends")
    con.execute(f"INSERT INTO host_ends SELECT host_id, since FROM {relations.superseded()}")


def missing(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store predates `host_ends` (written by an older Hindsight)."""
    return not con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE table_name = 'host_ends' AND schema_name = 'main'"
    ).fetchall()
