"""The set-based execution grouping and classification equals the reference (apply.classify)
for any lines and positions, signals included, and translates to Spark SQL; the native stream
step (store/native/) gives the same executions."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import sqlglot
from hypothesis import given
from hypothesis import strategies as st

from hindsight.intervals.apply import Execution, Signal, StreamState, classify
from hindsight.intervals.classify_sql import executions_sql, first_not_after_sql
from hindsight.store import native

LIB = native.library("on")  # the tests need it built (native.BUILD_HINT)

line = st.tuples(
    st.integers(0, 3),  # stream
    st.integers(100, 104),  # time
    st.integers(0, 1),  # epoch
    st.one_of(st.none(), st.integers(0, 4)),  # counter
    st.booleans(),  # snapshot
    st.integers(0, 2),  # added
    st.integers(0, 2),  # removed
)
position = st.one_of(
    st.none(), st.tuples(st.integers(0, 1), st.one_of(st.none(), st.integers(0, 4)))
)


def _reference(lines: list[tuple[int, ...]], positions: list[tuple[int, int | None] | None]):  # type: ignore[no-untyped-def]
    out = {}
    for stream in {ln[0] for ln in lines}:
        groups: dict[tuple[int, int, int, bool], list[int]] = {}
        for _, t, e, c, snap, a, r in (ln for ln in lines if ln[0] == stream):
            g = groups.setdefault((t, e, -1 if c is None else c, snap), [0, 0, c])  # type: ignore[list-item]
            g[0] += a
            g[1] += r
        state = StreamState()
        pos = positions[stream]
        if pos is not None:
            state.epoch, state.counter = pos
        for seq, key in enumerate(sorted(groups)):
            a, r, c = groups[key]
            ex = Execution(key[0], key[1], c, key[3], removed_count=r)
            signals: list[Signal] = []
            full = classify(state, ex, signals)
            kinds = sorted(s.kind for s in signals)
            out[(stream, seq)] = (
                key[0],
                full,
                "counter_gap" in kinds,
                "reset_with_removed" in kinds,
                a,
                r,
            )
    return out


@given(st.lists(line, min_size=1, max_size=25), st.lists(position, min_size=4, max_size=4))
def test_classification_equals_the_reference(lines: list[tuple[int, ...]], positions: list) -> None:  # type: ignore[type-arg]
    con = duckdb.connect()
    cols = list(zip(*lines, strict=True))
    con.register("lines_in", pa.table({
        "src": pa.array([0] * len(lines), pa.int32()), "host_id": pa.array(cols[0], pa.int32()),
        "query_id": pa.array([1] * len(lines), pa.int32()), "t": pa.array(cols[1], pa.int64()),
        "epoch": pa.array(cols[2], pa.int64()), "counter": pa.array(cols[3], pa.int64()),
        "snap": pa.array(cols[4], pa.bool_()), "n_add": pa.array(cols[5], pa.int32()),
        "n_rem": pa.array(cols[6], pa.int32()),
    }))  # fmt: skip
    known = [(h, p) for h, p in enumerate(positions) if p is not None]
    con.register("pos_in", pa.table({
        "host_id": pa.array([h for h, _ in known], pa.int32()), "query_id": pa.array([1] * len(known), pa.int32()),
        "epoch": pa.array([p[0] for _, p in known], pa.int64()), "counter": pa.array([p[1] for _, p in known], pa.int64()),
    }))  # fmt: skip
    con.execute(executions_sql("lines_in", "pos_in", "ex"))
    # the native step: the same executions, every column
    con.execute(
        "CREATE TABLE lines_i AS SELECT row_number() OVER () AS i, * FROM lines_in; "
        "CREATE TABLE no_open AS SELECT 0::INTEGER AS host_id, 0::INTEGER AS query_id, "
        "0::UBIGINT AS rh, 0::BIGINT AS _from, 0::SMALLINT AS _n WHERE false"
    )
    native.apply_streams(con, LIB, "lines_i", "pos_in", [], "no_open", "ex_native")
    every = "SELECT * REPLACE (coalesce(counter_gap, false) AS counter_gap) FROM {} ORDER BY ALL"
    assert (
        con.execute(every.format("ex_native")).fetchall()
        == con.execute(every.format("ex")).fetchall()
    )
    assert con.execute("DESCRIBE ex_native").fetchall() == con.execute("DESCRIBE ex").fetchall()
    got = {
        (h, seq): (t, full, gap, rwr, a, r)
        for h, seq, t, full, gap, rwr, a, r in con.execute(
            "SELECT host_id, seq, time, full_set, counter_gap, reset_with_removed, added, removed FROM ex"
        ).fetchall()
    }
    assert got == _reference(lines, positions)


def test_replayed_streams_are_those_not_after_their_position() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE ex AS SELECT * FROM (VALUES (1, 1, 100, 0, 5, false), (2, 1, 100, 0, 5, false), "
        "(3, 1, 100, 0, 5, true)) t(host_id, query_id, time, epoch, ckey, snap)"
    )
    con.execute(
        "CREATE TABLE s AS SELECT * FROM (VALUES (1, 1, 100, 0, 4, false), (2, 1, 100, 0, 5, false), "
        "(3, 1, 100, 0, 5, false)) t(host_id, query_id, last_time, last_epoch, last_counter, last_snapshot)"
    )
    assert sorted(con.execute(first_not_after_sql("ex", "s")).fetchall()) == [(2, 1)]


def test_translates_to_spark() -> None:
    for stmt in (executions_sql("l", "p", "o"), first_not_after_sql("x", "s")):
        out = sqlglot.transpile(
            stmt, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE
        )
        assert len(out) == 1
