"""The store's size on disk: block size of new files, and the maintenance that keeps it small.

Where the bytes of a store go (bench/store_size.py tells them per table class):
- a fixed cost per table and per index: DuckDB gives every table's columns and every index
  (the layout's 8 primary keys and unique constraints) blocks of their own, so a store of a few
  MB is mostly whole blocks. New stores use 64 KiB blocks, not DuckDB's 256 KiB: below 64 KiB
  DuckDB 2.0 stops bit-packing integer columns, and the store grows again (32 KiB: +45 %);
- the log table `executions`, written in the order each batch's build produces rows: sorted by
  time it compresses (run-length, deltas);
- the raw archive, zstd-compressed by `raw_compressor` in ingest's first stage (beside the
  writer); chunks written otherwise (stores of earlier versions) are re-packed here with it (a
  fifth smaller). DuckDB keeps them in its zstd layout for long strings (layout.py): it packs
  them densely, where its uncompressed layout gave each segment's overflow blocks of its own;
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
#: The zstd level the raw archive's compression starts from (its matcher, lazy2, and window),
#: with one search attempt (SEARCH_LOG) and matches of MIN_MATCH bytes at least. Of the chunks of
#: bench_ingest's files and a simulated fleet (50 hosts, 2 days), against plain level 8:
#: 1.25-1.6x faster (all: 1.11 -> 0.78 s on one core), the archive 4-5 % smaller (mixed, mixed-t,
#: events), 3 % (dhcp) and 6.5 % (the fleet) larger. Level 3 is 2.5-4.5x faster still, but
#: 15-50 % larger; 9 and up as large as 8 and slower; search logs 2-3 cost 10-20 % more time for
#: 1-5 % fewer bytes.
RAW_LEVEL = 8
SEARCH_LOG = 1
MIN_MATCH = 6
REPACK_BYTES = 16 << 20  # compressed bytes of raw chunks re-packed per statement (bounds memory:
# 4 GB of raw lines at level 3, re-packed at once: peak RSS 1.0 GB, with 64 MB slices 1.6 GB)
REPACK_CHUNKS = 256  # and chunks read per statement
LOG_TABLES = ("executions",)
LOG_ORDER = "unix_time, host_id, query_id"


def raw_compressor() -> zstandard.ZstdCompressor:
    """How the raw archive's chunks are compressed (ingest's first stage, and re-packs)."""
    params = zstandard.ZstdCompressionParameters(
        compression_level=RAW_LEVEL,
        strategy=zstandard.STRATEGY_LAZY2,
        search_log=SEARCH_LOG,
        min_match=MIN_MATCH,
    )
    return zstandard.ZstdCompressor(compression_params=params)


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
    """Chunks [START, END) were written by raw_compressor (ingest's): when every chunk
    before them was re-packed already, so are they, and `repack_raw` skips them."""
    if _meta(con, "raw_packed") >= start:
        _set_meta(con, "raw_packed", end)


def repack_raw(con: duckdb.DuckDBPyConnection) -> int:
    """Re-compress the raw chunks appended since the last call by raw_compressor (same lines,
    fewer bytes; readers do not care how). `raw_chunks` is append-only, so its row ids tell new
    chunks from re-packed ones (meta `raw_packed`: the first id not yet re-packed; a chunk
    re-packed twice or left as ingest wrote it would only cost time or bytes).
    Returns the chunks re-packed."""
    start, end = _meta(con, "raw_packed"), raw_end(con)
    packer, unpacker = raw_compressor(), zstandard.ZstdDecompressor()
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
