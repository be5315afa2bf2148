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
from hindsight.server.journal import JournalReader
from hindsight.server.targets import Counts, Target

log = logging.getLogger("hindsight.serve")


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
    ) -> None:
        self.target = target
        self.journal = journal
        self.per_step = segments_per_step
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
            except HindsightError as exc:  # the target is unusable for now: the journal keeps all
                self.stats.last_error = str(exc)
                log.error("ingest failed, will retry: %s", exc)
                done = False
                delay = min(delay * 2, 10.0)
            # between two steps, let segments gather
            self._stop.wait(delay if not done else 0.5)

    def step(self) -> bool:
        """Ingest the oldest closed segments, one at a time; False when there was nothing to
        do. One segment per ingest call, as in the lake (one source each): a segment's lines
        get the same keys however segments were grouped (each journal record, one request, is
        the scope of its identical lines: hindsight.osquery.scopes)."""
        segments = self.journal.closed_segments()[: self.per_step]
        for segment in segments:
            summary = self.target.ingest([segment.path])
            self.journal.mark_ingested(segment.number)
            self._count(summary)
        return bool(segments)

    def _count(self, summary: Counts) -> None:
        st = self.stats
        st.segments += 1
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
        while self.step():
            pass
        self.maintain()
