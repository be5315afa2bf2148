"""The store's size (issue #2: at most 1/10 of the raw logs' bytes) and the maintenance that keeps
it small: 64 KiB blocks, time-sorted log tables, re-packed raw chunks, no free blocks left."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import zstandard

import hindsight
from bench.gen import dhcp_lines, events_lines, mixed_lines, write
from hindsight.store import chunks
from hindsight.store import store as store_module
from hindsight.store.space import BLOCK_SIZE
from tests.helpers import event
from tests.helpers import write as write_lines

IA = "pack_net_interface_addresses"
INDEXES = 8  # primary keys and unique constraints of the layout (hindsight/store/layout.py)


def space(hs: hindsight.Hindsight) -> tuple[int, int, int]:
    """(block size, used blocks, free blocks) of the store's file."""
    row = hs.store.con.execute(
        "SELECT block_size, used_blocks, free_blocks FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def raw_lines(hs: hindsight.Hindsight) -> list[list[bytes]]:
    """The lines of each raw chunk, in the chunks' order."""
    rows = hs.store.con.execute("SELECT data FROM raw_chunks ORDER BY rowid").fetchall()
    return [chunks.read(data) for (data,) in rows]


def test_a_batch_of_events_is_stored_in_time_order(tmp_path: Path) -> None:
    """Files hold their host's events in its time order, a batch of them host by host; stored in
    the events' time order (as a live fleet's arrive), their time columns compress in small
    deltas (bench_ingest's events: the table 23 % smaller), and a time range reads fewer row
    groups."""
    count, _ = write(tmp_path / "events.log", events_lines(5, 3))
    with hindsight.open(tmp_path / "data") as hs:
        assert hs.ingest([tmp_path / "events.log"]).rows == count
        con = hs.store.con
        times = [t for (t,) in con.execute("SELECT _time FROM ev_1 ORDER BY rowid").fetchall()]
        hosts = con.execute("SELECT count(DISTINCT _host) FROM ev_1").fetchone()
    assert hosts == (5,)
    assert len(times) == count and times == sorted(times)


def test_a_moderate_ingest_takes_a_tenth_of_its_raw_bytes_plus_a_block_per_table(
    tmp_path: Path,
) -> None:
    """bench_ingest's generators at 30 + 20 hosts (14 MB of raw lines, 2 s). DuckDB gives each
    table and each index at least one block of its own, so a store costs a fixed number of blocks
    (about 1.6 MB here) plus its bytes per raw byte (measured 1/17 here and on bench_ingest's
    120 MB). The bound: 1/10 of the raw bytes plus one 64 KiB block per non-empty table, per
    index and of metadata (3.1 MB; measured 2.4 MB). 256 KiB blocks would make it 9 MB."""
    _, dhcp = write(tmp_path / "dhcp.log", dhcp_lines(30, 7))
    _, mixed = write(tmp_path / "mixed.log", mixed_lines(20, 24))
    raw = dhcp + mixed
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([tmp_path / "dhcp.log", tmp_path / "mixed.log"])
        block_size, used, free = space(hs)
        tables = [t for (t,) in hs.store.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND estimated_size > 0"
        ).fetchall()]
    size = (tmp_path / "data" / "hindsight.duckdb").stat().st_size
    bound = raw / 10 + (len(tables) + INDEXES + 1) * BLOCK_SIZE
    assert size <= bound, (
        f"store {size / 1e6:.2f} MB = 1/{raw / size:.1f} of {raw / 1e6:.1f} MB raw, "
        f"bound {bound / 1e6:.2f} MB ({len(tables)} tables)"
    )
    assert free == 0, f"{free} of {used + free} blocks left free by compaction"
    assert block_size == BLOCK_SIZE


def raw_bytes(hs: hindsight.Hindsight) -> int:
    (n,) = hs.store.con.execute("SELECT sum(octet_length(data)) FROM raw_chunks").fetchone() or (0,)
    return int(n)


def test_compaction_repacks_raw_chunks_once_and_keeps_every_line(tmp_path: Path) -> None:
    lines = [
        event(IA, 100 * i, "added" if i % 2 else "removed", {"address": f"10.0.{i % 5}.{i % 7}"},
              counter=i, host=f"h{i % 3}", uuid=f"U-{i % 3}")
        for i in range(1, 3000)
    ]
    log = write_lines(tmp_path / "a.log", *lines)
    with hindsight.open(tmp_path / "d") as hs:
        con = hs.store.con
        hs.ingest([log], maintain=False)
        # ingest writes chunks at the archive's level already: nothing left to re-pack
        (stored,) = con.execute("SELECT count(*) FROM raw_chunks").fetchone() or (0,)
        (mark,) = con.execute("SELECT value FROM meta WHERE key = 'raw_packed'").fetchone()
        assert int(mark) == stored
        at_ingest = raw_bytes(hs)
        hs.store.compact()
        assert raw_bytes(hs) == at_ingest
        # a store of an earlier version: chunks at zstd 3, none re-packed
        fast, unpack = zstandard.ZstdCompressor(level=3), zstandard.ZstdDecompressor()
        old = [(rid, fast.compress(unpack.decompress(d))) for rid, d in
               con.execute("SELECT rowid, data FROM raw_chunks").fetchall()]
        for rid, data in old:
            con.execute("UPDATE raw_chunks SET data = ? WHERE rowid = ?", [data, rid])
        con.execute("UPDATE meta SET value = '0' WHERE key = 'raw_packed'")
        packed_at_ingest = raw_bytes(hs)
        before = raw_lines(hs)
        asof = hs.sql(f"SELECT host, address FROM {IA} ORDER BY ALL", at=150_000).rows
        hs.store.compact()
        assert raw_lines(hs) == before
        assert raw_bytes(hs) < packed_at_ingest
        (mark,) = con.execute("SELECT value FROM meta WHERE key = 'raw_packed'").fetchone()
        assert int(mark) == len(before)
        hs.rebuild()  # every interval again from the re-packed raw lines
        assert hs.sql(f"SELECT host, address FROM {IA} ORDER BY ALL", at=150_000).rows == asof
        assert hs.ingest([log]).duplicates == len(lines)


def test_the_log_table_ends_in_time_order_and_still_dedupes(tmp_path: Path) -> None:
    logs = []
    for part in range(3):  # three ingests, each a later stretch of time on fresh hosts
        logs.append(write_lines(tmp_path / f"{part}.log", *[
            event(IA, 1000 * part + 10 * (i % 50), "added", {"address": f"10.{part}.0.{i}"},
                  counter=i, host=f"h{i}", uuid=f"U-{part}-{i}")
            for i in range(200)
        ]))
    with hindsight.open(tmp_path / "d") as hs:
        for log in reversed(logs):  # the latest first: appended out of time order
            hs.ingest([log])
        for table in ("executions",):
            times = [t for (t,) in hs.store.con.execute(
                f"SELECT unix_time FROM {table} ORDER BY rowid"
            ).fetchall()]
            assert times == sorted(times), table
        assert sum(hs.ingest([log]).duplicates for log in logs) == 600


def test_an_old_store_keeps_its_block_size_until_a_reclaim_copies_it(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    duckdb.connect(str(tmp_path / "d" / "hindsight.duckdb"),
                   config={"default_block_size": 262144}).close()
    lines = [event(IA, 100 * i, "added", {"address": f"10.0.0.{i}"}, counter=i)
             for i in range(1, 50)]
    with hindsight.open(tmp_path / "d") as hs:
        hs.ingest([write_lines(tmp_path / "a.log", *lines)])
        assert space(hs)[0] == 262144
        rows = hs.sql(f"SELECT address FROM {IA} FOR SYSTEM_TIME ALL ORDER BY ALL").rows
        assert hs.store.reclaim(min_free=0.0, min_bytes=0)
        assert space(hs)[0] == BLOCK_SIZE
        assert hs.sql(f"SELECT address FROM {IA} FOR SYSTEM_TIME ALL ORDER BY ALL").rows == rows


def test_compressed_lines_are_stored_as_they_are_even_once_the_store_is_copied(
    tmp_path: Path,
) -> None:
    """The raw chunks and lines kept aside are zstd already: DuckDB stores them in its zstd
    layout, which packs long values densely and does not look for FSST or a dictionary in them
    (that cost most of a checkpoint), and so does a copy of the store."""
    lines = [event(IA, 100 * i, "added", {"address": f"10.0.0.{i}"}, counter=i)
             for i in range(1, 50)]  # fmt: skip
    with hindsight.open(tmp_path / "d") as hs:
        hs.ingest([write_lines(tmp_path / "a.log", *lines, b"{torn")])
        for copied in (False, True):
            hs.store.con.execute("CHECKPOINT")
            for table in ("raw_chunks", "rejects"):
                found = hs.store.con.execute(
                    f"SELECT DISTINCT compression FROM pragma_storage_info('{table}') "
                    "WHERE column_name = 'data' AND segment_type = 'BLOB'"
                ).fetchall()
                assert found == [("ZSTD",)], (table, copied)
            assert copied or hs.store.reclaim(min_free=0.0, min_bytes=0)


def test_a_raw_chunk_that_does_not_decompress_is_left_as_it_is(tmp_path: Path) -> None:
    lines = [event(IA, 100 * i, "added", {"address": f"10.0.0.{i}"}, counter=i)
             for i in range(1, 50)]
    with hindsight.open(tmp_path / "d") as hs:
        hs.ingest([write_lines(tmp_path / "a.log", *lines)], maintain=False)
        hs.store.con.execute("INSERT INTO raw_chunks VALUES (1, 1, 0, 0, 1, 'not zstd'::BLOB)")
        hs.store.compact()
        rows = hs.store.con.execute("SELECT data FROM raw_chunks ORDER BY rowid").fetchall()
        assert rows[-1] == (b"not zstd",)
        assert chunks.read(rows[0][0]) == lines


def _free_up(hs: hindsight.Hindsight, share: float) -> None:
    """Leave about SHARE of the store's blocks free: a table written, one after it (DuckDB
    truncates free blocks at the file's end), the first dropped."""
    _, used, free = space(hs)
    blocks = int((share * (used + free) - free) / (1 - share)) + 1
    con = hs.store.con
    con.execute(f"CREATE TABLE junk AS SELECT random() AS x FROM range({blocks * BLOCK_SIZE // 8})")
    con.execute("CHECKPOINT")
    con.execute("CREATE OR REPLACE TABLE keeper AS SELECT random() AS x FROM range(50000)")
    con.execute("CHECKPOINT")
    con.execute("DROP TABLE junk")
    con.execute("CHECKPOINT")


def test_a_small_ingest_copies_the_store_only_past_the_usual_free_share(tmp_path: Path) -> None:
    """A one-shot ingest copies the store past 10 % free blocks; a small ingest into a larger
    store does not copy all of it for less than 30 % (DuckDB reuses free blocks): before, every
    `hindsight ingest` of one more file copied the whole store after its rewrites."""
    data = tmp_path / "d"
    big = tmp_path / "big.log"
    write(big, mixed_lines(20, 6))
    with hindsight.open(data) as hs:
        hs.ingest([big])
        path = hs.store.path
        for n, (share, copied) in enumerate([(0.2, False), (0.6, True)]):
            _free_up(hs, share)
            before = hs.store.free_share()
            assert (before > 0.4) if copied else (0.1 < before < 0.25)
            inode = path.stat().st_ino
            small = write_lines(tmp_path / f"s{n}.log", event(IA, 10**9 + n, "added", {"address": "a"}))
            hs.ingest([small])
            assert (path.stat().st_ino != inode) is copied
            assert (hs.store.free_share() < 0.1) is copied


def test_a_store_of_before_drops_its_dedupe_keys_and_still_dedupes(tmp_path: Path) -> None:
    """Stores written before kept a key per line (`seen`, a third of a store's bytes); the
    archive counts now, so the table goes at the first open for writing."""
    log = write_lines(tmp_path / "a.log", *[
        event(IA, 100 * i, "added", {"address": f"10.0.0.{i}"}, counter=i) for i in range(1, 20)])
    with hindsight.open(tmp_path / "d") as hs:
        hs.ingest([log])
        hs.store.con.execute("CREATE TABLE seen(host_id INTEGER, query_id INTEGER, "
                             "unix_time BIGINT, h UBIGINT)")
    with hindsight.open(tmp_path / "d") as hs:
        tables = {t for (t,) in hs.store.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert "seen" not in tables and "raw_chunks" in tables
        assert hs.ingest([log]).duplicates == 19


def test_compaction_sorts_a_history_table_once_it_outgrows_a_row_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history table of one row group is left as written (sorted, no lookup reads less of
    it); past one, it is re-sorted by its lookup key as before, and answers the same."""
    log = tmp_path / "dhcp.log"
    write(log, dhcp_lines(3, 1))
    with hindsight.open(tmp_path / "d") as hs:
        hs.ingest([log])
        con = hs.store.con
        (rows, done) = con.execute(
            "SELECT (SELECT count(*) FROM hist_1), sorted_rows FROM queries WHERE query_id = 1"
        ).fetchone() or (0, 0)
        assert rows > 100 and done == 0
        asof = hs.sql(f"SELECT host, address FROM {IA} ORDER BY ALL", at=1_790_030_000).rows
        monkeypatch.setattr(store_module, "ROW_GROUP_ROWS", rows // 2)
        assert hs.store.compact() >= 1
        (done,) = con.execute("SELECT sorted_rows FROM queries WHERE query_id = 1").fetchone()
        assert done == rows
        addresses = [a for (a,) in con.execute("SELECT address FROM hist_1").fetchall()]
        assert addresses == sorted(addresses)
        assert hs.sql(f"SELECT host, address FROM {IA} ORDER BY ALL", at=1_790_030_000).rows == asof
