"""The journal's contract: every acknowledged record is read back once, in order, whatever the
segment sizes and wherever a crash tore the last write; past its backlog bound it refuses."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hindsight.server.journal import Journal, JournalError

records = st.lists(
    st.lists(
        st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"\n", b" ")),
        min_size=1,
        max_size=5,
    ),
    min_size=1,
    max_size=30,
)


def _append_all(journal: Journal, batches: list[list[bytes]]) -> None:
    async def run() -> None:
        for batch in batches:
            await journal.append(b"".join(r + b"\n" for r in batch))

    asyncio.run(run())


@given(batches=records, segment_bytes=st.integers(1, 400), torn=st.binary(max_size=30))
def test_acknowledged_records_survive_a_torn_crash(
    batches: list[list[bytes]], segment_bytes: int, torn: bytes
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "journal"
        journal = Journal(directory, segment_bytes=segment_bytes, segment_age_s=3600)
        _append_all(journal, batches)
        # the crash: the process stops, and with it the thread that makes the next segment's
        # file ahead (left running, it made it at random later: during the restart's recovery
        # or the temporary directory's removal, which then failed)
        journal._files.shutdown(wait=True)
        open_segments = list(directory.glob("*.open"))
        torn = torn.replace(b"\n", b" ")
        if open_segments and torn:
            with open(open_segments[0], "ab") as f:
                f.write(torn)  # the crash: a write that was never acknowledged
        restarted = Journal(directory, segment_bytes=segment_bytes)
        segments = restarted.reader.closed_segments()
        numbers = [s.number for s in segments]
        assert numbers == sorted(set(numbers))
        content = b"".join(s.path.read_bytes() for s in segments)
        assert content == b"".join(r + b"\n" for batch in batches for r in batch)
        restarted.reader.mark_ingested(numbers[-1])
        _append_all(restarted, [[b"after"]])
        restarted.roll()
        later = restarted.reader.closed_segments()
        assert [s.path.read_bytes() for s in later] == [b"after\n"]
        assert later[0].number > numbers[-1]
        restarted.close()
        # the crashed journal is never closed (its writer, idle, stands for the dead process)


def test_refuses_past_its_backlog(tmp_path: Path) -> None:
    """From the append that passes the bound on: the directory is measured once a second, and
    what was written or submitted since counts meanwhile (a burst overshot by a second's worth)."""
    journal = Journal(tmp_path / "journal", max_backlog_bytes=30)
    _append_all(journal, [[b"x" * 20]])
    _append_all(journal, [[b"x" * 20]])  # (under the bound before it)
    with pytest.raises(JournalError, match="backlog"):
        _append_all(journal, [[b"y"]])
    time.sleep(1.1)  # measured again: still behind
    with pytest.raises(JournalError, match="backlog"):
        _append_all(journal, [[b"y"]])
    journal.close()


def test_concurrent_appends_share_fsyncs(tmp_path: Path) -> None:
    """Group commit: requests that arrive while one fsync runs share the next one, and each is
    answered only once the fsync that covers it is done (its bytes are then on disk)."""
    journal = Journal(tmp_path / "journal", segment_age_s=3600)
    on_disk: list[bool] = []

    async def one(i: int) -> None:
        await journal.append(b"%d\n" % i)
        content = b"".join(p.read_bytes() for p in (tmp_path / "journal").glob("*.open"))
        on_disk.append(b"%d\n" % i in content.splitlines(keepends=True))

    async def run() -> None:
        await asyncio.gather(*(one(i) for i in range(300)))

    asyncio.run(run())
    stats = journal.sync_stats()
    assert all(on_disk) and len(on_disk) == 300
    assert sum(n for _, n in journal.syncs) == 300
    assert stats["fsyncs"] < 30 and stats["records_per_fsync"] > 10
    journal.close()


def test_a_write_the_disk_refuses_leaves_nothing_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk mid-write (the OS wrote part of it, then ENOSPC): the append fails, and the
    part written is taken back off the segment, so that no torn record (a rejected line the
    host never sent) is read later; the records around it are read back whole."""
    import errno
    import os

    journal = Journal(tmp_path / "journal", segment_age_s=3600)
    _append_all(journal, [[b"before"]])
    write = os.write

    def full(fd: int, data: bytes | memoryview) -> int:
        if fd == journal._fd and bytes(data).startswith(b"refused"):
            write(fd, bytes(data)[:4])
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(JournalError, match="No space left"):
        _append_all(journal, [[b"refused record"]])
    monkeypatch.undo()
    _append_all(journal, [[b"after"]])
    journal.roll()
    content = b"".join(s.path.read_bytes() for s in journal.reader.closed_segments())
    assert content == b"before\nafter\n"
    journal.close()


def test_a_roll_leaves_the_directory_sync_to_the_segment_made_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer syncs the directory for its first segment only: each next one is made ahead
    on another thread (a directory fsync took up to ~350 ms while the store wrote, and every
    acknowledgement waited for it), and a roll costs the writer a rename."""
    import threading

    from hindsight.server import journal as module

    synced_by: list[str] = []
    fsync_dir = module._fsync_dir

    def recorded(path: Path) -> None:
        synced_by.append(threading.current_thread().name)
        fsync_dir(path)

    monkeypatch.setattr(module, "_fsync_dir", recorded)
    journal = Journal(tmp_path / "journal", segment_bytes=1, segment_age_s=3600)
    synced_by.clear()  # (recovery's)
    _append_all(journal, [[b"record %d" % i] for i in range(20)])
    journal.close()
    content = b"".join(s.path.read_bytes() for s in journal.reader.closed_segments())
    assert content == b"".join(b"record %d\n" % i for i in range(20))
    assert len(journal.reader.closed_segments()) == 20
    assert synced_by.count("journal-writer") == 1
    assert sum(name.startswith("journal-files") for name in synced_by) >= 20
    assert not list((tmp_path / "journal").glob("*.open"))  # (the last one made ahead, removed)
