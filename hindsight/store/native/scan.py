"""The reader's test of a block of lines, native: whether it holds a line to read one at a time
(reader.SPECIAL), by memchr's SIMD search without the GIL. In Python the two searches took a
core's 60 ms per 90 MB of event lines, holding the GIL the parsing threads wait for."""

from __future__ import annotations

import ctypes

from hindsight.osquery.reader import SPECIAL, Holds


def holds(lib: ctypes.CDLL) -> Holds:
    """reader.holds_special, in the library LIB."""
    (a, b) = SPECIAL

    def test(data: bytes) -> bool:
        return bool(lib.hs_holds(data, len(data), a, len(a), b, len(b)))

    return test
