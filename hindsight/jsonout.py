"""JSON of answers, defined once: orjson, with what it refuses written whole.

orjson refuses integers past 64 bits, and DuckDB gives them (HUGEINT: a `sum` that outgrew
BIGINT, a cast): such a value is written as the JSON number it is. Values JSON has no type for
(datetimes aside, which orjson writes) are written as their text.
"""

from __future__ import annotations

from typing import Any

import orjson

_WIDE = "64-bit"  # orjson's message for an integer past 64 bits


def dumps(value: Any, option: int = 0) -> bytes:
    try:
        return orjson.dumps(value, default=str, option=option)
    except TypeError as exc:  # (the wide integers are rare: looked for only then)
        if _WIDE not in str(exc):
            raise
        return orjson.dumps(_whole(value), default=str, option=option)


def _whole(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return orjson.Fragment(str(value).encode())
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_whole(v) for v in value]
    return value
