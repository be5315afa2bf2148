"""The store's size on disk: block size of new files, and the maintenance that keeps it small.

Where the bytes of a store go (bench/store_size.py tells them per table class):
- a fixed cost per table and per index: DuckDB gives every table's columns and every index
  (the layout's 8 primary keys and unique constraints) blocks of their own, so a store of a few
  MB is mostly whole blocks. New stores use 64 KiB blocks, not DuckDB's 256 KiB: below 64 KiB
  DuckDB 2.0 stops bit-packing integer columns, and the store grows again (32 KiB: +45 %);
- the log table `executions`, written in the order each batch's build produces rows: sorted by
  time it compresses (run-length, deltas);
- the raw archive, zstd-compressed at RAW_LEVEL by ingest's first stage (beside the writer, so
  the level costs no time on the writer's path); chunks written otherwise (stores of earlier
  versions) are re-packed here at that level (a fifth smaller, 5.5 ms per MB of raw lines);
- blocks freed by these rewrites, which DuckDB reuses but never gives back to the file
  system. A write connection checkpoints every WAL_CHECKPOINT of log (DuckDB: 16 MiB), so that
  an ingest of up to a few hundred MB of raw lines and its compaction reach the file once, in
  their final form; beyond, `Store.reclaim` copies the store into a fresh file when free blocks
  are a large share.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import zstandard

from hindsight.store.writes import detach

BLOCK_SIZE = 64 * 1024  # bytes per block of a NEW store file; an existing file keeps its own
WAL_CHECKPOINT = "64MB"  # bench_ingest: 72 MB of raw lines log 15 MB, 21 MB with compaction
#: zstd level of re-packed raw chunks. bench_ingest's chunks, level 3 (ingest) -> 8: mixed 1.83 ->
#: 1.43 MB, dhcp 1.52 -> 1.20 MB, 5.5 ms per MB of raw lines (level 3: 1 ms); 6 is -11 % at 4 ms,
#: 9 the same size as 8 but slower, 19 -15 % more at 100x the time
RAW_LEVEL = 8
REPACK_BYTES = 16 << 20  # compressed bytes of raw chunks re-packed per statement (bounds memory:
# 4 GB of raw lines at level 3, re-packed at once: peak RSS 1.0 GB, with 64 MB slices 1.6 GB)
REPACK_CHUNKS = 256  # and chunks read per statement
LOG_TABLES = ("executions",)
LOG_ORDER = "unix_time, host_id, query_id"


def _meta(con: duckdb.DuckDBPyConnection, key: str) -> int:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return int(row[0]) if row else 0


def _set_meta(con: duckdb.DuckDBPyConnection, key: str, value: int) -> None:
    # (an update, where the key is there: an upsert deletes and inserts through the key's
    # index, ~4 ms in an ingest's transaction; alone 2.1 ms against 0.75)
    (updated,) = con.execute(
        "UPDATE meta SET value = ? WHERE key = ?", [str(value), key]
    ).fetchone() or (0,)
    if not updated:
        con.execute("INSERT INTO meta VALUES (?, ?)", [key, str(value)])


def sort_logs(con: duckdb.DuckDBPyConnection, ratio: float, force: bool = False) -> int:
    """Rewrite the log tables in time order once their unsorted tail is past RATIO
    (as `Store.compact` does for history tables). Returns the tables rewritten."""
    done = 0
    for table in LOG_TABLES:
        (rows,) = con.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
        key = f"sorted:{table}"
        tail = rows - min(_meta(con, key), rows)  # rows deleted since count as sorted
        if rows == 0 or (not force and tail <= ratio * rows):
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                f"CREATE TABLE {table}_sorted AS SELECT * FROM {table} ORDER BY {LOG_ORDER}"
            )
            con.execute(f"DROP TABLE {table}")
            con.execute(f"ALTER TABLE {table}_sorted RENAME TO {table}")
            _set_meta(con, key, rows)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        done += 1
    return done


def raw_end(con: duckdb.DuckDBPyConnection) -> int:
    """The row id the next raw chunk gets (`raw_chunks` is append-only)."""
    (end,) = con.execute("SELECT coalesce(max(rowid) + 1, 0) FROM raw_chunks").fetchone() or (0,)
    return int(end)


def mark_packed(con: duckdb.DuckDBPyConnection, start: int, end: int) -> None:
    """Chunks [START, END) were written at RAW_LEVEL (ingest compresses at it): when every chunk
    before them was re-packed already, so are they, and `repack_raw` skips them."""
    if _meta(con, "raw_packed") >= start:
        _set_meta(con, "raw_packed", end)


def repack_raw(con: duckdb.DuckDBPyConnection) -> int:
    """Re-compress the raw chunks appended since the last call at RAW_LEVEL (same lines, fewer
    bytes; readers do not care about the level). `raw_chunks` is append-only, so its row ids
    tell new chunks from re-packed ones (meta `raw_packed`: the first id not yet re-packed; a
    chunk re-packed twice or left at the ingest level would only cost time or bytes).
    Returns the chunks re-packed."""
    start, end = _meta(con, "raw_packed"), raw_end(con)
    packer, unpacker = zstandard.ZstdCompressor(level=RAW_LEVEL), zstandard.ZstdDecompressor()
    packed = 0
    while start < end:
        ids, blobs, held = [], [], 0
        cursor = con.execute(
            "SELECT rowid, data FROM raw_chunks WHERE rowid >= ? ORDER BY rowid LIMIT ?",
            [start, REPACK_CHUNKS],
        )
        while held < REPACK_BYTES and (row := cursor.fetchone()) is not None:
            rowid, data = row
            held += len(data)
            start = rowid + 1
            try:
                fresh = packer.compress(unpacker.decompress(data))
            except zstandard.ZstdError:  # not ours to mend here: left as it is
                continue
            if len(fresh) < len(data):
                ids.append(rowid)
                blobs.append(fresh)
        if held == 0:
            break
        con.execute("BEGIN TRANSACTION")
        try:
            if ids:
                repacked = {"rid": pa.array(ids, pa.int64()), "data": pa.array(blobs, pa.binary())}
                con.register("_repack", pa.table(repacked))
                con.execute(
                    "UPDATE raw_chunks SET data = r.data FROM _repack r "
                    "WHERE raw_chunks.rowid = r.rid"
                )
                detach(con, "_repack")
            _set_meta(con, "raw_packed", start)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        packed += len(ids)
    return packed
