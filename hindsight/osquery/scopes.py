"""Where identical lines are rows and where they are copies: the scope of a line.

osquery reports a result set as a multiset: one execution may hold identical rows, in event
format identical lines, not necessarily next to each other (`added` rows come in the query's
result order; a TLS request orders its lines by buffer key, `_10` before `_9`). Delivery is
at-least-once: a request may come again, whole. So identical lines count as rows within one
*scope* and as copies across scopes. A scope is a TLS body (one request: its lines are distinct
buffer entries), or in a plain file the run of consecutive lines of one execution (osqueryd
writes an execution's lines together), which goes on in the next rotated file of the same log
read after it (a rotation may cut an execution in two: `X.1` ends it, `X` goes on with it). A batch or snapshot line is its execution whole: an
identical one is a copy, even next to it. A line is known by its content and its occurrence among
identical lines of its scope: the store keeps, per execution, as many copies of a line as the
scope that had the most. The embedded store computes the same in SQL (hindsight.store.keys).
"""

from __future__ import annotations

from hindsight.osquery.blocks import Line
from hindsight.osquery.lines import ResultLine, Shape
from hindsight.osquery.reader import rotation_base


class Occurrences:
    """Counts each line's occurrence in its scope, line after line in read order."""

    def __init__(self) -> None:
        self._scope: tuple[object, ...] | None = None
        self._counts: dict[tuple[str, str, int], int] = {}

    def of(self, line: Line, p: ResultLine) -> int:
        """How many lines identical to LINE (parsed: P) came before it in its scope (or, for a
        line the receiver marked, across the node's requests)."""
        if line.occurrence is not None:
            return line.occurrence
        scope: tuple[object, ...] = (
            (line.origin, line.number)
            if line.item is not None
            else (rotation_base(line.origin), p.host_key, p.name, p.unix_time, p.epoch, p.counter)
        )
        if scope != self._scope:
            self._scope, self._counts = scope, {}
        if p.shape in (Shape.BATCH, Shape.SNAPSHOT):
            return 0  # the line is its execution: an identical one is a copy sent again
        ident = (p.host_key, p.name, p.key)
        n = self._counts.get(ident, 0)
        self._counts[ident] = n + 1
        return n

    def end_scope(self) -> None:
        """The next line starts a scope (another source; a status line between results)."""
        self._scope = None
