"""Time bounds of statements: one thread interrupts what runs past its deadline.

A `threading.Timer` per statement starts a thread each time, about 0.3 ms: as much as a small
query, and an investigation runs several. Here one daemon thread sleeps until the earliest
deadline; a statement that ends in time only removes its entry.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Watchdog:
    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int]] = []  # (deadline, token); ended ones skipped lazily
        self._live: dict[int, Callable[[], object]] = {}
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None
        self.stopped = False  # stop_all was called: an interrupted statement was stopped

    @contextmanager
    def bound(self, seconds: float, interrupt: Callable[[], object]) -> Iterator[None]:
        """Call `interrupt` if the block is still running after `seconds`."""
        with self._cv:
            token = next(self._tokens)
            self._live[token] = interrupt
            heapq.heappush(self._heap, (time.monotonic() + seconds, token))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="hindsight-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0][1] == token:
                self._cv.notify()  # the new deadline comes first
        try:
            yield
        finally:
            with self._cv:
                self._live.pop(token, None)

    def stop_all(self) -> None:
        """Interrupt every statement running now (a Ctrl-C); `stopped` then tells it from a
        time bound."""
        with self._cv:
            self.stopped = True
            live = list(self._live.values())
        for interrupt in live:
            _call(interrupt)

    def _loop(self) -> None:
        with self._cv:
            while True:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # ended in time
                if not self._heap:
                    self._cv.wait()
                    continue
                deadline, token = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                heapq.heappop(self._heap)
                interrupt = self._live.pop(token)
                self._cv.release()
                try:
                    _call(interrupt)
                finally:
                    self._cv.acquire()


def _call(interrupt: Callable[[], object]) -> None:
    """Stop a statement; one that ended in between (its cursor closed) has nothing left to
    stop, and the caller (the watchdog's thread) must live on."""
    with contextlib.suppress(Exception):
        interrupt()


WATCHDOG = Watchdog()
