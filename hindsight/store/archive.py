"""What the raw archive holds of the executions a batch brings again.

The store keeps, per execution, as many copies of a line as the scope that had the most
(hindsight.osquery.scopes), and every copy it keeps is in the raw archive. So a line of a batch
(its content key and its occurrence in its scope) is new exactly when its execution's archived
lines hold fewer copies of it than its occurrence: the archive is the dedupe's memory, and no
key per line is kept beside it. Executions the archive cannot hold (no chunk of their stream
spans their time: the usual in-order batch) skip the count; the others (a file or request sent
again, a late backlog) read the chunks of their streams that span them again, and parse the
lines of those executions.
"""

from __future__ import annotations

import ctypes
import re

import duckdb
import zstandard

from hindsight.store import chunks
from hindsight.store import normalise as nm
from hindsight.store.catalog import Catalog
from hindsight.store.keys import content_keys_sql, status_keys
from hindsight.store.layout import STATUS_QUERY_ID
from hindsight.store.writes import attach, detach

_UNIX_TIME = re.compile(rb'"unixTime"\s*:\s*"?(\d+)')


def _maybe_at(raw: bytes, times: set[int]) -> bool:
    """Whether the archived line RAW may be of an execution at one of TIMES: a chunk spans its
    stream's lines of a whole batch, and only those of the executions counted are parsed (a
    line whose time cannot be read this way is parsed too; the SQL checks the time anyway)."""
    found = _UNIX_TIME.findall(raw)
    return not found or any(int(t) in times for t in found)


def maybe_archived(
    con: duckdb.DuckDBPyConnection, keys: str, out: str, lo: int | None, hi: int | None
) -> int:
    """`OUT(host_id, query_id, t)`: the executions of KEYS (host_id, query_id, t), whose times
    are LO to HI, that a raw chunk of their stream spans in time; returns how many. The time
    range, given as constants, lets the scan of `raw_chunks` (a chunk per stream per batch)
    skip by zone maps."""
    if lo is None or hi is None:
        return 0
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT DISTINCT k.host_id, k.query_id, k.t "
        f"FROM {keys} k JOIN raw_chunks c ON c.host_id = k.host_id AND c.query_id = k.query_id "
        "AND k.t BETWEEN c.min_time AND c.max_time WHERE c.max_time >= ? AND c.min_time <= ?",
        [lo, hi],
    )
    (n,) = con.execute(f"SELECT count(*) FROM {out}").fetchone() or (0,)
    return int(n)


def archived_counts(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    execs: str,
    out: str,
    lib: ctypes.CDLL | None = None,
) -> None:
    """`OUT(host_id, query_id, t, key, n)`: for the executions EXECS (host_id, query_id, t), how
    many archived lines of each content key (keys.content_keys_sql) they hold. LIB: the native
    library, to read chunks with (chunks.read)."""
    (lo, hi) = con.execute(f"SELECT min(t), max(t) FROM {execs}").fetchone() or (0, 0)
    found = con.execute(
        f"SELECT c.data, list(DISTINCT x.t) FROM raw_chunks c JOIN {execs} x ON x.host_id = "
        "c.host_id AND x.query_id = c.query_id AND x.t BETWEEN c.min_time AND c.max_time "
        "WHERE c.max_time >= ? AND c.min_time <= ? GROUP BY c.rowid, c.data",
        [lo, hi],
    ).fetchall()
    dctx = zstandard.ZstdDecompressor()
    raws = [
        raw
        for data, times in found
        for raw in chunks.read(data, dctx, lib)
        if _maybe_at(raw, set(times))
    ]
    fallback = nm.normalise(con, raws, prefix="_a", careful=True)
    names = [name for (name,) in con.execute("SELECT DISTINCT name FROM _a_hdr").fetchall()]
    nm.hash_rows(con, [catalog.queries[name] for name in names], "_a")
    con.execute(nm.LINE_SUMS.format(out="TEMP TABLE _a_lk", rh="_a_rh"))
    attach(con, "_a_status", status_keys(fallback.statuses))
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {out} AS "
            f"WITH k AS ({content_keys_sql('_a_hdr', '_a_status', 'host_key', 'name', '_a_lk')}) "
            "SELECT s.host_id, coalesce(q.query_id, ?) AS query_id, k.t, k.key, count(*) AS n "
            "FROM k JOIN hosts s ON s.host_key = k.host LEFT JOIN queries q ON q.name = k.query "
            f"SEMI JOIN {execs} x ON x.host_id = s.host_id "
            f"AND x.query_id = coalesce(q.query_id, ?) AND x.t = k.t GROUP BY ALL",
            [STATUS_QUERY_ID, STATUS_QUERY_ID],
        )
    finally:
        detach(con, "_a_status")
    for part in ("hdr", "rows", "rh", "lk"):
        con.execute(f"DROP TABLE IF EXISTS _a_{part}")
