"""What only the receiver can tell: a request that continues an execution, or one sent again.

osqueryd's TLS logger sends up to `--logger_tls_max_lines` buffered lines per request, in buffer
key order (FORMATS.md 3.2.4), so a large execution in event format arrives across several
requests, and two identical rows of it (two `bash` processes) may land in two of them. Read
request by request, the second would look like a copy of the first (identical lines count as rows
only within one scope, hindsight.osquery.scopes) and be lost. osqueryd also sends a request
again when its acknowledgement was lost, and then it sends the same buffered lines first: the
head of its buffer was not deleted.

So the receiver, which sees each node's requests in order, numbers the identical lines of each
execution across the node's requests (`occurrences`), and recognises a request that begins with
all the lines of the node's previous one as sent again (`copies`: those first lines). Both go
into the journal record (server/records.py), so every later reading of it (the store, the lake,
an ingest again after a crash) gives the same keys. After a restart the receiver remembers
nothing: a request sent again is then caught by the dedupe (its lines' occurrences start at 0
again, as the first time), and an execution continued across the restart counts its identical
rows within each request, as without this module.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson
import xxhash

#: Executions remembered per node (an execution's lines spread over the requests of a few
#: seconds: `_10` sorts before `_9`, so one second's lines interleave executions).
EXECUTIONS_KEPT = 16


@dataclass
class Marks:
    """A request's lines as the receiver sees them: the first COPIES were sent before (the
    previous request again); OCCURRENCES[i], for line i, how many identical lines of its
    execution the node sent before it (only the nonzero ones). The node's memory takes them
    only once the request is recorded (`Continuity.recorded`): a request refused is sent again
    and must be read as new."""

    copies: int = 0
    occurrences: dict[int, int] = field(default_factory=dict)
    _lines: tuple[int, int] = (0, 0)
    _counted: list[tuple[tuple[str, ...], int]] = field(default_factory=list)


@dataclass
class _Node:
    previous: tuple[int, int] = (0, 0)  # (lines, digest of their hashes) of the last request
    executions: OrderedDict[tuple[str, ...], Counter[int]] = field(default_factory=OrderedDict)


class Continuity:
    """Per node, the previous request and the line counts of its recent executions."""

    def __init__(self, executions_kept: int = EXECUTIONS_KEPT) -> None:
        self.executions_kept = executions_kept
        self._nodes: dict[str, _Node] = {}
        self._lock = threading.Lock()

    def mark(self, node: str, lines: list[dict[str, Any]]) -> Marks:
        """The marks of a result request's LINES (decoded objects) from NODE, in order."""
        hashes = [xxhash.xxh3_64_intdigest(orjson.dumps(line)) for line in lines]
        with self._lock:
            state = self._nodes.get(node) or _Node()
            marks = Marks(copies=_copies(state.previous, hashes))
            marks._lines = (len(hashes), _digest(hashes))
            pending: Counter[tuple[tuple[str, ...], int]] = Counter()
            for i in range(marks.copies, len(lines)):
                execution = _execution(lines[i])
                known = state.executions.get(execution)
                seen = (known[hashes[i]] if known else 0) + pending[(execution, hashes[i])]
                pending[(execution, hashes[i])] += 1
                marks._counted.append((execution, hashes[i]))
                if seen:
                    marks.occurrences[i] = seen
        return marks

    def recorded(self, node: str, marks: Marks) -> None:
        """NODE's request, marked MARKS, is in the journal: remember it."""
        with self._lock:
            state = self._nodes.setdefault(node, _Node())
            for execution, line in marks._counted:
                self._counts(state, execution)[line] += 1
            state.previous = marks._lines

    def _counts(self, state: _Node, execution: tuple[str, ...]) -> Counter[int]:
        counts = state.executions.get(execution)
        if counts is None:
            counts = state.executions[execution] = Counter()
            while len(state.executions) > self.executions_kept:
                state.executions.popitem(last=False)
        else:
            state.executions.move_to_end(execution)
        return counts


def _copies(previous: tuple[int, int], hashes: list[int]) -> int:
    """How many first lines repeat the previous request: all of its lines, or none."""
    n, digest = previous
    return n if 0 < n <= len(hashes) and _digest(hashes[:n]) == digest else 0


def _digest(hashes: list[int]) -> int:
    return xxhash.xxh3_64_intdigest(b"".join(h.to_bytes(8, "little") for h in hashes))


def _execution(line: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(line.get(k)) for k in ("name", "unixTime", "epoch", "counter", "hostIdentifier")
    )
