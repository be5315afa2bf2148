"""Behind the acknowledgement: a thread that moves closed journal segments into the store, or
into the lake with `hindsight serve --lake` (the target, hindsight/server/targets.py).

Each segment goes to the target as it is: the target's reader splits its records into osquery
lines and attributes them to their node (records.py: a logger body is journaled as it came, and
attributed there, off the acknowledgement path), so a rejected line is named by its segment.

Order of its steps, for crash safety: ingest segments (the store commits, or every lake file is
published), then record their number in the journal's progress file, then delete them. A crash
between the first two ingests those segments again after restart, which the store's dedupe of
identical lines makes a no-op (in the lake: the build drops the repeated lines).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from hindsight.errors import HindsightError
from hindsight.server.journal import JournalReader, Segment
from hindsight.server.targets import Counts, Target
from hindsight.settings import GATHER_BYTES

log = logging.getLogger("hindsight.serve")

#: journal bytes one ingest call takes at most (the store's lock is held meanwhile: queries wait)
STEP_BYTES = 16 * 1024 * 1024


@dataclass
class IngestStats:
    segments: int = 0
    lines: int = 0
    rows: int = 0
    rejected: int = 0
    duplicates: int = 0
    files: int = 0
    last_error: str | None = None
    last_ingest: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Ingester:
    def __init__(
        self,
        target: Target,
        journal: JournalReader,
        segments_per_step: int = 32,
        maintain_every_s: float = 60.0,
        step_bytes: int = STEP_BYTES,
        gather_s: float = 0.0,
    ) -> None:
        self.target = target
        self.journal = journal
        self.gather_s = gather_s  # (Settings.serve_gather_s; 0: each segment as it closes)
        self.per_step = segments_per_step
        self.step_bytes = step_bytes
        self.maintain_every_s = maintain_every_s
        self.stats = IngestStats()
        self._maintained = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingester", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        delay = 0.2
        while not self._stop.is_set():
            try:
                done = self.step()
                if time.monotonic() - self._maintained >= self.maintain_every_s:
                    self.maintain()
                delay = 0.2
            except Exception as exc:  # the target is unusable for now: the journal keeps all
                # (an error that is not Hindsight's is a bug: said whole, and retried too, for
                # a thread that ends would stop every host's data, silently)
                self.stats.last_error = str(exc) or type(exc).__name__
                if isinstance(exc, HindsightError):
                    log.error("ingest failed, will retry: %s", exc)
                else:
                    log.exception("ingest failed (a bug: please report it), will retry")
                done = False
                delay = min(delay * 2, 10.0)
            # between two steps, let segments gather
            self._stop.wait(delay if not done else 0.5)

    def step(self, gather: bool = True) -> bool:
        """Ingest the oldest closed segments together, in one ingest call; False when there was
        nothing to do. An ingest has a fixed cost per query it touches (a schedule of 100
        queries: about a second), so a segment each second alone would never catch up; taken
        together (up to `per_step` segments and `step_bytes`), the cost is paid once for all the
        segments waiting. With GATHER, segments wait until they hold GATHER_BYTES or the oldest
        has waited `gather_s`: a small fleet's segment each second would cost the store ~0.2 s
        of CPU each. A segment's lines get the same keys however segments are grouped
        (each journal record, one request, is the scope of its identical lines:
        hindsight.osquery.scopes), so a crash between the ingest and its record changes
        nothing."""
        oldest = self.journal.closed_segments()[: self.per_step]
        taken = _within([(segment, *_stat(segment)) for segment in oldest], self.step_bytes)
        segments = [segment for segment, _, _ in taken]
        if not segments or (gather and not _gathered(taken, self.gather_s)):
            return False
        summary = self.target.ingest([segment.path for segment in segments])
        self.journal.mark_ingested(segments[-1].number)
        self._count(summary, len(segments))
        return True

    def _count(self, summary: Counts, segments: int) -> None:
        st = self.stats
        st.segments += segments
        st.lines += summary.lines
        st.rows += summary.rows
        st.rejected += summary.rejected
        st.duplicates += summary.duplicates
        st.files += summary.files
        st.last_error = None
        st.last_ingest = time.time()

    def maintain(self) -> None:
        self._maintained = time.monotonic()
        self.target.maintain()

    def stop_and_drain(self) -> None:
        """Stop the thread, then ingest every closed segment, and compact."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=600)
        while self.step(gather=False):
            pass
        self.maintain()


#: A segment with its size and the time of its last write (0 and now when it is gone)
_Waiting = tuple[Segment, int, float]


def _stat(segment: Segment) -> tuple[int, float]:
    try:
        st = segment.path.stat()
    except FileNotFoundError:
        return 0, time.time()
    return st.st_size, st.st_mtime


def _gathered(segments: list[_Waiting], gather_s: float) -> bool:
    """Whether SEGMENTS are to be ingested now: GATHER_BYTES of them, or the oldest closed
    GATHER_S seconds ago (its last write), or no gathering."""
    if gather_s <= 0:
        return True
    size = sum(n for _, n, _ in segments)
    oldest = min(mtime for _, _, mtime in segments)
    return size >= GATHER_BYTES or time.time() - oldest >= gather_s


def _within(segments: list[_Waiting], budget: int) -> list[_Waiting]:
    """The first SEGMENTS up to BUDGET bytes (at least one)."""
    taken: list[_Waiting] = []
    size = 0
    for waiting in segments:
        size += waiting[1]
        if taken and size > budget:
            break
        taken.append(waiting)
    return taken
