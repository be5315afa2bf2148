"""The first stage of ingest, on cursors of its own: a batch's lines parsed into tables of a
shared in-memory database (or, where the native library read every line, into its Arrow
tables, which the writer reads as they are: `Prepared.relations`), while the writer (the second
stage, on the store's connection) applies the batch before. DuckDB releases the GIL, so the
stages use both cores; the writer's transaction still holds every durable write of a batch."""

from __future__ import annotations

import collections
import ctypes
import itertools
import queue
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from hindsight.osquery.blocks import Line, Lines, Segment
from hindsight.store import chunks, native
from hindsight.store import normalise as nm
from hindsight.store.catalog import Catalog, QueryInfo
from hindsight.store.columns import bad_columns
from hindsight.store.keys import keys_sql, status_keys, units
from hindsight.store.lineids import Coded, make_coded
from hindsight.store.space import raw_compressor
from hindsight.store.writes import attach, detach

#: The in-memory database the stages share (attached databases are seen by every connection).
SCRATCH = "hindsight_scratch"
#: Threads compressing a batch's raw chunks (the A/B of mixed: 2.74 -> 2.60 s, event lines
#: 2.08 -> 1.89 s, against one chunk at a time with the GIL taken between them)
ZSTD_THREADS = 2


@dataclass
class Chunk:
    """A stream's lines in a batch, compressed as the raw archive keeps them: its host key and
    query name, its lines (indexes in the batch's `kept`), the span of their instants."""

    host_key: str
    name: str
    lines: list[int]
    lo: int
    hi: int
    data: bytes


@dataclass
class Prepared:
    """A batch parsed, in tables named `{tables}_...`: `hdr` and `rows` (see normalise), `rh`
    (rows with their hashes, see normalise.hash_rows), `lk` (normalise.LINE_SUMS), `lkeys`
    (dedupe keys, keys.keys_sql), `units` (keys.units) and one `evN` per event query (its rows read, see `events`)."""

    lines: Lines
    kept: Lines  # the lines without a read error, indexed by the tables' `i`
    fallback: nm.Fallback
    tables: str
    columns: dict[str, set[str]]  # per query name, the columns its lines' first rows have
    hashed: dict[str, frozenset[str]]  # per state query, the columns its rows were hashed with
    # per event query, the table of its added rows read into `_j` (i, name, _j), and _j's
    # columns with their types (VARCHAR: as text; typed as the writer's catalog had it then)
    events: dict[str, tuple[str, dict[str, str]]]
    # the raw chunk of each stream's lines (host_key, name), by its first line
    chunks: dict[int, Chunk]
    units: bool  # whether `{tables}_units` exists (lines not all of one plain file)
    rh_view: bool = False  # whether `{tables}_rh` is a view (native.identities), not a table
    # the tables of `events` that are Arrow tables (the library read them), by name: the writer
    # registers them on its connection and scans them once, in its insert
    arrows: dict[str, pa.Table] = field(default_factory=dict)
    # `hdr` as the library read it, its host keys and names dictionary-encoded (coded_header),
    # where it holds every line of the batch
    header: pa.Table | None = None
    # the texts of `rows` by their rowid (the library's), where the library read every row
    texts: pa.ChunkedArray | None = None
    # where the library read every line: the relations the writer reads as `hdr`, `rows` and
    # `rh`, over tables of `arrows` (native.relations), as no `{tables}_...` table was made
    relations: dict[str, str] = field(default_factory=dict)
    # where `{tables}_lines`, `_keys` and `_seen` were made, by code (store/lineids.py): their
    # counts
    coded: Coded | None = None

    def hashed_as(self, queries: list[QueryInfo]) -> bool:
        """Whether the row hashes are those the writer's catalog gives (same columns)."""
        return all(
            info.is_event or info.columns.keys() <= self.hashed.get(info.name, frozenset())
            for info in queries
        )


class Preparer:
    """Parses batches on a cursor of the store's connection (its tables numbered by NUMBERS,
    which preparers working side by side share), with the native fast path LIB where given
    (store/native/), else the SQL path alone."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        catalog: Catalog,
        numbers: Iterator[int] | None = None,
        lib: ctypes.CDLL | None = None,
    ) -> None:
        self.con = con.cursor()
        self.catalog = catalog
        self.lib = lib
        self.con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {SCRATCH}")
        self.numbers = numbers or itertools.count()
        self.zstd = raw_compressor()

    def prepare(self, batch: Lines | Sequence[Line]) -> Prepared:
        lines = batch if isinstance(batch, Lines) else Lines(batch)
        kept = lines.without_errors()
        tables = f"{SCRATCH}.b{next(self.numbers)}"
        rh_view = False
        if self.lib is not None:
            fast = native.normalise(self.con, self.lib, kept, "_p", tables)
            fallback, columns = fast.fallback, fast.columns
        else:
            raws, parsed = [ln.raw for ln in kept], [ln.parsed for ln in kept]
            fallback = nm.normalise(self.con, raws, parsed, "_p", into=tables)
            columns = nm.query_columns(self.con, tables)
        torn = False
        for i, _, part in fallback.rejected:
            if part is not None:  # the line written after a torn one: archived without it
                kept[i].raw = kept[i].raw[len(part) :]
                torn = True
        # (whether the SQL path's tables were made: not where the library read every line)
        tabled = self.lib is None or fast.tables
        set_aside = self._set_aside(columns, tables, fallback, None if tabled else fast.batch)
        tabled = tabled or set_aside
        if set_aside:
            columns = nm.query_columns(self.con, tables)
        queries = [self._expected(name, cols) for name, cols in columns.items()]
        event_names = [q.name for q in queries if q.is_event]
        whole = None  # the library's batch, when it parsed every line and none was set aside
        arrows: dict[str, pa.Table] = {}
        relations: dict[str, str] = {}
        if self.lib is None:
            nm.hash_rows(self.con, queries, tables, out=f"TABLE {tables}_rh")
            self.con.execute(nm.LINE_SUMS.format(out=f"TABLE {tables}_lk", rh=f"{tables}_rh"))
        else:
            if fast.sql_rows:
                nm.hash_rows(self.con, queries, tables, out=f"TABLE {tables}_rh", given=True)
            elif tabled:  # every identity given: no copy of the rows
                native.identities(self.con, tables, event_names)
                rh_view = True
            else:  # (nor of anything: the writer reads the library's tables)
                name = tables.rsplit(".", 1)[-1]
                relations, arrows = native.relations(fast.batch, event_names, name)
            if fast.sql_lines or set_aside:
                native.line_sums(self.con, tables, event_names, fast.batch, fast.sql_lines)
            else:
                whole = fast.batch
        has_units = self._keys(kept, fallback, tables, whole, event_names)
        hashed = {q.name: frozenset(q.columns) for q in queries if not q.is_event}
        # (the library's rows, when they are all the batch's: read into columns there)
        rows = fast.batch if self.lib is not None and not (fast.sql_rows or set_aside) else None
        events = self._events([q for q in queries if q.is_event], tables, rows, arrows)
        joined = fast.batch.lines if self.lib is not None and not torn else None
        header = None if tabled else fast.batch.header
        chunks = self._chunks(kept, tables, joined, header)
        whole_header = self.lib is not None and not (fast.sql_lines or set_aside)
        coded_hdr = native.coded_header(fast.batch) if whole_header else None
        return Prepared(
            lines,
            kept,
            fallback,
            tables,
            columns,
            hashed,
            events,
            chunks,
            has_units,
            rh_view,
            arrows,
            coded_hdr,
            rows.rows["r"] if rows is not None else None,
            relations,
            self._coded(tables, coded_hdr if whole is not None else None),
        )

    def _coded(self, tables: str, header: pa.Table | None) -> Coded | None:
        """`{tables}_lines`, `_keys` and `_seen` by code (store/lineids.py), where the library
        read the whole batch (HEADER: its coded header), and their counts."""
        return make_coded(self.con, tables, header) if header is not None else None

    def _events(
        self,
        queries: list[QueryInfo],
        tables: str,
        rows: native.NativeBatch | None,
        arrows: dict[str, pa.Table],
    ) -> dict[str, tuple[str, dict[str, str]]]:
        """The added rows of event queries read into their columns (`_j`), in one statement per
        set of columns: a fleet runs one event table under many query names (packs). ROWS: the
        library's batch, when it holds every row: read there into ARROWS (native.event_rows:
        0.037 s per 43k rows of 31 columns, against 0.08-0.1 s for `json_transform`; copied
        into a table, they took 0.06 s more), typed as the catalog types them (the writer's
        insert then casts and checks nothing: 135 -> 73 ms a batch of events), else in SQL, as
        text."""
        by_columns: dict[tuple[tuple[str, str], ...], list[QueryInfo]] = {}
        for q in queries:
            texts = dict.fromkeys(sorted(q.columns), "VARCHAR")
            types = self._typed(q) if rows is not None else texts
            by_columns.setdefault(tuple(types.items()), []).append(q)
        events: dict[str, tuple[str, dict[str, str]]] = {}
        for n, (typed, group) in enumerate(by_columns.items()):
            table, names = f"{tables}_ev{n}", ", ".join(nm.literal(q.name) for q in group)
            columns = dict(typed)
            if rows is not None and self.lib is not None:
                table = f"_ev_{tables.rsplit('.', 1)[-1]}_{n}"
                arrows[table], read_typed = native.event_rows(
                    self.lib,
                    rows,
                    [q.name for q in group],
                    list(columns),
                    list(columns.values()),
                    ordered=True,
                )
                if not read_typed:
                    columns = dict.fromkeys(columns, "VARCHAR")
                events.update((q.name, (table, columns)) for q in group)
                continue
            self.con.execute(
                f"CREATE OR REPLACE TABLE {table} AS SELECT x.i, x.name, "
                f"{nm.as_text(group[0], 'x.r')} AS _j FROM (SELECT i, name, r FROM "
                f"{tables}_rows WHERE op > 0 AND name IN ({names})) x"
            )
            events.update((q.name, (table, columns)) for q in group)
        return events

    def _typed(self, query: QueryInfo) -> dict[str, str]:
        """The types QUERY's columns will be written with (the catalog's, or those it will
        give), for the library to read them so; all text where `time` is of another type than
        BIGINT or text (the writer reads an event's time from its text then)."""
        types = self.catalog.types_of(query.name, sorted(query.columns))
        if types.get("time", "BIGINT") not in ("BIGINT", "VARCHAR"):
            return dict.fromkeys(types, "VARCHAR")
        return types

    def _keys(
        self,
        kept: Lines,
        fallback: nm.Fallback,
        tables: str,
        whole: native.NativeBatch | None,
        events: list[str],
    ) -> bool:
        """Each line's dedupe key (`{tables}_lkeys`, see keys.keys_sql), status lines included;
        `{tables}_units`, the source of each line (keys.units), for the writer's rehash, when
        the lines are not those of one plain file (returns whether). WHOLE: the library's
        batch, when its tables hold every line (read from it then, see native.batch_keys)."""
        scopes = units(kept)
        if scopes is not None:
            attach(self.con, "_p_units", scopes)
            try:
                self.con.execute(f"CREATE TABLE {tables}_units AS SELECT * FROM _p_units")
            finally:
                detach(self.con, "_p_units")
        if whole is not None and self.lib is not None:  # (status lines are deferred lines)
            native.batch_keys(self.con, self.lib, tables, whole, events, scopes)
            return scopes is not None
        unit_table = f"{tables}_units" if scopes is not None else None
        attach(self.con, "_p_status", status_keys(fallback.statuses))
        try:
            if self.lib is not None:
                native.dedupe_keys(self.con, self.lib, tables, "_p_status", unit_table)
                return scopes is not None
            self.con.execute(
                keys_sql(
                    f"TABLE {tables}_lkeys",
                    f"{tables}_hdr",
                    "_p_status",
                    "host_key",
                    "name",
                    f"{tables}_lk",
                    unit_table,
                )
            )
        finally:
            detach(self.con, "_p_status")
        return scopes is not None

    def _chunks(
        self,
        kept: Lines,
        tables: str,
        joined: list[Segment] | None,
        header: pa.Table | None = None,
    ) -> dict[int, Chunk]:
        """Each stream's lines compressed at the archive's level, here beside the writer: the
        writer keeps the chunk when all its lines are new (the common case). The chunks are
        compressed in one call, on ZSTD_THREADS threads without the GIL: zstd takes a sixth
        of ingest's CPU, and a core is idle while the first batch is parsed and the last ones
        written. JOINED: the lines where the library's parse read them (blocks.Lines.segments),
        split there (joined again, a batch of events took 33 MB more). HEADER: the library's,
        where `{tables}_hdr` was not made."""
        source = f"{tables}_hdr"
        if header is not None:
            source = "_p_hdr"
            attach(self.con, source, header.select(["i", "host_key", "name", "t"]))
        try:
            found = self.con.execute(
                f"SELECT host_key, name, list(i ORDER BY i), min(t), max(t) FROM {source} "
                "GROUP BY host_key, name"
            ).fetchall()
        finally:
            if header is not None:
                detach(self.con, source)
        if not found:
            return {}
        streams = [idx for _, _, idx, _, _ in found]
        if joined is not None and self.lib is not None:
            payloads = chunks.pack_at(self.lib, joined, streams)
        else:
            payloads = chunks.pack(self.lib, [[kept[i].raw for i in idx] for idx in streams])
        packed = chunks.compress(self.zstd, payloads, ZSTD_THREADS)
        return {
            idx[0]: Chunk(host_key, name, idx, lo, hi, data)
            for (host_key, name, idx, lo, hi), data in zip(found, packed, strict=True)
        }

    def _set_aside(
        self,
        columns: dict[str, set[str]],
        tables: str,
        fallback: nm.Fallback,
        untabled: native.NativeBatch | None,
    ) -> bool:
        """Reject the lines with columns the store cannot hold (store/columns.py): taken out of
        the batch's tables (made first from the library's batch UNTABLED, where given),
        added to FALLBACK's rejections; returns whether there were any."""
        found = False
        for name, cols in columns.items():
            known = self.catalog.queries.get(name)
            bad = bad_columns(known.columns if known else (), cols)
            if not bad:
                continue
            if not found and untabled is not None:
                native.materialize(self.con, untabled, "_p", tables)
            if not found and self.lib is not None:
                native.first_rows(self.con, tables)
            found = True
            names = list(bad)
            lines = self.con.execute(
                f"SELECT i, list_intersect(json_keys(first), $bad) "
                f"FROM {tables}_hdr WHERE name = $name AND list_has_any(json_keys(first), $bad)",
                {"bad": names, "name": name},
            ).fetchall()
            fallback.rejected += [(i, bad[keys[0]], None) for i, keys in lines]
            for part in ("hdr", "rows"):
                self.con.execute(
                    f"DELETE FROM {tables}_{part} WHERE i IN (SELECT unnest($i))",
                    {"i": [i for i, _ in lines]},
                )
        return found

    def _expected(self, name: str, columns: set[str]) -> QueryInfo:
        """The query as the writer will know it: its kind, and at least these columns (the
        catalog is the writer's; reading it here is safe, it only grows)."""
        known = self.catalog.queries.get(name)
        kind = known.kind if known else self.catalog.kind_of(name)
        have = set(known.columns) if known else set()
        return QueryInfo(0, name, kind, None, dict.fromkeys(columns | have, "VARCHAR"))

    def close(self, detach: bool = True) -> None:
        """Drop what was parsed and not written (batches prepared ahead of a failed write),
        unless DETACH is False (another preparer still uses the scratch database)."""
        if detach:
            self.con.execute(f"DETACH DATABASE IF EXISTS {SCRATCH}")
        self.con.close()


class Preparers:
    """WORKERS preparers parsing the batches side by side, handed on in order. One preparer
    alone leaves a core idle whenever its batch takes longer than the writer's (each DuckDB
    statement over a batch runs on one core: a batch is smaller than a row group); two keep
    both cores busy (the mixed bench: 1.43 -> 1.55 cores, wall 6 % shorter; DHCP 9 %). A
    batch is handed on once the next one is under way, so a run holds the writer's batch, the
    next one (being prepared) and the lines read for the one after: memory stays bounded."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        catalog: Catalog,
        lib: ctypes.CDLL | None = None,
        workers: int = 2,
    ) -> None:
        numbers = itertools.count()
        self.preparers = [Preparer(con, catalog, numbers, lib) for _ in range(workers)]

    def prepare_all(self, batches: Iterable[Lines]) -> Generator[Prepared, None, None]:
        """The batches prepared, in their order; closing this generator waits for the
        preparations under way (they must end before the cursors close)."""
        idle: queue.SimpleQueue[Preparer] = queue.SimpleQueue()
        for preparer in self.preparers:
            idle.put(preparer)

        def prepare(batch: Lines) -> Prepared:
            preparer = idle.get()
            try:
                return preparer.prepare(batch)
            finally:
                idle.put(preparer)

        pending: collections.deque[Future[Prepared]] = collections.deque()
        with ThreadPoolExecutor(len(self.preparers), "hindsight-prepare") as pool:
            try:
                # (the first two batches are prepared side by side too: the first alone was
                # ready sooner, but the writer then waited for the second, the largest of a
                # small input: bench_ingest's mixed 1.20 -> 1.02 s, its writer busy throughout)
                for batch in batches:
                    pending.append(pool.submit(prepare, batch))
                    if len(pending) >= len(self.preparers):
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()

    def close(self) -> None:
        """Drop what was parsed and not written (see Preparer.close)."""
        *others, last = self.preparers
        for preparer in others:
            preparer.close(detach=False)
        last.close()


def release(con: duckdb.DuckDBPyConnection, prepared: Prepared) -> None:
    """Drop a batch's tables once written."""
    if prepared.rh_view:
        con.execute(f"DROP VIEW {prepared.tables}_rh")
    for part in ("hdr", "rh", "rows", "lk", "lkeys", "units", "lines", "keys", "seen"):
        con.execute(f"DROP TABLE IF EXISTS {prepared.tables}_{part}")
    for table in {table for table, _ in prepared.events.values()} - prepared.arrows.keys():
        con.execute(f"DROP TABLE IF EXISTS {table}")
    for name in prepared.arrows:
        detach(con, name)
    prepared.arrows.clear()  # (freed now, not when the batch object goes: ~20 MB a batch)
