"""Ingest's native fast path (native/, in Rust), where it was built.

In the first stage it parses a batch's lines into the tables `normalise.normalise` makes
(`_hdr`, `_rows`), with each row's identity computed beside it (the `rhs`/`rht` columns that
`normalise.hash_rows` takes when given), each query's columns, each line's sums of identities
(`line_sums`) and the dedupe keys (`dedupe_keys`), for every line it can vouch for: the common
shapes, with string, integer, boolean and null values. It defers every other line (a double, a
nested value, a repeated key, a status line, invalid JSON, ...) to the SQL path, the
reference, which then reads only those. In the writer, `apply_streams` groups and classifies
the executions and builds the intervals in one pass. tests/store/test_native.py compares the
two paths on every kind of line and a whole store written either way;
tests/intervals/ compares the stream step with the reference and the SQL.

The library is a C ABI read through ctypes (no Python object per line or row): its columns
become Arrow arrays without a copy. It is built by `pip install` where cargo and Debian's
`librust-serde-json-dev` are (pyproject.toml; .cargo/config.toml builds offline). Where it is
not, ingest runs the SQL path alone (HINDSIGHT_NATIVE=auto), slower and otherwise the same.
"""

from __future__ import annotations

import ctypes
import functools
import json
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from hindsight.errors import StoreError
from hindsight.osquery.lines import Parsed
from hindsight.store import normalise as nm
from hindsight.store.writes import attach, detach

#: How to build the library, for the messages that need it.
BUILD_HINT = (
    "build it: apt-get install cargo librust-serde-json-dev (Debian; native/install-deps in "
    "the source does it), then pip install Hindsight again (or set HINDSIGHT_NATIVE=off to "
    "ingest through the SQL path alone)"
)

#: What `hindsight ingest` says when it ran without the library.
SLOWER = (
    "slower than with its native fast path, which is not built: apt-get install cargo "
    "librust-serde-json-dev (Debian; native/install-deps in the source does it), then pip "
    "install Hindsight again"
)

#: The shapes' codes (native/src/line.rs) as the SQL path names them.
_SHAPES = ("batch", "snapshot", "snapshot_event", "event")


class NativeUnavailable(StoreError):
    """HINDSIGHT_NATIVE=on, and the native fast path is not built (or disagrees with DuckDB)."""


class NativeFailed(StoreError):
    """The library could not do its part (it returned nothing: a panic caught at its edge)."""


def library_path() -> Path | None:
    """The built library (`hindsight/_native*.so`), if any."""
    here = Path(__file__).resolve().parents[1]
    found = sorted(here.glob("_native*.so")) + sorted(here.glob("_native*.dylib"))
    return found[0] if found else None


@functools.cache
def _load() -> ctypes.CDLL | str:
    """The library, or why it cannot be used."""
    path = library_path()
    if path is None:
        return "the native fast path is not built"
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        return f"the native fast path could not be loaded ({exc})"
    lib.hs_parse.restype = ctypes.c_void_p
    lib.hs_parse.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
    lib.hs_counts.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    lib.hs_column.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.POINTER(ctypes.c_size_t),
    ]
    lib.hs_free.argtypes = [ctypes.c_void_p]
    lib.hs_intervals.restype = ctypes.c_void_p
    lib.hs_intervals.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t]
    lib.hs_iv_column.argtypes = lib.hs_column.argtypes
    lib.hs_iv_free.argtypes = [ctypes.c_void_p]
    lib.hs_keys.restype = ctypes.c_void_p
    lib.hs_keys.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint8]
    lib.hs_keys_column.argtypes = lib.hs_column.argtypes
    lib.hs_keys_free.argtypes = [ctypes.c_void_p]
    lib.hs_apply.restype = ctypes.c_void_p
    lib.hs_apply.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.hs_ap_column.argtypes = lib.hs_column.argtypes
    lib.hs_ap_free.argtypes = [ctypes.c_void_p]
    lib.hs_duckdb_hash.restype = ctypes.c_uint64
    lib.hs_duckdb_hash.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.hs_duckdb_hash_i64.restype = ctypes.c_uint64
    lib.hs_duckdb_hash_i64.argtypes = [ctypes.c_int64]
    lib.hs_duckdb_combine.restype = ctypes.c_uint64
    lib.hs_duckdb_combine.argtypes = [ctypes.c_uint64, ctypes.c_uint64]
    if not _agrees_with_duckdb(lib):
        return (
            f"the native fast path's row identity differs from DuckDB {duckdb.__version__}'s "
            "hash() (a DuckDB release changed it): rebuild it against this DuckDB"
        )
    return lib


def _agrees_with_duckdb(lib: ctypes.CDLL) -> bool:
    """Whether the library's copy of DuckDB's `hash()` gives DuckDB's values: of a string
    (every length up to three blocks of 8 bytes, and multi-byte text), and of several
    arguments, strings and BIGINTs (a dedupe key's)."""
    texts = ["", "é", "users\x1fuid", "\U0001f600" * 5] + [
        "0123456789abcdefghij"[:n] for n in range(25)
    ]
    numbers = [0, 1, -1, 1_700_000_000, 2**63 - 1, -(2**63)]
    con = duckdb.connect()
    try:
        theirs = [h for (h,) in con.execute("SELECT hash(unnest($t))", {"t": texts}).fetchall()]
        (key,) = con.execute(
            "SELECT hash($t, $n1::BIGINT, $n2::BIGINT, $n3::BIGINT)",
            {"t": texts[3], "n1": numbers[3], "n2": numbers[2], "n3": numbers[5]},
        ).fetchone() or (0,)
    finally:
        con.close()
    mine = [lib.hs_duckdb_hash(t.encode(), len(t.encode())) for t in texts]
    fold = mine[3]
    for n in numbers[3], numbers[2], numbers[5]:
        fold = lib.hs_duckdb_combine(fold, lib.hs_duckdb_hash_i64(n))
    return mine == theirs and fold == key


def available() -> bool:
    """Whether the native fast path can be used."""
    return not isinstance(_load(), str)


def library(mode: str) -> ctypes.CDLL | None:
    """The library for HINDSIGHT_NATIVE=MODE: None for "off", or "auto" where it is not built;
    for "on" where it is not, NativeUnavailable."""
    if mode == "off":
        return None
    lib = _load()
    if isinstance(lib, str):
        if mode == "on":
            raise NativeUnavailable(f"HINDSIGHT_NATIVE=on, but {lib}: {BUILD_HINT}")
        return None
    return lib


class _Owner:
    """Keeps what the library returned alive while any Arrow buffer points into it."""

    def __init__(self, lib: ctypes.CDLL, ptr: int, free: Any = None) -> None:
        self.ptr, self.free = ptr, free or lib.hs_free

    def __del__(self) -> None:
        self.free(self.ptr)


@dataclass
class NativeBatch:
    """A batch as the library parsed it: `header` (one row per accepted line), `rows` (their
    rows), `sums` (per accepted line, its rows' identities summed: see `line_sums`), the
    columns per query name (as `normalise.query_columns` reads them) and the lines it deferred
    (indexes in the batch)."""

    header: pa.Table
    rows: pa.Table
    sums: pa.Table
    columns: dict[str, set[str]]
    deferred: list[int]


def parse(lib: ctypes.CDLL, raws: Sequence[bytes]) -> NativeBatch:
    """Parse RAWS with the library (the GIL is released meanwhile: ctypes)."""
    offsets = array("q", accumulate(map(len, raws), initial=0))
    data = b"".join(raws)
    address, _ = offsets.buffer_info()
    ptr = lib.hs_parse(data, len(data), address, len(raws))
    if not ptr:
        raise NativeFailed(
            "the native fast path failed on a batch (a bug in it: please report it, with the "
            "lines); HINDSIGHT_NATIVE=off ingests them through the SQL path"
        )
    owner = _Owner(lib, ptr)
    counts = (ctypes.c_size_t * 4)()
    lib.hs_counts(ptr, counts)
    lines, rows, deferred, signatures = counts

    def buf(which: int) -> pa.Buffer:
        p, n = ctypes.c_void_p(), ctypes.c_size_t()
        lib.hs_column(ptr, which, ctypes.byref(p), ctypes.byref(n))
        return pa.foreign_buffer(p.value or 0, n.value, base=owner)

    def fixed(kind: pa.DataType, n: int, which: int, valid: int | None = None) -> pa.Array:
        bitmap = buf(valid) if valid is not None else None
        return pa.Array.from_buffers(kind, n, [bitmap, buf(which)])

    def text(n: int, which: int, valid: int | None = None) -> pa.Array:
        bitmap = buf(valid) if valid is not None else None
        return pa.Array.from_buffers(pa.large_string(), n, [bitmap, buf(which), buf(which + 1)])

    header = pa.table(
        {
            "i": fixed(pa.int32(), lines, 0),
            "host_key": text(lines, 8),
            "identifier": text(lines, 10),
            "name": text(lines, 12),
            "t": fixed(pa.int64(), lines, 1),
            "epoch": fixed(pa.int64(), lines, 2),
            "counter": fixed(pa.int64(), lines, 3, valid=4),
            "shape": fixed(pa.uint8(), lines, 5),
            "n_add": fixed(pa.int32(), lines, 6),
            "n_rem": fixed(pa.int32(), lines, 7),
            "first": text(lines, 14, valid=16),
        }
    )
    line = fixed(pa.int32(), rows, 17)
    table = pa.table(
        {
            "i": pc.take(header["i"], line),
            "name": pc.take(header["name"], line),
            "op": fixed(pa.int8(), rows, 18),
            "r": text(rows, 21),
            "rhs": fixed(pa.uint64(), rows, 19),
            "rht": fixed(pa.uint64(), rows, 20),
        }
    )
    sums = pa.table(
        {
            "i": header["i"],
            "name": header["name"],
            "n_add": header["n_add"],
            "n_rem": header["n_rem"],
            **{k: fixed(pa.uint64(), lines, 24 + n) for n, k in enumerate(_SUMS)},
        }
    )
    columns: dict[str, set[str]] = {}
    for signature in text(signatures, 28).to_pylist():
        name, *keys = json.loads(signature)
        columns.setdefault(name, set()).update(keys)
    deferred_lines = fixed(pa.int32(), deferred, 23).to_pylist()
    return NativeBatch(header, table, sums, columns, deferred_lines)


#: The per-line sums of the library: of the added and the removed rows' identities, as state
#: rows and as event rows.
_SUMS = ("sa_state", "sa_text", "sr_state", "sr_text")


#: The SQL path's header, from the library's (the same columns, types and order).
_HEADER = (
    "SELECT i, host_key::VARCHAR AS host_key, identifier::VARCHAR AS identifier, "
    "name::VARCHAR AS name, t, epoch, counter, "
    f"[{', '.join(nm.literal(s) for s in _SHAPES)}][shape + 1] AS shape, shape IN (1, 2) AS snap, "
    "n_add, n_rem, first::JSON AS first FROM {src}"
)


@dataclass
class Normalised:
    """What `normalise` gives beside its tables: the SQL path's fallback (for the lines it
    read), whether it read any rows, and the columns per query name."""

    fallback: nm.Fallback
    sql_rows: bool
    columns: dict[str, set[str]]
    sql_lines: bool = False  # whether it read any line


def normalise(
    con: duckdb.DuckDBPyConnection,
    lib: ctypes.CDLL,
    raws: Sequence[bytes],
    parsed: Sequence[Parsed | None],
    prefix: str,
    into: str,
) -> Normalised:
    """As `normalise.normalise` (tables `{into}_hdr` and `{into}_rows`), the rows with their
    identities as state rows (`rhs`) and as event rows (`rht`), NULL for the rows of the lines
    the SQL path read; `{into}_sums`, the library's lines' sums (see `line_sums`)."""
    batch = parse(lib, raws)
    for table, sql in (
        (batch.header, f"CREATE OR REPLACE TABLE {into}_hdr AS {_HEADER}"),
        (
            batch.rows,
            f"CREATE OR REPLACE TABLE {into}_rows AS SELECT i, name::VARCHAR AS name, op, "
            "r::VARCHAR AS r, rhs, rht FROM {src}",
        ),
        (
            batch.sums,
            f"CREATE OR REPLACE TABLE {into}_sums AS SELECT * REPLACE (name::VARCHAR AS name) "
            "FROM {src}",
        ),
    ):
        src = f"{prefix}_native"
        attach(con, src, table)
        try:
            con.execute(sql.format(src=src))
        finally:
            detach(con, src)
    if not batch.deferred:
        return Normalised(nm.Fallback(), False, batch.columns)
    return _deferred(con, raws, parsed, batch, prefix, into)


def _deferred(
    con: duckdb.DuckDBPyConnection,
    raws: Sequence[bytes],
    parsed: Sequence[Parsed | None],
    batch: NativeBatch,
    prefix: str,
    into: str,
) -> Normalised:
    """The lines the library deferred read by the SQL path, added to `{into}_hdr` and
    `{into}_rows`."""
    part, deferred = f"{into}_sql", batch.deferred
    fallback = nm.normalise(
        con,
        [raws[k] for k in deferred],
        [parsed[k] if k < len(parsed) else None for k in deferred],
        prefix=f"{prefix}_sql",
        into=part,
    )
    columns = batch.columns
    for name, keys in nm.query_columns(con, part).items():
        columns.setdefault(name, set()).update(keys)
    back = f"{prefix}_back"
    local = pa.array(range(len(deferred)), pa.int32())
    attach(con, back, pa.table({"l": local, "g": pa.array(deferred, pa.int32())}))
    try:
        con.execute(
            f"INSERT INTO {into}_hdr SELECT b.g AS i, h.* EXCLUDE (i) FROM {part}_hdr h "
            f"JOIN {back} b ON h.i = b.l"
        )
        (rows,) = con.execute(
            f"INSERT INTO {into}_rows SELECT b.g, r.name, r.op, r.r, NULL, NULL FROM {part}_rows r "
            f"JOIN {back} b ON r.i = b.l"
        ).fetchone() or (0,)
    finally:
        detach(con, back)
        for table in ("hdr", "rows"):
            con.execute(f"DROP TABLE IF EXISTS {part}_{table}")
    fallback.rejected = [(deferred[i], reason, torn) for i, reason, torn in fallback.rejected]
    fallback.statuses = [(deferred[i], status) for i, status in fallback.statuses]
    return Normalised(fallback, rows > 0, columns, sql_lines=True)


def identities(con: duckdb.DuckDBPyConnection, tables: str, events: list[str]) -> None:
    """`{tables}_rh` (see `normalise.hash_rows`) as a view of the rows' identities the library
    gave, when it gave all of them: a state row's, or an event row's for an event query of
    EVENTS."""
    names = ", ".join(nm.literal(name) for name in events) or "NULL"
    con.execute(
        f"CREATE OR REPLACE VIEW {tables}_rh AS SELECT i, op, CASE WHEN name IN ({names}) "
        f"THEN rht ELSE rhs END AS rh, r, rowid AS ref FROM {tables}_rows"
    )


def line_sums(
    con: duckdb.DuckDBPyConnection, tables: str, events: list[str], sql_lines: bool
) -> None:
    """`{tables}_lk` (`normalise.LINE_SUMS`): the library's lines from the sums it computed,
    and where SQL_LINES (it deferred some) the SQL path's from their rows' identities
    (`{tables}_rh`)."""
    names = ", ".join(nm.literal(name) for name in events) or "NULL"

    def chosen(kind: str) -> str:
        return f"CASE WHEN name IN ({names}) THEN {kind}_text ELSE {kind}_state END::HUGEINT"

    sql = (
        f"CREATE OR REPLACE TABLE {tables}_lk AS "
        f"SELECT i, CASE WHEN n_add > 0 THEN {chosen('sa')} END AS sa, n_add::BIGINT AS na, "
        f"CASE WHEN n_rem > 0 THEN {chosen('sr')} END AS sr, n_rem::BIGINT AS nr "
        f"FROM {tables}_sums WHERE n_add + n_rem > 0"
    )
    if sql_lines:
        rows = f"(SELECT * FROM {tables}_rh ANTI JOIN {tables}_sums USING (i))"
        sql += " UNION ALL " + nm.LINE_SUMS_SELECT.format(rh=rows)
    con.execute(sql)


# -- the interval builder and the stream step ----------------------------------------------------
I8, I16, I32, I64, U8, U64 = pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint64()
TEXT = pa.large_string()

#: The intervals' tables, as intervals.build_sql names and types them, in the library's column
#: order (its columns 0-24).
_IV_OUTPUTS: dict[str, tuple[tuple[str, pa.DataType], ...]] = {
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


def _inputs(
    con: duckdb.DuckDBPyConnection, reads: list[tuple[str, tuple[pa.DataType, ...]]]
) -> tuple[ctypes.Array[ctypes.c_void_p], list[int], list[pa.Array]]:
    """The columns of each SELECT of READS (with the types the library takes), read once as
    Arrow: their addresses, each SELECT's row count, and the arrays (to keep alive)."""
    columns, counts = [], []
    for sql, kinds in reads:
        table = con.sql(sql).to_arrow_table()
        counts.append(table.num_rows)
        for column, kind in zip(table.columns, kinds, strict=True):
            array = pc.cast(column, kind).combine_chunks()
            if array.null_count:
                raise ValueError(f"a NULL in the native step's input ({sql})")
            columns.append(array)
    addresses = []
    for a in columns:
        if a.type == pa.large_string():  # its offsets, then its data
            offsets, data = a.buffers()[1:3]
            addresses += [offsets.address + a.offset * 8, data.address if data else 0]
        else:
            addresses.append(a.buffers()[1].address + a.offset * a.type.byte_width)
    return (ctypes.c_void_p * len(addresses))(*addresses), counts, columns


def _outputs(
    con: duckdb.DuckDBPyConnection,
    owner: _Owner,
    column: Any,
    tables: dict[str, tuple[str, tuple[tuple[str, pa.DataType], ...]]],
    first: int,
    table: bool = False,
) -> None:
    """The library's output tables (name: (SELECT from `{src}`, columns)), read from its columns
    numbered from FIRST through COLUMN (its accessor), into TEMP tables (or, with TABLE,
    tables: a name with its database)."""
    which = first
    for name, (select, spec) in tables.items():
        arrays = {}
        for field, kind in spec:
            p, n = ctypes.c_void_p(), ctypes.c_size_t()
            column(owner.ptr, which, ctypes.byref(p), ctypes.byref(n))
            data = pa.foreign_buffer(p.value or 0, n.value * kind.byte_width, base=owner)
            arrays[field] = pa.Array.from_buffers(kind, n.value, [None, data])
            which += 1
        src = f"_{name.rsplit('.', 1)[-1]}_native"
        attach(con, src, pa.table(arrays))
        kind = "TABLE" if table else "TEMP TABLE"
        try:
            con.execute(f"CREATE OR REPLACE {kind} {name} AS {select.format(src=src)}")
        finally:
            detach(con, src)


def _intervals_tables() -> dict[str, tuple[str, tuple[tuple[str, pa.DataType], ...]]]:
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
    pointers, counts, _keep = _inputs(
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
    _outputs(con, _Owner(lib, ptr, lib.hs_iv_free), lib.hs_iv_column, _intervals_tables(), 0)


def apply_streams(
    con: duckdb.DuckDBPyConnection,
    lib: ctypes.CDLL,
    lines: str,
    positions: str,
    rows: list[str],
    open_before: str,
    out: str,
) -> None:
    """A batch's lines applied to their streams by the library in one step: the executions
    (`classify_sql.executions_sql` into OUT, LINES with their `i`), each row of ROWS (SELECTs
    of `src, i, op, rh, ref`) mapped to its execution (a full set's removed rows left out, the
    payload `ref + src << 62`), and the intervals (`build_sql.OUTPUTS`) from OPEN_BEFORE.
    POSITIONS `(host_id, query_id, epoch, counter)`: where the extended streams stand."""
    counter = "coalesce(counter, 0), counter IS NOT NULL"
    row_sql = (
        " UNION ALL ".join(rows)
        or "SELECT 0 AS src, 0 AS i, 0 AS op, 0::UBIGINT AS rh, 0 AS ref WHERE false"
    )
    pointers, counts, _keep = _inputs(
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
    owner = _Owner(lib, ptr, lib.hs_ap_free)
    _outputs(con, owner, lib.hs_ap_column, _intervals_tables(), 0)
    _outputs(con, owner, lib.hs_ap_column, {out: (_EX_SQL, _EX_OUTPUT)}, 100)


# -- dedupe keys -----------------------------------------------------------------------------------
def dedupe_keys(
    con: duckdb.DuckDBPyConnection,
    lib: ctypes.CDLL,
    tables: str,
    statuses: str,
    units: str | None,
) -> None:
    """`{tables}_lkeys` (`keys.keys_sql` of the first stage: hosts and queries by key and name)
    computed by the library from `{tables}_hdr`, `{tables}_lk`, STATUSES `(i, host_key, t,
    raw_hash)` and UNITS (`keys.units`, or None: the lines of one plain file)."""
    lines = (
        "SELECT l.i, l.host_key, l.name, l.t, l.epoch, coalesce(l.counter, -1), l.shape, "
        "coalesce(s.sa, 0)::UBIGINT, coalesce(s.na, 0), coalesce(s.sr, 0)::UBIGINT, "
        f"coalesce(s.nr, 0), false AS status, 0::UBIGINT FROM {tables}_hdr l "
        f"LEFT JOIN {tables}_lk s USING (i) UNION ALL SELECT i, host_key, '', t, 0, 0, '', 0, 0, "
        f"0, 0, true, raw_hash FROM {statuses}"
    )
    kinds: tuple[pa.DataType, ...] = (
        I32,
        TEXT,
        TEXT,
        I64,
        I64,
        I64,
        TEXT,
        U64,
        I64,
        U64,
        I64,
        U8,
        U64,
    )
    if units is not None:
        lines = (
            f"SELECT x.*, u.unit, u.body, coalesce(u.occ, 0), u.occ IS NOT NULL FROM ({lines}) x "
            f"JOIN {units} u USING (i)"
        )
        kinds += (I32, U8, I64, U8)
    pointers, (n,), _keep = _inputs(con, [(f"SELECT * FROM ({lines}) ORDER BY 1", kinds)])
    if units is None:  # (no units: four columns the library does not read)
        pointers = (ctypes.c_void_p * 20)(*pointers, 0, 0, 0, 0)
    ptr = lib.hs_keys(pointers, n, units is not None)
    if not ptr:
        raise NativeFailed("the native dedupe keys failed (a bug: HINDSIGHT_NATIVE=off)")
    spec: tuple[tuple[str, pa.DataType], ...] = (
        ("i", I32), ("t", I64), ("key", U64), ("occ", I64), ("dup", I64),
    )  # fmt: skip
    out = {f"{tables}_lkeys": ("SELECT * FROM {src}", spec)}
    _outputs(con, _Owner(lib, ptr, lib.hs_keys_free), lib.hs_keys_column, out, 0, table=True)
