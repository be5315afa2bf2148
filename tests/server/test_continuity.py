"""The receiver's marks: identical lines of one execution counted across a node's requests, a
request sent again recognised, and both read back the same by the store and the lake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson

import hindsight
from hindsight.lake import LakeWriter
from hindsight.osquery.reader import read_lines
from hindsight.server import records
from hindsight.server.continuity import Continuity, Marks

T0 = 1_718_236_800


def _line(value: str, t: int = T0) -> dict[str, Any]:
    return {"name": "procs", "hostIdentifier": "h", "unixTime": t, "epoch": 0, "counter": 0,
            "columns": {"name": value}, "action": "added"}


def _recorded(c: Continuity, node: str, lines: list[dict[str, Any]]) -> Marks:
    marks = c.mark(node, lines)
    c.recorded(node, marks)
    return marks


def test_marks_count_across_requests_and_know_a_request_sent_again() -> None:
    c = Continuity(executions_kept=2)
    a, b, x = _line("a"), _line("b"), _line("x", T0 + 1)
    first = _recorded(c, "n1", [a, b, a])
    assert (first.copies, first.occurrences) == (0, {2: 1})
    second = _recorded(c, "n1", [a, x])
    assert (second.copies, second.occurrences) == (0, {0: 2})
    again = _recorded(c, "n1", [a, x, b])  # the previous request, then a new line
    assert (again.copies, again.occurrences) == (2, {2: 1})
    assert _recorded(c, "n2", [a]).occurrences == {}  # another node counts its own
    for t in range(3):  # executions beyond the kept ones are forgotten, oldest first
        _recorded(c, "n1", [_line("y", T0 + 10 + t)])
    assert _recorded(c, "n1", [a]).occurrences == {}


def test_a_request_not_recorded_is_not_remembered() -> None:
    """A request the journal refused comes again: it is new, not a copy."""
    c = Continuity()
    a = _line("a")
    _recorded(c, "n1", [a])
    refused = c.mark("n1", [a])  # (its append failed: not recorded)
    assert (refused.copies, refused.occurrences) == (1, {})
    c.mark("n1", [_line("b"), a])
    assert c.mark("n1", [_line("b"), a]).occurrences == {1: 1}


def test_marked_records_read_back_alike_in_the_store_and_the_lake(tmp_path: Path) -> None:
    c = Continuity()
    a, b = _line("a"), _line("b")
    requests = [[a, b, a], [a], [a], [b, a]]  # the third sends the second again, the 4th new
    segment = tmp_path / "000000000001.jsonl"
    with segment.open("wb") as f:
        for data in requests:
            marks = _recorded(c, "U-1", data)
            body = orjson.dumps({"node_key": "", "log_type": "result", "data": data})
            if marks.copies < len(data):
                f.write(records.record("U-1", body, None, marks))
    read = [ln for ln in read_lines(segment, 1 << 20) if ln.error is None]
    assert [ln.occurrence for ln in read] == [0, 0, 1, 2, 1, 3]
    with hindsight.open(tmp_path / "data") as hs:
        hs.ingest([segment])
        rows = hs.sql("SELECT name, count(*) FROM procs GROUP BY ALL ORDER BY ALL", at=T0).rows
        assert rows == [("a", 4), ("b", 2)]
        assert hs.ingest([segment]).duplicates == 6
    writer = LakeWriter(str(tmp_path / "lake"))
    writer.write(read)
    writer.write(list(read_lines(segment, 1 << 20)))  # published again: the same keys
    [(keys,)] = duckdb.sql(
        f"SELECT count(DISTINCT line_key) FROM read_parquet('{tmp_path}/lake/raw/*/*/*.parquet')"
    ).fetchall()
    assert keys == 6
