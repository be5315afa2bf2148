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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
    _counted: list[tuple[Execution, int]] = field(default_factory=list)
    _executions: set[Execution] = field(default_factory=set)  # of every line, copies too

    @property
    def copies(self) -> int | list[int]:
        """COPIED as the journal writes it: a count when they are the first lines."""
        n = len(self.copied)
        return n if self.copied == list(range(n)) else self.copied


@dataclass
class _Node:
    previous: array[int] = field(default_factory=lambda: array("Q"))  # the last request's lines
    executions: dict[Execution, Counter[int]] = field(default_factory=dict)  # of `previous`
    previous_status: array[int] = field(default_factory=lambda: array("Q"))  # the last status


class Continuity:
    """Per node, the previous request and the line counts of the executions it held."""

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}
        self._lock = threading.Lock()

    def mark(self, node: str, lines: Sequence[JSONText]) -> Marks:
        """The marks of a result request's LINES (each one's JSON text) from NODE, in order."""
        hashes, executions = _digest(lines)
        with self._lock:
            state = self._nodes.get(node) or _Node()
            marks = Marks(copied=_copied(state.previous, hashes), _hashes=hashes)
            copied = set(marks.copied)
            pending: Counter[tuple[Execution, int]] = Counter()
            for i, execution in enumerate(executions):
                marks._executions.add(execution)
                if i in copied:
                    continue
                known = state.executions.get(execution)
                seen = (known[hashes[i]] if known else 0) + pending[(execution, hashes[i])]
                pending[(execution, hashes[i])] += 1
                marks._counted.append((execution, hashes[i]))
                if seen:
                    marks.occurrences[i] = seen
        return marks

    def recorded(self, node: str, marks: Marks) -> None:
        """NODE's request, marked MARKS, is in the journal: remember it, and the executions it
        held (an execution absent from it is over: see the module docstring)."""
        with self._lock:
            state = self._nodes.setdefault(node, _Node())
            kept = {e: state.executions.get(e) or Counter() for e in marks._executions}
            for execution, line in marks._counted:
                kept[execution][line] += 1
            state.executions = kept
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


class _Head(msgspec.Struct):
    """The members of a result line that name its execution (osquery's names); the decoder
    skips the others without building them."""

    name: Any = None
    unixTime: Any = None
    epoch: Any = None
    counter: Any = None
    hostIdentifier: Any = None


_HEAD = msgspec.json.Decoder(_Head)


def _digest(lines: Sequence[JSONText]) -> tuple[array[int], list[Execution]]:
    """The hash and the execution of each of LINES, one at a time (a body's lines decoded all
    at once took ~9x its bytes). A line's hash is of its JSON text as sent: osqueryd sends a
    line again with the same bytes (its buffer holds them), and writes identical rows alike.
    Hashing the text, and decoding only the head, costs ~4 us a line of the bench's mixed
    lines; decoding each line and encoding it again to hash it cost ~15 us, on the event
    loop: the HTTP process's largest cost (44 % of its samples at 1,000 hosts)."""
    hashes: array[int] = array("Q")
    executions: list[Execution] = []
    same: dict[Execution, Execution] = {}  # one tuple per execution, however many lines
    for text in lines:
        hashes.append(xxhash.xxh3_64_intdigest(memoryview(text)))
        head = _HEAD.decode(text)
        execution = tuple(
            map(str, (head.name, head.unixTime, head.epoch, head.counter, head.hostIdentifier))
        )
        executions.append(same.setdefault(execution, execution))
    return hashes, executions


def _copied(previous: array[int], hashes: array[int]) -> list[int]:
    """The positions of HASHES that hold all of PREVIOUS in its order (the earliest such), or
    none: the previous request sent again, with the lines buffered since among its own."""
    if not previous or len(previous) > len(hashes):
        return []
    found, j = [], 0
    for i, h in enumerate(hashes):
        if h == previous[j]:
            found.append(i)
            j += 1
            if j == len(previous):
                return found
    return []
