"""A query API answer serialised within a byte bound (HINDSIGHT_MAX_RESPONSE_BYTES).

Rows are serialised in chunks: an answer within the bound costs one orjson call per chunk (no
slower than one call for all), and one past it stops at the last whole row that fits, so no more
than a chunk is serialised beyond the bound. The answer then says `truncated` with
`truncated_reason: "max_bytes"` (`"max_rows"` when HINDSIGHT_MAX_ROWS cut it). A first row alone
past the bound is refused (413) rather than answered with no rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from hindsight import jsonout
from hindsight.api import Result
from hindsight.server.body import RequestError

CHUNK_ROWS = 1024
_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """JSON of an answer (hindsight.jsonout), as every query API answer is written."""
    return jsonout.dumps(value, _OPTIONS)


def answer_bytes(result: Result, max_bytes: int) -> bytes:
    """RESULT as `{"columns", "rows", "truncated", "truncated_reason", "elapsed_ms"}` JSON, its
    rows cut to fit MAX_BYTES."""
    columns = dumps(result.columns)
    rows, fits = _rows_within(result.rows, max_bytes - len(columns) - 128)
    if not fits and not rows:
        raise RequestError(
            413,
            "too_large",
            f"the first row alone is past HINDSIGHT_MAX_RESPONSE_BYTES ({max_bytes} bytes): "
            "select fewer or shorter columns",
        )
    reason = "max_bytes" if not fits else result.truncated_reason
    tail = dumps(
        {
            "truncated": reason is not None,
            "truncated_reason": reason,
            "elapsed_ms": round(result.elapsed_ms, 3),
        }
    )
    return b'{"columns":' + columns + b',"rows":[' + rows + b"]," + tail[1:]


def _rows_within(rows: Sequence[Sequence[Any]], budget: int) -> tuple[bytes, bool]:
    """The rows as the inside of a JSON array of at most BUDGET bytes, and whether all fit."""
    parts: list[bytes] = []
    size = 0
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = dumps(rows[start : start + CHUNK_ROWS])[1:-1]
        if size + len(chunk) + 1 <= budget:
            parts.append(chunk)
            size += len(chunk) + 1
            continue
        for row in rows[start : start + CHUNK_ROWS]:
            one = dumps(row)
            if size + len(one) + 1 > budget:
                break
            parts.append(one)
            size += len(one) + 1
        return b",".join(parts), False
    return b",".join(parts), True


def live_bytes(found: dict[str, Any], max_bytes: int) -> bytes:
    """A live query's answers (server/state.py `live`) within MAX_BYTES: hosts whose rows would
    pass it keep their status and row count, their rows left out (`rows_left_out`), and the
    answer says `truncated` (only the hosts' own fields, some 200 bytes each, are always there:
    their room is kept first, and rows fill what is left, host by host)."""
    hosts = found["hosts"]
    rest = {k: v for k, v in found.items() if k != "hosts"}
    lean = [dumps({**host, "rows": None, "rows_left_out": True}) for host in hosts]
    budget = max_bytes - len(dumps(rest)) - 64 - sum(len(one) + 1 for one in lean)
    out, truncated = [], False
    for host, without in zip(hosts, lean, strict=True):
        one = dumps(host)
        if len(one) - len(without) > budget:  # (a host without rows takes less than its room)
            one = without
            truncated = True
        budget -= len(one) - len(without)
        out.append(one)
    head = dumps({**rest, "truncated": truncated})
    return head[:-1] + b',"hosts":[' + b",".join(out) + b"]}"
