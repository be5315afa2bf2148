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
        found = array("q", bytes(8 * data.count(b"\n")))
        info = array("q", [0, 0])
        n = lib.hs_newlines(
            data, len(data), found.buffer_info()[0], len(found), info.buffer_info()[0]
        )
        assert n == len(found)
        return found, info[0], bool(info[1])

    return newlines
