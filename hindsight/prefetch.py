"""Run an iterator one step ahead in a thread, so that producing the next item (reading and
splitting lines: Python) overlaps with consuming this one (DuckDB, which releases the GIL)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def prefetch(items: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """Yield `items`' items, producing up to `depth` ahead in a daemon thread. An exception of
    the producer is raised here, at the item it failed on; closing this generator stops it."""
    ahead: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # in this thread: a generator closes where it runs
        put(_DONE)

    thread = threading.Thread(target=produce, name="hindsight-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ahead.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)  # a producer blocked on stdin is a daemon: left behind


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
