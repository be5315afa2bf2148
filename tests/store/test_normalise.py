"""The bulk SQL normaliser reads every line exactly as the Python reference (osquery.lines) does,
or hands the line to it: property-tested over the shapes and typings osquery writes."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import given, settings
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


_KEYS = ["uid", "gid", "a b", "é", "0", "path", "x\"y"]
_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=2),
    max_leaves=4,
)


@st.composite
def _row_texts(draw: st.DrawFn) -> str:
    """A row's JSON text as a relay could write it: any key order, repeated keys, any value
    type, non-ASCII escaped or not; now and then not an object at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["1", "[1,2]", "null", '"s"', "{}"]))
    members = draw(st.lists(st.tuples(st.sampled_from(_KEYS), _VALUES), max_size=6))
    ascii_only = draw(st.booleans())
    return "{" + ",".join(
        f"{json.dumps(k, ensure_ascii=ascii_only)}:{json.dumps(v, ensure_ascii=ascii_only)}"
        for k, v in members
    ) + "}"


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 11), _row_texts()), min_size=1, max_size=30),
    columns=st.lists(st.sets(st.sampled_from(_KEYS)), min_size=12, max_size=12),
)
def test_rows_hash_alike_however_many_queries_the_batch_holds(
    rows: list[tuple[int, str]], columns: list[set[str]]
) -> None:
    """Row hashes are identities kept in the store: the per-member form (many queries) gives
    exactly what reading each query's columns gives (few queries)."""
    from hindsight.store.catalog import QueryInfo
    from hindsight.store.normalise import hash_rows

    con = duckdb.connect()
    con.execute("CREATE TABLE _t_rows(i INTEGER, name VARCHAR, op TINYINT, r VARCHAR)")
    con.executemany(  # a dozen rows: not a hot path
        "INSERT INTO _t_rows VALUES (?, ?, 1, ?)",
        [(n, f"q{q}", text) for n, (q, text) in enumerate(rows)],
    )
    queries = [
        QueryInfo(q, f"q{q}", "state", None, dict.fromkeys(cols, "VARCHAR"))
        for q, cols in enumerate(columns)
    ]
    hash_rows(con, queries, "_t", out="TEMP TABLE by_columns", per_columns_max=len(queries))
    hash_rows(con, queries, "_t", out="TEMP TABLE by_members", per_columns_max=0)
    a = con.execute("SELECT ref, rh FROM by_columns ORDER BY ref").fetchall()
    b = con.execute("SELECT ref, rh FROM by_members ORDER BY ref").fetchall()
    assert a == b and len(a) == len(rows)


def test_a_line_is_the_same_line_in_a_batch_of_many_queries_or_few(tmp_path: Any) -> None:
    """Twelve queries of distinct columns in one file are hashed per member, each query's file
    alone per columns: the lines are known as duplicates across the two, and the state is one."""
    import hindsight
    from tests.helpers import snapshot, write

    def line(q: int, t: int) -> bytes:
        rows = [{f"c{q}": str(v), "uid": v, "shell": None, "n": 1.5e16} for v in range(t % 3 + 1)]
        return snapshot(f"pack_p_q{q}", t, rows)

    times = (1_790_000_000, 1_790_000_300)
    together = write(tmp_path / "all.log", *(line(q, t) for t in times for q in range(12)))
    alone = [write(tmp_path / f"q{q}.log", *(line(q, t) for t in times)) for q in range(12)]
    with hindsight.open(tmp_path / "a") as hs:
        first = hs.ingest([together])
        again = hs.ingest(alone)
        state = hs.sql("SELECT * FROM pack_p_q7 FOR SYSTEM_TIME ALL ORDER BY ALL").rows
    with hindsight.open(tmp_path / "b") as hs:
        hs.ingest(alone)
        assert hs.sql("SELECT * FROM pack_p_q7 FOR SYSTEM_TIME ALL ORDER BY ALL").rows == state
    assert first.lines == again.lines == again.duplicates == 24 and first.duplicates == 0
    assert len(state) == 3


@pytest.mark.parametrize("queries", [1, 12], ids=["few queries", "many queries"])
def test_a_row_keeps_its_identity_when_numerics_changes(tmp_path: Any, queries: int) -> None:
    """FORMATS.md pitfall 6: with numerics on, osquery writes a double as a JSON number (its
    shortest text, up to 17 digits); off, as text of 15 significant digits, `.0` on a whole
    number. A row removed after the switch closed nothing (its text differed), and a snapshot
    closed and reopened every such row."""
    import hindsight
    from tests.helpers import batch, snapshot, write

    hs = hindsight.open(tmp_path / "d")
    lines = [
        batch("pack_perf_load", 100, [{"core": 0, "load": 12.345678901234567, "max": 5.0}]),
        batch(
            "pack_perf_load",
            200,
            [{"core": "0", "load": "13.5", "max": "5.0"}],
            [{"core": "0", "load": "12.3456789012346", "max": "5.0"}],
            counter=2,
        ),
        snapshot("pack_perf_ratio", 100, [{"r": 0.30000000000000004, "big": 1e15}]),
        snapshot("pack_perf_ratio", 200, [{"r": "0.3", "big": "1e+15"}]),
    ]
    # (other queries in the batch: past eight column sets, rows are hashed by their members)
    lines += [snapshot(f"pack_other_{n}", 100, [{f"c{n}": "1"}]) for n in range(queries)]
    hs.ingest([write(tmp_path / "a.log", *lines)])
    assert hs.sql("SELECT load FROM pack_perf_load", at=250).rows == [("13.5",)]
    assert hs.sql("SELECT load FROM pack_perf_load", at=150).rows == [("12.345678901234567",)]
    assert hs.sql(
        "SELECT valid_from, valid_to FROM pack_perf_ratio FOR SYSTEM_TIME ALL"
    ).rows == [(100, None)]
    assert hs.quality().rows == []


def test_a_store_of_layout_3_is_brought_to_the_doubles_of_layout_4(tmp_path: Any) -> None:
    """Layout 3 identified a double logged with numerics on by DuckDB's text of it: such a
    store, opened (also to be read), rebuilds the streams that may hold one, and a row removed
    after numerics changed then closes its interval."""
    import hindsight
    from hindsight.store import normalise as nm
    from hindsight.store.layout import LAYOUT_VERSION
    from tests.helpers import batch, write

    before = batch("pack_perf_load", 100, [{"core": 0, "load": 12.345678901234567}])
    other = batch("pack_perf_other", 100, [{"core": "1", "name": "x"}])
    after = batch(
        "pack_perf_load", 200, [], [{"core": "0", "load": "12.3456789012346"}], counter=2
    )
    old_text, nm._DOUBLE_TEXT = nm._DOUBLE_TEXT, "json_transform(m.value, '\"VARCHAR\"')"
    try:  # as layout 3 hashed it
        with hindsight.open(tmp_path / "d") as hs:
            hs.ingest([write(tmp_path / "a.log", before, other)])
            hs.store.con.execute("UPDATE meta SET value = '3' WHERE key = 'layout'")
    finally:
        nm._DOUBLE_TEXT = old_text
    with hindsight.open(tmp_path / "d", read_only=True) as hs:  # (upgraded by a writer first)
        layout = hs.store.con.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()
        assert layout == (LAYOUT_VERSION,)
        assert hs.sql("SELECT core FROM pack_perf_other", at=150).rows == [("1",)]
    with hindsight.open(tmp_path / "d") as hs:
        hs.ingest([write(tmp_path / "b.log", after)])
        assert hs.sql("SELECT load FROM pack_perf_load", at=250).rows == []
        assert hs.quality().rows == []
