"""Where the ingester puts closed journal segments: the embedded store, or a Parquet lake.

`hindsight serve` (store mode) ingests into its own DuckDB store and answers every question.
`hindsight serve --lake URI` (lake mode) is one of many stateless receivers: it publishes the
segments' lines to the lake with `LakeWriter` and keeps no history of its own; the intervals are
built by `hindsight lake build` and questions go to `--engine spark --lake URI`.

Either way the ingester records a segment as done only after the target returns (the store has
committed; every lake file is published), so a crash in between makes it ingest the segment
again: the store drops lines it holds, the lake build drops repeated lines, because each segment
is read as a source of its own (`LakeWriter.new_source`) and so gets the same line keys again.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.fs as pafs

from hindsight.api import Hindsight
from hindsight.errors import InputError
from hindsight.lake.layout import LakeError
from hindsight.lake.writer import LakeWriter, WriteSummary
from hindsight.osquery.reader import read_lines
from hindsight.settings import Settings

LOCK = "ingest.lock"
#: rows a lake receiver buffers before it publishes (bounds its memory on a large backlog)
LAKE_FLUSH_ROWS = 200_000


@dataclass(frozen=True)
class Counts:
    """What one ingest of segments did."""

    lines: int
    rows: int
    rejected: int
    duplicates: int = 0  # known to the store at ingest; the lake's are dropped by its build
    files: int = 0  # lake files published


class Target(Protocol):
    def ingest(self, paths: list[Path]) -> Counts:
        """Make the lines of PATHS durable in the target; raise HindsightError if it cannot."""
        ...

    def maintain(self) -> None:
        """Housekeeping the ingests leave for later (the store's compaction)."""
        ...


class StoreTarget:
    """The embedded store (the ingester and the queries share it under LOCK)."""

    def __init__(self, hs: Hindsight, lock: threading.Lock) -> None:
        self.hs = hs
        self.lock = lock

    def ingest(self, paths: list[Path]) -> Counts:
        with self.lock:
            s = self.hs.ingest(paths, maintain=False)
        return Counts(s.lines, s.rows, s.rejected, s.duplicates)

    def maintain(self) -> None:
        """Re-sort history tables whose unsorted tail grew, and give back free space (may copy
        the whole file): once a while, not after each segment."""
        with self.lock:
            self.hs.store.maintain()


class LakeTarget:
    """A Parquet lake: every segment's lines published as raw observation files."""

    def __init__(self, settings: Settings, journal_dir: Path) -> None:
        self.settings = settings
        # one ingester per journal: the store process of a killed server may still be publishing
        # (it exits within a second); the store's own lock does this in store mode
        self._lock = _exclusive(journal_dir / LOCK)
        self.writer = LakeWriter(settings.lake, max_rows=LAKE_FLUSH_ROWS)

    def ingest(self, paths: list[Path]) -> Counts:
        try:
            s = self._publish(paths)
        except (OSError, pa.ArrowException) as exc:
            # nothing buffered survives a failure: the segments are read again at the next try
            self.writer = LakeWriter(self.writer.paths, max_rows=LAKE_FLUSH_ROWS)
            raise LakeError(f"cannot write the lake {self.settings.lake}: {exc}") from exc
        return Counts(s.lines, s.rows, s.rejected, 0, len(s.files))

    def maintain(self) -> None:
        """Nothing to do: the lake's build compacts."""

    def _publish(self, paths: list[Path]) -> WriteSummary:
        w = self.writer
        w.summary = WriteSummary()  # per ingest: a receiver runs for months
        for path in paths:
            w.new_source()
            batch = []
            for line in read_lines(path, self.settings.max_line_bytes):
                batch.append(line)
                if len(batch) >= self.settings.batch_lines:
                    w.append(batch)
                    batch = []
            w.append(batch)
        w.flush()
        if isinstance(w.paths.fs, pafs.LocalFileSystem):
            _sync(w.paths.root, w.summary.files)
        return w.summary


def _exclusive(path: Path, patience_s: float = 60.0) -> int:
    """An exclusive lock on PATH, held until this process ends (its descriptor is kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    deadline = time.monotonic() + patience_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise LakeError(f"{path}: another process ingests this journal") from None
            time.sleep(0.2)


def _sync(root: str, files: list[str]) -> None:
    """Force published local files, and the directories up to the lake's root (new partitions
    are new entries there), to disk: the journal segments they came from are deleted next (on an
    object store an upload is durable once complete)."""
    dirs = {root}
    for f in files:
        d = os.path.dirname(f)
        while d.startswith(root + "/") and d not in dirs:
            dirs.add(d)
            d = os.path.dirname(d)
    for path in [*files, *sorted(dirs, reverse=True)]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class LakeMode(InputError):
    """A question asked of a receiver that writes to a lake (it keeps no history)."""

    def __init__(self, lake: str, what: str) -> None:
        super().__init__(
            f"{what}: this server writes to the lake {lake} and keeps no history; it answers "
            f"hosts, check-ins and status logs only. Build the lake (hindsight lake build {lake}) "
            f"and ask with `hindsight state|sql ... --engine spark --lake {lake}`"
        )
