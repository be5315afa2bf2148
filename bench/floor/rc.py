"""ctypes wrapper: run the Rust pass, wrap its buffers as a pyarrow Table without a copy."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pyarrow as pa

_lib = ctypes.CDLL(str(Path(__file__).parent / "target/release/librustcore.so"))


class _View(ctypes.Structure):
    _fields_ = [
        ("rows", ctypes.c_int64),
        ("ptr", ctypes.c_void_p * 8),
        ("len", ctypes.c_size_t * 8),
    ]


_lib.rc_ingest.restype = ctypes.c_void_p
_lib.rc_ingest.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t]
_lib.rc_free.argtypes = [ctypes.c_void_p]
_lib.rc_chunks.restype = ctypes.c_size_t
_lib.rc_chunks.argtypes = [ctypes.c_void_p]
_lib.rc_counts.argtypes = [
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_int64),
    ctypes.POINTER(ctypes.c_int64),
]
_lib.rc_chunk.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(_View)]
_lib.rc_interned.restype = ctypes.c_size_t
_lib.rc_interned.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]


class _Owner:
    """Keeps the Rust output alive while any pyarrow buffer points into it."""

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr

    def __del__(self) -> None:
        _lib.rc_free(self.ptr)


SCHEMA = pa.schema(
    [
        ("line", pa.int64()),
        ("name_id", pa.uint32()),
        ("host_id", pa.uint32()),
        ("unix_time", pa.int64()),
        ("op", pa.uint8()),
        ("hash", pa.uint64()),
        ("canon", pa.string()),
    ]
)


def _interned(ptr: int, which: int) -> list[str]:
    n = _lib.rc_interned(ptr, which, None, 0)
    buf = ctypes.create_string_buffer(n)
    _lib.rc_interned(ptr, which, buf, n)
    return buf.raw[:n].decode().split("\n") if n else []


def ingest(path: str, threads: int = 1) -> tuple[pa.Table, list[str], list[str], int, int]:
    """Table of rows, names, hosts, lines, bad lines."""
    raw = path.encode()
    ptr = _lib.rc_ingest(raw, len(raw), threads)
    if not ptr:
        raise OSError(path)
    owner = _Owner(ptr)
    lines, bad = ctypes.c_int64(), ctypes.c_int64()
    _lib.rc_counts(ptr, ctypes.byref(lines), ctypes.byref(bad))
    batches = []
    for i in range(_lib.rc_chunks(ptr)):
        v = _View()
        _lib.rc_chunk(ptr, i, ctypes.byref(v))
        bufs = [pa.foreign_buffer(v.ptr[k] or 0, v.len[k], base=owner) for k in range(8)]
        n = v.rows
        cols = [
            pa.Array.from_buffers(f.type, n, [None, bufs[k]]) for k, f in enumerate(SCHEMA) if k < 6
        ]
        cols.append(pa.Array.from_buffers(pa.string(), n, [None, bufs[6], bufs[7]]))
        batches.append(pa.RecordBatch.from_arrays(cols, schema=SCHEMA))
    return (
        pa.Table.from_batches(batches, SCHEMA),
        _interned(ptr, 0),
        _interned(ptr, 1),
        lines.value,
        bad.value,
    )
