"""The prefetching iterator: same items in order, the producer's error raised at its place, and
an early stop ends the producer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from hindsight.prefetch import prefetch


def test_items_in_order() -> None:
    assert list(prefetch(iter(range(1000)), depth=3)) == list(range(1000))


def test_the_producers_error_is_raised_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad line")

    got = []
    with pytest.raises(ValueError, match="bad line"):
        for item in prefetch(items()):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_closes_the_producer() -> None:
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            yield from range(10**9)
        finally:
            closed.set()

    for item in prefetch(items()):
        if item == 5:
            break
    assert closed.wait(5)
