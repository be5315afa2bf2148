"""Finding the native library, loading it, and checking it against DuckDB."""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import duckdb

from hindsight.errors import StoreError

#: What building the library takes, as the messages that need it say it (native/install-deps
#: installs the same).
_INSTALL = (
    "apt-get install cargo librust-serde-json-dev librust-memchr-dev librust-ahash-0.7-dev "
    "(Debian; native/install-deps in the source does it), then pip install Hindsight again"
)

#: How to build the library, for the messages that need it.
BUILD_HINT = (
    f"build it: {_INSTALL} (or set HINDSIGHT_NATIVE=off to ingest through the SQL path alone)"
)

#: What `hindsight ingest` says when it ran without the library.
SLOWER = f"slower than with its native fast path, which is not built: {_INSTALL}"


class NativeUnavailable(StoreError):
    """HINDSIGHT_NATIVE=on, and the native fast path is not built (or disagrees with DuckDB)."""


class NativeFailed(StoreError):
    """The library could not do its part (it returned nothing: a panic caught at its edge)."""


def library_path() -> Path | None:
    """The built library (`hindsight/_native*.so`), if any."""
    here = Path(__file__).resolve().parents[2]
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
    if not hasattr(lib, "hs_newlines"):  # (its newest function)
        return f"the native fast path at {path} was built from an older source: pip install again"
    lib.hs_parse.restype = ctypes.c_void_p
    segments = [ctypes.c_size_t] + [ctypes.c_void_p] * 4  # (ffi.segment_args)
    lib.hs_parse.argtypes = segments
    lib.hs_newlines.restype = ctypes.c_size_t
    lib.hs_newlines.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_void_p,
    ]
    lib.hs_counts.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    lib.hs_column.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.POINTER(ctypes.c_size_t),
    ]
    lib.hs_free.argtypes = [ctypes.c_void_p]
    lib.hs_holds.restype = ctypes.c_uint8
    text, size = ctypes.c_char_p, ctypes.c_size_t
    lib.hs_holds.argtypes = [text, size, text, size, text, size]
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
    lib.hs_pack.restype = ctypes.c_void_p
    lib.hs_pack.argtypes = [
        *segments,
        ctypes.c_void_p,  # order
        ctypes.c_size_t,
        ctypes.c_void_p,  # stream ends
        ctypes.c_size_t,
    ]
    lib.hs_pack_column.argtypes = lib.hs_column.argtypes
    lib.hs_pack_free.argtypes = [ctypes.c_void_p]
    lib.hs_unpack.restype = ctypes.c_void_p
    lib.hs_members.restype = ctypes.c_void_p
    ptr, count = ctypes.c_void_p, ctypes.c_size_t  # rows (text), chosen, names (text), kinds
    lib.hs_members.argtypes = [ptr, ptr, count, ptr, count, ptr, ptr, count, ctypes.c_char_p]
    lib.hs_mem_typed.restype = ctypes.c_uint8
    lib.hs_mem_typed.argtypes = [ctypes.c_void_p]
    lib.hs_mem_column.argtypes = lib.hs_column.argtypes
    lib.hs_mem_free.argtypes = [ctypes.c_void_p]
    lib.hs_unpack.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.hs_duckdb_hash.restype = ctypes.c_uint64
    lib.hs_duckdb_hash.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.hs_duckdb_hash_i64.restype = ctypes.c_uint64
    lib.hs_duckdb_hash_i64.argtypes = [ctypes.c_int64]
    lib.hs_duckdb_combine.restype = ctypes.c_uint64
    lib.hs_duckdb_combine.argtypes = [ctypes.c_uint64, ctypes.c_uint64]
    return lib


#: Whether each library loaded (by id) agrees with DuckDB: checked once a process.
_AGREES: dict[int, bool] = {}


def _checked(con: duckdb.DuckDBPyConnection | None) -> ctypes.CDLL | str:
    """The library, or why it cannot be used; its agreement with DuckDB checked on a cursor of
    CON where given (a connection of its own costs 20-30 ms, each `hindsight ingest` paid it)."""
    lib = _load()
    if isinstance(lib, str):
        return lib
    if id(lib) not in _AGREES:
        _AGREES[id(lib)] = _agrees_with_duckdb(lib, con)
    if not _AGREES[id(lib)]:
        return (
            f"the native fast path's row identity differs from DuckDB {duckdb.__version__}'s "
            "hash() (a DuckDB release changed it): rebuild it against this DuckDB"
        )
    return lib


def _agrees_with_duckdb(lib: ctypes.CDLL, on: duckdb.DuckDBPyConnection | None = None) -> bool:
    """Whether the library's copy of DuckDB's `hash()` gives DuckDB's values: of a string
    (every length up to three blocks of 8 bytes, and multi-byte text), and of several
    arguments, strings and BIGINTs (a dedupe key's). Asked on a cursor of ON where given."""
    texts = ["", "é", "users\x1fuid", "\U0001f600" * 5] + [
        "0123456789abcdefghij"[:n] for n in range(25)
    ]
    numbers = [0, 1, -1, 1_700_000_000, 2**63 - 1, -(2**63)]
    con = on.cursor() if on is not None else duckdb.connect()
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


def available(con: duckdb.DuckDBPyConnection | None = None) -> bool:
    """Whether the native fast path can be used (checked on a cursor of CON where given)."""
    return not isinstance(_checked(con), str)


def library(mode: str, con: duckdb.DuckDBPyConnection | None = None) -> ctypes.CDLL | None:
    """The library for HINDSIGHT_NATIVE=MODE: None for "off", or "auto" where it is not built;
    for "on" where it is not, NativeUnavailable. Checked on a cursor of CON where given."""
    if mode == "off":
        return None
    lib = _checked(con)
    if isinstance(lib, str):
        if mode == "on":
            raise NativeUnavailable(f"HINDSIGHT_NATIVE=on, but {lib}: {BUILD_HINT}")
        return None
    return lib
