"""The receiver's marks: identical lines of one execution counted across a node's requests, a
request sent again recognised, and both read back the same by the store and the lake."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

import hindsight
from hindsight.lake import LakeWriter
from hindsight.osquery.reader import read_lines
from hindsight.server import continuity, records
from hindsight.server.continuity import Continuity, Marks

T0 = 1_718_236_800


def _line(value: str, t: int = T0) -> dict[str, Any]:
    return {"name": "procs", "hostIdentifier": "h", "unixTime": t, "epoch": 0, "counter": 0,
            "columns": {"name": value}, "action": "added"}


def _recorded(c: Continuity, node: str, lines: list[dict[str, Any]]) -> Marks:
    marks = c.mark(node, [orjson.dumps(line) for line in lines])
    c.recorded(node, marks)
    return marks


def test_marks_count_across_requests_and_know_a_request_sent_again() -> None:
    c = Continuity()
    a, b, x = _line("a"), _line("b"), _line("x", T0 + 1)
    first = _recorded(c, "n1", [a, b, a])
    assert (first.copied, first.occurrences) == ([], {2: 1})
    second = _recorded(c, "n1", [a, x])
    assert (second.copied, second.occurrences) == ([], {0: 2})
    again = _recorded(c, "n1", [a, x, b])  # the previous request, then a new line
    assert (again.copied, again.copies, again.occurrences) == ([0, 1], 2, {2: 1})
    assert _recorded(c, "n2", [a]).occurrences == {}  # another node counts its own
    _recorded(c, "n1", [_line("y", T0 + 6)])  # a request without a's execution: it is over,
    assert _recorded(c, "n1", [a]).occurrences == {}  # and a line of it again is a copy


def test_a_request_sent_again_is_known_with_later_lines_among_its_own() -> None:
    """osqueryd's buffer keys sort as text (`_10` before `_9`, FORMATS.md 3.2.4): a request sent
    again holds the previous one's lines in their order, with lines buffered since anywhere."""
    c = Continuity()
    r22, r443, q2 = _line("22"), _line("443"), _line("q2", T0 + 1)
    _recorded(c, "n1", [r22, r443])  # (its acknowledgement lost)
    again = _recorded(c, "n1", [q2, r22, _line("80"), r443])
    assert (again.copied, again.copies, again.occurrences) == ([1, 3], [1, 3], {})
    reordered = _recorded(c, "n1", [r443, r22])  # not in their order: new rows
    assert (reordered.copied, reordered.occurrences) == ([], {0: 1, 1: 1})


def test_an_execution_split_by_many_others_of_its_second_counts_its_identical_rows() -> None:
    """A schedule's first run logs every query in the same second, and their lines reach the
    requests interleaved: an execution is remembered whatever the number between its parts."""
    c = Continuity()
    bash = _line("bash")
    others = [{**_line("x"), "name": f"q{i}"} for i in range(300)]
    _recorded(c, "n1", [bash, *others])
    assert _recorded(c, "n1", [bash]).occurrences == {0: 1}


def test_an_execution_across_consecutive_requests_counts_all_its_identical_rows() -> None:
    """An execution's lines are buffer-key neighbours: split, it is in consecutive requests;
    identical lines of one that the previous request did not hold are a relay's resend."""
    c = Continuity()
    bash, x1, x2 = _line("bash"), _line("x1"), _line("x2")
    assert [_recorded(c, "n1", r).occurrences for r in ([bash, x1], [bash, x2], [bash])] == [
        {}, {0: 1}, {0: 2}]
    _recorded(c, "n1", [_line("y", T0 + 60)])
    assert _recorded(c, "n1", [bash]).occurrences == {}  # after a request without it


def test_a_request_not_recorded_is_not_remembered() -> None:
    """A request the journal refused comes again: it is new, not a copy."""
    c = Continuity()
    a, b = _line("a"), _line("b")
    _recorded(c, "n1", [a])
    refused = c.mark("n1", [orjson.dumps(a)])  # (its append failed: not recorded)
    assert (refused.copied, refused.occurrences) == ([0], {})
    c.mark("n1", [orjson.dumps(b)] * 2)
    assert c.mark("n1", [orjson.dumps(b)] * 2).occurrences == {1: 1}


def test_marked_records_read_back_alike_in_the_store_and_the_lake(tmp_path: Path) -> None:
    c = Continuity()
    a, b = _line("a"), _line("b")
    c_ = {**_line("c", T0 + 1), "counter": 1}
    # the third sends the second again, the 4th is new, the 5th sends it again among new lines
    requests = [[a, b, a], [a], [a], [b], [c_, a, b]]
    segment = tmp_path / "000000000001.jsonl"
    with segment.open("wb") as f:
        for data in requests:
            marks = _recorded(c, "U-1", data)
            body = orjson.dumps({"node_key": "", "log_type": "result", "data": data})
            if len(marks.copied) < len(data):
                f.write(records.record("U-1", body, None, marks))
    read = [ln for ln in read_lines(segment, 1 << 20) if ln.error is None]
    assert [ln.occurrence for ln in read] == [0, 0, 1, 2, 1, 0, 3]
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([segment])
        rows = hs.sql("SELECT name, count(*) FROM procs GROUP BY ALL ORDER BY ALL", at=T0).rows
        assert rows == [("a", 4), ("b", 2)]
        assert hs.sql("SELECT count(*) FROM procs", at=T0 + 1).rows == [(7,)]
        assert hs.ingest([segment]).duplicates == 7
    writer = LakeWriter(str(tmp_path / "lake"))
    writer.write(read)
    writer.write(list(read_lines(segment, 1 << 20)))  # published again: the same keys
    [(keys,)] = duckdb.sql(
        f"SELECT count(DISTINCT line_key) FROM read_parquet('{tmp_path}/lake/raw/*/*/*.parquet')"
    ).fetchall()
    assert keys == 7


class _Reference:
    """The receiver's rule (the module docstring), line by line and without shortcuts: the
    oracle for Continuity's fast paths."""

    def __init__(self) -> None:
        self.previous: list[bytes] = []
        self.executions: dict[tuple[Any, ...], Counter[bytes]] = {}

    def mark(self, texts: list[bytes]) -> tuple[list[int], dict[int, int], Callable[[], None]]:
        copied: list[int] = []
        if self.previous and len(self.previous) <= len(texts):
            j = 0
            for i, text in enumerate(texts):
                if text == self.previous[j]:
                    copied.append(i)
                    j += 1
                    if j == len(self.previous):
                        break
            else:
                copied = []
        occurrences, pending, counted = {}, Counter[tuple[Any, bytes]](), []
        executions = [self._execution(t) for t in texts]
        for i, (execution, text) in enumerate(zip(executions, texts, strict=True)):
            if i in copied:
                continue
            known = self.executions.get(execution, Counter())
            seen = known[text] + pending[(execution, text)]
            pending[(execution, text)] += 1
            counted.append((execution, text))
            if seen:
                occurrences[i] = seen

        def recorded() -> None:
            kept = {e: self.executions.get(e, Counter()) for e in executions}
            for execution, text in counted:
                kept[execution][text] += 1
            self.executions, self.previous = kept, texts

        return copied, occurrences, recorded

    @staticmethod
    def _execution(text: bytes) -> tuple[Any, ...]:
        line = orjson.loads(text)
        keys = ("name", "unixTime", "epoch", "counter", "hostIdentifier")
        return tuple(str(line.get(k)) for k in keys)


_LINES = st.builds(
    lambda name, t, value: orjson.dumps({**_line(value, T0 + t), "name": name}),
    st.sampled_from(["procs", "users"]), st.integers(0, 2), st.sampled_from(["a", "b", "c"]),
)
_STEPS = st.lists(
    st.tuples(
        st.lists(_LINES, max_size=8),
        st.sampled_from(["new", "again", "refused"]),
        st.integers(0, 8),
    ),
    max_size=12,
)


@settings(max_examples=300)  # (cheap: a few ms each)
@given(_STEPS)
def test_marks_follow_the_rule_line_by_line(steps: list[tuple[list[bytes], str, int]]) -> None:
    """Random requests of one node (new ones, the previous one sent again with new lines among
    its own, requests the journal refused), marked by Continuity, with and without the heads
    decoded at once, agree with the rule applied line by line."""
    c, reference, last = Continuity(), _Reference(), list[bytes]()
    for lines, kind, at in steps:
        texts = [*last[:at], *lines, *last[at:]] if kind == "again" else lines
        heads = continuity.heads(b"[" + b",".join(texts) + b"]", len(texts))
        marks = c.mark("n1", texts, heads if at % 2 else None)
        copied, occurrences, recorded = reference.mark(texts)
        assert (marks.copied, marks.occurrences) == (copied, occurrences), texts
        if kind != "refused":
            c.recorded("n1", marks)
            recorded()
            last = texts
