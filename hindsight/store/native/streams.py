"""The writer's stream step, native: executions grouped and classified, rows mapped to them,
intervals built (native/src/streams.rs and intervals.rs)."""

from __future__ import annotations

import ctypes

import duckdb
import pyarrow as pa

from hindsight.store.native.ffi import (
    I8,
    I16,
    I32,
    I64,
    U8,
    U64,
    Owner,
    Spec,
    create,
    inputs,
    output_tables,
    outputs,
)
from hindsight.store.native.load import NativeFailed

#: The intervals' tables, as intervals.build_sql names and types them, in the library's column
#: order (its columns 0-24).
_IV_OUTPUTS: dict[str, Spec] = {
    "iv_closed_existing": (
        ("host_id", I32), ("query_id", I32), ("rh", U64), ("_from", I64), ("_n", I16), ("_to", I64),
    ),
    "iv_new_closed": (
        ("host_id", I32), ("query_id", I32), ("rh", U64), ("_from", I64), ("_to", I64),
        ("_n", I16), ("payload", I64),
    ),
    "iv_new_open": (
        ("host_id", I32), ("query_id", I32), ("rh", U64), ("_from", I64), ("_n", I16),
        ("payload", I64),
    ),
    "iv_signals": (
        ("host_id", I32), ("query_id", I32), ("seq", I64), ("time", I64),
        ("removed_not_open", I32), ("closed_by_full", I32),
    ),
}  # fmt: skip

#: The executions (classify_sql.executions_sql's), in the library's order (columns 100-117):
#: a nullable column comes as its values and a `_valid` flag.
_EX_OUTPUT = (
    ("src", I32), ("host_id", I32), ("query_id", I32), ("seq", I64), ("time", I64),
    ("epoch", I64), ("counter", I64), ("counter_valid", U8), ("ckey", I64), ("snap", U8),
    ("added", I32), ("removed", I32), ("extended", U8), ("full_set", U8), ("counter_gap", U8),
    ("prev_counter", I64), ("prev_counter_valid", U8), ("reset_with_removed", U8),
)  # fmt: skip
_EX_SQL = (
    "SELECT src, host_id, query_id, seq, time, epoch, CASE WHEN counter_valid = 1 THEN counter "
    "END AS counter, ckey, snap::BOOLEAN AS snap, added, removed, extended::BOOLEAN AS extended, "
    "full_set::BOOLEAN AS full_set, counter_gap::BOOLEAN AS counter_gap, CASE WHEN "
    "prev_counter_valid = 1 THEN prev_counter END AS prev_counter, "
    "reset_with_removed::BOOLEAN AS reset_with_removed FROM {src}"
)

#: The instances open before a batch, as both steps take them.
_OPEN_SQL = "SELECT host_id, query_id, rh, _from, _n FROM {t}"
_OPEN_TYPES = (I32, I32, U64, I64, I16)


#: The intervals opened in the batch, which carry their rows' texts into `_{name}_r`.
_OPENED = ("iv_new_closed", "iv_new_open")


def _intervals_tables() -> dict[str, tuple[str, Spec]]:
    return {name: ("SELECT * FROM {src}", spec) for name, spec in _IV_OUTPUTS.items()}


_FAILED_STEP = (
    "the native interval builder failed: a row has more than 32,768 identical instances open "
    "at once in one stream (the store numbers them in a SMALLINT), or a bug in it "
    "(HINDSIGHT_NATIVE=off builds through the SQL path)"
)


def build_intervals(
    con: duckdb.DuckDBPyConnection, lib: ctypes.CDLL, changes: str, execs: str, open_before: str
) -> None:
    """`intervals.build_sql.build_intervals` (without snapshot deltas, which change no interval)
    computed by the library: the same TEMP tables (`build_sql.OUTPUTS`), from the same inputs
    (`payload` a BIGINT), read once as Arrow. The builder of `apply_streams`, on its own: what
    tests/intervals/test_build_sql.py checks against apply.py beside the SQL."""
    pointers, counts, _keep = inputs(
        con,
        [
            (
                f"SELECT host_id, query_id, seq, time, full_set FROM {execs}",
                (I32, I32, I64, I64, U8),
            ),
            (
                f"SELECT host_id, query_id, seq, op, rh, payload FROM {changes}",
                (I32, I32, I64, I8, U64, I64),
            ),
            (_OPEN_SQL.format(t=open_before), _OPEN_TYPES),
        ],
    )
    ptr = lib.hs_intervals(pointers, *counts)
    if not ptr:
        raise NativeFailed(_FAILED_STEP)
    outputs(con, Owner(lib, ptr, lib.hs_iv_free), lib.hs_iv_column, _intervals_tables(), 0)


def apply_streams(
    con: duckdb.DuckDBPyConnection,
    lib: ctypes.CDLL,
    lines: str,
    positions: str,
    rows: list[str],
    open_before: str,
    out: str,
    texts: pa.ChunkedArray | None = None,
    given: pa.Table | None = None,
) -> None:
    """A batch's lines applied to their streams by the library in one step: the executions
    (`classify_sql.executions_sql` into OUT, LINES with their `i`), each row of ROWS (SELECTs
    of `src, i, op, rh, ref`) mapped to its execution (a full set's removed rows left out, the
    payload `ref + src << 62`), and the intervals (`build_sql.OUTPUTS`) from OPEN_BEFORE.
    POSITIONS `(host_id, query_id, epoch, counter)`: where the extended streams stand.

    TEXTS: each row's text by its `ref`, where ROWS are the batch's alone (`src` 0): the
    intervals the batch opened are then `_iv_new_closed_r` and `_iv_new_open_r`, each with its
    row's text `r` (StreamWriter's `_write_built` joins them in SQL otherwise). GIVEN: the
    Arrow table ROWS' one SELECT reads (the batch's rows, `src` 0), read as it is (through
    DuckDB, 2-4 ms a batch of mixed)."""
    counter = "coalesce(counter, 0), counter IS NOT NULL"
    row_sql: str | pa.Table = (
        " UNION ALL ".join(rows)
        or "SELECT 0 AS src, 0 AS i, 0 AS op, 0::UBIGINT AS rh, 0 AS ref WHERE false"
    )
    if given is not None:
        src = pa.repeat(pa.scalar(0, I32), given.num_rows)
        row_sql = given.select(["i", "op", "rh", "ref"]).add_column(0, "src", src)
    pointers, counts, _keep = inputs(
        con,
        [
            (
                f"SELECT src, i, host_id, query_id, t, epoch, {counter}, snap, n_add, n_rem "
                f"FROM {lines}",
                (I32, I32, I32, I32, I64, I64, I64, U8, U8, I32, I32),
            ),
            (
                f"SELECT host_id, query_id, epoch, {counter} FROM {positions}",
                (I32, I32, I64, I64, U8),
            ),
            (row_sql, (I32, I32, I8, U64, I64)),
            (_OPEN_SQL.format(t=open_before), _OPEN_TYPES),
        ],
    )
    ptr = lib.hs_apply(pointers, (ctypes.c_size_t * 4)(*counts))
    if not ptr:
        raise NativeFailed(_FAILED_STEP)
    owner = Owner(lib, ptr, lib.hs_ap_free)
    if texts is None:
        outputs(con, owner, lib.hs_ap_column, _intervals_tables(), 0)
    else:
        for name, arrow in output_tables(owner, lib.hs_ap_column, _IV_OUTPUTS, 0).items():
            if name in _OPENED:
                name, arrow = f"_{name}_r", arrow.append_column("r", texts.take(arrow["payload"]))
            create(con, name, "SELECT * FROM {src}", arrow)
    outputs(con, owner, lib.hs_ap_column, {out: (_EX_SQL, _EX_OUTPUT)}, 100)
