"""What the endpoints share: settings, the store (one owner: this process), the server state,
the config file, the journal and the ingester."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from hindsight.api import Hindsight
from hindsight.server import serve_dir
from hindsight.server.config import ConfigFile
from hindsight.server.ingester import Ingester
from hindsight.server.journal import Journal
from hindsight.server.state import State
from hindsight.settings import Settings

log = logging.getLogger("hindsight.serve")


@dataclass
class Core:
    settings: Settings
    hs: Hindsight
    state: State
    config: ConfigFile
    journal: Journal
    ingester: Ingester
    store_lock: threading.Lock

    @classmethod
    def open(cls, settings: Settings, segment_age_s: float = 1.0) -> Core:
        directory = serve_dir(settings.data)
        directory.mkdir(parents=True, exist_ok=True)
        config = ConfigFile(directory / "config.json")
        state = State(directory / "state.sqlite")
        journal = Journal(directory / "journal", segment_age_s=segment_age_s)
        hs = Hindsight(settings.data, **_store_settings(settings))
        lock = threading.Lock()
        ingester = Ingester(hs, journal, lock)
        return cls(settings, hs, state, config, journal, ingester, lock)

    def start(self) -> None:
        self.ingester.start()
        self._flusher_stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="checkins", daemon=True)
        self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._flusher_stop.wait(1.0):
            try:
                self.state.flush_checkins()
            except Exception as exc:
                log.error("check-ins not written: %s", exc)

    def close(self) -> None:
        """Stop taking lines, ingest every acknowledged one, close everything."""
        if hasattr(self, "_flusher_stop"):
            self._flusher_stop.set()
        self.journal.close()
        self.ingester.stop()
        self.ingester.drain()
        self.state.close()
        self.hs.close()


def _store_settings(settings: Settings) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(settings, f.name) for f in fields(settings) if f.name != "data"}
