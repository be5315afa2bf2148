"""Where ingest spends its time: every SQL statement of a real ingest, timed and grouped.

Wraps the store's DuckDB connection, ingests FILE, and prints the statements by total time
(numbers in the SQL folded, so per-query statements group), then what is left in Python.

    python bench/profile_ingest.py FILE [--top 25] [--batch-lines N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hindsight


class TimedConnection:
    """The store's connection, with the time of each statement added up by its shape; its
    cursors (the first ingest stage's, in a thread) are timed apart, their statements marked."""

    def __init__(self, con: Any, mark: str = "", spent: Counter[str] | None = None) -> None:
        self._con = con
        self.mark = mark
        self.spent: Counter[str] = Counter() if spent is None else spent

    def cursor(self) -> TimedConnection:
        return TimedConnection(self._con.cursor(), "[stage 1] ", self.spent)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._con.execute(sql, *args, **kwargs)
        finally:
            shape = self.mark + re.sub(r"\d+", "N", re.sub(r"\s+", " ", sql.strip()))[:100]
            self.spent[shape] += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--batch-lines", type=int, default=None)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="hs-profile-"))
    try:
        options = {"batch_lines": args.batch_lines} if args.batch_lines else {}
        with hindsight.open(data, **options) as hs:
            timed = TimedConnection(hs.store.con)
            # the catalog's statements (tables and columns of new queries) too
            hs.store.con = hs.store.catalog.con = timed  # type: ignore[assignment]
            start = time.perf_counter()
            summary = hs.ingest([args.file])
            total = time.perf_counter() - start
            hs.store.con = hs.store.catalog.con = timed._con
    finally:
        shutil.rmtree(data, ignore_errors=True)
    first = sum(v for k, v in timed.spent.items() if k.startswith("[stage 1]"))
    sql = sum(timed.spent.values()) - first
    print(
        f"ingest {total:.2f} s, {summary.rows:,} rows = {summary.rows / total:,.0f} rows/s; "
        f"writer's SQL {sql:.2f} s ({100 * sql / total:.0f} %), the rest (Python, waiting "
        f"for the first stage) {total - sql:.2f} s; first stage's SQL {first:.2f} s, in a thread"
    )
    for shape, seconds in timed.spent.most_common(args.top):
        print(f"{seconds:7.3f} s {100 * seconds / total:5.1f} %  {shape}")


if __name__ == "__main__":
    main()
