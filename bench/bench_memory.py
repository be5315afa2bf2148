"""Peak memory of ingest must not grow with input size (issue #2: stream it).

Ingests a DHCP-churn log of one size and of four times that size, each in a fresh child process,
and compares the children's peak RSS: the larger may take at most 1.5x the memory (exit 1
past it). Measured by hand further (note 25): 1x 613 MB, 4x 836, 16x 969, 32x 1,037 MB, of
which DuckDB's cache of the store's blocks grows with it up to HINDSIGHT_MEMORY_LIMIT.

    python bench/bench_memory.py [--hosts 400] [--days 7]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.gen import dhcp_lines, write
from bench.targets import missed, verdict

CHILD = """
import resource, sys, hindsight
with hindsight.open(sys.argv[2]) as hs:
    s = hs.ingest([sys.argv[1]])
print(s.lines, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak(log: Path, data: Path) -> tuple[int, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(log), str(data)],
                          check=True, capture_output=True, text=True)
    lines, kb = done.stdout.split()
    return int(lines), int(kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=400)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for factor in (1, 4):
            log = Path(tmp) / f"x{factor}.log"
            _, size = write(log, dhcp_lines(args.hosts, args.days * factor))
            lines, rss = peak(log, Path(tmp) / f"data{factor}")
            results.append(rss)
            print(f"{factor}x input: {size / 1e6:,.0f} MB, {lines:,} lines, peak RSS {rss:,.0f} MB")
            log.unlink()
            shutil.rmtree(Path(tmp) / f"data{factor}")
    ratio = results[1] / results[0]
    # (not a proof of a bound: a larger input measured by hand, as in the notes, says more;
    # DuckDB's share of it is capped by HINDSIGHT_MEMORY_LIMIT, 2 GB by default)
    print(f"peak RSS 4x/1x = {ratio:.2f}: 4x the input took {100 * (ratio - 1):+.0f} % memory")
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    verdict("target (4x the input: peak RSS at most 1.5x)", [missed("4x/1x", ratio, ratio <= 1.5)])


if __name__ == "__main__":
    main()
