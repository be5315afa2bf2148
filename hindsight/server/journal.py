"""The durable journal between the logger endpoint and the store.

Acknowledged lines are appended to numbered segment files (`000000000042.jsonl`, one record per
line: a logger body with its node's identity, see records.py, or one osquery result line) and fsync'd before the request that carried them is answered. One writer thread
does the writing: it takes every record waiting, writes them together and syncs once (group
commit), so many concurrent requests cost one fsync.

The segment being written is `N.jsonl.open`; it is closed (renamed `N.jsonl`) when it grows past
`segment_bytes` or has been open `segment_age_s`. The ingester (another process, see
`JournalReader`) reads closed segments only, and records the number of the last one it ingested
in `ingested` (written atomically) before deleting them.

The next segment's file is made ahead, on another thread (created, and its directory synced so
that its name survives a crash before a record in it is acknowledged). A roll then costs the
writer a rename, not a directory fsync: one took up to ~350 ms while the store process wrote,
and every acknowledgement waited for it. The renames are not synced one by one: a closed segment
whose rename a crash lost is `.open` again, and recovery closes it. After a crash:

- an open segment may end with a partial line: it was never acknowledged, and is cut off before
  the segment is closed (an empty one, made ahead and never written, is removed);
- segments after `ingested` are ingested again; the store drops lines it already holds, so a
  segment ingested twice changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hindsight.errors import HindsightError

SUFFIX = ".jsonl"
OPEN = ".open"
PROGRESS = "ingested"
Done = Callable[[BaseException | None], None]


class JournalError(HindsightError):
    """Lines could not be recorded durably (the client must keep and resend them)."""


@dataclass(frozen=True)
class Segment:
    number: int
    path: Path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Append-only, fsync'd segments of result lines; see the module docstring."""

    def __init__(
        self,
        directory: Path,
        segment_bytes: int = 8 << 20,
        segment_age_s: float = 1.0,
        max_backlog_bytes: int = 4 << 30,
    ) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.segment_age_s = segment_age_s
        self.max_backlog_bytes = max_backlog_bytes
        self._queue: queue.Queue[tuple[bytes, Done] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self._opened = 0.0
        self.appended_bytes = 0
        self.appended_records = 0
        self._backlog_at, self._backlog = 0.0, 0
        self._queued = 0  # bytes submitted, not yet written
        self._counting = threading.Lock()  # (_backlog, _queued: the event loop and the writer)
        #: the latest group commits: (seconds in fdatasync, records it covered)
        self.syncs: deque[tuple[float, int]] = deque(maxlen=4096)
        self.reader = JournalReader(self.dir)
        #: makes the next segment's file ahead of the writer (see the module docstring)
        self._files = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-files")
        self._spare: tuple[int, Future[int]] | None = None  # its number, its descriptor
        self._recover()
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()

    # -- recovery ----------------------------------------------------------------------------
    def _recover(self) -> None:
        """Close the segment a crash left open (cut its torn tail), and number on from there."""
        numbers = [self.reader.progress()]
        for path in self.dir.glob("*" + SUFFIX + OPEN):
            stem = path.name.removesuffix(SUFFIX + OPEN)
            if not stem.isdigit():
                continue
            _cut_partial_tail(path)
            if path.stat().st_size:
                os.replace(path, self.dir / (stem + SUFFIX))
            else:
                path.unlink()
            numbers.append(int(stem))
        _fsync_dir(self.dir)
        numbers += [s.number for s in self.reader.segments()]
        self._current = max(numbers) + 1

    # -- writing -----------------------------------------------------------------------------
    async def append(self, record: bytes) -> None:
        """Append RECORD (whole lines, each ending in a newline); returns once it is on disk."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def done(exc: BaseException | None) -> None:
            loop.call_soon_threadsafe(_settle, future, exc)

        self.submit(record, done)
        await future

    def submit(self, record: bytes, done: Done) -> None:
        if not self._thread.is_alive():
            raise JournalError("the journal writer has stopped")
        # measured by the writer thread (a directory scan has no place on the event loop) at
        # most once a second, and counted up by every write and submission in between
        with self._counting:
            if self._backlog + self._queued > self.max_backlog_bytes:
                raise JournalError(
                    f"journal backlog over {self.max_backlog_bytes} bytes: ingest is behind"
                )
            self._queued += len(record)
        self._queue.put((record, done))

    def _measure_backlog(self) -> None:
        """Bytes waiting for the store, measured at most once a second."""
        now = time.monotonic()
        if now - self._backlog_at > 1.0:
            self._backlog_at = now
            with contextlib.suppress(OSError):
                measured = self.reader.backlog_bytes()
                with self._counting:
                    self._backlog = measured

    def _run(self) -> None:
        while True:
            self._measure_backlog()
            try:
                item = self._queue.get(timeout=min(0.2, self.segment_age_s))
            except queue.Empty:
                self._maybe_roll()
                continue
            if item is None:
                self._close_current()
                return
            batch = [item]
            stop = False
            while len(batch) < 4096:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._write(batch)
            if stop:
                self._close_current()
                return
            self._maybe_roll()

    def _write(self, batch: list[tuple[bytes, Done]]) -> None:
        error: BaseException | None = None
        try:
            with self._lock:
                fd = self._open()
                data = b"".join(record for record, _ in batch)
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                began = time.perf_counter()
                os.fdatasync(fd)
                self.syncs.append((time.perf_counter() - began, len(batch)))
                self._size += len(data)
                self.appended_bytes += len(data)
                self.appended_records += len(batch)
                if self._size >= self.segment_bytes:
                    self._close_current_locked()
        except OSError as exc:
            error = JournalError(f"cannot write the journal: {exc}")
            self._cut_back()
            self._abandon_current()
        size = sum(len(record) for record, _ in batch)
        with self._counting:
            self._queued -= size
            self._backlog += 0 if error else size
        for _, done in batch:
            done(error)

    def _open(self) -> int:
        """The open segment's descriptor: the one made ahead, when it is ready (else made
        here); the next one is then made ahead."""
        if self._fd is None:
            fd = self._take_spare(self._current)
            if fd is None:
                fd = _create(self._path(self._current))
            self._fd = fd
            self._size = os.fstat(fd).st_size
            self._opened = time.monotonic()
            number = self._current + 1
            self._spare = (number, self._files.submit(_create, self._path(number)))
        return self._fd

    def _take_spare(self, number: int | None) -> int | None:
        """The segment made ahead if it is NUMBER (waited for if need be); else it is removed."""
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        made_number, made = spare
        try:
            fd = made.result()
        except OSError:
            return None  # (made again by the caller, where the error reaches the writer)
        if made_number == number:
            return fd
        os.close(fd)
        with contextlib.suppress(OSError):
            self._path(made_number).unlink()
        return None

    def _path(self, number: int) -> Path:
        return self.dir / f"{number:012d}{SUFFIX}{OPEN}"

    def _maybe_roll(self) -> None:
        with self._lock:
            if self._fd is None:
                return
            age = time.monotonic() - self._opened
            if self._size >= self.segment_bytes or age >= self.segment_age_s:
                self._close_current_locked()

    def _close_current(self) -> None:
        with self._lock:
            self._close_current_locked()

    def _close_current_locked(self) -> None:
        """Close the open segment: a rename, not synced (see the module docstring)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            os.replace(self._path(self._current), self.dir / f"{self._current:012d}{SUFFIX}")
            self._current += 1

    def _cut_back(self) -> None:
        """Take what a failed write left (part of its records, or all of them unsynced) off the
        segment: they were not acknowledged, and read later, a torn record would be a rejected
        line the host never sent (a full disk)."""
        with self._lock, contextlib.suppress(OSError):
            if self._fd is not None:
                os.ftruncate(self._fd, self._size)
                os.fdatasync(self._fd)

    def _abandon_current(self) -> None:
        """After a failed write: start a new segment (if the cut back failed too, the segment
        may hold part of it, which a reader rejects as a torn line with its reason)."""
        with self._lock, contextlib.suppress(OSError):
            self._close_current_locked()

    def sync_stats(self) -> dict[str, Any]:
        """The latest group commits: how long fdatasync took, how many records each covered."""
        syncs = list(self.syncs)
        if not syncs:
            return {"fsyncs": 0}
        took = sorted(t for t, _ in syncs)

        def ms(q: float) -> float:
            return round(1000 * took[min(len(took) - 1, int(q * len(took)))], 2)

        return {
            "fsyncs": len(syncs),
            "fsync_ms_p50": ms(0.5),
            "fsync_ms_p99": ms(0.99),
            "fsync_ms_max": ms(1.0),
            "records_per_fsync": round(sum(n for _, n in syncs) / len(syncs), 2),
        }

    def roll(self) -> None:
        """Close the open segment now (so the ingester can take it)."""
        self._close_current()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        with self._lock:
            self._take_spare(None)  # (no segment is opened any more)
        self._files.shutdown(wait=True)
        _fsync_dir(self.dir)  # (the renames of a clean stop are on disk)


class JournalReader:
    """The ingester's side of the journal: closed segments, progress, deletion."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def segments(self) -> list[Segment]:
        """Closed segments on disk, oldest first (ingested ones too, until deleted)."""
        out = []
        for path in self.dir.glob("*" + SUFFIX):
            if path.stem.isdigit():
                out.append(Segment(int(path.stem), path))
        return sorted(out, key=lambda s: s.number)

    def progress(self) -> int:
        """Number of the last segment the store holds (0 when none)."""
        try:
            return int((self.dir / PROGRESS).read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0

    def closed_segments(self) -> list[Segment]:
        """Segments no longer written, not yet ingested, oldest first."""
        progress = self.progress()
        return [s for s in self.segments() if s.number > progress]

    def backlog_bytes(self) -> int:
        """Bytes acknowledged and not yet in the store (the open segment included)."""
        total = 0
        progress = self.progress()
        for path in self.dir.glob("*" + SUFFIX + "*"):
            stem = path.name.split(".")[0]
            if stem.isdigit() and int(stem) > progress:
                with contextlib.suppress(FileNotFoundError):
                    total += path.stat().st_size
        return total

    def mark_ingested(self, number: int) -> None:
        """Record durably that segments up to NUMBER are in the store, then delete them."""
        tmp = self.dir / (PROGRESS + ".tmp")
        with open(tmp, "w", encoding="ascii") as f:
            f.write(str(number))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / PROGRESS)
        _fsync_dir(self.dir)
        for seg in self.segments():
            if seg.number <= number:
                seg.path.unlink(missing_ok=True)


def _create(path: Path) -> int:
    """A new segment file, open for appending, its name synced to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    _fsync_dir(path.parent)
    return fd


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


def _cut_partial_tail(path: Path) -> None:
    """Cut a torn last line (written, never acknowledged) off the end of PATH."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return
        pos = size
        while pos > 0:
            step = min(1 << 20, pos)
            f.seek(pos - step)
            chunk = f.read(step)
            i = chunk.rfind(b"\n")
            if i != -1:
                f.truncate(pos - step + i + 1)
                break
            pos -= step
        else:
            f.truncate(0)
        f.flush()
        os.fsync(f.fileno())
