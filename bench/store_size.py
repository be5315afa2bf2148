"""Where a store's bytes go: blocks per table class (cur_N, hist_N, ev_N, raw_chunks, ...),
indexes and metadata, free blocks, against the file's size (issue #2's size target).

    python bench/store_size.py bench/out/data-mixed bench/out/data-dhcp [--raw BYTES ...]

A table's bytes are its distinct blocks times the block size (DuckDB gives a table's columns
blocks of their own, so a small table costs a whole block); "indexes+metadata" is the used
blocks no table's column holds (each primary key or unique constraint takes at least a block).
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

import duckdb


def table_class(name: str) -> str:
    return re.sub(r"_\d+$", "_N", name)


def breakdown(path: Path) -> tuple[dict[str, int], int, int, int, int]:
    """({class: blocks}, block size, used blocks, free blocks, file bytes)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        (block_size, used, free) = con.execute(
            "SELECT block_size, used_blocks, free_blocks FROM pragma_database_size() "
            "WHERE database_name = current_database()"
        ).fetchone() or (0, 0, 0)
        blocks: dict[str, set[int]] = defaultdict(set)
        for (table,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall():
            for block, extra in con.execute(
                "SELECT block_id, additional_block_ids FROM pragma_storage_info(?) "
                "WHERE block_id >= 0",
                [table],
            ).fetchall():
                blocks[table_class(table)].update([block, *(extra or [])])
    finally:
        con.close()
    counts = {k: len(v) for k, v in blocks.items()}
    counts["indexes+metadata"] = int(used) - len(set().union(*blocks.values()))
    return counts, int(block_size), int(used), int(free), path.stat().st_size


def report(data: Path, raw: int | None) -> None:
    counts, block_size, used, free, size = breakdown(data / "hindsight.duckdb")
    ratio = f" = 1/{raw / size:.1f} of {raw / 1e6:.1f} MB raw" if raw else ""
    print(f"{data}: file {size / 1e6:.2f} MB{ratio}, block {block_size // 1024} KiB, "
          f"{used} used + {free} free blocks ({free * block_size / 1e6:.2f} MB free)")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        if n:
            print(f"  {name:18s} {n:5d} blocks {n * block_size / 1e6:7.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path, nargs="+", help="data directories of stores")
    parser.add_argument("--raw", type=int, nargs="*", default=[], help="raw log bytes of each")
    args = parser.parse_args()
    for i, data in enumerate(args.data):
        report(data, args.raw[i] if i < len(args.raw) else None)


if __name__ == "__main__":
    main()
