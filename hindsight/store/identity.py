"""What the store derives from the names hosts report, kept up to date by every batch:

- `host_runs`: each host's runs of one name (`hindsight.query.relations.name_runs`), which name
  a host as of an instant. A batch re-derives only the runs it can change: those that end at or
  after its first line of the host, and the one before them (so that a name reported again
  extends its run instead of starting another). A host whose lines in the batch only go on
  with its last run's name, or a new host of one name (the usual batch), has its run extended
  or begun without that.
- `host_ends`: the hosts another host key took over, and when
  (`hindsight.query.relations.superseded`), a table each as-of lookup joins. A batch derives
  it again only for the hosts that report a name one of its hosts reports too
  (`relations.sharing`): a succession needs a name two hosts report, so the usual batch, whose
  hosts share none, derives nothing (derived whole, it took 85 ms a batch at 200,000 hosts).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import zstandard

from hindsight.query import relations
from hindsight.store import chunks
from hindsight.store.normalise import normalise
from hindsight.store.writes import attach, detach


def refresh(
    con: duckdb.DuckDBPyConnection,
    spans: str | None = None,
    seen: str | None = None,
    hosts: str | None = None,
) -> None:
    """Derive again what a batch's lines change: SPANS `(host_id, identifier, lo, hi)`, each
    name a host reported and the span of its lines, and SEEN `(host_id, identifier, t)`, the
    lines themselves, read only for the hosts whose runs are derived again (rare: see
    `_extend`); HOSTS `(host_id)`: every host whose row in `hosts` the batch changed (default:
    SPANS' hosts). Without SPANS: a store an older Hindsight wrote, whose runs are its names'
    spans."""
    if spans is None or seen is None:
        if not con.execute("SELECT 1 FROM host_runs LIMIT 1").fetchall():
            con.execute(
                "INSERT INTO host_runs SELECT host_id, identifier, first_seen, last_seen "
                "FROM host_names"
            )
        _ends(con)
        return
    if _extend(con, spans):
        _runs(con, f"(SELECT * FROM {seen} s ANTI JOIN _runs_ext USING (host_id))")
    _ends(con, hosts or spans)


def _ends(con: duckdb.DuckDBPyConnection, hosts: str | None = None) -> None:
    """`host_ends` derived again: whole, or where what HOSTS (a relation with `host_id`) now
    have in `hosts` and `host_names` can change it (`relations.sharing`)."""
    if hosts is None:
        con.execute("DELETE FROM host_ends")
        con.execute(f"INSERT INTO host_ends SELECT host_id, since FROM {relations.superseded()}")
        return
    (sharing,) = con.execute(
        f"CREATE OR REPLACE TEMP TABLE _ends_hosts AS {relations.sharing(hosts)}"
    ).fetchone() or (0,)
    if sharing:
        con.execute("DELETE FROM host_ends WHERE host_id IN (SELECT host_id FROM _ends_hosts)")
        con.execute(
            "INSERT INTO host_ends SELECT host_id, since FROM "
            f"{relations.superseded('_ends_hosts')}"
        )


def _runs(con: duckdb.DuckDBPyConnection, seen: str) -> None:
    con.execute(f"CREATE OR REPLACE TEMP TABLE _runs_seen AS {seen}")
    seen = "_runs_seen"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _runs_old AS "
        f"WITH b AS (SELECT host_id, min(t) AS lo FROM {seen} GROUP BY host_id), "
        "p AS (SELECT r.host_id, max(r.last_seen) AS prev FROM host_runs r JOIN b USING (host_id) "
        "WHERE r.last_seen < b.lo GROUP BY r.host_id) "
        "SELECT r.* FROM host_runs r JOIN b USING (host_id) LEFT JOIN p USING (host_id) "
        "WHERE r.last_seen >= coalesce(p.prev, b.lo)"
    )
    con.execute(
        "DELETE FROM host_runs r USING _runs_old o WHERE r.host_id = o.host_id "
        "AND r.identifier = o.identifier AND r.first_seen = o.first_seen"
    )
    observed = (
        f"SELECT host_id, identifier, t FROM {seen} "
        "UNION ALL SELECT host_id, identifier, first_seen FROM _runs_old "
        "UNION ALL SELECT host_id, identifier, last_seen FROM _runs_old"
    )
    if _inside(con, seen):
        observed += " UNION ALL SELECT host_id, identifier, t FROM _runs_inside"
    con.execute(f"INSERT INTO host_runs {relations.name_runs(observed)}")
    con.execute("DROP TABLE _runs_old")
    con.execute("DROP TABLE _runs_seen")


def _extend(con: duckdb.DuckDBPyConnection, spans: str) -> bool:
    """The runs of each host that SPANS reports by one name and that has no run yet (begun), or
    whose last run has that name and began before SPANS's first line of it (extended): a batch
    read in order, where no run begins amid others or splits one. Returns whether SPANS has
    other hosts (`_runs_ext` lists those extended), whose runs are derived again."""
    # (one name: its least is its greatest, not a count of distinct names, 1.3 ms more)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _runs_ext AS "
        "WITH b AS (SELECT host_id, min(lo) AS lo, max(hi) AS hi, min(identifier) AS name, "
        f"min(identifier) = max(identifier) AS one FROM {spans} GROUP BY host_id), "
        "r AS (SELECT host_id, max_by(identifier, first_seen) AS name, max(first_seen) AS since "
        "FROM host_runs SEMI JOIN b USING (host_id) GROUP BY host_id) "
        "SELECT b.host_id, b.name, r.since, b.lo, b.hi FROM b LEFT JOIN r USING (host_id) "
        "WHERE b.one AND (r.since IS NULL OR (b.name = r.name AND b.lo > r.since))"
    )
    con.execute(
        "UPDATE host_runs SET last_seen = greatest(last_seen, e.hi) FROM _runs_ext e "
        "WHERE host_runs.host_id = e.host_id AND host_runs.first_seen = e.since"
    )
    con.execute(
        "INSERT INTO host_runs SELECT host_id, name, lo, hi FROM _runs_ext WHERE since IS NULL"
    )
    return bool(
        con.execute(
            f"SELECT 1 FROM {spans} s ANTI JOIN _runs_ext USING (host_id) LIMIT 1"
        ).fetchall()
    )


def _inside(con: duckdb.DuckDBPyConnection, seen: str) -> bool:
    """A line of the batch inside a run of another name splits it (`relations.split_runs`):
    `_runs_inside(host_id, identifier, t)`, the names of the host's archived lines over the
    runs split, read back (rare: it takes a late line amid a rename). Only the lines inside
    those runs' span: a chunk read for them may hold older lines, of runs before the ones
    derived again, which would begin runs those already hold. Returns whether there were any."""
    splits = con.execute(relations.split_runs("_runs_old", seen, "host_id")).fetchall()
    if not splits:
        return False
    inside: list[tuple[int, str, int]] = []
    dctx = zstandard.ZstdDecompressor()
    for host_id, lo, hi in splits:
        stored = con.execute(
            "SELECT data FROM raw_chunks WHERE host_id = ? AND max_time >= ? AND min_time <= ?",
            [host_id, lo, hi],
        ).fetchall()
        raws = [raw for (data,) in stored for raw in chunks.read(data, dctx) if raw]
        fallback = normalise(con, raws, prefix="_inside", careful=True)
        read: list[tuple[str | None, int | None]] = con.execute(
            "SELECT identifier, t FROM _inside_hdr"
        ).fetchall()
        read += [(p.identifier, p.unix_time) for _, p in fallback.statuses if p.identifier]
        con.execute("DROP TABLE _inside_hdr")
        con.execute("DROP TABLE _inside_rows")
        inside += [
            (host_id, ident, t)
            for ident, t in read
            if ident is not None and t is not None and lo <= t <= hi  # (the runs' span alone)
        ]
    attach(
        con,
        "_runs_inside_in",
        pa.table(
            {
                "host_id": pa.array([r[0] for r in inside], pa.int32()),
                "identifier": pa.array([r[1] for r in inside], pa.string()),
                "t": pa.array([r[2] for r in inside], pa.int64()),
            }
        ),
    )
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _runs_inside AS SELECT * FROM _runs_inside_in")
    finally:
        detach(con, "_runs_inside_in")
    return True


def missing(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store predates these tables (written by an older Hindsight)."""
    (found,) = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('host_runs', 'host_ends') "
        "AND schema_name = 'main'"
    ).fetchone() or (0,)
    return int(found) < 2
