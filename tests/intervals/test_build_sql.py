"""build_sql.build_intervals (set-based SQL) and the native builder (store/native/) against
apply.apply (the per-row reference)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st

from hindsight.intervals import Close, Execution, Open, Signal, StreamState, apply
from hindsight.intervals.build_sql import OUTPUTS, build_intervals, interval_statements
from hindsight.osquery.lines import Row
from hindsight.store import native

EXECS = pa.schema(
    [
        ("host_id", pa.int32()),
        ("query_id", pa.int32()),
        ("seq", pa.int64()),
        ("time", pa.int64()),
        ("full_set", pa.bool_()),
        ("snap", pa.bool_()),
    ]
)
CHANGES = pa.schema(
    [
        ("host_id", pa.int32()),
        ("query_id", pa.int32()),
        ("seq", pa.int64()),
        ("op", pa.int8()),
        ("rh", pa.uint64()),
        ("payload", pa.string()),
    ]
)
OPEN = pa.schema(
    [
        ("host_id", pa.int32()),
        ("query_id", pa.int32()),
        ("rh", pa.uint64()),
        ("_from", pa.int64()),
        ("_n", pa.int16()),
    ]
)

# Row hashes span the whole UBIGINT range (the top bit set on two of them).
DOMAIN = (7, 2**63 + 5, 2**64 - 1)


def row(rh: int) -> Row:
    return Row(rh, f'{{"v":"{rh}"}}'.encode())


def payload(rh: int) -> str:
    return row(rh).canon.decode()


Interval = tuple[int, int, int, int, int | None]  # host, query, rh, from, to (None: open)


@dataclass
class Stream:
    host: int
    query: int
    execs: list[Execution]
    full: list[bool] = field(default_factory=list)  # as decided by apply


@dataclass
class Reference:
    intervals: Counter[Interval]
    # (host, query, seq) -> (removed_not_open, closed_by_full)
    signals: dict[tuple[int, int, int], tuple[int, int]]  # executions with a nonzero one


def reference(streams: list[Stream]) -> Reference:
    """apply() over every execution, intervals collected the way ingest.StreamUpdate does."""
    out: Counter[Interval] = Counter()
    sig: dict[tuple[int, int, int], tuple[int, int]] = {}
    for s in streams:
        state = StreamState()
        pending: dict[tuple[int, int, int], Open] = {}
        s.full = []
        for seq, ex in enumerate(s.execs):
            opened: list[Open] = []
            closed: list[Close] = []
            signals: list[Signal] = []
            full = apply(state, ex, opened, closed, signals)
            s.full.append(full)
            for c in closed:
                o = pending.pop((c.row_hash, c.start, c.n))
                if c.end > c.start:
                    out[(s.host, s.query, c.row_hash, c.start, c.end)] += 1
            for o in opened:
                pending[(o.row.hash, o.start, o.n)] = o
            missing = sum(int(x.detail.split()[0]) for x in signals if x.kind == "removed_not_open")
            if missing or (full and closed):
                sig[(s.host, s.query, seq)] = (missing, len(closed) if full else 0)
        for o in pending.values():
            out[(s.host, s.query, o.row.hash, o.start, None)] += 1
    return Reference(out, sig)


def table(schema: pa.Schema, rows: list[tuple[Any, ...]]) -> pa.Table:
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    return pa.table([pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)], schema)


#: The builders: SQL with each execution of a full set applied whole, SQL with a snapshot after
#: a full set applied as its difference, and the native one.
BUILDERS = ["sql", "sql-deltas", "native"]
LIB = native.library("on")  # the tests need it built (native.BUILD_HINT)


def run(
    con: duckdb.DuckDBPyConnection,
    execs: list[tuple[Any, ...]],
    changes: list[tuple[Any, ...]],
    open_before: list[tuple[Any, ...]],
    builder: str = "sql",
) -> dict[str, list[tuple[Any, ...]]]:
    # the native builder takes the store's payloads (row numbers): the texts are numbered in
    # their order (the least payload is the least text's), and read back after
    texts = sorted({c[5] for c in changes if c[5] is not None})
    if builder == "native":
        number = {t: k for k, t in enumerate(texts)}
        changes = [(*c[:5], number.get(c[5], -1)) for c in changes]
    schema = CHANGES.set(5, pa.field("payload", pa.int64())) if builder == "native" else CHANGES
    con.register("t_execs", table(EXECS, execs))
    con.register("t_changes", table(schema, changes))
    con.register("t_open", table(OPEN, open_before))
    if builder == "native":
        native.build_intervals(con, LIB, "t_changes", "t_execs", "t_open")
    else:
        build_intervals(con, "t_changes", "t_execs", "t_open", builder == "sql-deltas")
    for name in ("t_execs", "t_changes", "t_open"):
        con.unregister(name)
    out = {name: con.execute(f"SELECT * FROM {name}").fetchall() for name in OUTPUTS}
    if builder == "native":
        for name in ("iv_new_closed", "iv_new_open"):
            out[name] = [(*r[:-1], texts[r[-1]]) for r in out[name]]
    return out


def batch_rows(
    streams: list[Stream], lo: list[int], hi: list[int]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    execs: list[tuple[Any, ...]] = []
    changes: list[tuple[Any, ...]] = []
    for s, a, b in zip(streams, lo, hi, strict=True):
        for seq in range(a, b):
            ex = s.execs[seq]
            execs.append((s.host, s.query, seq, ex.time, s.full[seq], ex.snapshot))
            changes += [(s.host, s.query, seq, 1, r.hash, r.canon.decode()) for r in ex.added]
            changes += [(s.host, s.query, seq, -1, r.hash, None) for r in ex.removed]
    return execs, changes


_CON: list[duckdb.DuckDBPyConnection] = []


def shared_con() -> duckdb.DuckDBPyConnection:
    """One connection for every example (connecting costs more than the statements)."""
    if not _CON:
        _CON.append(duckdb.connect())
    return _CON[0]


def check_sql(streams: list[Stream], split: list[int], builder: str = "sql") -> None:
    ref = reference(streams)
    con = shared_con()
    zeros = [0] * len(streams)
    ends = [len(s.execs) for s in streams]
    e1, c1 = batch_rows(streams, zeros, split)
    out1 = run(con, e1, c1, [], builder)
    assert out1["iv_closed_existing"] == []
    open1 = [(h, q, rh, f, n) for h, q, rh, f, n, _ in out1["iv_new_open"]]
    e2, c2 = batch_rows(streams, split, ends)
    out2 = run(con, e2, c2, open1, builder)

    got: Counter[Interval] = Counter()
    for h, q, rh, f, t, _n, p in out1["iv_new_closed"] + out2["iv_new_closed"]:
        assert f < t and p == payload(rh)
        got[(h, q, rh, f, t)] += 1
    closed_before: Counter[tuple[int, int, int, int, int]] = Counter()
    for h, q, rh, f, n, t in out2["iv_closed_existing"]:
        closed_before[(h, q, rh, f, n)] += 1
        if t > f:
            got[(h, q, rh, f, t)] += 1
    for h, q, rh, f, n, p in out1["iv_new_open"]:
        assert p == payload(rh)
        if not closed_before[(h, q, rh, f, n)]:
            got[(h, q, rh, f, None)] += 1
    assert max(closed_before.values(), default=1) == 1  # each existing instance closes once
    for h, q, rh, f, _n, p in out2["iv_new_open"]:
        assert p == payload(rh)
        got[(h, q, rh, f, None)] += 1
    assert got == ref.intervals

    # open instances: one per level, levels 0..count-1, so the (rh, _from, _n) key is unique
    still_open = [
        (h, q, rh, n)
        for h, q, rh, f, n, _ in out1["iv_new_open"]
        if not closed_before[(h, q, rh, f, n)]
    ] + [(h, q, rh, n) for h, q, rh, _f, n, _ in out2["iv_new_open"]]
    per_row = Counter((h, q, rh) for h, q, rh, _ in still_open)
    assert sorted(still_open) == sorted(
        (h, q, rh, n) for (h, q, rh), c in per_row.items() for n in range(c)
    )

    times = {(s.host, s.query, seq): ex.time for s in streams for seq, ex in enumerate(s.execs)}
    sig = {}
    for h, q, seq, t, rno, cbf in out1["iv_signals"] + out2["iv_signals"]:
        assert t == times[(h, q, seq)]
        sig[(h, q, seq)] = (rno, cbf)
    deltas = builder == "sql-deltas"
    assert sig == (delta_signals(streams, split, ref.signals) if deltas else ref.signals)


def delta_signals(
    streams: list[Stream], split: list[int], signals: dict[tuple[int, int, int], tuple[int, int]]
) -> dict[tuple[int, int, int], tuple[int, int]]:
    """The reference's signals, less what a snapshot applied as a difference does not report:
    the rows it closed (a snapshot closing rows is no ambiguity; the store ignores them)."""
    out = dict(signals)
    for s, cut in zip(streams, split, strict=True):
        for seq, ex in enumerate(s.execs):
            same_batch = seq > 0 and (seq - 1 < cut) == (seq < cut)
            key = (s.host, s.query, seq)
            if ex.snapshot and same_batch and s.full[seq - 1] and key in out:
                missing, _ = out.pop(key)
                if missing:
                    out[key] = (missing, 0)
    return out


# -- property ---------------------------------------------------------------------------------

rows = st.lists(st.sampled_from(DOMAIN), max_size=4)


@st.composite
def executions(draw: st.DrawFn, ties: bool) -> list[Execution]:
    out: list[Execution] = []
    time = draw(st.integers(1, 5))
    for i in range(draw(st.integers(0, 15))):
        kind = draw(st.sampled_from(["snapshot", "diff", "diff", "reset"]))
        added = [row(rh) for rh in draw(rows)]
        removed = [] if kind == "snapshot" else [row(rh) for rh in draw(rows)]
        counter = 0 if kind == "reset" else i + 1
        out.append(Execution(time, 0, counter, kind == "snapshot", added, removed))
        time += draw(st.integers(0 if ties else 1, 3))
    return out


@st.composite
def scenarios(draw: st.DrawFn, ties: bool) -> tuple[list[Stream], list[int]]:
    keys = draw(
        st.lists(
            st.tuples(st.integers(1, 3), st.integers(1, 2)), min_size=1, max_size=4, unique=True
        )
    )
    streams = [Stream(h, q, draw(executions(ties))) for h, q in keys]
    split = [draw(st.integers(0, len(s.execs))) for s in streams]
    return streams, split


@pytest.mark.parametrize("builder", BUILDERS)
@given(case=scenarios(ties=False))
def test_matches_apply(case: tuple[list[Stream], list[int]], builder: str) -> None:
    """With `deltas`, snapshots after a full set are applied as differences: same intervals."""
    check_sql(*case, builder=builder)


@pytest.mark.parametrize("builder", BUILDERS)
@given(case=scenarios(ties=True))
def test_matches_apply_with_repeated_times(
    case: tuple[list[Stream], list[int]], builder: str
) -> None:
    """Executions sharing a time: intervals of zero length are dropped on both sides."""
    check_sql(*case, builder=builder)


@pytest.fixture(params=["sql", "native"])
def builder(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- examples ---------------------------------------------------------------------------------

A, B = DOMAIN[0], DOMAIN[1]


def ex(time: int, full: bool, added: list[int], removed: list[int] | None = None) -> Execution:
    return Execution(time, 0, 1, full, [row(r) for r in added], [row(r) for r in removed or []])


def single(
    builder: str, execs: list[Execution], open_before: list[tuple[Any, ...]] | None = None
) -> Any:
    s = Stream(1, 1, execs, [e.snapshot for e in execs])
    e, c = batch_rows([s], [0], [len(execs)])
    return run(duckdb.connect(), e, c, open_before or [], builder)


def test_empty_full_set_closes_everything(builder: str) -> None:
    out = single(builder, [ex(10, False, [A, A, B]), ex(20, True, []), ex(30, False, [], [A])])
    assert sorted(x[2:5] for x in out["iv_new_closed"]) == [(A, 10, 20), (A, 10, 20), (B, 10, 20)]
    assert out["iv_new_open"] == []
    assert sorted(x[3:] for x in out["iv_signals"]) == [(20, 0, 3), (30, 1, 0)]


def test_lifo_with_duplicates(builder: str) -> None:
    out = single(builder, [ex(10, False, [A]), ex(20, False, [A, A]), ex(30, False, [], [A, A])])
    # levels: 10 -> 1, 20 -> 2 and 3; the removals close levels 3 and 2 (the latest)
    assert sorted(x[2:6] for x in out["iv_new_closed"]) == [(A, 20, 30, 1), (A, 20, 30, 2)]
    assert [x[2:] for x in out["iv_new_open"]] == [(A, 10, 0, payload(A))]


def test_full_set_keeps_the_oldest_instances(builder: str) -> None:
    out = single(builder, [ex(10, False, [A]), ex(20, False, [A]), ex(30, True, [A, B])])
    assert [x[2:5] for x in out["iv_new_closed"]] == [(A, 20, 30)]
    assert sorted(x[2:5] for x in out["iv_new_open"]) == [(A, 10, 0), (B, 30, 0)]


def test_removed_row_not_open_is_ignored(builder: str) -> None:
    out = single(builder, [ex(10, False, [], [B]), ex(20, False, [B]), ex(30, False, [], [B, B])])
    assert [x[2:5] for x in out["iv_new_closed"]] == [(B, 20, 30)]
    assert out["iv_new_open"] == []
    assert sorted(x[3:] for x in out["iv_signals"]) == [(10, 1, 0), (30, 1, 0)]


def test_remove_and_add_in_one_diff_reopens(builder: str) -> None:
    """apply.py closes before it opens: the instance is replaced, not kept."""
    out = single(builder, [ex(10, False, [A]), ex(20, False, [A], [A])])
    assert [x[2:5] for x in out["iv_new_closed"]] == [(A, 10, 20)]
    assert [x[2:4] for x in out["iv_new_open"]] == [(A, 20)]


def test_existing_instance_closed_at_first_execution(builder: str) -> None:
    before = [(1, 1, A, 5, 0), (1, 1, A, 5, 1), (1, 1, B, 3, 0)]
    out = single(builder, [ex(10, False, [], [A]), ex(20, False, [A])], before)
    assert out["iv_closed_existing"] == [(1, 1, A, 5, 1, 10)]
    assert [x[2:5] for x in out["iv_new_open"]] == [(A, 20, 1)]
    out = single(builder, [ex(10, True, [A])], before)
    assert sorted(x[2:] for x in out["iv_closed_existing"]) == [(A, 5, 1, 10), (B, 3, 0, 10)]
    assert out["iv_new_open"] == [] and out["iv_new_closed"] == []
    assert [x[2:] for x in out["iv_signals"]] == [(0, 10, 0, 2)]


def test_existing_instance_closed_at_its_own_time_is_reported(builder: str) -> None:
    out = single(builder, [ex(10, True, [])], [(1, 1, A, 10, 0)])
    assert out["iv_closed_existing"] == [(1, 1, A, 10, 0, 10)]


def test_existing_levels_come_from_order_not_from_n(builder: str) -> None:
    """apply.py's own numbering (n restarts per start time) is read correctly too."""
    before = [(1, 1, A, 5, 0), (1, 1, A, 7, 0), (1, 1, A, 7, 1)]
    out = single(builder, [ex(10, False, [], [A, A])], before)
    assert sorted(x[2:] for x in out["iv_closed_existing"]) == [(A, 7, 0, 10), (A, 7, 1, 10)]


def test_streams_are_independent(builder: str) -> None:
    s1 = Stream(1, 1, [ex(10, False, [A]), ex(20, True, [])], [False, True])
    s2 = Stream(1, 2, [ex(10, False, [A]), ex(20, False, [B])], [False, False])
    s3 = Stream(2, 1, [ex(15, True, [A])], [True])
    e, c = batch_rows([s1, s2, s3], [0, 0, 0], [2, 2, 1])
    out = run(duckdb.connect(), e, c, [], builder)
    assert [x[:5] for x in out["iv_new_closed"]] == [(1, 1, A, 10, 20)]
    assert sorted(x[:4] for x in out["iv_new_open"]) == [
        (1, 2, A, 10),
        (1, 2, B, 20),
        (2, 1, A, 15),
    ]


@pytest.mark.parametrize("dialect", ["spark"])
def test_statements_translate(dialect: str) -> None:
    for stmt in interval_statements("c", "x", "o"):
        out = sqlglot.transpile(
            stmt, read="duckdb", write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE
        )
        assert len(out) == 1


def test_native_refuses_more_identical_instances_than_n_numbers() -> None:
    # the store numbers a row's instances open at once in a SMALLINT (`_n`); the SQL builder's
    # CAST fails past it, the native one says why
    many = [ex(10, False, [A] * 32_769)]
    with pytest.raises(native.NativeFailed, match="32,768 identical"):
        single("native", many)
    assert len(single("native", [ex(10, False, [A] * 32_768)])["iv_new_open"]) == 32_768
