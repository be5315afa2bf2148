"""The store in its own process: the ingester and the queries of the API run there.

Ingest is Python-heavy and would hold the GIL of the process that answers osqueryd; in a process
of its own it cannot slow an acknowledgement, and neither can a slow query. The server talks to
it over a pipe: `call("sql", statement, at)` runs `Hindsight.sql` there and returns its Result.
With `hindsight serve --lake` the process holds no store: its ingester publishes to the lake and
it answers `stats` only (questions raise LakeMode here, before the pipe).

If the server dies (SIGKILL included) the pipe closes and the store process exits at once, as if
it had crashed too: the journal and the store's dedupe make that safe (see journal.py).
"""

from __future__ import annotations

import functools
import itertools
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from hindsight.errors import HindsightError, InputError, QueryError, QueryTimeout, StoreError
from hindsight.settings import Settings, size_bytes

log = logging.getLogger("hindsight.serve")

#: methods of Hindsight that may not be called through the pipe (writes are the ingester's)
_FORBIDDEN = {"ingest", "rebuild", "close", "open"}
_SIGNALS = {signal.SIGINT, signal.SIGTERM}
#: niceness added to the store process (its DuckDB threads included)
STORE_NICE = 10
_KINDS: dict[str, type[HindsightError]] = {
    "timeout": QueryTimeout,
    "input": InputError,
    "query": QueryError,
    "store": StoreError,
    "other": HindsightError,
}


def _kind(exc: BaseException) -> str:
    if isinstance(exc, QueryTimeout):
        return "timeout"
    if isinstance(exc, InputError):
        return "input"
    if isinstance(exc, QueryError):
        return "query"
    if isinstance(exc, StoreError):
        return "store"
    return "other"


class StoreProcess:
    """The parent's handle on the store process."""

    def __init__(self, settings: Settings, journal_dir: Path) -> None:
        self.settings = settings
        self.journal_dir = journal_dir
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closing = False
        self.restarts = 0
        self._spawn()

    def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._child_conn = child
        self._proc = ctx.Process(
            target=child_main, args=(self.settings, self.journal_dir, child), name="hindsight-store"
        )

    def start(self) -> None:
        # the child starts with SIGINT/SIGTERM ignored (an ignored signal stays ignored across
        # exec, and Python then leaves it so): a Ctrl-C to the process group cannot kill it
        # while it imports. signal.signal works in the main thread only; a restart from another
        # thread goes without (a signal in that moment kills it, and it is restarted again).
        main = threading.current_thread() is threading.main_thread()
        saved = {s: signal.signal(s, signal.SIG_IGN) for s in _SIGNALS} if main else {}
        try:
            self._proc.start()
        finally:
            for signum, handler in saved.items():
                signal.signal(signum, handler)
        self._child_conn.close()

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def ensure_running(self) -> bool:
        """Start the store process again if it died (killed, out of memory); True if it did.
        Nothing is lost: what it had not ingested is still in the journal."""
        with self._lock:
            if self._closing or self._proc.is_alive():
                return False
            log.error("the store process exited (code %s): starting it again", self._proc.exitcode)
            self._conn.close()
            self._spawn()
            self.start()
            self.restarts += 1
            return True

    def call(self, method: str, *args: Any, timeout_s: float | None = None) -> Any:
        """Run METHOD in the store process; its errors are raised here."""
        if self.settings.lake and method not in ("stats", "close"):
            from hindsight.server.targets import LakeMode

            raise LakeMode(self.settings.lake, method)
        wait = timeout_s if timeout_s is not None else self.settings.query_timeout_s + 600
        with self._lock:
            rid = next(self._ids)
            try:
                self._conn.send((rid, method, args))
                deadline = time.monotonic() + wait
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._conn.poll(left):
                        raise StoreError(f"the store did not answer {method} within {wait:g} s")
                    got, status, value = self._conn.recv()
                    if got == rid:  # an answer to an earlier call that timed out is dropped
                        break
            except (EOFError, OSError) as exc:
                raise StoreError(f"the store process is not running ({exc})") from None
        if status == "ok":
            return value
        kind, message = value
        raise _KINDS.get(kind, HindsightError)(message)

    def close(self, timeout_s: float = 600) -> None:
        """Ingest everything acknowledged, close the store, end the process."""
        self.ensure_running()
        self._closing = True
        if self._proc.is_alive():
            try:
                self.call("close", timeout_s=timeout_s)
            except HindsightError as exc:
                log.error("store process did not close cleanly: %s", exc)
        self._proc.join(timeout=30)
        if self._proc.is_alive():
            self._proc.kill()
        self._conn.close()


def _open_store(settings: Settings, patience_s: float = 60.0) -> Any:
    """Open the store, waiting while an earlier store process (of a killed server) lets go."""
    from hindsight.api import Hindsight

    deadline = time.monotonic() + patience_s
    for attempt in itertools.count():
        try:
            return Hindsight(settings.data, **_store_settings(settings))
        except StoreError as exc:
            if time.monotonic() > deadline:
                raise
            if attempt == 0:
                log.warning("the store is busy, waiting up to %g s: %s", patience_s, exc)
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _store_settings(settings: Settings) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(settings, f.name) for f in fields(settings) if f.name != "data"}


def _extension(hs: Any, method: str) -> Any:
    """`investigate.<name>`: an investigation; `console.<name>`: a console page's data."""
    package, _, name = method.partition(".")
    if package == "investigate" and not name.startswith("_") and hasattr(hs.investigate, name):
        return getattr(hs.investigate, name)
    from hindsight.console.data import CALLS

    if package == "console" and name in CALLS:
        return functools.partial(CALLS[name], hs)
    raise InputError(f"no such question: {method}")


def cap_memory(limit: int) -> None:
    """Bound the process's address space: DuckDB computes 2,048 rows at a time, so one
    statement of huge values (`repeat('x', 5000000)`) could take the machine's memory before any
    bound of a query acts; past LIMIT it fails with an out-of-memory error instead. Ingest and
    the questions take turns (one lock), so what a failed question took is free again for the
    next. (Ingest of the bench files peaks at some 2.7 GB of address space.)"""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def child_main(settings: Settings, journal_dir: Path, conn: Connection) -> None:
    """The store process: ingester thread, and the calls of the server one at a time."""
    from hindsight.server.ingester import Ingester
    from hindsight.server.journal import JournalReader
    from hindsight.server.targets import LakeMode, LakeTarget, StoreTarget, Target

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s store: %(message)s")
    # Ctrl-C and a service manager's SIGTERM reach the whole process group: the server decides
    # when this process closes (after draining the journal); if the server dies, the pipe says so
    for signum in _SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    # acknowledgements first: when the cores are busy, ingest (and a query) yields to the HTTP
    # process; it catches up from the journal with the time left over
    os.nice(STORE_NICE)
    cap_memory(size_bytes(settings.serve_max_memory))
    parent = os.getppid()
    lock = threading.Lock()
    hs = None if settings.lake else _open_store(settings)
    target: Target = LakeTarget(settings, journal_dir) if hs is None else StoreTarget(hs, lock)
    ingester = Ingester(
        target,
        JournalReader(journal_dir),
        maintain_every_s=settings.serve_maintain_s,
        gather_s=settings.serve_gather_s,
    )
    ingester.start()
    while True:
        try:
            if not conn.poll(1.0):
                if os.getppid() != parent:
                    os._exit(0)
                continue
            rid, method, args = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the server is gone: stop at once, as a crash would
        if method == "close":
            ingester.stop_and_drain()
            if hs is not None:
                hs.close()
            conn.send((rid, "ok", None))
            return
        try:
            if method == "stats":
                value: Any = ingester.stats.as_dict()
            elif hs is None:
                raise LakeMode(settings.lake, method)
            elif method.startswith(("investigate.", "console.")):
                with lock:
                    value = _extension(hs, method)(*args)
            elif method.startswith("_") or method in _FORBIDDEN or not hasattr(hs, method):
                raise InputError(f"no such question: {method}")
            else:
                with lock:
                    value = getattr(hs, method)(*args)
        except HindsightError as exc:
            conn.send((rid, "err", (_kind(exc), str(exc))))
        except Exception as exc:
            conn.send((rid, "err", ("other", f"{type(exc).__name__}: {exc}")))
        else:
            conn.send((rid, "ok", value))
