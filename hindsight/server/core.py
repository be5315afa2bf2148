"""What the endpoints share: settings, the server state, the config file, the journal, and the
store process (which owns the store: ingester and queries)."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from hindsight.lake.layout import LakePaths
from hindsight.server import serve_dir
from hindsight.server.config import ConfigFile
from hindsight.server.continuity import Continuity
from hindsight.server.journal import Journal
from hindsight.server.state import State
from hindsight.server.storeproc import StoreProcess, _open_store
from hindsight.settings import Settings

log = logging.getLogger("hindsight.serve")
INTAKE = 64
#: how long a start-up waits for the store that an earlier server's store process still holds
#: (a killed server's store process exits when it sees its pipe close: a moment, or a few
#: seconds when the cores are busy); a store still busy after that stops the start-up
BUSY_STORE_PATIENCE_S = 15.0


@dataclass
class Core:
    settings: Settings
    state: State
    config: ConfigFile
    journal: Journal
    store: StoreProcess
    #: each node's previous request and recent executions (server/continuity.py)
    continuity: Continuity = field(default_factory=Continuity)
    #: logger requests between gunzip and their fsync'd acknowledgement, at most (bounds memory)
    intake: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(INTAKE))
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def open(cls, settings: Settings, segment_age_s: float = 1.0) -> Core:
        directory = serve_dir(settings.data)
        directory.mkdir(parents=True, exist_ok=True)
        # the store (or the lake) opens here first, so that an unusable or busy one stops the
        # start-up; a receiver writing to a lake has no store
        if settings.lake:
            LakePaths.open(settings.lake, create=True)
        else:
            _open_store(settings, patience_s=BUSY_STORE_PATIENCE_S).close()
        config = ConfigFile(directory / "config.json")
        state = State(directory / "state.sqlite")
        journal = Journal(
            directory / "journal",
            segment_age_s=segment_age_s,
            max_backlog_bytes=settings.serve_max_backlog,
        )
        return cls(settings, state, config, journal, StoreProcess(settings, journal.dir))

    def start(self) -> None:
        self.store.start()
        threading.Thread(target=self._flush_loop, name="checkins", daemon=True).start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.state.flush_checkins()
                self.store.ensure_running()
            except Exception as exc:  # the watch must not stop
                log.error("check-ins not written or store not restarted: %s", exc)

    def close(self) -> None:
        """Stop taking lines, ingest every acknowledged one, close everything."""
        self._stop.set()
        self.journal.close()
        self.store.close()
        self.state.close()
