"""What only the receiver can tell: a request that continues an execution, or one sent again.

osqueryd's TLS logger sends up to `--logger_tls_max_lines` buffered lines per request, in buffer
key order (FORMATS.md 3.2.4), so a large execution in event format arrives across several
requests, and two identical rows of it (two `bash` processes) may land in two of them. Read
request by request, the second would look like a copy of the first (identical lines count as rows
only within one scope, hindsight.osquery.scopes) and be lost. osqueryd also sends a request
again when its acknowledgement was lost: the lines it sent stay in its buffer, and its next
request holds them again, in the same order, with the lines buffered since placed by their keys
(`tls_r_<time>_<seq>`, sorted as text: a line buffered later in the same second, `_10`, can
come before one buffered earlier, `_9`).

So the receiver, which sees each node's requests in order, numbers the identical lines of each
execution across the node's requests (`occurrences`), and recognises the lines of a request
that hold all the lines of the node's previous one, in their order, as sent again (`copied`).
An execution's lines are logged together, so their buffer keys are neighbours (those of one
second sort together, interleaved with the other lines of that second): an execution split
across requests is in consecutive ones. So the receiver remembers the executions of the node's
last request only, however many others it held: an identical line of an execution that was not
in it is a line sent again later (a relay's resend), a copy, as in a file.
Both go into the journal record (server/records.py), so every later reading of it (the store,
the lake, an ingest again after a crash) gives the same keys. After a restart the receiver
remembers nothing: a request sent again is then caught by the dedupe (its lines' occurrences
start at 0 again, as the first time), and an execution continued across the restart counts its
identical rows within each request, as without this module.

What cannot be told apart: a request whose lines include every line of the previous one, all of
them identical rows of executions that continue in it (two requests of `bash` rows only), is
taken for one sent again.
"""

from __future__ import annotations

import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec
import orjson
import xxhash

Execution = tuple[str, ...]
JSONText = Any  # a line's JSON: bytes, or msgspec.Raw (what memoryview() takes)


@dataclass
class Marks:
    """A request's lines as the receiver sees them: COPIED, the positions of the lines that
    repeat the previous request (sent again); OCCURRENCES[i], for line i, how many identical
    lines of its execution the node sent before it (only the nonzero ones). The node's memory
    takes them only once the request is recorded (`Continuity.recorded`): a request refused is
    sent again and must be read as new."""

    copied: list[int] = field(default_factory=list)
    occurrences: dict[int, int] = field(default_factory=dict)
    _hashes: array[int] = field(default_factory=lambda: array("Q"))
    _executions: frozenset[Execution] = frozenset()  # of every line, copies too
    _sent: _Sent = field(default_factory=lambda: _Sent.of(()))

    @property
    def copies(self) -> int | list[int]:
        """COPIED as the journal writes it: a count when they are the first lines."""
        n = len(self.copied)
        return n if self.copied == list(range(n)) else self.copied


class _Sent(NamedTuple):
    """Lines: each one's hash, and its execution as a place in EXECUTIONS. A node's lines are
    kept so until its next request (a line's text names its execution, so its hash alone is
    counted): in arrays and tuples of strings, which the garbage collector leaves alone. Kept as
    lists and Counters, they were most of what its collections walked, up to ~100 ms a full
    collection of the event loop, at 1,000 hosts."""

    executions: tuple[Execution, ...]
    which: array[int]  # for each line, its execution's place in `executions`
    hashes: array[int]

    @classmethod
    def of(cls, lines: Iterable[tuple[Execution, int]]) -> _Sent:
        places: dict[Execution, int] = {}
        which, hashes = array("I"), array("Q")
        for execution, line in lines:
            which.append(places.setdefault(execution, len(places)))
            hashes.append(line)
        return cls(tuple(places), which, hashes)

    def lines(self) -> Iterator[tuple[Execution, int]]:
        return zip(map(self.executions.__getitem__, self.which), self.hashes, strict=True)


@dataclass
class _Node:
    previous: array[int] = field(default_factory=lambda: array("Q"))  # the last request's lines
    executions: frozenset[Execution] = frozenset()  # of `previous`
    sent: _Sent = field(default_factory=lambda: _Sent.of(()))  # the lines of those
    previous_status: array[int] = field(default_factory=lambda: array("Q"))  # the last status


class Continuity:
    """Per node, the previous request and the line counts of the executions it held."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}
        self._lock = threading.Lock()

    def mark(
        self, node: str, lines: Sequence[JSONText], heads: Sequence[Head] | None = None
    ) -> Marks:
        """The marks of a result request's LINES (each one's JSON text) from NODE, in order.
        HEADS, each line's (`heads`), where the caller has them.

        A line's hash is of its JSON text as sent: osqueryd sends a line again with the same
        bytes (its buffer holds them), and writes identical rows alike. Hashing the text, and
        decoding only the heads, costs ~1.5 us a line of the bench's mixed lines; decoding each
        line and encoding it again to hash it cost ~15 us, on the event loop: the HTTP
        process's largest cost (44 % of its samples at 1,000 hosts)."""
        hashes = array("Q", [xxhash.xxh3_64_intdigest(memoryview(text)) for text in lines])
        sent = _sent(heads if heads is not None else map(_HEAD.decode, lines), hashes)
        with self._lock:
            state = self._nodes.get(node) or _Node()
            marks = Marks(copied=_copied(state.previous, hashes), _hashes=hashes)
            marks._executions = frozenset(sent.executions)
            kept: Sequence[int] = range(len(hashes))
            if marks.copied:
                copied = set(marks.copied)
                kept = [i for i in kept if i not in copied]
                which = array("I", [sent.which[i] for i in kept])
                sent = _Sent(sent.executions, which, array("Q", [hashes[i] for i in kept]))
            marks._sent = sent
            if len(set(sent.hashes)) == len(kept) and state.executions.isdisjoint(
                marks._executions
            ):
                return marks  # (the usual request: no line repeats one sent before it)
            before = Counter(state.sent.hashes)
            pending: Counter[int] = Counter()
            for i, line in zip(kept, sent.hashes, strict=True):
                seen = before[line] + pending[line]
                pending[line] += 1
                if seen:
                    marks.occurrences[i] = seen
        return marks

    def recorded(self, node: str, marks: Marks) -> None:
        """NODE's request, marked MARKS, is in the journal: remember it, and the executions it
        held (an execution absent from it is over: see the module docstring)."""
        with self._lock:
            state = self._nodes.setdefault(node, _Node())
            sent = marks._sent
            if not state.executions.isdisjoint(marks._executions):
                going_on = [pair for pair in state.sent.lines() if pair[0] in marks._executions]
                sent = _Sent.of([*going_on, *sent.lines()])
            state.executions, state.sent = marks._executions, sent
            state.previous = marks._hashes

    def status_fresh(
        self, node: str, lines: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], array[int]]:
        """The lines of a status request from NODE that do not repeat its previous status request
        (sent again after a lost answer), and all the lines' hashes for `status_recorded`."""
        hashes = _hashes(lines)
        with self._lock:
            state = self._nodes.get(node) or _Node()
            again = set(_copied(state.previous_status, hashes))
        return [line for i, line in enumerate(lines) if i not in again], hashes

    def status_recorded(self, node: str, hashes: array[int]) -> None:
        """NODE's status request, of lines HASHES, is kept: the next is compared with it."""
        with self._lock:
            self._nodes.setdefault(node, _Node()).previous_status = hashes


def _hash(line: dict[str, Any]) -> int:
    """A decoded line's hash (independent of the JSON's spacing)."""
    return xxhash.xxh3_64_intdigest(orjson.dumps(line))


def _hashes(lines: list[dict[str, Any]]) -> array[int]:
    return array("Q", map(_hash, lines))


class Head(msgspec.Struct, frozen=True, gc=False):
    """The members of a result line that name its execution (osquery's names); the decoder
    skips the others without building them."""

    name: Any = None
    unixTime: Any = None
    epoch: Any = None
    counter: Any = None
    hostIdentifier: Any = None


_HEAD = msgspec.json.Decoder(Head)
_HEADS = msgspec.json.Decoder(list[Head])


#: A request of more lines than this has its heads decoded one at a time (`heads`)
HEADS_AT_ONCE = 4096


def heads(data: JSONText, lines: int) -> list[Head] | None:
    """The head of each line of DATA, a JSON array of LINES result lines, decoded in one call:
    ~2x faster than one at a time, which `mark` does for a request of more than HEADS_AT_ONCE
    lines (None here: their heads would take 2-3x the body's bytes; osqueryd sends at most
    1,024 lines a request by default). Raises msgspec.DecodeError when an item is not an
    object."""
    return _HEADS.decode(data) if lines <= HEADS_AT_ONCE else None


def _sent(heads: Iterable[Head], hashes: array[int]) -> _Sent:
    """The lines of HEADS and HASHES (`_Sent.of`, from heads: an execution's lines are
    neighbours, so a head is mostly compared with the one before it, and its execution is made
    once)."""
    places: dict[Head, int] = {}
    executions: list[Execution] = []
    which = array("I")
    previous: Head | None = None
    place = 0
    for head in heads:
        if head != previous:
            try:
                place = places.setdefault(head, len(executions))
            except TypeError:  # (a member that is an array or an object)
                place = len(executions)
            if place == len(executions):
                executions.append(_execution(head))
            previous = head
        which.append(place)
    return _Sent(tuple(executions), which, hashes)


def _execution(head: Head) -> Execution:
    return tuple(
        map(str, (head.name, head.unixTime, head.epoch, head.counter, head.hostIdentifier))
    )


def _copied(previous: array[int], hashes: array[int]) -> list[int]:
    """The positions of HASHES that hold all of PREVIOUS in its order (the earliest such), or
    none: the previous request sent again, with the lines buffered since among its own."""
    if not previous or len(previous) > len(hashes) or previous[0] not in hashes:
        return []  # (the usual request: checked at C speed)
    start = hashes.index(previous[0])
    found, j = [], 0
    for i in range(start, len(hashes)):
        if hashes[i] == previous[j]:
            found.append(i)
            j += 1
            if j == len(previous):
                return found
    return []
