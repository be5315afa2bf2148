"""Journal records: a validated logger body kept as sent, on one line, and read back (by the
reader every ingest uses) as the osquery lines it carries, every one attributed to the enrolled
node whatever the body claims, and named by the segment, the record's line and its data index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hindsight.osquery.reader import read_lines
from hindsight.server import records
from hindsight.server.osquery_api import validate_log

TEXT = st.text(max_size=12)  # any character, newlines and quotes included
VALUES = st.one_of(TEXT, st.integers(-(2**53), 2**53), st.none(), st.booleans())
LINES = st.lists(
    st.fixed_dictionaries(
        {"name": TEXT, "unixTime": st.integers(0, 2**40), "columns": st.dictionaries(TEXT, VALUES)},
        optional={"decorations": st.one_of(st.dictionaries(TEXT, TEXT), TEXT, st.none())},
    ),
    max_size=6,
)


@given(lines=LINES, uuid=TEXT, claimed=TEXT, indent=st.booleans(), parse=st.booleans())
def test_a_body_comes_back_as_its_lines_attributed_to_the_node(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[dict[str, Any]],
    uuid: str,
    claimed: str,
    indent: bool,
    parse: bool,
) -> None:
    for line in lines:  # a body may claim any host
        if isinstance(line.get("decorations"), dict):
            line["decorations"]["host_uuid"] = claimed
    doc = {"node_key": "k", "log_type": "result", "data": lines}
    body = orjson.dumps(doc, option=orjson.OPT_INDENT_2 if indent else 0)
    assert validate_log(body).lines == len(lines)
    record = records.record(uuid, body)
    assert record.endswith(b"\n") and record.count(b"\n") == 1  # one journal line
    segment = tmp_path_factory.mktemp("journal") / "000000000001.jsonl"
    segment.write_bytes(b"{}\n" + record)
    read = [ln for ln in read_lines(segment, 1 << 20, parse=parse) if ln.number == 2]
    assert [(ln.number, ln.item) for ln in read] == [(2, i) for i in range(1, len(lines) + 1)]
    back = [orjson.loads(ln.raw) for ln in read]
    expected = []
    for line in lines:
        decorations = line.get("decorations")
        kept = decorations if isinstance(decorations, dict) else {}
        expected.append({**line, "decorations": {**kept, "host_uuid": uuid}})
    assert back == expected


def test_other_lines_pass_and_a_torn_record_is_rejected_where_it_is(tmp_path: Path) -> None:
    plain = orjson.dumps({"name": "q", "unixTime": 1, "columns": {}})
    whole = records.record("u1", b'{"log_type":"result","data":[{"name":"r"},{"name":"s"}]}')
    torn = whole[: len(whole) // 2]
    segment = tmp_path / "000000000001.jsonl"
    segment.write_bytes(plain + b"\n" + whole + torn)
    read = list(read_lines(segment, 1 << 20, parse=False))
    assert [ln.raw for ln in read[:3]] == [
        plain,
        orjson.dumps({"name": "r", "decorations": {"host_uuid": "u1"}}),
        orjson.dumps({"name": "s", "decorations": {"host_uuid": "u1"}}),
    ]
    assert read[2].where == f"{segment}:2 (data[1])"
    # never acknowledged: kept aside with its reason, named by its line
    assert read[3].where == f"{segment}:3" and "torn journal record" in (read[3].error or "")


def test_a_record_keeps_no_node_key_and_the_same_lines(tmp_path: Path) -> None:
    key = "5f" * 24
    lines = [{"name": "q", "unixTime": 1, "columns": {"a": key + "x"}}]  # a value holding it
    body = orjson.dumps({"node_key": key, "log_type": "result", "data": lines})
    journal = tmp_path / "segment"
    journal.write_bytes(records.record("h-1", body, key))
    assert key.encode() + b'"' not in journal.read_bytes()
    assert orjson.loads(journal.read_bytes())["body"]["node_key"] == ""
    read = [orjson.loads(ln.raw) for ln in read_lines(journal, 1 << 20)]
    assert [ln["columns"] for ln in read] == [{"a": key + "x"}]


def test_a_result_body_is_split_into_its_lines_not_decoded() -> None:
    """A logger body's result lines are kept as their JSON text until each is marked alone:
    decoded whole, a body of small event lines took ~9x its bytes (~300 MB for the 32 MB
    bound); split, well under its size besides the body."""
    import tracemalloc

    line = {"name": "pack_x", "hostIdentifier": "h", "unixTime": 1, "columns": {"a": "1"}, "action": "added"}
    body = orjson.dumps({"node_key": "k", "log_type": "result", "data": [line] * 50_000})
    tracemalloc.start()
    try:
        checked = validate_log(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert checked.lines == 50_000 and checked.results is not None
    assert orjson.loads(memoryview(checked.results[7])) == line
    assert peak < len(body), (peak, len(body))


def test_a_body_denser_in_objects_than_any_osquery_log_is_refused() -> None:
    """32 MB of `{"a":1}` items decoded to ~680 MB: a body of more than one JSON object per 16
    bytes (osquery's lines hold one per 40 or more) is refused before any decode, 413."""
    from hindsight.server.body import RequestError

    body = orjson.dumps({"node_key": "k", "log_type": "result", "data": [{"a": 1}] * 20_000})
    with pytest.raises(RequestError, match="JSON objects in a body") as refused:
        validate_log(body)
    assert (refused.value.status, refused.value.code) == (413, "too_many_objects")
