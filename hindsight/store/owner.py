"""One writer at a time: an exclusive lock on a file beside the store, held from a writer's
open to its close.

DuckDB's own lock lives on the store's file, and goes with it: when the store is copied into a
fresh file (`Store.reclaim`) the old file is closed and then replaced, and a second process
could open it in between, then write to a file about to be replaced (its lines lost) or next
to a WAL that no longer matches. This lock is on another file, and is held across the copy.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from hindsight.errors import StoreError

LOCK_FILE = "hindsight.lock"


class Owner:
    """The lock of the data directory DATA, taken now; `release()` lets it go."""

    def __init__(self, data: Path) -> None:
        self.path = data / LOCK_FILE
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the store's lock {self.path}: {exc}") from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = self._holder()
            self.release()
            raise StoreError(
                f"the store in {data} is open for writing by another process{holder}: "
                "one process writes a store at a time (stop it, or query through it)"
            ) from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def _holder(self) -> str:
        assert self._fd is not None
        try:
            pid = os.pread(self._fd, 32, 0).decode().strip()
        except OSError:
            return ""
        return f" (pid {pid})" if pid.isdigit() else ""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # (closing it lets the lock go)
            self._fd = None
