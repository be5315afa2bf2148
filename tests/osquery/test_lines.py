"""The normaliser: every shape and typing osquery (and relays) write, and clear refusals."""

from __future__ import annotations

import orjson
import pytest

from hindsight.errors import BadLine
from hindsight.osquery.lines import ResultLine, Shape, StatusLine, parse_document, row_values

HEAD = {
    "name": "pack_ir_users",
    "hostIdentifier": "web-07",
    "calendarTime": "Thu Jun 13 15:11:23 2024 UTC",
    "unixTime": 1718291483,
    "epoch": 0,
    "counter": 7,
    "numerics": True,
    "decorations": {"host_uuid": "8F3C1A2E", "hostname": "web-07"},
}


def result(doc: dict) -> ResultLine:  # type: ignore[type-arg]
    parsed = parse_document(doc)
    assert isinstance(parsed, ResultLine)
    return parsed


def test_event_line_numerics_and_strings_are_the_same_row() -> None:
    typed = result(
        {**HEAD, "columns": {"uid": 1001, "username": "bob", "gid": ""}, "action": "added"}
    )
    text = result(
        {
            **HEAD,
            "numerics": False,
            "columns": {"username": "bob", "gid": "", "uid": "1001"},
            "action": "added",
        }
    )
    assert typed.shape is Shape.EVENT and typed.added[0] == text.added[0]
    assert typed.key == text.key  # relays that re-type or re-order do not defeat dedupe
    assert row_values(typed.added[0]) == {"gid": "", "uid": "1001", "username": "bob"}


def test_aws_stringified_line() -> None:
    line = result(
        {
            **{k: str(v) for k, v in HEAD.items() if k != "decorations"},
            "numerics": "false",
            "columns": {"uid": "0"},
            "action": "removed",
            "log_type": "result",
        }
    )
    assert (line.unix_time, line.epoch, line.counter) == (1718291483, 0, 7)
    assert line.removed and not line.added


def test_batch_with_empty_string_arrays() -> None:
    line = result({"diffResults": {"removed": [{"a": "1"}], "added": ""}, **HEAD})
    assert line.shape is Shape.BATCH and len(line.removed) == 1 and line.added == ()


def test_snapshot_shapes() -> None:
    batch = result({"snapshot": [{"a": "1"}, {"a": "1"}], "action": "snapshot", **HEAD})
    event = result({**HEAD, "columns": {"a": "1"}, "action": "snapshot"})
    assert batch.shape is Shape.SNAPSHOT and len(batch.added) == 2
    assert event.shape is Shape.SNAPSHOT_EVENT


def test_host_key_prefers_uuid_decoration_and_lowercases() -> None:
    line = result({**HEAD, "columns": {"a": "1"}, "action": "added"})
    assert line.host_key == "8f3c1a2e" and line.identifier == "web-07"
    top_level = result(
        {
            **{k: v for k, v in HEAD.items() if k != "decorations"},
            "host_uuid": "ABC",
            "columns": {"a": "1"},
            "action": "added",
        }
    )
    assert top_level.host_key == "abc"


def test_doubles_use_osquery_precision() -> None:
    a = result({**HEAD, "columns": {"load": 0.30000000000000004}, "action": "added"})
    b = result({**HEAD, "numerics": False, "columns": {"load": "0.3"}, "action": "added"})
    c = result({**HEAD, "columns": {"load": 2.0}, "action": "added"})
    assert a.added[0] == b.added[0]
    assert row_values(c.added[0]) == {"load": "2.0"}


def test_status_line_is_status() -> None:
    status = parse_document(
        {
            "hostIdentifier": "h",
            "calendarTime": "x",
            "unixTime": "1535731040",
            "severity": "1",
            "filename": "tls.cpp",
            "line": "97",
            "message": "m",
            "version": "5.9.1",
        }
    )
    assert isinstance(status, StatusLine) and status.severity == 1 and status.line == 97


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({**HEAD, "unixTime": "soon", "columns": {}, "action": "added"}, "unixTime"),
        ({**HEAD, "name": 5, "columns": {}, "action": "added"}, "name"),
        ({**HEAD, "columns": {"a": {"b": 1}}, "action": "added"}, "columns"),
        ({**HEAD, "columns": {"a": "1"}, "action": "changed"}, "action"),
        ({**HEAD, "diffResults": [1]}, "diffResults"),
        (
            {k: v for k, v in HEAD.items() if k not in ("hostIdentifier", "decorations")}
            | {"columns": {}, "action": "added"},
            "hostIdentifier",
        ),
        ({**HEAD, "counter": [1], "columns": {}, "action": "added"}, "counter"),
    ],
)
def test_bad_fields_name_the_field(doc: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(BadLine) as info:
        parse_document(doc)
    assert info.value.field == field


def test_not_osquery() -> None:
    with pytest.raises(BadLine, match="not an osquery result"):
        parse_document({"hello": "world"})
    with pytest.raises(BadLine, match="expected a JSON object"):
        parse_document(orjson.loads("[1, 2]"))
