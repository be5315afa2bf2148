"""The two ingest stages: a batch parsed (and its rows hashed) before the batch ahead of it is
written still gets the intervals of in-order ingest, also when that earlier batch adds a
column the later one's rows have."""

from __future__ import annotations

from pathlib import Path

import pytest

import hindsight
from hindsight.osquery.reader import Line, read_lines
from hindsight.store import native
from hindsight.store.ingest import BatchWriter, IngestSummary
from hindsight.store.prepare import Prepared, Preparer
from tests.helpers import event, snapshot, write

USERS = "pack_ir_users"
ALICE = {"uid": "1001", "username": "alice", "shell": "/bin/bash"}
BOB = {"uid": "1002", "username": "bob"}
EXEC_1 = {"pid": "1", "path": "/bin/sh", "cwd": "/tmp"}
EXEC_2 = {"pid": "2", "path": "/bin/ls"}


def history(hs: hindsight.Hindsight) -> list[tuple[object, ...]]:
    return sorted(
        hs.sql(
            f"SELECT uid, username, shell, valid_from, valid_to FROM {USERS} FOR SYSTEM_TIME ALL"
        ).rows,
        key=repr,
    )


def test_a_batch_hashed_before_a_column_arrived_is_rehashed(tmp_path: Path) -> None:
    # the first batch brings `shell`; the second's first row lacks it, so the first stage,
    # which ran before the first batch was written, hashed alice without it
    first = write(tmp_path / "a.log", snapshot(USERS, 100, [ALICE]))
    second = write(tmp_path / "b.log", snapshot(USERS, 200, [BOB, ALICE]))

    with hindsight.open(tmp_path / "in-order") as hs:
        hs.ingest([first, second])
        expected = history(hs)
    assert expected == [
        (1001, "alice", "/bin/bash", 100, None),
        (1002, "bob", None, 200, None),
    ]

    with hindsight.open(tmp_path / "staged") as hs:
        store = hs.store
        preparer = Preparer(store.con, store.catalog)
        try:
            early = preparer.prepare(list(read_lines(second, 1 << 20, parse=False)))
            assert early.hashed[USERS] == {"uid", "username"}
            writer = BatchWriter(store.con, store.catalog, IngestSummary())
            writer.write(preparer.prepare(list(read_lines(first, 1 << 20, parse=False))))
            assert not early.hashed_as([store.catalog.queries[USERS]])
            writer.write(early)
        finally:
            preparer.close()
        assert history(hs) == expected


def test_events_read_before_a_column_arrived_are_read_again(tmp_path: Path) -> None:
    # the first batch brings `cwd`; the second was read without it, so the writer reads it again
    first = write(tmp_path / "a.log", event("process_events", 100, "added", EXEC_1))
    second = write(tmp_path / "b.log", event("process_events", 200, "added", EXEC_2))
    with hindsight.open(tmp_path / "staged") as hs:
        store = hs.store
        preparer = Preparer(store.con, store.catalog)
        try:
            early = preparer.prepare(list(read_lines(second, 1 << 20, parse=False)))
            assert early.events["process_events"][1].keys() == {"pid", "path"}
            writer = BatchWriter(store.con, store.catalog, IngestSummary())
            writer.write(preparer.prepare(list(read_lines(first, 1 << 20, parse=False))))
            writer.write(early)
        finally:
            preparer.close()
        rows = hs.sql("SELECT pid, path, cwd FROM process_events ORDER BY pid").rows
    assert rows == [(1, "/bin/sh", "/tmp"), (2, "/bin/ls", None)]


def test_a_failing_first_stage_stops_the_ingest_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first stage fails on the third batch: the batches written before it stay, nothing
    of the failed one is half-written, and ingesting again completes the history."""
    lines = [
        snapshot(USERS, 100 * (k + 1), [ALICE, {**BOB, "username": f"bob{k}"}]) for k in range(40)
    ]
    log = write(tmp_path / "a.log", *lines)
    with hindsight.open(tmp_path / "clean", batch_lines=8) as hs:
        hs.ingest([log])
        expected = history(hs)

    calls = {"n": 0}
    prepare = Preparer.prepare

    def failing(self: Preparer, batch: list[Line]) -> Prepared:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return prepare(self, batch)

    with hindsight.open(tmp_path / "data", batch_lines=8) as hs:
        monkeypatch.setattr(Preparer, "prepare", failing)
        with pytest.raises(RuntimeError, match="disk on fire"):
            hs.ingest([log])
        written = hs.sql(f"SELECT count(*) FROM {USERS} FOR SYSTEM_TIME ALL").rows[0][0]
        assert 0 < written < len(expected)
        monkeypatch.setattr(Preparer, "prepare", prepare)
        summary = hs.ingest([log])
        assert summary.duplicates > 0
        assert history(hs) == expected


def test_events_read_typed_before_their_column_became_text_are_read_again(tmp_path: Path) -> None:
    # the library reads the second batch's pid typed (BIGINT, osquery's type), before the
    # first batch, written first, makes the column text (no value of it fits: store.fit)
    first = write(tmp_path / "a.log", event("process_events", 100, "added", {**EXEC_1, "pid": "x"}))
    second = write(tmp_path / "b.log", event("process_events", 200, "added", EXEC_2))
    with hindsight.open(tmp_path / "staged") as hs:
        store = hs.store
        preparer = Preparer(store.con, store.catalog, None, native.library("on"))
        try:
            early = preparer.prepare(list(read_lines(second, 1 << 20, parse=False)))
            assert early.events["process_events"][1] == {"pid": "BIGINT", "path": "VARCHAR"}
            writer = BatchWriter(store.con, store.catalog, IngestSummary())
            writer.write(preparer.prepare(list(read_lines(first, 1 << 20, parse=False))))
            assert store.catalog.queries["process_events"].columns["pid"] == "VARCHAR"
            writer.write(early)
        finally:
            preparer.close()
        rows = hs.sql("SELECT pid, path FROM process_events ORDER BY pid").rows
    assert rows == [("2", "/bin/ls"), ("x", "/bin/sh")]


def test_what_a_batch_lent_the_writer_is_given_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's Arrow tables registered on the store's connection (the library's header,
    rows, identities and event rows) are unregistered once it is written: kept, each batch
    held its tens of MB to the end of the ingest."""
    monkeypatch.setenv("HINDSIGHT_BATCH_LINES", "8")  # (several batches)
    lines = [event(USERS, 100 + n, "added", {**ALICE, "uid": str(n)}) for n in range(40)]
    lines += [event("process_events", 100 + n, "added", EXEC_1) for n in range(40)]
    path = write(tmp_path / "r.log", *lines)
    with hindsight.open(tmp_path / "data") as hs:
        con = hs.store.con
        before = set(con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall())
        summary = hs.ingest([path])
        after = set(con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall())
    assert summary.rows == 80 and summary.rejected == 0
    left = {name for (name,) in after - before if not name.startswith("_n_")}
    assert not left, left
