"""The query API's answer serialisation with its byte bound (server/answer.py) against the plain
one it replaced (one orjson call over the whole body, no bound), on the same 10,000-row result,
in the same run: medians of alternated timings. The bound must not slow normal answers: exits 1
when the bounded serialisation takes more than 1.25x the plain one.

    python bench/bench_answer.py [--rows 10000] [--repeat 41]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from typing import Any

import orjson

from hindsight.api import Result
from hindsight.server.answer import answer_bytes

CEILING = 1.25


def plain(result: Result) -> bytes:
    """The serialisation before the byte bound (query_api.result_body + json_response)."""
    body = {
        "columns": result.columns,
        "rows": [list(r) for r in result.rows],
        "truncated": result.truncated,
        "elapsed_ms": round(result.elapsed_ms, 3),
    }
    return orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS)


def sample(n: int) -> Result:
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    rows: list[tuple[Any, ...]] = [
        (
            f"host-{i % 500:04d}",
            f"0a0a0a0a-0000-4000-8000-{i % 500:012d}",
            i,
            f"/usr/lib/systemd/systemd-worker-{i}",
            t0 + dt.timedelta(seconds=i),
            None if i % 7 else "sshd",
        )
        for i in range(n)
    ]
    columns = ["host", "host_key", "pid", "path", "valid_from", "name"]
    return Result(columns, rows, False, 12.5)


def timed(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=41)
    args = ap.parse_args()
    result = sample(args.rows)
    bound = 64 * 1024 * 1024
    assert orjson.loads(answer_bytes(result, bound))["rows"] == orjson.loads(plain(result))["rows"]
    before, after = [], []
    for _ in range(args.repeat):
        before.append(timed(plain, result))
        after.append(timed(answer_bytes, result, bound))
    b, a = statistics.median(before), statistics.median(after)
    size = len(answer_bytes(result, bound))
    print(
        f"{args.rows} rows, {size / 1e6:.2f} MB: plain {b:.2f} ms, bounded {a:.2f} ms (x{a / b:.2f})"
    )
    cut = answer_bytes(result, size // 2)
    print(
        f"cut at half its size: {len(cut) / 1e6:.2f} MB in {timed(answer_bytes, result, size // 2):.2f} ms"
    )
    if a > CEILING * b:
        print(f"FAIL: bounded serialisation more than {CEILING}x the plain one")
        return 1
    print(f"ok: within {CEILING}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
