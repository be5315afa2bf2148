"""A batch's lines without a Python object per line: the reader's usual block of a file (plain
JSON lines, none blank nor too long) stays one `Block`, its bytes as read and where its newlines
are, and becomes `Line`s only where one is asked for (a batch's first and last lines, a rejected
one). The native first stage parses the lines where they are (`Lines.segments`): reading,
splitting and joining them again line by line was a sixth of ingest's CPU.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate
from typing import TypeAlias, overload

import msgspec

from hindsight.osquery.lines import Parsed


class Line(msgspec.Struct, gc=False):
    """A line read, with where it was. (A msgspec Struct: created in C, 2.5x faster than a
    slotted dataclass, a sixth of reading a file; not tracked by the cyclic collector, as a
    line refers to no line.)"""

    origin: str  # file path or "-" for stdin
    number: int  # 1-based line number (or data[] index + 1 inside a TLS body)
    raw: bytes
    parsed: Parsed | None  # None when rejected
    error: str | None = None
    item: int | None = None  # index (1-based) in the `data` array of a one-line TLS body
    end: int = 0  # byte offset just past the line in its (decompressed) file
    eof: bool = False  # the last line of its file (set by the batcher of a followed file)
    # the last line of a batch cut inside its execution, which goes on in the next batch (an
    # execution of more lines than two batches hold), or of a followed file's read, whose
    # execution may go on in the next read: hindsight.store.carry
    cut: bool = False
    # among identical lines of its execution, the receiver's count (journal records only:
    # hindsight.server.continuity); None: counted within its scope (hindsight.osquery.scopes)
    occurrence: int | None = None
    node: str | None = None  # the host uuid of the journal record it came from

    @property
    def where(self) -> str:
        suffix = f" (data[{self.item - 1}])" if self.item is not None else ""
        return f"{self.origin}:{self.number}{suffix}"

    def kept_reason(self, reason: str) -> str:
        """REASON as a rejected line keeps it: with what `source` and `line` do not tell, its
        place in a TLS body's `data` and the node of a journal record (whose segment is gone
        once ingested)."""
        place = [f"data[{self.item - 1}]"] if self.item is not None else []
        place += [f"host {self.node}"] if self.node else []
        return f"{reason} ({', '.join(place)})" if place else reason


#: A run of lines in one buffer: line j is `data[nl[j] + 1:nl[j + 1]]` (native/src/segments.rs).
Segment: TypeAlias = "tuple[bytes, array[int]]"


class Block:
    """Lines of one block of a file: line k is `data[nl[k] + 1:nl[k + 1]]`, numbered `number +
    k`, ending (past its newline) at `base + nl[k + 1] + 1` in the file."""

    __slots__ = ("base", "data", "nl", "number", "origin")

    def __init__(self, origin: str, data: bytes, nl: array[int], number: int, base: int) -> None:
        self.origin, self.data, self.nl, self.number, self.base = origin, data, nl, number, base

    def __len__(self) -> int:
        return len(self.nl) - 1

    def line(self, k: int) -> Line:
        a, b = self.nl[k] + 1, self.nl[k + 1]
        return Line(self.origin, self.number + k, self.data[a:b], None, end=self.base + b + 1)

    def part(self, a: int, b: int) -> Block:
        """Its lines A to B (excluded)."""
        return Block(self.origin, self.data, self.nl[a : b + 1], self.number + a, self.base)

    def size(self, a: int, b: int) -> int:
        """The bytes of its lines A to B (excluded), without their newlines."""
        return self.nl[b] - self.nl[a] - (b - a)

    def fit(self, a: int, most: int, room: int) -> int:
        """How many of its lines from A to take: at most MOST, up to the one whose bytes reach
        ROOM (included)."""
        b = min(len(self), a + most)
        base = self.nl[a] - a
        # (the first k with size(a, k) >= room: size grows with k)
        reach = bisect.bisect_left(range(a + 1, b + 1), room, key=lambda k: self.nl[k] - k - base)
        return min(reach + 1, b - a)


class Lines(Sequence[Line]):
    """A batch's lines, `Line`s and `Block`s in read order. A line of a block asked for by index
    is made once and kept (so what is set on it stays: a batch's last line's `cut`)."""

    def __init__(self, items: Iterable[Line | Block] = ()) -> None:
        self.items: list[Line | Block] = []
        self.ends: list[int] = []  # lines up to the end of each item
        self.made: dict[int, Line] = {}
        for item in items:
            self.add(item)

    def add(self, item: Line | Block) -> None:
        n = len(item) if isinstance(item, Block) else 1
        if n:
            self.items.append(item)
            self.ends.append(len(self) + n)

    def extend(self, other: Lines) -> None:
        for item in other.items:
            self.add(item)

    def __len__(self) -> int:
        return self.ends[-1] if self.ends else 0

    @overload
    def __getitem__(self, i: int) -> Line: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Line]: ...
    def __getitem__(self, i: int | slice) -> Line | Sequence[Line]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("line index out of range")
        at = bisect.bisect_right(self.ends, i)
        item = self.items[at]
        if isinstance(item, Line):
            return item
        line = self.made.get(i)
        if line is None:
            line = self.made[i] = item.line(i - (self.ends[at] - len(item)))
        return line

    def __iter__(self) -> Iterator[Line]:
        for at, item in enumerate(self.items):
            if isinstance(item, Line):
                yield item
            else:
                yield from (self[k] for k in range(self.ends[at] - len(item), self.ends[at]))

    def pop(self) -> Line:
        """Take its last line off."""
        line = self[-1]
        self.made.pop(len(self) - 1, None)
        item = self.items[-1]
        if isinstance(item, Block) and len(item) > 1:
            self.items[-1] = item.part(0, len(item) - 1)
            self.ends[-1] -= 1
        else:
            self.items.pop()
            self.ends.pop()
        return line

    def take(self, at: int, most: int, room: int) -> tuple[Lines, int]:
        """Its lines from AT on, as read: at most MOST, up to the one whose bytes reach ROOM
        (included); and their bytes."""
        out, held = Lines(), 0
        k = bisect.bisect_right(self.ends, at)
        while k < len(self.items) and len(out) < most and held < room:
            item = self.items[k]
            if isinstance(item, Line):
                out.add(item)
                held += len(item.raw)
            else:
                a = max(at - (self.ends[k] - len(item)), 0)
                n = item.fit(a, most - len(out), room - held)
                out.add(item if a == 0 and n == len(item) else item.part(a, a + n))
                held += item.size(a, a + n)
            k += 1
        return out, held

    def _length(self, k: int) -> int:
        item = self.items[k]
        return len(item) if isinstance(item, Block) else 1

    def errors(self) -> list[Line]:
        """Its lines the reader could not read (a block holds none)."""
        return [item for item in self.items if isinstance(item, Line) and item.error is not None]

    def without_errors(self) -> Lines:
        """Its lines but those the reader could not read (itself when there are none)."""
        if not self.errors():
            return self
        return Lines(line for line in self if line.error is None)

    def tails(self) -> list[Line]:
        """The last line of each of its items (what the last line of each file is among)."""
        return [self[end - 1] for end in self.ends]

    def spans(self) -> list[tuple[Line, int]]:
        """Each item as its first line and its count of lines (a block's lines share their
        origin, and are neither TLS bodies nor journal records)."""
        return [(self[end - self._length(k)], self._length(k)) for k, end in enumerate(self.ends)]

    def segments(self) -> list[Segment]:
        """Its lines as read, as the native library reads them in place (native/src/
        segments.rs): each block as it was read, each run of other lines joined."""
        out: list[Segment] = []
        run: list[bytes] = []
        for item in self.items:
            if isinstance(item, Line):
                run.append(item.raw)
                continue
            if run:
                out.append(joined(run))
                run = []
            out.append((item.data, item.nl))
        if run:
            out.append(joined(run))
        return out


def joined(raws: Sequence[bytes]) -> Segment:
    """RAWS as one segment: joined by newlines."""
    return b"\n".join(raws), array("q", accumulate((len(r) + 1 for r in raws), initial=-1))
