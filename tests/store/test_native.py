"""The native fast path (native/, store/native/) gives the first stage exactly the tables the
SQL path gives (header, rows, row identities, line sums and dedupe keys), on every kind of line:
those it reads itself and those it defers to the SQL path. Property-tested on lines written with
every typing, spacing, escape and oddity the normaliser meets, and on osquery's own output."""

from __future__ import annotations

import json
import random
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hindsight
from bench.gen import dhcp_lines, mixed_lines
from bench.gen import write as bench_write
from hindsight.osquery.reader import SPECIAL, Line, holds_special, read_lines
from hindsight.store import chunks, native
from hindsight.store.fit import fits
from hindsight.store.native import load
from hindsight.store.prepare import Preparer, release
from tests.helpers import event, snapshot, write

USERS = "pack_ir_users"
LIB = native.library("on")  # the tests need it built (pip install with cargo: native.BUILD_HINT)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hindsight.Hindsight]:
    with hindsight.open(tmp_path_factory.mktemp("native") / "data") as hs:
        yield hs


def one_file(raws: list[bytes]) -> list[Line]:
    """RAWS as the lines of one plain file."""
    return [Line("t.log", n + 1, raw, None) for n, raw in enumerate(raws)]


def tables_of(con: Any, batch: Any) -> None:
    """The first stage's tables made from the relations the writer reads (`hdr`, `rows` in
    their order, so that a row's rowid is its `ref`, and `rh`), where none was made."""
    for name, table in batch.arrows.items():
        con.register(name, table)
    parts, t = batch.relations, batch.tables
    con.execute(f"CREATE TABLE {t}_hdr AS SELECT * FROM {parts['hdr']}")
    con.execute(f"CREATE TABLE {t}_rows AS SELECT i, name, op, r FROM {parts['rows']} ORDER BY rowid")
    con.execute(f"CREATE VIEW {t}_rh AS SELECT * FROM {parts['rh']}")
    batch.rh_view = True  # (release drops it)


def first_stage(
    hs: hindsight.Hindsight, raws: list[bytes], lib: Any, make: Any = one_file
) -> dict[str, Any]:
    """The first stage's tables for RAWS (as MAKE reads them), sorted (row order and numbering
    aside)."""
    preparer = Preparer(hs.store.con, hs.store.catalog, None, lib)
    lines = make(raws)
    try:
        batch = preparer.prepare(lines)
        con, t = preparer.con, batch.tables
        if batch.relations:  # (the library read every line: its tables as the writer reads them)
            tables_of(con, batch)
        if lib is not None:  # (filled when a column the store cannot hold needs it)
            native.first_rows(con, t)

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return sorted(con.execute(sql.format(t=t)).fetchall(), key=repr)

        out = {
            "hdr": rows("SELECT * FROM {t}_hdr"),
            "hdr_types": con.execute(f"DESCRIBE {t}_hdr").fetchall(),
            "rows": rows("SELECT i, name, op, r FROM {t}_rows"),
            # each identity, with the row its ref names
            "rh": rows(
                "SELECT h.i, h.op, h.rh, h.r, r.i, r.op, r.r FROM {t}_rh h "
                "JOIN (SELECT rowid AS ref, * FROM {t}_rows) r USING (ref)"
            ),
            # (the lines' sums, `lk`, are not compared: the library's keys read them from its
            # batch when it parsed every line, and no table holds them; `lkeys` hash them)
            "lkeys": rows("SELECT * FROM {t}_lkeys"),
            "columns": batch.columns,
            "hashed": batch.hashed,
            "events": {k: set(cols) for k, (_, cols) in batch.events.items()},  # (typed or not)
            "rejected": batch.fallback.rejected,
            "statuses": batch.fallback.statuses,
            "kept": [ln.raw for ln in batch.kept],
        }
        release(con, batch)
        return out
    finally:
        preparer.close(detach=False)


def assert_same(hs: hindsight.Hindsight, raws: list[bytes], make: Any = one_file) -> None:
    sql, fast = first_stage(hs, raws, None, make), first_stage(hs, raws, LIB, make)
    for part in sql:
        assert fast[part] == sql[part], part


# -- lines of every kind ------------------------------------------------------------------------
class Obj(list[tuple[str, Any]]):
    """A JSON object as its members in order (repeated keys allowed)."""


def dump(value: Any, r: random.Random) -> str:
    """VALUE as JSON text, spaced and escaped at random."""
    sep = r.choice([(",", ":"), (", ", ": "), (" ,\t", " :  ")])
    if isinstance(value, Obj):
        inner = sep[0].join(f"{dump(k, r)}{sep[1]}{dump(v, r)}" for k, v in value)
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + sep[0].join(dump(v, r) for v in value) + "]"
    if isinstance(value, Raw):
        return value.text
    return json.dumps(value, ensure_ascii=r.random() < 0.5)


class Raw:
    """JSON text written as it is (a number's spelling: 1E5, -0, 1.50)."""

    def __init__(self, text: str) -> None:
        self.text = text


texts = st.one_of(
    st.sampled_from(["", "alice", "1001", "/bin/sh", 'x"y\\z', "tab\there", "é", "😀", "\u2028"]),
    st.text(max_size=8),
    st.text(st.characters(max_codepoint=0x3F), max_size=4),  # control characters, quotes
)
numbers = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["-0", "1E5", "1.50", "0.1", "1e-7", "12.345678901234567"]).map(Raw),
)
plain = st.one_of(
    texts, texts, texts, texts, st.integers(-(2**63), 2**64 - 1), st.booleans(), st.none()
)
odd = st.one_of(numbers, st.lists(plain, max_size=2), st.just(Obj([("a", "1")])))
values = st.one_of(*[plain] * 12, odd)
columns = st.sampled_from(["uid", "username", "path", "pid", "é", 'a"b', "time"])


@st.composite
def row_lists(draw: st.DrawFn) -> list[Obj]:
    """Rows of one line: mostly of the same columns (in any order), some of fewer or others."""
    keys = draw(st.lists(columns, min_size=1, max_size=4, unique=draw(st.integers(0, 9)) > 0))
    out = []
    for _ in range(draw(st.integers(0, 3))):
        mine = draw(st.sampled_from([keys, keys, keys[::-1], keys[1:], [*keys, "extra"]]))
        out.append(Obj((k, draw(values)) for k in mine))
    return out


def header_value(draw: st.DrawFn, good: Any) -> Any:
    """Mostly GOOD, sometimes another typing or an odd value."""
    if draw(st.integers(0, 11)):
        return good
    return draw(
        st.sampled_from(["", None, True, 1.5, Obj(), " 12", "+12", "0x1F", "99999999999999999999"])
    )


@st.composite
def result_lines(draw: st.DrawFn) -> str:
    t = draw(st.integers(1_600_000_000, 1_700_000_000))
    members: list[tuple[str, Any]] = [
        (
            "name",
            header_value(draw, draw(st.sampled_from(["pack_ir_users", "users", "process_events"]))),
        ),
        ("hostIdentifier", header_value(draw, draw(st.sampled_from(["host-A", "HOST-b"])))),
        ("unixTime", header_value(draw, draw(st.sampled_from([t, str(t)])))),
    ]
    for key in ("epoch", "counter"):
        if draw(st.booleans()):
            members.append((key, header_value(draw, draw(st.sampled_from([0, 1, "2", ""])))))
    uuid = draw(st.sampled_from(["", "ABC-1", "abc-1", "Ünï", None]))
    if uuid is not None:
        where = draw(st.sampled_from(["decorations", "host_uuid", "uuid"]))
        if where == "decorations":
            key = draw(st.sampled_from(["host_uuid", "uuid"]))
            members.append(("decorations", Obj([(key, uuid), ("hostname", "x")])))
        else:
            members.append((where, uuid))
    row_list = draw(row_lists())
    shape = draw(st.sampled_from(["batch", "batch", "snapshot", "event", "snapshot_event"]))
    if shape == "batch":
        diff = Obj()
        for key in ("added", "removed"):
            if draw(st.integers(0, 5)):
                diff.append((key, draw(st.sampled_from([row_list] * 6 + ["", None, "x"]))))
        members.append(("diffResults", diff))
    elif shape == "snapshot":
        members.append(("snapshot", draw(st.sampled_from([row_list] * 4 + [""]))))
    else:
        members.append(("columns", row_list[0] if row_list else Obj([("pid", "1")])))
        members.append(
            (
                "action",
                "snapshot"
                if shape == "snapshot_event"
                else draw(st.sampled_from(["added", "removed", "added", "removed", "other"])),
            )
        )
    members.append(("calendarTime", "Mon Nov  2 00:00:00 2026 UTC"))
    oddity = draw(st.integers(0, 12))
    if oddity == 1:  # a repeated header key
        members.append(draw(st.sampled_from(members)))
    elif oddity == 2:
        members.append(("log_type", "result"))
    elif oddity == 3:
        members = [(k, v) for k, v in members if k != "name"]
    draw(st.randoms(use_true_random=False)).shuffle(members)
    text = dump(Obj(members), draw(st.randoms(use_true_random=False)))
    if oddity == 4:
        text = text + draw(st.sampled_from([" ", "\r", "x", "}"]))
    elif oddity == 5:
        text = draw(st.sampled_from([" ", "\ufeff"])) + text
    elif oddity == 6:
        text = text[: draw(st.integers(0, len(text)))]
    return text


@given(st.lists(result_lines(), min_size=1, max_size=12))
def test_every_line_reads_as_the_sql_path_reads_it(
    store: hindsight.Hindsight, texts: list[str]
) -> None:
    assert_same(store, [t.encode() for t in texts])


@st.composite
def event_lines(draw: st.DrawFn) -> str:
    """An event line the library reads (one row of plain values), escaped at random."""
    row = Obj(
        (k, draw(plain)) for k in draw(st.lists(columns, min_size=1, max_size=5, unique=True))
    )
    line = Obj([("name", "process_events"), ("hostIdentifier", "h"), ("unixTime", 1),
                ("columns", row), ("action", "added")])  # fmt: skip
    return dump(line, draw(st.randoms(use_true_random=False)))


@given(st.lists(st.one_of(result_lines(), event_lines(), event_lines()), min_size=1, max_size=12),
       st.data())  # fmt: skip
def test_event_rows_read_into_columns_as_json_transform_reads_them(
    texts: list[str], data: st.DataObject
) -> None:
    """The library's event rows by column (native.event_rows) against DuckDB's json_transform,
    the SQL path's `as_text`, on the rows the library rendered: escapes, unicode, numbers past
    BIGINT, booleans, nulls, members missing or not among the columns, names differing in case."""
    batch = native.parse(LIB, [t.encode() for t in texts])
    names = sorted(set(batch.rows["name"].to_pylist()))
    wanted = data.draw(st.lists(st.sampled_from(["uid", "username", "path", "pid", "é", 'a"b',
                                                 "time", "extra", "PID", "gone"]),
                                unique_by=str.lower, max_size=6))  # fmt: skip
    got, typed = native.event_rows(LIB, batch, names, wanted)
    assert not typed
    con = duckdb.connect()
    con.register("batch_rows", batch.rows)
    spec = json.dumps({c: "VARCHAR" for c in wanted})
    want = con.execute(
        f"SELECT i, name::VARCHAR, {'json_transform(r, ?)' if wanted else 'NULL'} FROM batch_rows "
        "WHERE op > 0 AND list_contains(?, name::VARCHAR)",
        [spec, names] if wanted else [names],
    ).fetchall()
    assert [tuple(r.values()) for r in got.to_pylist()] == want


#: Texts of typed values: plain forms (read by the library) and others (left to the SQL path).
_INTS = st.one_of(
    st.integers(-(2**64), 2**65), st.sampled_from([0, 2**63 - 1, -(2**63), 2**64 - 1])
)
_NUMBER_TEXTS = st.one_of(
    _INTS.map(str),
    st.integers(-99, 99).map(str),
    st.decimals(-(10**6), 10**6, places=3, allow_nan=False).map(str),
    st.floats(allow_nan=False, allow_infinity=False).flatmap(
        lambda f: st.sampled_from([repr(f), f"{f:e}", f"{f:.17g}", f"{f:E}", f"{f:.3f}"])
    ),
    st.sampled_from(["", "-0", "01", "+1", " 1", "1 ", "1.", ".5", "1e", "1e400", "1e-400", "0e5",
                     "-0.0", "inf", "nan", "NaN", "Infinity", "0x1f", "1_000", "abc", "1e+3",
                     "4.9e-324", "1.7976931348623157e308", "2.2250738585072011e-308"]),
)  # fmt: skip
#: The typed columns asked for, and each as DuckDB's type.
_TYPED = {"a": "BIGINT", "b": "UBIGINT", "c": "DOUBLE", "d": "VARCHAR"}


@st.composite
def typed_event_lines(draw: st.DrawFn) -> str:
    """An event line of columns a-d: each a number's text, as a JSON string or number, null or
    missing."""
    row = []
    for name in _TYPED:
        text = draw(_NUMBER_TEXTS)
        kind = draw(st.sampled_from(["string", "number", "null", "missing"]))
        try:
            is_json_number = isinstance(json.loads(text), int | float) and text.strip() == text
        except ValueError:
            is_json_number = False
        if kind == "number" and is_json_number:
            row.append(f'"{name}":{text}')
        elif kind == "null":
            row.append(f'"{name}":null')
        elif kind != "missing":
            row.append(f'"{name}":{json.dumps(text)}')
    return (
        '{"name":"process_events","hostIdentifier":"h","unixTime":1,"action":"added",'
        f'"columns":{{{",".join(row)}}}}}'
    )


def _plain(text: str, typ: str) -> bool:
    """Whether TEXT is in the plain form of TYP the library must read (a smaller set than it
    may: doubles of few digits and exponents)."""
    if typ == "BIGINT":
        return text == str(int(text)) if re.fullmatch(r"-?\d+", text) else False
    if typ == "UBIGINT":
        return re.fullmatch(r"0|[1-9]\d*", text) is not None
    return re.fullmatch(r"-?[1-9]\d{0,8}(\.\d{1,6})?([eE][+-]?[1-9]\d?)?", text) is not None


@given(st.lists(typed_event_lines(), min_size=1, max_size=8))
def test_typed_event_values_are_those_the_typed_insert_stores(texts: list[str]) -> None:
    """The library's typed event columns (native.event_rows with types) hold what the writer's
    typed insert (store.fit, DuckDB's casts) stores: '' reads NULL, a value fitting its type
    its typed value. Where any value does not fit, or is in a form the library leaves to
    DuckDB, it says so (untyped) and the SQL path decides; values in their plain forms are
    read typed."""
    batch = native.parse(LIB, [t.encode() for t in texts])
    got, typed = native.event_rows(
        LIB, batch, ["process_events"], list(_TYPED), list(_TYPED.values())
    )
    con = duckdb.connect()
    texts_of = native.event_rows(LIB, batch, ["process_events"], list(_TYPED))[0]
    con.register("t", texts_of)
    exprs = [f"CASE WHEN _j.{c} = '' THEN NULL WHEN {fits(f'_j.{c}', t)} THEN TRY_CAST(_j.{c} AS {t}) "
             f"END, _j.{c} = '' OR {fits(f'_j.{c}', t)}" if t != "VARCHAR" else f"_j.{c}, true"
             for c, t in _TYPED.items()]  # fmt: skip
    want = con.execute(f"SELECT {', '.join(exprs)} FROM t").fetchall()
    values = [[row[2 * k] for k in range(len(_TYPED))] for row in want]
    all_fit = all(row[2 * k + 1] is not False for row in want for k in range(len(_TYPED)))
    plain = all(
        v is None or _plain(v, t)
        for row in texts_of["_j"].to_pylist()
        for (c, t), v in zip(_TYPED.items(), row.values(), strict=True)
        if t != "VARCHAR"
    )
    if typed:
        assert all_fit
        read = [list(r["_j"].values()) for r in got.to_pylist()]
        assert [[_bits(v) for v in r] for r in read] == [[_bits(v) for v in r] for r in values]
    assert typed or not (plain and all_fit)


def _bits(value: Any) -> Any:
    """A value compared exactly (a double by its bits: -0.0 is not 0.0)."""
    return struct.pack("<d", value) if isinstance(value, float) else value


def test_a_fleet_of_clean_lines_reads_natively_and_the_same(store: hindsight.Hindsight) -> None:
    # hypothesis above explores the oddities; here most lines are ordinary, so that the native
    # path reads most of them: values with escapes, control characters, any unicode, integers
    # of every size, booleans and nulls, in every spacing
    r = random.Random(7)
    alphabet = 'ab"\\/\n\t\x01\x1f\x7fé😀\u2028 0'

    def value() -> Any:
        kind = r.random()
        if kind < 0.7:
            return "".join(r.choice(alphabet) for _ in range(r.randint(0, 6)))
        if kind < 0.9:
            return r.choice([0, 1, -1, 2**63 - 1, -(2**63), 2**64 - 1, r.randint(-999, 999)])
        return r.choice([True, False, None])

    raws = []
    for n in range(600):
        keys = r.sample(["uid", "username", "path", "pid", "é", 'a"b', "time", "x\ty"], 4)
        table = r.choice(["pack_ir_users", "users", "process_events"])
        rows = [
            Obj((k, value()) for k in r.sample(keys, len(keys))) for _ in range(r.randint(0, 4))
        ]
        shape = r.choice(["batch", "snapshot", "event"])
        members: list[tuple[str, Any]] = [
            ("name", table),
            ("hostIdentifier", r.choice(["host-A", "HOST-b"])),
            ("unixTime", r.choice([1_700_000_000 + n, str(1_700_000_000 + n)])),
            ("epoch", r.choice([0, "0", 1])),
            ("counter", r.choice([n, str(n), ""])),
            ("decorations", Obj([("host_uuid", r.choice(["ABC-1", "abc-2"]))])),
        ]
        if shape == "batch":
            members.append(("diffResults", Obj([("added", rows), ("removed", rows[:1])])))
        elif shape == "snapshot" or not rows:
            members.append(("snapshot", rows))
        else:
            members += [("columns", rows[0]), ("action", r.choice(["added", "removed"]))]
        r.shuffle(members)
        raws.append(dump(Obj(members), r).encode())
    assert_same(store, raws)
    assert len(native.parse(LIB, raws).deferred) < len(raws) / 10


@given(
    st.lists(result_lines(), min_size=1, max_size=12),
    st.lists(
        st.tuples(st.sampled_from(["a.log", "b.log", "body"]), st.integers(0, 2)),
        min_size=12,
        max_size=12,
    ),
)
def test_lines_of_several_sources_read_the_same(
    store: hindsight.Hindsight, texts: list[str], sources: list[tuple[str, int]]
) -> None:
    # lines of two files and of TLS bodies (one-line bodies, with the receiver's occurrence of
    # a journaled line or without): their dedupe keys are counted per source
    def make(raws: list[bytes]) -> list[Line]:
        out = []
        for n, (raw, (origin, occurrence)) in enumerate(zip(raws, sources, strict=False)):
            body = origin == "body"
            # a body's lines: data[0], data[1], ... of one line of its file
            line = Line(origin, 1 if body else n + 1, raw, None, item=n + 1 if body else None)
            line.occurrence = occurrence if body and occurrence else None
            out.append(line)
        return out

    assert_same(store, [t.encode() * 1 for t in texts], make)
    # the same lines again, all copies: one of each scope is new
    assert_same(
        store,
        [t.encode() for t in texts + texts],
        lambda raws: make(raws[: len(texts)]) + make(raws[len(texts) :]),
    )


def test_identical_lines_of_one_body_count_as_one_scope(store: hindsight.Hindsight) -> None:
    # a TLS body holding an event line twice around another execution's line: the copies are
    # two occurrences of one scope (the body), not one of each of two scopes (as in a file)
    e = event("process_events", 100, "added", {"pid": "1"})
    x = event("process_events", 200, "added", {"pid": "2"}, host="other")
    raws = [e, x, e, e, x]

    def body(raws: list[bytes]) -> list[Line]:
        return [Line("body", 1, raw, None, item=n + 1) for n, raw in enumerate(raws)]

    assert_same(store, raws, body)
    assert_same(store, raws, one_file)
    in_body, in_file = (
        sorted(occ for _, _, _, occ, _ in first_stage(store, raws, LIB, make)["lkeys"])
        for make in (body, one_file)
    )
    assert in_body == [0, 0, 1, 1, 2] and in_file == [0, 0, 0, 0, 1]


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=4))
def test_bytes_that_are_no_line_are_the_sql_paths(
    store: hindsight.Hindsight, raws: list[bytes]
) -> None:
    assert_same(store, raws)


def test_status_lines_and_relay_shapes_are_deferred(store: hindsight.Hindsight) -> None:
    raws = [
        b'{"hostIdentifier":"h","calendarTime":"x","unixTime":"1700000000","severity":"0",'
        b'"filename":"a.cpp","line":"1","message":"hi","version":"5.0"}',
        b'{"node_key":"k","log_type":"result","data":[{"name":"users","hostIdentifier":"h",'
        b'"unixTime":1700000000,"snapshot":[{"uid":"1"}],"action":"snapshot"}]}',
        b'{"name":"users","hostIdentifier":"h","unixTime":1700000000,"snapshot":[{"uid":1.5}]}',
        b'{"name":"users","hostIdentifier":"h","unixTime":1700000000,"snapshot":[{"uid":"1"}]}',
    ]
    assert_same(store, raws)
    parsed = native.parse(LIB, raws)
    assert parsed.deferred == [0, 1, 2]
    assert parsed.header.num_rows == 1


def test_osquery_own_output_reads_the_same(store: hindsight.Hindsight, samples: Path) -> None:
    raws = [
        line.raw
        for path in sorted(samples.rglob("*"))
        if path.is_file() and path.suffix in {".log", ".json", ".jsonl", ""}
        for line in read_lines(path, 1 << 24, parse=False)
    ]
    assert len(raws) > 20
    assert_same(store, raws)
    # and most of it is read natively: the fast path is the path
    assert len(native.parse(LIB, raws).deferred) < len(raws) / 2


def test_a_fleet_ingests_to_the_same_store_either_way(tmp_path: Path) -> None:
    users = [
        snapshot(USERS, 100 + 60 * k, [{"uid": str(u), "username": f"u{u}"} for u in range(k % 4)])
        for k in range(20)
    ]
    execs = [
        event(
            "process_events",
            100 + k,
            "added",
            {"pid": str(k), "path": "/bin/sh", "time": str(90 + k)},
        )
        for k in range(30)
    ]
    log = write(tmp_path / "fleet.log", *users, *execs)

    def answers(hs: hindsight.Hindsight) -> tuple[object, ...]:
        return (
            hs.sql(
                f"SELECT uid, username, valid_from, valid_to FROM {USERS} FOR SYSTEM_TIME ALL ORDER BY ALL"
            ).rows,
            hs.sql("SELECT pid, path, time FROM process_events ORDER BY ALL").rows,
        )

    with hindsight.open(tmp_path / "sql", native="off") as hs:
        hs.ingest([log])
        expected = answers(hs)
    assert len(expected[0]) > 10 and len(expected[1]) == 30
    with hindsight.open(tmp_path / "sql", native="on") as hs:
        # the lines the SQL path stored are known again by the native path's keys
        assert hs.ingest([log]).duplicates == len(users) + len(execs)
        assert answers(hs) == expected
    with hindsight.open(tmp_path / "native", native="on") as hs:
        hs.ingest([log])
        assert answers(hs) == expected


def test_a_batch_of_known_hosts_and_queries_in_any_order_gets_their_ids(tmp_path: Path) -> None:
    """The writer gives the first stage's lines their host and query ids by their codes in the
    batch (store/lineids.py): hosts and queries the store knows, met in another order than
    their ids (and event and state queries mixed), are mapped each to its own, as the SQL path
    joins them."""

    def line(name: str, host: int, t: int, k: int) -> bytes:
        cols = {"pid": str(k), "path": f"/bin/{k}"} if name == "process_events" else {"uid": str(k)}
        return event(name, t, "added", cols, host=f"h{host}", uuid=f"U-{host}", counter=k)

    names = [USERS, "process_events", "pack_ir_groups"]
    first = [line(n, h, 100, 1) for h in range(4) for n in names]
    # (then the hosts and queries in other orders: host codes 0-3 are ids 4, 2, 3, 1, query
    # codes 0-2 ids 3, 2, 1, of state, event and state queries)
    later = [
        line(n, h, 200 + k, 2 + k) for k in range(3) for h in (3, 1, 2, 0) for n in names[::-1]
    ]
    stores = {}
    for native_path in ("off", "on"):
        with hindsight.open(tmp_path / native_path, native=native_path) as hs:
            hs.ingest([write(tmp_path / "first.log", *first)])
            hs.ingest([write(tmp_path / "later.log", *later)])
            stores[native_path] = contents(hs)
    assert len(stores["on"]["ev_2"]) == 4 + 12
    assert stores["on"] == stores["off"]


@given(
    st.lists(
        st.one_of(st.binary(max_size=40), st.sampled_from([*SPECIAL, *(n[:-1] for n in SPECIAL)]))
    ),
)
def test_the_readers_block_test_is_the_python_one(pieces: list[bytes]) -> None:
    """The library's test of a block for a line read one at a time (native.holds) answers as
    the reader's own, for the needles whole, cut short, and anywhere in any bytes."""
    data = b"".join(pieces)
    assert native.holds(LIB)(data) == holds_special(data)


@given(st.text(max_size=40))
def test_the_row_identity_is_duckdbs_hash(text: str) -> None:
    data = text.encode()
    (theirs,) = duckdb.connect().execute("SELECT hash($t)", {"t": text}).fetchone() or (0,)
    assert LIB.hs_duckdb_hash(data, len(data)) == theirs


def refused(monkeypatch: pytest.MonkeyPatch, why: str) -> None:
    """With what MONKEYPATCH changed, no library is used (`auto`) and `on` says WHY; once
    undone, the library is found again."""
    load._load.cache_clear()
    try:
        assert native.library("auto") is None
        with pytest.raises(native.NativeUnavailable, match=why):
            native.library("on")
    finally:
        monkeypatch.undo()
        load._load.cache_clear()
    assert native.library("auto") is not None


def test_on_without_the_library_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "library_path", lambda: None)
    refused(monkeypatch, "apt-get install")


def test_a_library_built_from_an_older_source_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A library left from an older build (without the newest function) would be called
    with arguments it does not take: it is refused, with the way to rebuild it."""

    class Old:  # (a library without hs_newlines)
        pass

    monkeypatch.setattr(load.ctypes, "CDLL", lambda path: Old())
    refused(monkeypatch, "older source: pip install again")


def test_an_ingest_checks_the_library_on_the_stores_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library's check against DuckDB runs once a process, on a cursor of the store's
    connection: a connection of its own cost each `hindsight ingest` 20-30 ms."""

    def connect(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the check opened a connection of its own")

    lines = [event("users", 10 * i, "added", {"uid": str(i)}, counter=i) for i in range(1, 4)]
    with hindsight.open(tmp_path / "d", native="on") as hs:
        load._load.cache_clear()
        load._AGREES.clear()
        monkeypatch.setattr(load.duckdb, "connect", connect)
        assert hs.ingest([write(tmp_path / "a.log", *lines)]).rows == 3
    assert list(load._AGREES.values()) == [True]


def contents(hs: hindsight.Hindsight) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the store but `meta`, its rows sorted; raw chunks as their lines (the
    library writes them by column: hindsight.store.chunks)."""
    con = hs.store.con
    names = [
        n
        for (n,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND NOT temporary AND table_name <> 'meta'"
        ).fetchall()
    ]
    found = {n: con.execute(f'SELECT * FROM "{n}" ORDER BY ALL').fetchall() for n in names}
    found["raw_chunks"] = sorted((*r[:-1], chunks.read(r[-1])) for r in found["raw_chunks"])
    return found


#: An event's `time` member: missing (None), NULL-like, a number's text or a JSON number, or a
#: value not in a BIGINT's plain form (`07`, past BIGINT, a boolean).
_EVENT_TIMES = st.one_of(
    st.none(),
    st.sampled_from(["", "07", "-0", 2**63, True]),
    st.integers(-5, 40).map(str),
    st.integers(-5, 40),
)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 40), _EVENT_TIMES),
        min_size=1,
        max_size=25,
    )
)
def test_event_rows_in_time_order_read_as_the_unordered(
    events: list[tuple[str, int, object]],
) -> None:
    """event_rows ORDERED: the same rows, by time (the row's `time`, else its line's instant),
    then host, each with its line's instant and host; where a `time` is not in its plain form
    (`07`), not ordered (the writer sorts them)."""
    lines = [
        event("process_events", t, "added", {"pid": str(k), **({} if w is None else {"time": w})},
              host=h, uuid=h)
        for k, (h, t, w) in enumerate(events)
    ]  # fmt: skip
    batch = native.parse(LIB, lines)
    args = (LIB, batch, ["process_events"], ["pid", "time"], ["BIGINT", "BIGINT"])
    plain, typed = native.event_rows(*args)
    ordered, typed_too = native.event_rows(*args, ordered=True)
    assert typed == typed_too
    if not typed:  # (a time not in its plain form)
        assert "_hk" not in ordered.column_names
        return
    got = ordered.to_pylist()
    assert sorted(r["_j"]["pid"] for r in got) == sorted(r["_j"]["pid"] for r in plain.to_pylist())
    by_pid = {k: (h, t, w) for k, (h, t, w) in enumerate(events)}
    for row in got:
        h, t, w = by_pid[row["_j"]["pid"]]
        time = None if w is None or w == "" else int(str(w))
        assert (row["_hk"], row["_t"], row["_j"]["time"]) == (h, t, time)
    when = [r["_j"]["time"] if r["_j"]["time"] is not None else r["_t"] for r in got]
    assert when == sorted(when)


def test_new_events_are_appended_in_time_order(tmp_path: Path) -> None:
    """A batch of new typed events is appended in the first stage's order (time, then host),
    and stores what the SQL path stores."""
    rng = random.Random(7)
    lines = [
        event("process_events", 100 + k, "added",
              {"pid": str(k), "path": "/bin/sh", **({"time": str(rng.randint(50, 150))} if k % 5 else {})},
              host=f"h{k % 3}", uuid=f"U-{k % 3}")
        for k in range(60)
    ]  # fmt: skip
    assert events_stored_in_time_order(tmp_path, lines) == 60


def events_stored_in_time_order(tmp_path: Path, lines: list[bytes]) -> int:
    """Ingest LINES (one event table's) with the library and without: the stores hold the
    same, the library's its events in time order. Returns how many events."""
    log = write(tmp_path / "events.log", *lines)
    stores = []
    for mode in ("off", "on"):
        with hindsight.open(tmp_path / mode, native=mode) as hs:
            hs.ingest([log])
            stores.append(contents(hs))
            (table,) = [n for n in stores[-1] if n.startswith("ev_")]
            times = hs.store.con.execute(f"SELECT _time FROM {table} ORDER BY rowid").fetchall()
            assert mode == "off" or times == sorted(times)
    assert stores[0] == stores[1]
    return len(times)


def test_new_events_of_an_unknown_table_are_appended_in_time_order(tmp_path: Path) -> None:
    """Event rows of a table osquery's schema does not know (text columns) and without a
    `time` column come from the first stage in their lines' order (instant, then host) too, so
    the writer appends them; the store holds what the SQL path stores."""
    rng = random.Random(3)
    lines = [
        event("custom_events", rng.randint(100, 160), "added", {"k": str(k), "who": f"u{k % 4}"},
              host=f"h{k % 3}", uuid=f"U-{k % 3}")
        for k in range(50)
    ]  # fmt: skip
    batch = native.parse(LIB, lines)
    read, typed = native.event_rows(
        LIB, batch, ["custom_events"], ["k", "who"], ["VARCHAR", "VARCHAR"], ordered=True
    )
    assert not typed and "_hk" in read.column_names
    assert read["_t"].to_pylist() == sorted(read["_t"].to_pylist())
    assert events_stored_in_time_order(tmp_path, lines) == 50


def test_a_mixed_fleet_out_of_order_gives_the_same_store_either_way(tmp_path: Path) -> None:
    # bench's generators: users as batches, processes as snapshots, process_events, DHCP churn;
    # in small batches, the later half of the history first, so that streams are extended and
    # replayed
    lines = [*mixed_lines(4, 12), *dhcp_lines(3, 1)]
    times = sorted(orjson.loads(line)["unixTime"] for line in lines)
    half = times[len(times) // 2]
    late, early = tmp_path / "late.log", tmp_path / "early.log"
    bench_write(late, iter([ln for ln in lines if orjson.loads(ln)["unixTime"] >= half]))
    bench_write(early, iter([ln for ln in lines if orjson.loads(ln)["unixTime"] < half]))
    stores = []
    for mode in ("off", "on"):
        with hindsight.open(tmp_path / mode, native=mode, batch_lines=700) as hs:
            hs.ingest([late])
            assert hs.ingest([early]).rebuilt_streams > 10
            assert hs.ingest([late, early]).duplicates == len(lines)
            stores.append(contents(hs))
    assert stores[0] == stores[1]
    assert sum(len(rows) for name, rows in stores[0].items() if name.startswith("hist_")) > 100


def test_a_duckdb_whose_hash_differs_gets_the_sql_path() -> None:
    # the library's copies of DuckDB's hash() are checked at load: a DuckDB release that
    # changed them (here, the fold of a key's arguments) would give other identities and keys
    class Drifted:
        def __getattr__(self, name: str) -> Any:
            return getattr(LIB, name)

        @staticmethod
        def hs_duckdb_combine(a: int, b: int) -> int:
            return int(LIB.hs_duckdb_combine(a, b)) ^ 1

    assert load._agrees_with_duckdb(LIB)
    assert not load._agrees_with_duckdb(Drifted())  # type: ignore[arg-type]
