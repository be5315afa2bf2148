"""The raw archive's chunks: one stream's new lines of one batch, exactly as they were read,
zstd-compressed, in one of two layouts (a reader takes either; old stores hold the first alone):

- lines: the lines joined by `\\n`;
- by column (native/src/columnar.rs, written when the native fast path is built): each line
  split into its template (the line with every value taken out, `%s` in its place, `%`
  doubled) and its values, each template once, each of its value slots as one run of text
  (values joined by `\\n`, which no line holds). Event lines repeat their keys on every line:
  zstd then reads ~40 % of the bytes and finds like values side by side (bench_ingest's events:
  the archive 18 % smaller, compressed 2.6-2.7x faster). A chunk whose lines share too few
  templates (batch or snapshot lines, of many rows each) stays as lines.

(A chunk of lines whose first begins with NUL, which no accepted line does, begins with `LINES`.)
The layout by column, after `MAGIC` (little-endian u32s): the lines, the templates; per
template its slots, its length and its bytes; per line its template (u16); per template, per
slot: the run's length and the run.
"""

from __future__ import annotations

import ctypes
import struct
import sys
from array import array
from collections import Counter
from collections.abc import Sequence
from itertools import accumulate, pairwise

import zstandard

from hindsight.errors import StoreError
from hindsight.osquery.blocks import Segment, joined
from hindsight.store.native.ffi import Owner, output, segment_args
from hindsight.store.native.load import NativeFailed

#: What begins a chunk by column: an accepted line begins with `{` or a space, never NUL.
MAGIC = b"\x00HSC1"
#: What begins a chunk of lines whose first line begins with NUL (so any bytes read back).
LINES = b"\x00HSL1"
_PAIR = struct.Struct("<II")
_ONE = struct.Struct("<I")

Payload = bytes | bytearray | memoryview


def pack(lib: ctypes.CDLL | None, streams: Sequence[Sequence[bytes]]) -> list[Payload]:
    """Each stream's lines as one chunk, uncompressed: by column where the library LIB is there
    to split them (and they share templates), else as lines."""
    if lib is None or not streams:
        return [_lines(lines) for lines in streams]
    bounds = list(accumulate(map(len, streams), initial=0))
    segment = joined([raw for lines in streams for raw in lines])
    return pack_at(lib, [segment], [range(a, b) for a, b in pairwise(bounds)])


def pack_at(
    lib: ctypes.CDLL, segments: Sequence[Segment], streams: Sequence[Sequence[int]]
) -> list[Payload]:
    """As `pack`, of the lines of SEGMENTS (where the first stage's parse read them: see
    blocks.Lines.segments): stream s is the lines STREAMS[s] (indexes)."""
    order = array("q", [k for idx in streams for k in idx])
    ends = array("q", accumulate(map(len, streams)))
    ptr = lib.hs_pack(
        *segment_args(segments),
        order.buffer_info()[0],
        len(order),
        ends.buffer_info()[0],
        len(ends),
    )
    if not ptr:
        raise NativeFailed(
            "the native fast path failed to pack a batch's raw lines (a bug in it: please "
            "report it); HINDSIGHT_NATIVE=off ingests through the SQL path"
        )
    owner = Owner(lib, ptr, lib.hs_pack_free)
    out = memoryview(output(owner, lib.hs_pack_column, 0)[0])
    bounds = memoryview(output(owner, lib.hs_pack_column, 1, 8)[0]).cast("q")
    return [out[a:b] for a, b in zip([0, *bounds[:-1]], bounds, strict=True)]


def _lines(lines: Sequence[bytes]) -> bytes:
    text = b"\n".join(lines)
    return LINES + text if text[:1] == b"\x00" else text


def compress(zstd: zstandard.ZstdCompressor, payloads: list[Payload], threads: int) -> list[bytes]:
    """PAYLOADS compressed, on THREADS threads without the GIL (an empty one, which zstd's
    threads refuse, on this one)."""
    full = [p for p in payloads if len(p)]
    packed = iter(zstd.multi_compress_to_buffer(full, threads=threads) if full else [])
    return [next(packed).tobytes() if len(p) else zstd.compress(b"") for p in payloads]


def read(
    data: bytes, dctx: zstandard.ZstdDecompressor | None = None, lib: ctypes.CDLL | None = None
) -> list[bytes]:
    """The lines of a stored chunk DATA, in order, exactly as they were read (joined again by
    the library LIB where given: 3x faster than here)."""
    return lines((dctx or zstandard.ZstdDecompressor()).decompress(data), lib)


def lines(payload: bytes, lib: ctypes.CDLL | None = None) -> list[bytes]:
    """The lines of an uncompressed chunk, in either layout."""
    if payload.startswith(LINES):
        return payload[len(LINES) :].split(b"\n")
    if not payload.startswith(MAGIC):
        return payload.split(b"\n")
    if lib is not None:
        return _joined(lib, payload).split(b"\n")
    try:
        return _by_column(payload)
    except (struct.error, TypeError, ValueError, IndexError, StopIteration) as exc:
        raise _damaged(str(exc)) from exc


def _damaged(why: str) -> StoreError:
    return StoreError(
        f"a chunk of the raw archive is damaged ({why}): its lines cannot be read back. The "
        "store's file was changed outside Hindsight: restore it from a "
        "backup, or ingest the logs again into a new --data directory"
    )


def _joined(lib: ctypes.CDLL, payload: bytes) -> bytes:
    ptr = lib.hs_unpack(payload, len(payload))
    if not ptr:
        raise _damaged("its layout by column does not hold together")
    joined, _ = output(Owner(lib, ptr, lib.hs_pack_free), lib.hs_pack_column, 0)
    return bytes(joined)


def _by_column(p: bytes) -> list[bytes]:
    at = len(MAGIC)
    n, count = _PAIR.unpack_from(p, at)
    at += _PAIR.size
    templates: list[tuple[int, bytes]] = []
    for _ in range(count):
        slots, size = _PAIR.unpack_from(p, at)
        at += _PAIR.size
        templates.append((slots, p[at : at + size]))
        at += size
    ids = array("H", p[at : at + 2 * n])
    if sys.byteorder == "big":
        ids.byteswap()
    at += 2 * n
    members = Counter(ids)
    rendered: list[list[bytes]] = []
    for t, (slots, template) in enumerate(templates):
        runs = []
        for _ in range(slots):
            (size,) = _ONE.unpack_from(p, at)
            at += _ONE.size
            runs.append(p[at : at + size].split(b"\n"))
            at += size
        made = (
            [template % values for values in zip(*runs, strict=True)]
            if slots
            else [template % ()] * members[t]
        )
        if len(made) != members[t]:
            raise ValueError(f"template {t} has {len(made)} lines of values, not {members[t]}")
        rendered.append(made)
    if at != len(p) or len(ids) != n:
        raise ValueError(f"{len(p) - at} bytes left over")
    if count == 1:
        return rendered[0]
    each = [iter(made) for made in rendered]
    return [next(each[t]) for t in ids]
