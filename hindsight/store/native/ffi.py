"""Columns in and out of the native library: Arrow buffers passed by address, and its outputs
read back as Arrow arrays without a copy (kept alive by their Owner)."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

from hindsight.osquery.blocks import Segment
from hindsight.store.writes import attach, detach

I8, I16, I32, I64, U8, U64 = pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint64()
TEXT = pa.large_string()

#: An output table's columns: (name, type) in the library's order.
Spec = tuple[tuple[str, pa.DataType], ...]


def segment_args(
    segments: Sequence[Segment],
) -> tuple[int, ctypes.Array[Any], ctypes.Array[Any], ctypes.Array[Any], ctypes.Array[Any]]:
    """SEGMENTS (blocks.Segment) as the library takes lines in place (native/src/segments.rs):
    their count, and per segment its bytes' address, their length, its bounds' address and its
    lines. The segments must outlive the call."""
    n = len(segments)
    return (
        n,
        (ctypes.c_char_p * n)(*(data for data, _ in segments)),
        (ctypes.c_size_t * n)(*(len(data) for data, _ in segments)),
        (ctypes.c_void_p * n)(*(nl.buffer_info()[0] for _, nl in segments)),
        (ctypes.c_size_t * n)(*(len(nl) - 1 for _, nl in segments)),
    )


class Owner:
    """Keeps what the library returned alive while any Arrow buffer points into it."""

    def __init__(self, lib: ctypes.CDLL, ptr: int, free: Any = None) -> None:
        self.ptr, self.free = ptr, free or lib.hs_free

    def __del__(self) -> None:
        self.free(self.ptr)


def inputs(
    con: duckdb.DuckDBPyConnection, reads: list[tuple[str | pa.Table, tuple[pa.DataType, ...]]]
) -> tuple[ctypes.Array[ctypes.c_void_p], list[int], list[pa.Array]]:
    """The columns of each SELECT of READS (with the types the library takes), read once as
    Arrow (or of the Arrow table given in its place): their addresses, each one's row count,
    and the arrays (to keep alive)."""
    return arrow_inputs(
        [
            (con.sql(read).to_arrow_table() if isinstance(read, str) else read, kinds)
            for read, kinds in reads
        ]
    )


def arrow_inputs(
    tables: list[tuple[pa.Table, tuple[pa.DataType, ...]]],
) -> tuple[ctypes.Array[ctypes.c_void_p], list[int], list[pa.Array]]:
    """As `inputs`, from Arrow tables given."""
    columns, counts = [], []
    for table, kinds in tables:
        counts.append(table.num_rows)
        for column, kind in zip(table.columns, kinds, strict=True):
            array = _contiguous(column.cast(kind))
            if array.null_count:
                raise ValueError(f"a NULL in the native step's input ({table.schema})")
            columns.append(array)
    addresses = []
    for a in columns:
        if a.type == pa.large_string():  # its offsets, then its data
            offsets, data = a.buffers()[1:3]
            addresses += [offsets.address + a.offset * 8, data.address if data else 0]
        else:
            addresses.append(a.buffers()[1].address + a.offset * a.type.byte_width)
    return (ctypes.c_void_p * len(addresses))(*addresses), counts, columns


def _contiguous(column: pa.ChunkedArray) -> pa.Array:
    """COLUMN as one array: its chunk where it has one (combining copies even then: fresh pages
    the kernel faults in, ~4 % of ingest's CPU), else its chunks combined."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def output(owner: Owner, column: Any, which: int, width: int = 1) -> tuple[pa.Buffer, int]:
    """Output WHICH of the library's object OWNER, as its accessor COLUMN gives it (an address
    and a length in WIDTH-byte units): a buffer over it without a copy (which keeps OWNER
    alive), and the length."""
    p, n = ctypes.c_void_p(), ctypes.c_size_t()
    column(owner.ptr, which, ctypes.byref(p), ctypes.byref(n))
    return pa.foreign_buffer(p.value or 0, n.value * width, base=owner), n.value


def outputs(
    con: duckdb.DuckDBPyConnection,
    owner: Owner,
    column: Any,
    tables: dict[str, tuple[str, Spec]],
    first: int,
    table: bool = False,
) -> None:
    """The library's output tables (name: (SELECT from `{src}`, columns)), read from its columns
    numbered from FIRST through COLUMN (its accessor), into TEMP tables (or, with TABLE,
    tables: a name with its database)."""
    specs = {name: spec for name, (_, spec) in tables.items()}
    for name, arrow in output_tables(owner, column, specs, first).items():
        create(con, name, tables[name][0], arrow, table)


def output_tables(
    owner: Owner, column: Any, specs: dict[str, Spec], first: int
) -> dict[str, pa.Table]:
    """The library's output tables (name: columns) as Arrow tables without a copy, read from
    its columns numbered from FIRST through COLUMN (its accessor)."""
    which, found = first, {}
    for name, spec in specs.items():
        arrays = {}
        for field, kind in spec:
            data, n = output(owner, column, which, kind.byte_width)
            arrays[field] = pa.Array.from_buffers(kind, n, [None, data])
            which += 1
        found[name] = pa.table(arrays)
    return found


def create(
    con: duckdb.DuckDBPyConnection, name: str, select: str, arrow: pa.Table, table: bool = False
) -> None:
    """The TEMP table NAME (with TABLE, a table: a name with its database) as SELECT (from
    `{src}`) reads ARROW."""
    src = f"_{name.rsplit('.', 1)[-1]}_native"
    attach(con, src, arrow)
    kind = "TABLE" if table else "TEMP TABLE"
    try:
        con.execute(f"CREATE OR REPLACE {kind} {name} AS {select.format(src=src)}")
    finally:
        detach(con, src)
