"""The embedded store: one DuckDB file in the data directory, one writer.

External file access is disabled on the connection (`enable_external_access=false`), so no SQL
run through the store can read or write files or attach databases.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import duckdb
import orjson

from hindsight.errors import StoreError
from hindsight.osquery.blocks import Line, Lines
from hindsight.osquery.reader import Holds, Split, expand, holds_special, read_blocks
from hindsight.prefetch import prefetch
from hindsight.settings import Settings
from hindsight.store import follow, identity, migrate, native
from hindsight.store.carry import Carry
from hindsight.store.catalog import Catalog
from hindsight.store.ingest import (
    BatchWriter,
    IngestFailed,
    IngestInterrupted,
    IngestSummary,
    stops,
)
from hindsight.store.layout import (
    DDL,
    HASH_CANARY_SQL,
    LAYOUT_VERSION,
    SORT_KEYS,
    hist_table,
    quote,
)
from hindsight.store.owner import Owner
from hindsight.store.prepare import Preparers
from hindsight.store.space import BLOCK_SIZE, WAL_CHECKPOINT, repack_raw, sort_logs

DB_FILE = "hindsight.duckdb"
ROW_GROUP_ROWS = 122_880  # DuckDB's rows per row group
MAX_BATCH_BYTES = 32 * 1024 * 1024  # a batch also ends past this many raw bytes
#: Ingest runs without the cyclic garbage collector (millions of acyclic objects: its passes
#: only cost) and collects the young generation every this many batches: a collection scans
#: every object alive then (the lines of the batches under way, 1 us each), so a cycle left by
#: a batch waits a few batches, and most lines are freed before any collection sees them.
GC_BATCHES = 8
Progress = Callable[[int, int], None]  # (bytes read, bytes in all the files)


def _size(source: str | Path) -> int:
    """Bytes of a file, for progress (0 for stdin, or a file gone since: rotated away)."""
    try:
        return 0 if source == "-" else Path(source).stat().st_size
    except OSError:
        return 0


def execution_key(line: Line) -> tuple[object, ...] | None:
    """(host, query, unixTime) of a line, so that a batch does not end inside an execution;
    decoded only at batch boundaries."""
    p = line.parsed
    key: tuple[object, ...]
    if p is not None:
        key = (p.host_key, getattr(p, "name", None), p.unix_time)
        return None if None in key else key
    try:
        doc = orjson.loads(line.raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    decorations = doc.get("decorations")
    uuid = decorations.get("host_uuid") if isinstance(decorations, dict) else doc.get("host_uuid")
    key = (uuid or doc.get("hostIdentifier"), doc.get("name"), doc.get("unixTime"))
    return None if None in key else key  # (a line no execution's: rejected, or a status line)


class Store:
    """Owns the DuckDB connection and the catalog."""

    def __init__(self, settings: Settings, read_only: bool = False) -> None:
        self.settings = settings
        self.read_only = read_only
        # the scope the last resumed read ended in: a followed file's execution may go on in
        # the next read (store/carry.py)
        self._followed: Carry | None = None
        path = Path(settings.data)
        if read_only and not (path / DB_FILE).exists():
            raise StoreError(
                f"no Hindsight store in {path}: run `hindsight ingest` first (or set --data)"
            )
        self.path = path / DB_FILE
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot open the store in {path}: {exc}") from exc
        self.owner = None if read_only else Owner(path)
        try:
            self._connect()
        except BaseException:
            self._release()
            raise

    def _connect(self) -> None:
        self.con = self._open(self.read_only)
        if self.read_only and (
            identity.missing(self.con) or migrate.layout(self) in migrate.MIGRATES
        ):
            self._upgrade()
        settings, read_only = self.settings, self.read_only
        self.con.execute("SET enable_progress_bar = false")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET memory_limit = ?", [settings.memory_limit])
        if not read_only:
            older = identity.missing(self.con)
            self.con.execute("SET checkpoint_threshold = ?", [WAL_CHECKPOINT])
            self.con.execute(DDL)
            self.con.execute(follow.DDL)
            self.con.execute("INSERT OR IGNORE INTO meta VALUES ('layout', ?)", [LAYOUT_VERSION])
            self.con.execute(f"INSERT OR IGNORE INTO meta SELECT 'hash', ({HASH_CANARY_SQL})")
            if older:  # (each batch keeps them since; derived whole, host_ends took 85 ms
                # at 200,000 hosts, which every writer's open paid)
                identity.refresh(self.con)
        self._check_layout()
        self.catalog = Catalog(self.con, settings.event_queries)
        if not read_only:
            migrate.migrate(self)

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(
                str(self.path),
                read_only=read_only,
                config={"enable_external_access": False, "default_block_size": BLOCK_SIZE},
            )
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from exc

    def _upgrade(self) -> None:
        """A store an older Hindsight wrote, opened to be read: what this one reads is added
        once, by a connection that writes (then the store is read as asked)."""
        self.con.close()
        try:
            owner = Owner(self.path.parent)
        except StoreError as exc:
            raise self._needs_writer(exc) from exc
        try:
            try:
                self._open(read_only=False).close()
            except StoreError as exc:
                raise self._needs_writer(exc) from exc
            self.read_only = False
            try:
                self._connect()
            finally:
                self.read_only = True
            self.con.close()
        finally:
            owner.release()
        self.con = self._open(read_only=True)

    def _needs_writer(self, exc: StoreError) -> StoreError:
        return StoreError(
            f"the store in {self.path.parent} was written by an older Hindsight and must be "
            f"opened once for writing to be read by this one (run `hindsight ingest` on it "
            f"when nothing else has it open): {exc}"
        )

    def _check_layout(self) -> None:
        meta = dict(self.con.execute("SELECT key, value FROM meta").fetchall())
        (canary,) = self.con.execute(HASH_CANARY_SQL).fetchone() or ("",)
        problem = writer = None
        if meta.get("layout", LAYOUT_VERSION) not in {LAYOUT_VERSION, *migrate.MIGRATES}:
            problem = f"has layout {meta['layout']}, this Hindsight reads layout {LAYOUT_VERSION}"
            writer = "Hindsight"
        elif meta.get("hash", canary) != canary:
            problem = f"was written with a DuckDB whose hash() differs from this one ({duckdb.__version__})"
            writer = "DuckDB"
        if problem:
            self.con.close()
            raise StoreError(
                f"the store in {self.path.parent} {problem}: ingest the logs again into a new "
                f"--data directory, or use the {writer} version that wrote it"
            )

    def close(self) -> None:
        self.con.close()
        self._release()

    def _release(self) -> None:
        if self.owner is not None:
            self.owner.release()
            self.owner = None

    # -- space -------------------------------------------------------------------------------
    def free_share(self) -> float:
        """Share of the file's blocks that are free (left by rewrites and deletes)."""
        total, free = self._blocks()
        return free / total if total else 0.0

    def _blocks(self) -> tuple[int, int]:
        """The file's blocks, and how many of them are free."""
        row = self.con.execute("PRAGMA database_size").fetchone()
        return (int(row[3]), int(row[5])) if row else (0, 0)

    def reclaim(self, min_free: float = 0.3, min_bytes: int = 1 << 20) -> bool:
        """Copy the store into a fresh file when much of it is free blocks (DuckDB reuses free
        blocks but never shrinks its file). The copy has BLOCK_SIZE blocks, whatever the old
        file had. Returns whether it did."""
        if self.read_only:
            return False
        # first: blocks freed by this session's rewrites count from here, and the file's size
        # counts what the WAL still held
        self.con.execute("CHECKPOINT")
        if self.path.stat().st_size < min_bytes or self.free_share() < min_free:
            return False
        fresh = self.path.with_suffix(".compacting")
        fresh.unlink(missing_ok=True)
        self.con.close()
        try:
            # a private connection: it must read a file
            with duckdb.connect(str(fresh), config={"default_block_size": BLOCK_SIZE}) as copy:
                copy.execute("ATTACH ? AS src (READ_ONLY)", [str(self.path)])
                copy.execute(f"COPY FROM DATABASE src TO {fresh.stem}")
                copy.execute("DETACH src")
                copy.execute("CHECKPOINT")
            os.replace(fresh, self.path)
        finally:
            fresh.unlink(missing_ok=True)
            self._connect()
        return True

    def maintain(self) -> None:
        """What ingests with MAINTAIN False leave for later: re-sort what grew unsorted, give
        back free space (may copy the whole file). `serve` and `ingest --follow` call it now
        and then, not after each small ingest."""
        self.compact()
        self.reclaim()

    def _reclaim_share(self, used_before: int) -> float:
        """The free share past which an ingest copies the store: 0.1 when the ingest wrote at
        least half of what the store holds (a one-shot ingest leaves a tight file, and the copy
        costs a few % of the ingest), else the usual 0.3: a small ingest into a large store
        must not copy all of it for the blocks its rewrites freed (DuckDB reuses them)."""
        total, free = self._blocks()
        return 0.1 if used_before <= (total - free) / 2 else 0.3

    # -- ingest ------------------------------------------------------------------------------
    def ingest(
        self,
        sources: Iterable[str | Path],
        progress: Progress | None = None,
        maintain: bool = True,
        resume: bool = False,
    ) -> IngestSummary:
        """MAINTAIN False leaves compact() and reclaim() to the caller (`hindsight serve` runs
        them now and then rather than after every small ingest). RESUME: read each file from
        where the last resumed ingest of it stopped, and record where this one stops (a followed
        file, see hindsight.store.follow); a last line without its newline is left for later."""
        if self.read_only:
            raise StoreError("the store is open read-only")
        import time

        start = time.perf_counter()
        total, free = self._blocks()
        summary = IngestSummary()
        positions = follow.Positions(self.con) if resume else None
        skipped: list[Path] = []
        files: list[Path | str] = (
            [s.path for s in positions.plan(sources, skipped)]
            if positions is not None
            else expand(sources, skipped)
        )
        summary.skipped = [str(path) for path in skipped]
        lib = native.library(self.settings.native, self.con)
        writer = BatchWriter(
            self.con, self.catalog, summary, positions.record if positions else None, lib
        )
        if resume:
            writer.carry = self._followed
        preparers = Preparers(self.con, self.catalog, lib)
        collecting = gc.isenabled()
        gc.disable()  # ingest allocates millions of acyclic objects: cyclic GC passes only cost
        # the next batches are read (in a thread) and parsed (in two) while this one is written
        starts = positions.starts if positions else None
        holds = native.holds(lib) if lib else holds_special
        split = native.split(lib) if lib else None
        batches = prefetch(self._batches(files, progress, starts, holds, split))
        prepared = preparers.prepare_all(batches)

        def stopped() -> IngestInterrupted:
            summary.seconds = time.perf_counter() - start
            return IngestInterrupted(summary)

        def failed(stored_all: bool) -> Callable[[BaseException], IngestFailed]:
            def failure(exc: BaseException) -> IngestFailed:
                summary.seconds = time.perf_counter() - start
                return IngestFailed(summary, exc, stored_all)

            return failure

        threads = self.con.execute("SELECT current_setting('threads')").fetchone()
        # the stages are threads enough: DuckDB's own workers beside them only contend for the
        # cores (mixed: 3.05 -> 2.78 s, CPU 4.30 -> 3.88 s; event lines 1.96 -> 1.87 s). The
        # setting is the store's: a query run meanwhile on another cursor runs on one thread
        self.con.execute("SET threads = 1")
        try:
            with stops(stopped, failed(stored_all=False)):
                for n, batch in enumerate(prepared, 1):
                    writer.write(batch)
                    if n % GC_BATCHES == 0:
                        gc.collect(0)
        finally:
            if resume:  # (what the batches committed: the positions recorded are theirs too)
                self._followed = writer.carry
            # the parsing thread stops before its connection goes: left to the garbage
            # collector (an interrupt's traceback holds it), it could be mid-statement while
            # the scratch database is detached, and a Ctrl-C hung the follow
            prepared.close()  # waits for the parsing under way
            batches.close()
            preparers.close()
            if threads is not None:
                self.con.execute(f"SET threads = {int(threads[0])}")
            if collecting:
                gc.enable()
        if maintain:
            with stops(stopped, failed(stored_all=True)):
                self.compact()
                self.reclaim(min_free=self._reclaim_share(total - free))
        summary.seconds = time.perf_counter() - start
        return summary

    def _batches(
        self,
        files: list[Path | str],
        progress: Progress | None,
        starts: dict[str, follow.Start] | None = None,
        holds: Holds = holds_special,
        split: Split | None = None,
    ) -> Iterator[Lines]:
        """Lines of FILES (expanded: see expand) in batches, never cutting between lines of one
        execution. The first batches are smaller (an eighth, a quarter, a half): the writer
        waits for the first one to be parsed, and a small one starts it sooner. STARTS: files
        followed, read from there. HOLDS and SPLIT: the reader's test and split of a block (the
        library's)."""
        limit = self.settings.batch_lines
        size = max(1, limit // 8)
        batch = Lines()
        held = 0  # raw bytes in the batch: snapshot lines can be large
        last: object = None  # execution key of the batch's last line, once the batch is full
        total = sum(_size(f) for f in files)
        before = 0  # bytes of the files already read

        def tell(position: int) -> None:
            if progress:
                progress(before + position, total)

        for source in files:
            where = starts.get(str(source)) if starts is not None else None
            if where is not None and not where.path.exists():
                continue  # rotated away since planned: read next time, by its new name
            blocks = read_blocks(
                source,
                self.settings.max_line_bytes,
                tell,
                parse=False,
                start=where.offset if where else 0,
                complete_only=where is not None,
                number=where.number if where else 0,
                holds=holds,
                split=split,
            )
            for block in blocks:
                at = 0
                while at < len(block):
                    if len(batch) < size and held < MAX_BATCH_BYTES:
                        # (at once: to where the batch is full, or a line reaches the bytes)
                        taken, took = block.take(at, size - len(batch), MAX_BATCH_BYTES - held)
                        batch.extend(taken)
                        at, held = at + len(taken), held + took
                        continue
                    line = block[at]
                    if last is None:
                        last = execution_key(batch[-1])
                    key = execution_key(line)
                    # (an execution of more lines than two batches is cut all the same: memory
                    # stays bounded; the next batch counts identical lines on: store/carry.py)
                    huge = len(batch) >= 2 * limit or held >= 2 * MAX_BATCH_BYTES
                    if key != last or key is None or huge:
                        batch[-1].cut = key == last and key is not None
                        yield batch
                        batch, held, last = Lines(), 0, None
                        size = min(limit, size * 2)
                        continue
                    last = key
                    batch.add(line)
                    held += len(line.raw)
                    at += 1
            if where is not None:
                held -= follow.hold_back(batch, where, self.settings.follow_settle_s, execution_key)
                last = None
                if batch and batch[-1].origin == str(source):
                    batch[-1].eof = True
                    # its execution may go on in the next read (settled too soon): the next
                    # read counts its identical lines on from these (store/carry.py)
                    batch[-1].cut = where.plain
            before += _size(source)
            tell(0)
        if batch:
            yield batch

    # -- compaction --------------------------------------------------------------------------
    def compact(self, force: bool = False) -> int:
        """Re-sort history tables, and the log table `executions`, whose unsorted tail
        grew past the ratio; re-pack the raw chunks added since (hindsight/store/space.py).
        Returns tables sorted."""
        sorted_tables = 0
        for info in list(self.catalog.queries.values()):
            if info.is_event:
                continue
            table = hist_table(info.query_id)
            (rows,) = self.con.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
            (done,) = self.con.execute(
                "SELECT sorted_rows FROM queries WHERE query_id = ?", [info.query_id]
            ).fetchone() or (0,)
            # (a table of one row group has nothing to prune: sorted, it reads the same)
            small = rows < ROW_GROUP_ROWS
            if rows == 0 or (
                not force and (small or rows - done <= self.settings.compact_ratio * rows)
            ):
                continue
            keys = [quote(k) for k in SORT_KEYS.get(info.os_table or "", ()) if k in info.columns]
            order = ", ".join([*keys, "_host", "_from"])
            self.con.execute("BEGIN TRANSACTION")
            self.con.execute(
                f"CREATE TABLE {table}_sorted AS SELECT * FROM {table} ORDER BY {order}"
            )
            self.con.execute(f"DROP TABLE {table}")
            self.con.execute(f"ALTER TABLE {table}_sorted RENAME TO {table}")
            self.con.execute(
                "UPDATE queries SET sorted_rows = ? WHERE query_id = ?", [rows, info.query_id]
            )
            self.con.execute("COMMIT")
            sorted_tables += 1
        sorted_tables += sort_logs(self.con, self.settings.compact_ratio, force)
        repack_raw(self.con)
        return sorted_tables
