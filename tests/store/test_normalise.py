"""The bulk SQL normaliser reads every line exactly as the Python reference (osquery.lines) does,
or hands the line to it: property-tested over the shapes and typings osquery writes."""

from __future__ import annotations

from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hindsight.errors import BadLine, StoreError
from hindsight.osquery.lines import ResultLine, StatusLine, parse_document, row_values
from hindsight.store.normalise import normalise

COLS = ("uid", "username", "path", "address")
values = st.one_of(st.text(max_size=6), st.integers(-(2**40), 2**40))
rows = st.lists(
    st.dictionaries(st.sampled_from(COLS), values, min_size=1).map(
        lambda r: dict(sorted(r.items(), reverse=True))  # key order must not matter
    ),
    max_size=4,
)
ints = st.one_of(st.integers(0, 2**40), st.integers(0, 2**40).map(str))


@st.composite
def lines(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": draw(st.sampled_from(["pack_ir_users", "users", "q"])),
        "unixTime": draw(ints),
    }
    ident = draw(st.sampled_from(["host-A", "", None]))
    if ident is not None:
        doc["hostIdentifier"] = ident
    uuid = draw(st.sampled_from(["ABC-1", "abc-2", "", None]))
    where = draw(st.sampled_from(["decorations", "top"]))
    if uuid is not None:
        if where == "top":
            doc["host_uuid"] = uuid
        else:
            doc["decorations"] = {"host_uuid": uuid, "hostname": "x"}
    for field in ("epoch", "counter"):
        if draw(st.booleans()):
            doc[field] = draw(st.one_of(ints, st.just("")))
    doc["numerics"] = draw(st.sampled_from([True, False, "false"]))
    shape = draw(st.sampled_from(["event", "batch", "snapshot", "snapshot_event"]))
    if shape == "batch":
        doc["diffResults"] = {
            "added": draw(st.one_of(rows, st.just(""))),
            "removed": draw(st.one_of(rows, st.just(""))),
        }
    elif shape == "snapshot":
        doc["snapshot"] = draw(rows)
    else:
        (row,) = draw(rows.filter(lambda r: len(r) == 1))
        doc["columns"] = row
        doc["action"] = (
            "snapshot" if shape == "snapshot_event" else draw(st.sampled_from(["added", "removed"]))
        )
    return doc


def _canon(row: dict[str, str]) -> bytes:
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)


def _sql_rows(con: duckdb.DuckDBPyConnection, i: int, op: int) -> list[dict[str, str]]:
    texts = con.execute("SELECT r FROM _n_rows WHERE i = ? AND op = ?", [i, op]).fetchall()
    return sorted(
        ({k: str(v) for k, v in orjson.loads(t).items()} for (t,) in texts), key=_canon
    )


def _py_rows(parsed: ResultLine, added: bool) -> list[dict[str, str]]:
    return sorted(
        (row_values(r) for r in (parsed.added if added else parsed.removed)), key=_canon
    )


@given(st.lists(lines(), min_size=1, max_size=6))
def test_sql_reads_lines_as_the_reference_does(docs: list[dict[str, Any]]) -> None:
    con = duckdb.connect()
    raws = [orjson.dumps(d) for d in docs]
    fallback = normalise(con, raws)
    rejected = {i: reason for i, reason, _ in fallback.rejected}
    headers = {
        row[0]: row[1:]
        for row in con.execute(
            "SELECT i, host_key, identifier, name, t, epoch, counter, snap FROM _n_hdr"
        ).fetchall()
    }
    for i, doc in enumerate(docs):
        try:
            parsed = parse_document(doc)
        except BadLine as exc:
            assert rejected[i] == exc.reason
            continue
        assert isinstance(parsed, ResultLine)
        snap = parsed.shape in ("snapshot", "snapshot_event")
        expected = (parsed.host_key, parsed.identifier, parsed.name, parsed.unix_time)
        assert headers[i] == (*expected, parsed.epoch, parsed.counter, snap)
        assert _sql_rows(con, i, 1) == _py_rows(parsed, added=True)
        assert _sql_rows(con, i, -1) == _py_rows(parsed, added=False)


def test_status_and_garbage_go_to_the_reference() -> None:
    con = duckdb.connect()
    raws = [
        b'{"severity":"0","message":"hi","hostIdentifier":"h","unixTime":"5"}',
        b"\xff\xfe not utf-8",
        b'{"log_type":"result","name":"q","hostIdentifier":"h","unixTime":7,"snapshot":[{"a":1}]}',
        b'{"name":"q","hostIdentifier":"h","unixTime":"soon","snapshot":[]}',
    ]
    fallback = normalise(con, raws)
    assert [i for i, _ in fallback.statuses] == [0]
    assert isinstance(fallback.statuses[0][1], StatusLine)
    reasons = {i: reason for i, reason, _ in fallback.rejected}
    assert "invalid JSON" in reasons[1]
    assert reasons[3].startswith("unixTime: must be an integer")
    # an unusual typing the SQL does not vouch for is read by the reference and re-emitted
    assert con.execute("SELECT i, t, n_add FROM _n_hdr").fetchall() == [(2, 7, 1)]
    assert con.execute("SELECT r FROM _n_rows").fetchall() == [('{"a":"1"}',)]


def test_a_store_of_another_layout_is_refused(tmp_path: Any) -> None:
    import hindsight

    with hindsight.open(tmp_path) as hs:
        hs.store.con.execute("UPDATE meta SET value = '1' WHERE key = 'layout'")
    with pytest.raises(StoreError, match="layout 1"):
        hindsight.open(tmp_path)


def test_row_identity() -> None:
    """Equal rows (whatever the key order, typing or NULL columns) share an identity; rows that
    differ do not, also when two columns hold equal values."""
    from hindsight.store.catalog import QueryInfo
    from hindsight.store.normalise import hash_rows

    con = duckdb.connect()
    rows = [
        '{"uid":"1","gid":"1"}', '{"gid":1,"uid":1}', '{"uid":"1","gid":"1","shell":null}',
        '{"uid":"0","gid":"0"}', '{"uid":"1","gid":"0"}', '{"uid":"0","gid":"1"}',
    ]  # fmt: skip
    doc = {"name": "q", "hostIdentifier": "h", "unixTime": 1, "snapshot": [orjson.loads(r) for r in rows]}
    normalise(con, [orjson.dumps(doc)])
    info = QueryInfo(1, "q", "state", None, {"uid": "BIGINT", "gid": "BIGINT", "shell": "VARCHAR"})
    hash_rows(con, [info])
    by_row = dict(con.execute("SELECT r, rh FROM _n_rh").fetchall())
    hashes = [by_row[orjson.dumps(orjson.loads(r)).decode()] for r in rows]
    assert hashes[0] == hashes[1] == hashes[2]
    assert len(set(hashes[2:])) == 4
