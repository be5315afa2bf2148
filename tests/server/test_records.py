"""Journal records: a validated logger body kept as sent, on one line, and read back as the plain
osquery lines it carries, every one attributed to the enrolled node whatever the body claims."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

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


@given(lines=LINES, uuid=TEXT, claimed=TEXT, indent=st.booleans())
def test_a_body_comes_back_as_its_lines_attributed_to_the_node(
    lines: list[dict[str, Any]], uuid: str, claimed: str, indent: bool
) -> None:
    for line in lines:  # a body may claim any host
        if isinstance(line.get("decorations"), dict):
            line["decorations"]["host_uuid"] = claimed
    doc = {"node_key": "k", "log_type": "result", "data": lines}
    body = orjson.dumps(doc, option=orjson.OPT_INDENT_2 if indent else 0)
    assert validate_log(body).lines == len(lines)
    record = records.record(uuid, body)
    assert record.endswith(b"\n") and record.count(b"\n") == 1  # one journal line
    back = [orjson.loads(x) for x in records.plain_lines(record.rstrip(b"\n"))]
    expected = []
    for line in lines:
        decorations = line.get("decorations")
        kept = decorations if isinstance(decorations, dict) else {}
        expected.append({**line, "decorations": {**kept, "host_uuid": uuid}})
    assert back == expected


def test_other_lines_and_torn_records_pass_through(tmp_path: Path) -> None:
    plain = orjson.dumps({"name": "q", "unixTime": 1, "columns": {}})
    whole = records.record("u1", b'{"log_type":"result","data":[{"name":"r"}]}')
    torn = whole[: len(whole) // 2]
    segment = tmp_path / "000000000001.jsonl"
    segment.write_bytes(plain + b"\n" + whole + torn)
    out = records.plain_file(segment, tmp_path / "out")
    assert out.read_bytes().split(b"\n") == [
        plain,
        orjson.dumps({"name": "r", "decorations": {"host_uuid": "u1"}}),
        torn,  # never acknowledged: the store rejects it with its reason
        b"",
    ]
