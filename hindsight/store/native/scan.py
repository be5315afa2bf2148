"""The reader's work on a block of lines, native, by memchr's SIMD search without the GIL: its
test of a block, whether it holds a line to read one at a time (reader.SPECIAL: in Python the
two searches took a core's 60 ms per 90 MB of event lines, holding the GIL the parsing threads
wait for), and its split (reader.Split), which leaves the lines in the block (blocks.Block)."""

from __future__ import annotations

import ctypes
from array import array

from hindsight.osquery.reader import SPECIAL, Holds, Split


def holds(lib: ctypes.CDLL) -> Holds:
    """reader.holds_special, in the library LIB."""
    (a, b) = SPECIAL

    def test(data: bytes) -> bool:
        return bool(lib.hs_holds(data, len(data), a, len(a), b, len(b)))

    return test


def split(lib: ctypes.CDLL) -> Split:
    """reader.Split, in the library LIB: the newlines of a block, the longest line between two
    of them and whether one of those is blank."""

    def newlines(data: bytes) -> tuple[array[int], int, bool]:
        # (room for lines of 128 bytes on average, osquery's are longer; else a second pass:
        # counted first, in Python, it took a tenth of reading)
        found, info = array("q", bytes(8 * (len(data) // 128 + 64))), array("q", [0, 0])
        while (n := find(data, found, info)) > len(found):
            found = array("q", bytes(8 * n))
        del found[n:]
        return found, info[0], bool(info[1])

    def find(data: bytes, out: array[int], info: array[int]) -> int:
        return int(
            lib.hs_newlines(data, len(data), out.buffer_info()[0], len(out), info.buffer_info()[0])
        )

    return newlines
