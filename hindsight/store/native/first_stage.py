"""The first stage, native: a batch's lines parsed into the SQL path's tables, with each row's
identities, each query's columns, each line's sums, and the dedupe keys."""

from __future__ import annotations

import ctypes
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from hindsight.osquery.blocks import Lines, Segment, joined
from hindsight.store import normalise as nm
from hindsight.store.native.ffi import (
    I32,
    I64,
    TEXT,
    U8,
    U64,
    Owner,
    Spec,
    arrow_inputs,
    output,
    outputs,
    segment_args,
)
from hindsight.store.native.load import NativeFailed
from hindsight.store.writes import attach, detach

#: The shapes' codes (native/src/line.rs) as the SQL path names them.
_SHAPES = ("batch", "snapshot", "snapshot_event", "event")
#: The shape's text from its code (`_SHAPES`), in SQL.
SHAPE_SQL = f"[{', '.join(nm.literal(s) for s in _SHAPES)}][shape + 1]"


@dataclass
class NativeBatch:
    """A batch as the library parsed it: `header` (one row per accepted line), `rows` (their
    rows), `sums` (per accepted line, its rows' identities summed: see `line_sums`), the
    columns per query name (as `normalise.query_columns` reads them) and the lines it deferred
    (indexes in the batch); `lines`, the batch's lines where it read them (the raw archive's
    split reads them there too)."""

    header: pa.Table
    rows: pa.Table
    sums: pa.Table
    columns: dict[str, set[str]]
    deferred: list[int]
    lines: list[Segment]
    row_line: pa.Array  # each row's line, as its position in `header`
    # each row's `time` read as a BIGINT, and whether it is NULL (0), a value (1) or of another
    # form (2), as event_rows' typed read gives it (members.rs; lib.rs `row_time`)
    row_time: tuple[pa.Array, pa.Array]

    @functools.cached_property
    def host_codes(self) -> pa.DictionaryArray:
        """The header's host keys, dictionary-encoded (the writer gives ids to the distinct
        ones only): encoded once for the header and every group of event rows."""
        return pc.dictionary_encode(self.header["host_key"]).combine_chunks()


def parse(lib: ctypes.CDLL, given: Lines | Sequence[bytes]) -> NativeBatch:
    """Parse the lines GIVEN (or raw lines) with the library, where the reader holds them (the
    GIL is released meanwhile: ctypes)."""
    segments = given.segments() if isinstance(given, Lines) else [joined(given)]
    ptr = lib.hs_parse(*segment_args(segments))
    if not ptr:
        raise NativeFailed(
            "the native fast path failed on a batch (a bug in it: please report it, with the "
            "lines); HINDSIGHT_NATIVE=off ingests them through the SQL path"
        )
    owner = Owner(lib, ptr)
    counts = (ctypes.c_size_t * 4)()
    lib.hs_counts(ptr, counts)
    lines, rows, deferred, signatures = counts

    def buf(which: int) -> pa.Buffer:
        return output(owner, lib.hs_column, which)[0]

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
        }
    )
    line = fixed(pa.int32(), rows, 14)
    table = pa.table(
        {
            "i": header["i"].take(line),
            "name": header["name"].take(line),
            "op": fixed(pa.int8(), rows, 15),
            "r": text(rows, 18),
            "rhs": fixed(pa.uint64(), rows, 16),
            "rht": fixed(pa.uint64(), rows, 17),
            "ref": fixed(pa.int64(), rows, 29),
        }
    )
    sums = pa.table(
        {
            "i": header["i"],
            "name": header["name"],
            "n_add": header["n_add"],
            "n_rem": header["n_rem"],
            **{k: fixed(pa.uint64(), lines, 21 + n) for n, k in enumerate(_SUMS)},
        }
    )
    columns: dict[str, set[str]] = {}
    for signature in text(signatures, 25).to_pylist():
        name, *keys = json.loads(signature)
        columns.setdefault(name, set()).update(keys)
    deferred_lines = fixed(pa.int32(), deferred, 20).to_pylist()
    row_time = (fixed(pa.int64(), rows, 27), fixed(pa.uint8(), rows, 28))
    return NativeBatch(header, table, sums, columns, deferred_lines, segments, line, row_time)


#: The types the library reads values of (members.rs `Kind`), by code; any other is text.
KINDS = {"BIGINT": (1, I64), "UBIGINT": (2, pa.uint64()), "DOUBLE": (3, pa.float64())}


def event_rows(
    lib: ctypes.CDLL,
    batch: NativeBatch,
    names: list[str],
    columns: list[str],
    types: Sequence[str] | None = None,
    ordered: bool = False,
) -> tuple[pa.Table, bool]:
    """The added rows of the queries NAMES in BATCH read into COLUMNS: `i`, `name` and `_j`
    (a struct of the columns). Each value as the SQL path's `normalise.as_text` reads it, or,
    with TYPES (one a column), typed as the writer's typed insert stores it (store.fit): then
    returns whether they are (False when a value is not in the plain form of its type: the
    columns are text then, and whether it fits is the SQL path's to say). The library reads the
    rows' texts where they are (a filtered copy of them took 40 MB of memory a batch of events).

    ORDERED: rows come in the order the events' table stores them (see `_in_time_order`), with
    their line's instant `_t` and host key `_hk` (dictionary-encoded), where their time is read
    typed (a BIGINT `time`, or none: text columns too then)."""
    rows = batch.rows
    mask = pc.and_(pc.greater(rows["op"], 0), pc.is_in(rows["name"], pa.array(names, TEXT)))
    chosen = pc.indices_nonzero(mask).cast(pa.int64())
    kinds = [KINDS.get(t, (0, TEXT)) for t in types] if types else [(0, TEXT)] * len(columns)
    typed = any(code for code, _ in kinds)
    extra: dict[str, pa.Array] = {}
    if ordered:
        chosen, extra = _in_time_order(batch, chosen, dict(zip(columns, kinds, strict=True)))
    fields = _members(lib, rows["r"], chosen, columns, kinds)
    if fields is None:  # (a value not in the plain form of its type)
        typed, fields = False, _members(lib, rows["r"], chosen, columns, [(0, TEXT)] * len(columns))
        extra = {}
    assert fields is not None
    n = len(chosen)
    j = pa.StructArray.from_arrays(fields, names=columns) if columns else pa.nulls(n)
    table = pa.table(
        {"i": rows["i"].take(chosen), "name": rows["name"].take(chosen), "_j": j, **extra}
    )
    return table, typed


def _in_time_order(
    batch: NativeBatch, chosen: pa.Array, kinds: dict[str, tuple[int, pa.DataType]]
) -> tuple[pa.Array, dict[str, pa.Array]]:
    """The rows CHOSEN in the order the writer's insert stores events: by time (the row's
    `time`, else its line's instant), then host; with their line's instant (`_t`) and host key
    (`_hk`). Sorted here, beside the writer, the writer appends them as they come (its ORDER BY
    was a third of its insert). Unsorted where `time` is not read as a BIGINT (KINDS: the
    columns' codes and types), or not in its plain form: the writer sorts them then."""
    line = batch.row_line.take(chosen)
    t = batch.header["t"].take(line)
    hosts = batch.host_codes
    hk = hosts.indices.take(line)
    extra = {"_t": t, "_hk": pa.DictionaryArray.from_arrays(hk, hosts.dictionary)}
    when = t
    if "time" in kinds:
        if kinds["time"][0] != KINDS["BIGINT"][0]:
            return chosen, {}
        value, state = (column.take(chosen) for column in batch.row_time)
        if pc.any(pc.equal(state, 2)).as_py():  # (then not read typed: event_rows' fallback)
            return chosen, {}
        when = pc.if_else(pc.equal(state, 1), value, t)
    order = pc.sort_indices(
        pa.table({"w": when, "h": hk}), sort_keys=[("w", "ascending"), ("h", "ascending")]
    )
    return chosen.take(order), {k: v.take(order) for k, v in extra.items()}


def _members(
    lib: ctypes.CDLL,
    texts: pa.ChunkedArray,
    chosen: pa.Array,
    columns: list[str],
    kinds: list[tuple[int, pa.DataType]],
) -> list[pa.Array] | None:
    """The rows CHOSEN of TEXTS read into COLUMNS, each of its KIND (code, Arrow type); None
    when a value is not in the plain form of its kind."""
    n = len(chosen)
    if not (n and columns):
        return [pa.nulls(n, kind) for _, kind in kinds]
    ptrs, _, held = arrow_inputs(
        [
            (pa.table({"r": texts}), (TEXT,)),
            (pa.table({"k": chosen}), (I64,)),
            (pa.table({"c": pa.array(columns, TEXT)}), (TEXT,)),
        ]
    )
    codes = bytes(code for code, _ in kinds)
    ptr = lib.hs_members(*ptrs[:2], len(texts), ptrs[2], n, *ptrs[3:], len(columns), codes)
    del held
    if not ptr:
        raise NativeFailed(
            "the native fast path could not read a batch's event rows (a bug in it: please "
            "report it, with the lines); HINDSIGHT_NATIVE=off ingests them through the SQL path"
        )
    owner = Owner(lib, ptr, lib.hs_mem_free)
    if not lib.hs_mem_typed(ptr):
        return None
    bufs = [output(owner, lib.hs_mem_column, which)[0] for which in range(3 * len(columns))]
    return [  # (each column's offsets, data and validity; a typed one's values and validity)
        pa.Array.from_buffers(kind, n, [bufs[3 * c + 2], bufs[3 * c], bufs[3 * c + 1]])
        if code == 0
        else pa.Array.from_buffers(kind, n, [bufs[3 * c + 2], bufs[3 * c + 1]])
        for c, (code, kind) in enumerate(kinds)
    ]


#: The per-line sums of the library: of the added and the removed rows' identities, as state
#: rows and as event rows.
_SUMS = ("sa_state", "sa_text", "sr_state", "sr_text")


#: The SQL path's header, from the library's (the same columns, types and order). `first`, the
#: line's first row, is read only for a query's columns the store cannot hold: filled then
#: (`first_rows`); validated as JSON for every line, it cost 10 % of a batch's first stage.
_HEADER = (
    "SELECT i, host_key::VARCHAR AS host_key, identifier::VARCHAR AS identifier, "
    "name::VARCHAR AS name, t, epoch, counter, "
    f"{SHAPE_SQL} AS shape, shape IN (1, 2) AS snap, "
    "n_add, n_rem, NULL::JSON AS first FROM {src}"
)


def coded_header(batch: NativeBatch) -> pa.Table:
    """BATCH's header with its host keys and query names dictionary-encoded: the writer maps
    their few distinct values to ids (`ingest.BatchWriter._identify`), not every line."""
    header = batch.header
    names = pc.dictionary_encode(header["name"]).combine_chunks()
    for name, column in (("host_key", batch.host_codes), ("name", names)):
        header = header.set_column(header.schema.get_field_index(name), name, column)
    return header


@dataclass
class Normalised:
    """What `normalise` gives beside its tables: the SQL path's fallback (for the lines it
    read), whether it read any rows, the columns per query name, the library's batch, and
    whether the tables were made (see `normalise`)."""

    fallback: nm.Fallback
    sql_rows: bool
    columns: dict[str, set[str]]
    batch: NativeBatch
    sql_lines: bool = False  # whether it read any line
    tables: bool = False  # whether `{into}_hdr` and `{into}_rows` exist


def normalise(
    con: duckdb.DuckDBPyConnection, lib: ctypes.CDLL, lines: Lines, prefix: str, into: str
) -> Normalised:
    """As `normalise.normalise` (tables `{into}_hdr` and `{into}_rows`), the rows with their
    identities as state rows (`rhs`) and as event rows (`rht`), NULL for the rows of the lines
    the SQL path read (the library's lines' sums stay in its batch: see `line_sums`). Where the
    library read every line, the tables are not made: the stages read its Arrow tables (see
    `relations`), and what needs the tables makes them (`materialize`)."""
    batch = parse(lib, lines)
    if not batch.deferred:
        return Normalised(nm.Fallback(), False, batch.columns, batch)
    materialize(con, batch, prefix, into)
    return _deferred(con, lines, batch, prefix, into)


#: The SQL path's rows (`{into}_rows`), from the library's.
_ROWS = "SELECT i, name::VARCHAR AS name, op, r::VARCHAR AS r, rhs, rht FROM {src}"


def materialize(con: duckdb.DuckDBPyConnection, batch: NativeBatch, prefix: str, into: str) -> None:
    """`{into}_hdr` and `{into}_rows`, the SQL path's tables, from BATCH."""
    made = ((batch.header, f"{into}_hdr AS {_HEADER}"), (batch.rows, f"{into}_rows AS {_ROWS}"))
    for table, sql in made:
        src = f"{prefix}_native"
        attach(con, src, table)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {sql.format(src=src)}")
        finally:
            detach(con, src)


def relations(
    batch: NativeBatch, events: list[str], name: str
) -> tuple[dict[str, str], dict[str, pa.Table]]:
    """The first stage's tables of a batch the library read whole, as the writer reads them
    (`hdr`, `rows`, `rh`: see ingest._PREPARED), without making them: per part, a relation
    over Arrow tables (named after NAME; returned too, by name). The rows' identities (`rh`)
    are chosen here: an event row's for EVENTS (the event queries), else a state row's."""
    rows = batch.rows
    event = pc.is_in(rows["name"], pa.array(events, TEXT))
    rh = pa.table(
        {
            "i": rows["i"],
            "op": rows["op"],
            "rh": pc.if_else(event, rows["rht"], rows["rhs"]),
            "r": rows["r"],
            "ref": rows["ref"],
        }
    )
    hdr, rws, rhs = f"_hdr_{name}", f"_rows_{name}", f"_rh_{name}"
    parts = {
        "hdr": f"({_HEADER.format(src=hdr)})",
        "rows": f"(SELECT i, name::VARCHAR AS name, op, r::VARCHAR AS r, ref AS rowid FROM {rws})",
        "rh": rhs,
    }
    return parts, {hdr: batch.header, rws: rows, rhs: rh}


def _deferred(
    con: duckdb.DuckDBPyConnection,
    lines: Lines,
    batch: NativeBatch,
    prefix: str,
    into: str,
) -> Normalised:
    """The lines the library deferred read by the SQL path, added to `{into}_hdr` and
    `{into}_rows`."""
    part, deferred = f"{into}_sql", batch.deferred
    read = [lines[k] for k in deferred]
    fallback = nm.normalise(
        con,
        [line.raw for line in read],
        [line.parsed for line in read],
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
    return Normalised(fallback, rows > 0, columns, batch, sql_lines=True, tables=True)


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
    con: duckdb.DuckDBPyConnection,
    tables: str,
    events: list[str],
    batch: NativeBatch,
    sql_lines: bool,
) -> None:
    """`{tables}_lk` (`normalise.LINE_SUMS`): the library's lines (those `{tables}_hdr` still
    holds) from the sums it computed (BATCH's), and where SQL_LINES (it deferred some) the SQL
    path's from their rows' identities (`{tables}_rh`)."""
    names = ", ".join(nm.literal(name) for name in events) or "NULL"

    def chosen(kind: str) -> str:
        return f"CASE WHEN name IN ({names}) THEN {kind}_text ELSE {kind}_state END::HUGEINT"

    sql = (
        f"CREATE OR REPLACE TABLE {tables}_lk AS "
        f"SELECT i, CASE WHEN n_add > 0 THEN {chosen('sa')} END AS sa, n_add::BIGINT AS na, "
        f"CASE WHEN n_rem > 0 THEN {chosen('sr')} END AS sr, n_rem::BIGINT AS nr "
        f"FROM _p_sums SEMI JOIN {tables}_hdr USING (i) WHERE n_add + n_rem > 0"
    )
    if sql_lines:
        rows = f"(SELECT * FROM {tables}_rh ANTI JOIN _p_sums USING (i))"
        sql += " UNION ALL " + nm.LINE_SUMS_SELECT.format(rh=rows)
    attach(con, "_p_sums", batch.sums)
    try:
        con.execute(sql)
    finally:
        detach(con, "_p_sums")


#: The columns the library's dedupe keys read, in its order (keys.rs `Lines`), and with
#: units (`keys.units`) four more.
_KEY_KINDS: tuple[pa.DataType, ...] = (I32, TEXT, TEXT, I64, I64, I64, TEXT, U64, I64, U64, I64, U8, U64)  # fmt: skip
_UNIT_KINDS: tuple[pa.DataType, ...] = (I32, U8, I64, U8)


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
    if units is not None:
        lines = (
            f"SELECT x.*, u.unit, u.body, coalesce(u.occ, 0), u.occ IS NOT NULL FROM ({lines}) x "
            f"JOIN {units} u USING (i)"
        )
    _keys(con, lib, tables, con.sql(f"SELECT * FROM ({lines}) ORDER BY 1").to_arrow_table())


def batch_keys(
    con: duckdb.DuckDBPyConnection,
    lib: ctypes.CDLL,
    tables: str,
    batch: NativeBatch,
    events: list[str],
    units: pa.Table | None,
) -> None:
    """`dedupe_keys` for a batch the library parsed whole (no line deferred, none set aside:
    BATCH then holds the lines of `{tables}_hdr`), from its Arrow columns: no statement joins
    the header with its sums (`{tables}_lk` is not made). EVENTS: the event
    queries (their rows' identities are the event ones)."""
    import pyarrow.compute as pc  # (here: every command would pay its 0.08 s import)

    h, sums = batch.header, batch.sums
    event = pc.is_in(h["name"], pa.array(events, TEXT))
    zero = pa.scalar(0, U64)

    def chosen(kind: str, n: pa.Array) -> pa.Array:  # line_sums' choice, 0 without rows
        value = pc.if_else(event, sums[f"{kind}_text"], sums[f"{kind}_state"])
        return pc.if_else(pc.greater(n, 0), value, zero)

    columns = [
        h["i"], h["host_key"], h["name"], h["t"], h["epoch"], pc.fill_null(h["counter"], -1),
        pc.take(pa.array(_SHAPES, TEXT), h["shape"]),
        chosen("sa", h["n_add"]), h["n_add"], chosen("sr", h["n_rem"]), h["n_rem"],
        pa.repeat(pa.scalar(False), h.num_rows), pa.repeat(zero, h.num_rows),
    ]  # fmt: skip
    if units is not None:
        occ = pc.take(units["occ"], h["i"])
        columns += [pc.take(units["unit"], h["i"]), pc.take(units["body"], h["i"])]
        columns += [pc.fill_null(occ, 0), pc.is_valid(occ)]
    _keys(con, lib, tables, pa.table(columns, names=[f"c{n}" for n in range(len(columns))]))


def _keys(con: duckdb.DuckDBPyConnection, lib: ctypes.CDLL, tables: str, lines: pa.Table) -> None:
    """`{tables}_lkeys` from LINES (in line order: `_KEY_KINDS`, then `_UNIT_KINDS` or none)."""
    units = lines.num_columns > len(_KEY_KINDS)
    kinds = _KEY_KINDS + (_UNIT_KINDS if units else ())
    pointers, (n,), _keep = arrow_inputs([(lines, kinds)])
    if not units:  # (no units: four columns the library does not read)
        pointers = (ctypes.c_void_p * 20)(*pointers, 0, 0, 0, 0)
    ptr = lib.hs_keys(pointers, n, units)
    if not ptr:
        raise NativeFailed("the native dedupe keys failed (a bug: HINDSIGHT_NATIVE=off)")
    spec: Spec = (
        ("i", I32), ("t", I64), ("key", U64), ("occ", I64), ("dup", I64),
    )  # fmt: skip
    out = {f"{tables}_lkeys": ("SELECT * FROM {src}", spec)}
    outputs(con, Owner(lib, ptr, lib.hs_keys_free), lib.hs_keys_column, out, 0, table=True)


def first_rows(con: duckdb.DuckDBPyConnection, tables: str) -> None:
    """Fill `{tables}_hdr.first` (the SQL path's: the first added row, else the first removed)
    for the library's lines, from their rows (in order: added, then removed)."""
    con.execute(
        f"UPDATE {tables}_hdr h SET first = f.r::JSON FROM (SELECT i, arg_min(r, rowid) AS r "
        f"FROM {tables}_rows GROUP BY i) f WHERE h.i = f.i AND h.first IS NULL"
    )
