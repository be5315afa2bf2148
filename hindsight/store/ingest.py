"""Ingest: batches of lines -> deduplicated raw archive -> events and validity intervals.

Each batch is one transaction: the raw lines, the dedupe keys, the intervals and the stream
positions commit together or not at all. The batch is parsed in bulk inside DuckDB
(`normalise`), and every step after that is set-based SQL over the batch's tables; Python only
touches each line to archive it and each execution to classify it. Streams (host, query) whose
new executions all come after what was applied are extended from their open intervals; a stream
that receives an execution at or before its last one (late backlog, files out of order) is
rebuilt from its raw lines, so out-of-order ingest gives exactly in-order intervals.
"""

from __future__ import annotations

import contextlib
import ctypes
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import zstandard

from hindsight.errors import StoreError, first_line
from hindsight.osquery.blocks import Line, Lines
from hindsight.osquery.lines import StatusLine
from hindsight.store import archive, carry, chunks, fit, identity
from hindsight.store import normalise as nm
from hindsight.store.carry import Carry
from hindsight.store.catalog import Catalog, QueryInfo
from hindsight.store.keys import keys_sql, status_hash
from hindsight.store.layout import STATUS_QUERY_ID, event_table, quote
from hindsight.store.lineids import (
    KEYS_SQL,
    Coded,
    Mapping,
    coded_views,
    fresh_view,
    mapping,
    seen_view,
)
from hindsight.store.prepare import Prepared, release
from hindsight.store.space import mark_packed, raw_compressor, raw_end
from hindsight.store.streams import StreamKey, StreamWriter, archived_lines
from hindsight.store.writes import attach, detach, register, typed_select

I32, I64 = pa.int32(), pa.int64()


@dataclass
class IngestSummary:
    """What one ingest did."""

    lines: int = 0
    rows: int = 0
    duplicates: int = 0
    rejected: int = 0
    statuses: int = 0
    rebuilt_streams: int = 0
    hosts: set[int] = field(default_factory=set)
    queries: set[int] = field(default_factory=set)
    rejections: list[tuple[str, str]] = field(default_factory=list)  # (file:line, reason), capped
    skipped: list[str] = field(default_factory=list)  # files of directories not osquery output
    seconds: float = 0.0

    def copy(self) -> IngestSummary:
        return replace(
            self,
            hosts=set(self.hosts),
            queries=set(self.queries),
            rejections=list(self.rejections),
            skipped=list(self.skipped),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "rows": self.rows,
            "hosts": len(self.hosts),
            "queries": len(self.queries),
            "duplicates_skipped": self.duplicates,
            "lines_rejected": self.rejected,
            "status_lines": self.statuses,
            "streams_rebuilt": self.rebuilt_streams,
            "seconds": round(self.seconds, 3),
        }


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C during an ingest: the batches committed before it stay (SUMMARY counts them), the
    batch in progress was rolled back. Ingesting the same files again goes on (what is stored is
    skipped as duplicates)."""

    def __init__(self, summary: IngestSummary) -> None:
        super().__init__()
        self.summary = summary


def interrupted(exc: BaseException) -> bool:
    """Whether EXC is a Ctrl-C, or DuckDB's form of one: a query it stopped, or a Python scan
    (of an Arrow table registered from Python) that the KeyboardInterrupt ended."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    text = str(exc)
    return text == "Query interrupted" or "KeyboardInterrupt" in text


def unwritable(exc: BaseException) -> bool:
    """Whether EXC is DuckDB failing to write the store (a full disk, an I/O error)."""
    return isinstance(exc, duckdb.IOException | duckdb.FatalException | duckdb.TransactionException)


@contextlib.contextmanager
def stops(
    on_interrupt: Callable[[], BaseException],
    on_unwritable: Callable[[BaseException], BaseException],
) -> Iterator[None]:
    """Raise what ON_INTERRUPT gives for a Ctrl-C (or DuckDB's form of one), and what
    ON_UNWRITABLE gives for a store DuckDB could not write; other errors as they are."""
    try:
        yield
    except (KeyboardInterrupt, RuntimeError, duckdb.Error) as exc:
        if interrupted(exc):
            raise on_interrupt() from exc
        if unwritable(exc):
            raise on_unwritable(exc) from exc
        raise


class IngestFailed(StoreError):
    """The store could not be written (a full disk, an I/O error): the batches committed before
    stay (SUMMARY counts them), the one in progress was rolled back (DuckDB's WAL: nothing half
    written). STORED_ALL: every line was stored, only the compaction after them failed."""

    def __init__(self, summary: IngestSummary, cause: BaseException, stored_all: bool) -> None:
        done = (
            "every line read is stored, only the compaction after them failed"
            if stored_all
            else "the batches before it are stored (counted above), the one in progress was "
            "rolled back"
        )
        super().__init__(
            f"could not write the store: {first_line(cause)}; {done}. Fix the cause (free space: an ingest "
            "needs room for up to 64 MB of write-ahead log beside the store) and ingest the same "
            "files again (what is stored is skipped)"
        )
        self.summary = summary


class BatchWriter:
    """Writes one batch of read lines into the store (one transaction)."""

    MAX_REJECTIONS_KEPT = 1000

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        catalog: Catalog,
        summary: IngestSummary,
        on_commit: Callable[[Lines], None] | None = None,
        lib: ctypes.CDLL | None = None,
    ) -> None:
        self.con = con
        self.catalog = catalog
        self.summary = summary
        self.on_commit = on_commit  # called with each batch's lines inside its transaction
        self.lib = lib  # the native fast path (store/native/), where used
        self.zstd = zstandard.ZstdCompressor(level=3)  # rejected lines: 8x faster than 6
        self.archive_zstd = raw_compressor()
        self.carry: Carry | None = None  # the scope the last batch ended in, cut
        self._carried: Carry | None = None  # the batch's own, once it is committed
        self._all_fresh = False  # whether every line of the batch is new (see _dedupe)
        self._codes: Mapping | None = None  # where `_n_lines` is the first stage's, its ids
        self._rh_given = False  # whether `_n_rh` is the first stage's (not hashed again)

    # -- entry point --------------------------------------------------------------------------
    def write(self, batch: Prepared) -> None:
        """Write a parsed batch (parsed outside the transaction: the parse retries a statement
        that failed on a malformed line, and a failed statement would abort the transaction)."""
        con = self.con
        for name, table in batch.arrows.items():
            attach(con, name, table)
        for part, cols in _PREPARED.items():
            source = batch.relations.get(part, f"{batch.tables}_{part}")
            con.execute(f"CREATE OR REPLACE TEMP VIEW _n_{part} AS SELECT {cols} FROM {source}")
        misfits: list[fit.Misfit] = []
        try:
            while (misfit := self._write_once(batch, misfits)) is not None:
                # a value its typed column cannot hold: the column is settled, and the batch
                # is written again (rare: once per column of a query, ever)
                misfits.append(self._settle(misfit))
            self.carry = self._carried
        finally:
            release(con, batch)

    def _settle(self, misfit: fit.Misfit) -> fit.Misfit:
        settled: list[fit.Misfit] = []

        def work() -> None:
            settled.append(fit.settle(self.con, self.catalog, misfit, ("_n_rows", "_n_hdr")))

        in_transaction(self.con, self.catalog, work)
        return settled[0]

    def _write_once(self, batch: Prepared, misfits: list[fit.Misfit]) -> fit.Misfit | None:
        """Write the batch in one transaction (with the signals of the columns MISFITS made
        text); a misfit rolls it back and is returned."""
        before = self.summary.copy()
        found: list[fit.Misfit] = []

        def work() -> None:
            try:
                self._write(batch)
            except duckdb.Error as exc:  # named while the catalog knows the batch's ids
                found.extend(m for m in [fit.misfit_of(exc, self.catalog)] if m)
                raise
            for m in misfits:
                fit.signal(self.con, self.catalog, m)
            if self.on_commit is not None:
                self.on_commit(batch.lines)

        try:
            in_transaction(self.con, self.catalog, work)
        except BaseException:
            self.summary.__dict__.update(before.__dict__)  # it counts what was committed
            if not found:
                raise
            return found[0]
        return None

    def _write(self, batch: Prepared) -> None:
        lines, kept, fallback = batch.lines, batch.kept, batch.fallback
        self.summary.lines += len(lines)
        read_errors = [(ln, ln.error) for ln in lines.errors() if ln.error is not None]
        if read_errors or fallback.rejected:  # (rare: no per-line work otherwise)
            self._reject(_in_read_order(lines, kept, read_errors, fallback.rejected))
        queries = self._identify(batch)
        if not self._dedupe(batch):
            return
        self._archive(batch)
        self._statuses(fallback.statuses)
        self._events([q for q in queries if q.is_event], batch)
        # (the library's rows as Arrow, where `_n_rh` reads them: not hashed again)
        rows = batch.arrows.get(batch.relations.get("rh", "")) if self._rh_given else None
        streams = StreamWriter(self.con, self.catalog, self.lib, batch.texts, rows)
        self.summary.rebuilt_streams += streams.write("_n")
        self._seen_hosts(batch)

    def _reject(self, rejected: list[tuple[Line, str]]) -> None:
        """Keep REJECTED lines aside (in read order), in one statement: a file of garbage is
        rejected at the speed of reading it. A line kept aside before (same file, line and
        bytes: a file ingested again) is not kept twice, though it counts as rejected again."""
        self.summary.rejected += len(rejected)
        room = self.MAX_REJECTIONS_KEPT - len(self.summary.rejections)
        self.summary.rejections += [(line.where, reason) for line, reason in rejected[:room]]
        if not rejected:
            return
        now = int(time.time())
        register(
            self.con,
            "_rejected",
            {
                "source": ([line.origin for line, _ in rejected], pa.string()),
                "line": ([line.number for line, _ in rejected], I64),
                "reason": ([line.kept_reason(reason) for line, reason in rejected], pa.string()),
                "size": ([len(line.raw) for line, _ in rejected], I64),
                "data": ([self.zstd.compress(line.raw) for line, _ in rejected], pa.binary()),
                "rejected_at": ([now] * len(rejected), I64),
            },
        )
        self.con.execute(
            "INSERT INTO rejects SELECT * FROM _rejected n WHERE NOT EXISTS (SELECT 1 FROM "
            "rejects r WHERE r.source = n.source AND r.line = n.line AND r.data = n.data)"
        )
        detach(self.con, "_rejected")

    # -- identity and dedupe -----------------------------------------------------------------
    def _identify(self, batch: Prepared) -> list[QueryInfo]:
        """Host and query ids of the batch's lines (`_n_lines`), status lines (`_n_status`).
        Returns the queries of the batch."""
        statuses = batch.fallback.statuses
        header = batch.header
        if header is not None:
            keys = header["host_key"].chunk(0).dictionary.to_pylist()
        else:
            keys = [
                k for (k,) in self.con.execute("SELECT DISTINCT host_key FROM _n_hdr").fetchall()
            ]
        self.catalog.add_hosts(keys + [p.host_key or "unknown" for _, p in statuses])
        queries = self.catalog.queries_of(batch.columns)
        self._rh_given = batch.hashed_as(queries)  # (`_n_rh` the first stage's)
        self._lines(batch, queries)
        register(
            self.con,
            "_status_in",
            {
                "i": ([i for i, _ in statuses], I32),
                "host_id": (
                    [self.catalog.host_id(p.host_key or "unknown") for _, p in statuses],
                    I32,
                ),
                "t": ([p.unix_time or 0 for _, p in statuses], I64),
                "known": ([p.unix_time is not None for _, p in statuses], pa.bool_()),
                "identifier": ([p.identifier for _, p in statuses], pa.string()),
                "raw_hash": ([status_hash(p) for _, p in statuses], pa.uint64()),
            },
        )
        self.con.execute("CREATE OR REPLACE TEMP TABLE _n_status AS SELECT * FROM _status_in")
        detach(self.con, "_status_in")
        if not self._rh_given:
            self._rehash(queries, f"{batch.tables}_units" if batch.units else None)
        return queries

    def _lines(self, batch: Prepared, queries: list[QueryInfo]) -> None:
        """`_n_lines` (a view): of the first stage's tables by code where it made them (then
        `_n_keys` too, unless the rows are hashed again: store/lineids.py), else joined with
        the hosts and queries."""
        header, self._codes = batch.header, None
        if header is not None and batch.coded is not None:
            by_name = {q.name: q for q in queries}
            names = header["name"].chunk(0).dictionary.to_pylist()
            infos = [info for info in map(by_name.get, names) if info is not None]
            if len(infos) == len(names):
                keys = header["host_key"].chunk(0).dictionary.to_pylist()
                self._codes = mapping([self.catalog.host_id(k) for k in keys], infos)
                coded_views(self.con, batch.tables, self._codes, self._keys_given)
                return
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE _n_lines_w AS SELECT h.i, s.host_id, q.query_id, "
            "q.kind = 'event' AS is_event, h.identifier, h.t, h.epoch, h.counter, "
            "h.shape, h.snap, h.n_add, h.n_rem "
            "FROM _n_hdr h JOIN hosts s USING (host_key) JOIN queries q USING (name)"
        )
        self.con.execute("CREATE OR REPLACE TEMP VIEW _n_lines AS SELECT * FROM _n_lines_w")

    @property
    def _keys_given(self) -> bool:
        """Whether `_n_keys` is the first stage's: its lines by code, its rows not hashed again."""
        return self._codes is not None and self._rh_given

    def _rehash(self, queries: list[QueryInfo], units: str | None) -> None:
        """Row hashes again, with the columns the catalog has now: the first stage hashed with
        fewer, for a column a batch it did not see yet added (rare: one column appearing)."""
        nm.hash_rows(self.con, queries, "_n", out="TEMP TABLE _n_rh_w")
        self.con.execute(nm.LINE_SUMS.format(out="TEMP TABLE _n_lk_w", rh="_n_rh_w"))
        for part in ("rh", "lk"):
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW _n_{part} AS SELECT * FROM _n_{part}_w")
        self.con.execute(
            keys_sql(
                "TEMP TABLE _n_lkeys_w",
                "(SELECT l.*, h.host_key, h.name FROM _n_lines l JOIN _n_hdr h USING (i))",
                "_n_status",
                "host_id",
                "query_id",
                "_n_lk",
                units,
            )
        )
        self.con.execute("CREATE OR REPLACE TEMP VIEW _n_lkeys AS SELECT * FROM _n_lkeys_w")

    def _dedupe(self, batch: Prepared) -> bool:
        """`_n_fresh(i, host_id, query_id, t)`: lines the store does not hold yet (nor earlier in
        the batch). A line is its content key and its occurrence among identical lines of its
        scope (keys.keys_sql); it is new when the archive holds fewer copies of it in its
        execution than that occurrence (archive.archived_counts), which only executions a raw
        chunk spans need counting."""
        con = self.con
        if not self._keys_given:  # (else the first stage's, by code: see _lines)
            ids = (
                "SELECT i, host_id, query_id FROM _n_lines "
                "UNION ALL SELECT i, host_id, 0 FROM _n_status"
            )
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _n_keys_w AS "
                + KEYS_SQL.format(columns="x.host_id, x.query_id", lkeys="_n_lkeys", ids=ids)
            )
            con.execute("CREATE OR REPLACE TEMP VIEW _n_keys AS SELECT * FROM _n_keys_w")
        self._carried, resumed = None, False
        if batch.kept:  # an execution cut between batches: its scope goes on (store/carry.py)
            units = f"{batch.tables}_units" if batch.units else None
            resumed = carry.resume(con, self.carry, batch.kept[0], units)
            self._carried = carry.taken(con, batch.lines[-1], units)
        # (the first stage's counts, where `_n_keys` is its own: see _lines)
        coded = batch.coded if self._keys_given and not resumed else None
        if coded is not None:
            total, lo, hi, lines = coded.keys, coded.lo, coded.hi, coded.lines
        else:
            found = con.execute(
                "SELECT count(*), min(t), max(t), (SELECT count(*) FROM _n_lines) + "
                "(SELECT count(*) FROM _n_status) FROM _n_keys"
            ).fetchone()
            total, lo, hi, lines = found if found else (0, None, None, 0)
        fresh = self._fresh(batch.tables, coded, lo, hi)
        self.summary.duplicates += total - fresh
        # (then what reads the fresh lines reads them all, with no join)
        self._all_fresh = fresh == total == lines
        return bool(fresh > 0)

    def _fresh(self, tables: str, coded: Coded | None, lo: int | None, hi: int | None) -> int:
        """`_n_fresh` (a view) of `_n_keys`, whose instants are LO to HI; returns how many.
        CODED: the first stage's counts, where `_n_keys` is its own (by code)."""
        con = self.con
        fresh_sql = "SELECT i, host_id, query_id, t FROM _n_keys k WHERE dup = 1"
        if archive.maybe_archived(con, "_n_keys", "_n_known", lo, hi):
            archive.archived_counts(con, self.catalog, "_n_known", "_n_have", self.lib)
            fresh_sql += (
                " AND occ >= coalesce((SELECT n FROM _n_have h WHERE h.host_id = k.host_id "
                "AND h.query_id = k.query_id AND h.t = k.t AND h.key = k.key), 0)"
            )
        elif coded is not None and self._codes is not None:
            fresh_view(con, tables, self._codes)  # (no copy of it archived: each line's first)
            return coded.fresh
        con.execute(f"CREATE OR REPLACE TEMP TABLE _n_fresh_w AS {fresh_sql}")
        con.execute("CREATE OR REPLACE TEMP VIEW _n_fresh AS SELECT * FROM _n_fresh_w")
        (fresh,) = con.execute("SELECT count(*) FROM _n_fresh").fetchone() or (0,)
        return int(fresh)

    # -- raw archive -------------------------------------------------------------------------
    def _archive(self, batch: Prepared) -> None:
        """Each stream's new lines, as they were read, in one zstd chunk per batch (compressed
        by the first stage when all of the stream's lines in the batch are new). The chunks are
        at the archive's level, so compaction has nothing to re-pack (meta `raw_packed`)."""
        kept, catalog = batch.kept, self.catalog
        columns: dict[str, list[object]] = {k: [] for k in _CHUNK_COLS}
        if self._all_fresh and not batch.fallback.statuses:  # (the first stage's streams, then)
            table = [
                (catalog.host_id(c.host_key), catalog.queries[c.name].query_id, c.lines, c.lo, c.hi)
                for c in batch.chunks.values()
            ]
        else:
            table = self.con.execute(
                "SELECT host_id, query_id, list(i ORDER BY i), min(t), max(t) FROM _n_fresh "
                "GROUP BY ALL"
            ).fetchall()
        for host_id, query_id, idx, lo, hi in table:
            ready = batch.chunks.get(idx[0])
            if ready is not None and ready.lines == idx:
                data = ready.data
            else:
                (payload,) = chunks.pack(self.lib, [[kept[i].raw for i in idx]])
                data = self.archive_zstd.compress(payload)
            for k, v in zip(_CHUNK_COLS, (host_id, query_id, lo, hi, len(idx), data), strict=True):
                columns[k].append(v)
        register(self.con, "_chunks", {k: (columns[k], t) for k, t in _CHUNK_COLS.items()})
        # row ids of rows not committed yet are the transaction's own: count from those before
        before = raw_end(self.con)
        self.con.execute("INSERT INTO raw_chunks SELECT * FROM _chunks")
        detach(self.con, "_chunks")
        mark_packed(self.con, before, before + len(columns["data"]))

    # -- status logs -------------------------------------------------------------------------
    def _statuses(self, statuses: list[tuple[int, StatusLine]]) -> None:
        if not statuses:
            return
        fresh = {
            i
            for (i,) in self.con.execute(
                "SELECT i FROM _n_fresh WHERE query_id = ?", [STATUS_QUERY_ID]
            ).fetchall()
        }
        items = [(i, p) for i, p in statuses if i in fresh]
        if not items:
            return
        self.summary.statuses += len(items)
        register(
            self.con,
            "_status",
            {
                "host_id": ([self.catalog.host_id(p.host_key or "unknown") for _, p in items], I32),
                "identifier": ([p.identifier for _, p in items], pa.string()),
                "unix_time": ([p.unix_time for _, p in items], I64),
                "severity": ([p.severity for _, p in items], I32),
                "filename": ([p.filename for _, p in items], pa.string()),
                "line": ([p.line for _, p in items], I32),
                "message": ([p.message for _, p in items], pa.string()),
                "version": ([p.version for _, p in items], pa.string()),
            },
        )
        self.con.execute("INSERT INTO status_logs SELECT * FROM _status")
        detach(self.con, "_status")

    # -- events ------------------------------------------------------------------------------
    def _events(self, queries: list[QueryInfo], batch: Prepared) -> None:
        hosts: dict[str, pa.Array] = {}  # per table of event rows read, its rows' host ids
        for info in queries:  # (each reads its fresh lines, `_n_fresh` by its query id)
            table, columns = batch.events.get(info.name, ("", {}))
            read, typed = readable(info, table, columns)
            arrow = batch.arrows.get(read or "")
            # (each value read as its column stores it, typed or text: nothing to cast)
            exact = read is not None and all(columns[c] == t for c, t in info.columns.items())
            if exact and self._all_fresh and arrow is not None and "_hk" in arrow.column_names:
                if table not in hosts:
                    hosts[table] = self._host_ids(arrow["_hk"].combine_chunks())
                self.summary.rows += self._append_events(info, arrow, hosts[table])
            else:
                self.summary.rows += insert_events(self.con, info, "_n", "_n_fresh", read, typed)

    def _append_events(self, info: QueryInfo, arrow: pa.Table, hosts: pa.Array) -> int:
        """Append INFO's rows of ARROW (those of every query of its columns: a fleet runs one
        event table under many names), each value as its column stores it (typed, or text) and
        in the events' order by the first stage (first_stage.event_rows, ORDERED), every line
        of the batch new, HOSTS their host ids: no join with the batch's lines, no sort.
        Returns how many. (Its rows taken out here: the insert scanned all of them for each
        name, 4 ms a name a batch of mixed-q.)"""
        mine = arrow.append_column("_host", hosts).filter(pc.equal(arrow["name"], info.name))
        attach(self.con, "_ev_append", mine)
        try:
            return insert_events(self.con, info, "", "", "_ev_append", typed=True, appended=True)
        finally:
            detach(self.con, "_ev_append")

    # -- hosts -------------------------------------------------------------------------------
    def _host_ids(self, keys: pa.DictionaryArray) -> pa.Array:
        """The host id of each of KEYS (dictionary-encoded host keys, all in the catalog):
        looked up once per distinct key."""
        return _ids([self.catalog.host_id(k) for k in keys.dictionary.to_pylist()], keys)

    def _seen_hosts(self, batch: Prepared) -> None:
        con = self.con
        fresh = "" if self._all_fresh else " SEMI JOIN _n_fresh f USING (i)"
        # the batch's new lines, status lines of a known instant included
        seen = (
            f"(SELECT l.host_id, l.query_id, l.identifier, l.t FROM _n_lines l{fresh} "
            f"UNION ALL SELECT s.host_id, 0, s.identifier, s.t FROM _n_status s{fresh} "
            "WHERE s.known)"
        )
        codes = self._codes
        if self._all_fresh and codes is not None and batch.coded is not None:
            # (every line new, and the first stage's by code: its `_seen`, its row counts)
            seen_view(con, batch.tables, codes)
            self.summary.hosts.update(codes.hosts)
            self.summary.queries.update(q.query_id for q in codes.queries)
            self.summary.rows += sum(
                n for n, q in zip(batch.coded.rows, codes.queries, strict=True) if not q.is_event
            )
        else:
            self._seen(seen, fresh)
        con.execute(
            "INSERT INTO host_names SELECT host_id, identifier, min(lo), max(hi) FROM _n_seen "
            "GROUP BY ALL ON CONFLICT (host_id, identifier) DO UPDATE SET "
            "first_seen = least(first_seen, excluded.first_seen), last_seen = greatest(last_seen, excluded.last_seen)"
        )
        for table, key in (("hosts", "host_id"), ("queries", "query_id")):
            con.execute(
                f"UPDATE {table} SET first_seen = least(coalesce(first_seen, s.lo), s.lo), "
                f"last_seen = greatest(coalesce(last_seen, s.hi), s.hi) "
                f"FROM (SELECT {key}, min(lo) lo, max(hi) hi FROM _n_seen GROUP BY ALL) s "
                f"WHERE {table}.{key} = s.{key}"
            )
        identity.refresh(
            con,
            "(SELECT host_id, identifier, lo, hi FROM _n_seen WHERE identifier IS NOT NULL)",
            f"(SELECT host_id, identifier, t FROM {seen} WHERE identifier IS NOT NULL)",
            "_n_seen",
        )

    def _seen(self, seen: str, fresh: str) -> None:
        """`_n_seen`: each (host, query, name) of SEEN (the batch's new lines) once, with the
        span of its lines' instants: what reads it takes spans, and a batch holds thousands of
        lines of each (a few hundred rows here, where the lines' distinct instants were tens of
        thousands). FRESH: the new lines' filter of `_n_lines`, to count their rows."""
        con = self.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _n_seen_w AS SELECT host_id, query_id, identifier, "
            f"min(t) AS lo, max(t) AS hi FROM {seen} GROUP BY ALL"
        )
        con.execute("CREATE OR REPLACE TEMP VIEW _n_seen AS SELECT * FROM _n_seen_w")
        hosts, queries, rows = con.execute(
            "SELECT (SELECT list(DISTINCT host_id) FROM _n_seen), "
            "(SELECT list(DISTINCT query_id) FILTER (query_id <> 0) FROM _n_seen), "
            f"(SELECT coalesce(sum(n_add + n_rem), 0) FROM _n_lines l{fresh} WHERE NOT is_event)"
        ).fetchone() or (None, None, 0)
        self.summary.hosts.update(hosts or ())
        self.summary.queries.update(queries or ())
        self.summary.rows += rows


def _ids(ids: list[int], codes: pa.DictionaryArray) -> pa.Array:
    """The id of each value of CODES, from IDS (one per value of its dictionary)."""
    return pa.array(ids, I32).take(codes.indices)


def in_transaction(
    con: duckdb.DuckDBPyConnection, catalog: Catalog, work: Callable[[], None]
) -> None:
    """Run WORK in one transaction; on any error roll it back (the catalog reads back the ids
    and columns it created, gone with it) and raise."""
    con.execute("BEGIN TRANSACTION")
    try:
        work()
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        catalog.reload()
        raise


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll the batch back, unless DuckDB already did (a query interrupted by Ctrl-C ends its
    transaction): the error that stopped the batch is the one to tell."""
    with contextlib.suppress(duckdb.TransactionException):
        con.execute("ROLLBACK")


def _in_read_order(
    lines: Lines,
    kept: Lines,
    read_errors: list[tuple[Line, str]],
    parse_errors: list[tuple[int, str, bytes | None]],
) -> list[tuple[Line, str]]:
    """The rejections of a batch in the order its lines were read: READ_ERRORS (the reader's)
    and PARSE_ERRORS (the normaliser's, by index in KEPT; a torn line's first part alone)."""
    order = {id(line): n for n, line in enumerate(lines)}
    found = [(order[id(line)], line, reason) for line, reason in read_errors]
    for i, reason, part in parse_errors:
        line = kept[i] if part is None else Line(kept[i].origin, kept[i].number, part, None)
        found.append((order[id(kept[i])], line, reason))
    return [(line, reason) for _, line, reason in sorted(found, key=lambda r: r[0])]


# The first stage's tables, seen by the writer under the names it uses.
# (not `lk`, the lines' sums: only the first stage's keys read it, and the rehash makes its own)
_PREPARED = {"hdr": "*", "rows": "i, name, op, r, rowid", "rh": "*", "lkeys": "*"}

_CHUNK_COLS: dict[str, pa.DataType] = {
    "host_id": I32, "query_id": I32, "min_time": I64, "max_time": I64, "lines": I32, "data": pa.binary(),
}  # fmt: skip


def readable(info: QueryInfo, table: str, columns: dict[str, str]) -> tuple[str | None, bool]:
    """Whether the first stage's TABLE of event rows, read into COLUMNS (with their types),
    serves INFO's insert (`insert_events`' READ and TYPED): it must hold all of INFO's columns,
    and either as text or each of INFO's type (the catalog may have changed a type since:
    store.fit; then the rows are read again in SQL)."""
    if not table or not info.columns.keys() <= columns.keys():
        return None, False
    if all(columns[c] == t for c, t in info.columns.items()):
        return table, any(t != "VARCHAR" for t in info.columns.values())
    if all(t == "VARCHAR" for t in columns.values()):
        return table, False
    return None, False


def insert_events(
    con: duckdb.DuckDBPyConnection,
    info: QueryInfo,
    prefix: str,
    lines: str,
    read: str | None = None,
    typed: bool = False,
    appended: bool = False,
) -> int:
    """Insert the added rows of one event query from a normalised batch (`{prefix}_rows`) of
    the LINES given (i, host_id, query_id, t); returns how many. READ: a table of them already
    read (`i`, `name`, `_j`: at least the query's columns; rows of other queries may be there),
    as text, or TYPED: each of its type in INFO, every value checked (store.fit) already.
    APPENDED: READ's rows are INFO's alone, typed, all new, and in the order to store them,
    each with its host's id (`_host`) and line's instant (`_t`): appended as they come."""
    event_time = "t"  # (the line's instant, where the row has no time of its own)
    if typed and info.columns.get("time") == "BIGINT":
        event_time = 'COALESCE(_j."time", t)'
    elif "time" in info.columns:
        event_time = "COALESCE(TRY_CAST(NULLIF(_j.\"time\", '') AS BIGINT), t)"
    names = "".join(f", {quote(n)}" for n in info.columns)
    into = f"INSERT INTO {event_table(info.query_id)} (_host, _unix, _time{names}) "
    mine = f"(SELECT i, host_id, t FROM {lines} WHERE query_id = {info.query_id})"
    if appended:  # (READ holds INFO's rows alone: BatchWriter._append_events)
        relation = f"(SELECT _j, _host AS host_id, _t AS t FROM {read})"
    elif read:
        relation = (
            f"(SELECT x._j, l.host_id, l.t FROM (SELECT i, _j FROM {read} "
            f"WHERE name = {nm.literal(info.name)}) x JOIN {mine} l USING (i))"
        )
    else:
        # the rows are chosen (joined with their lines) before their JSON is read: a
        # projection below the join would read every row of the batch, of every query
        relation = (
            f"(SELECT x.*, {nm.as_text(info, 'x.r')} AS _j FROM "
            f"(SELECT r.r, l.host_id, l.t FROM {prefix}_rows r JOIN {mine} l USING (i) "
            f"WHERE r.op > 0 AND r.name = {nm.literal(info.name)}) x)"
        )
    # (named as the table's own columns, which no query column may be: store/columns.py)
    fixed = f"host_id AS _host, t AS _unix, {event_time} AS _time"
    # in the events' time order (then by host), as a live fleet's events arrive: a batch of
    # files holds them host by host, and each host's day of instants made every time column
    # take 18 bits a value (bench_ingest's events: the table 4.92 -> 3.80 MB, the store 1/8.8
    # -> 1/9.8 of raw, ingest ~5 % longer); a time range also reads fewer row groups
    select = (
        f"SELECT {fixed}{''.join(f', _j.{quote(n)}' for n in info.columns)} FROM {relation}"
        if typed
        else typed_select(info, fixed, relation)
    )
    inserted = con.execute(into + select + ("" if appended else " ORDER BY _time, _host"))
    row = inserted.fetchone()
    return int(row[0]) if row else 0


def rebuild_events(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    keys: list[StreamKey],
    lib: ctypes.CDLL | None = None,
) -> None:
    """Drop the streams' events and reload them from the raw lines (read with LIB, the native
    library, where given)."""
    for host_id, query_id in keys:
        con.execute(f"DELETE FROM {event_table(query_id)} WHERE _host = ?", [host_id])
    for info in archived_lines(con, catalog, keys, "_r", lib):
        insert_events(con, info, "_r", "_r_lines")
