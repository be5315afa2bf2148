"""Throughput and memory of the fleet simulator.

Runs each fleet size in a fresh child process (so peak RSS is per run), prints rows/s (wall),
rows per CPU-second (robust when other work shares the machine), peak RSS of the parent and of
a worker, and compares the peak RSS of the smaller and the larger fleet: memory must not grow
with the number of hosts (hosts are simulated one at a time and streamed to disk).

    python bench/bench_simulate.py                 # 500 and 2000 hosts x 7 days, 2 workers
    python bench/bench_simulate.py --hosts 100 400 --days 1
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _run(hosts: int, days: float, workers: int, out: str, q: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from hindsight.sim import SimConfig, simulate

    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # after imports only
    t0 = time.perf_counter()
    s = simulate(SimConfig(hosts=hosts, days=days, out=Path(out), workers=workers))
    wall = time.perf_counter() - t0
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker processes, once reaped
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    q.put({"hosts": s.hosts, "days": days, "workers": workers, "lines": s.lines,
           "rows": s.rows, "files": s.files, "seconds": round(wall, 1),
           "rows_per_s": round(s.rows / wall), "cpu_seconds": round(cpu, 1),
           "rows_per_cpu_s": round(s.rows / cpu), "load_avg_1m": os.getloadavg()[0],
           "rss_after_import_mib": round(base_kb / 1024, 1),
           "peak_rss_parent_mib": round(me.ru_maxrss / 1024, 1),
           "peak_rss_worker_mib": round(kids.ru_maxrss / 1024, 1)})


def measure(hosts: int, days: float, workers: int, keep: Path | None) -> dict[str, float]:
    out = str(keep) if keep else tempfile.mkdtemp(prefix="hindsight-bench-")
    ctx = multiprocessing.get_context("spawn")
    q: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    p = ctx.Process(target=_run, args=(hosts, days, workers, out, q))
    p.start()
    res: dict[str, float] = q.get()
    p.join()
    du = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())
    res["disk_mib"] = round(du / 2**20)
    if keep is None:
        shutil.rmtree(out, ignore_errors=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, nargs="+", default=[500, 2000])
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None, help="write here and keep the output")
    a = ap.parse_args()
    results = []
    for n in a.hosts:
        r = measure(n, a.days, a.workers, a.keep)
        results.append(r)
        print(json.dumps(r), flush=True)
    if len(results) >= 2:
        small, big = results[0], results[-1]
        for key in ("peak_rss_parent_mib", "peak_rss_worker_mib"):
            ratio = big[key] / max(small[key], 1e-9)
            print(
                f"{key}: {small[key]} MiB at {small['hosts']} hosts vs {big[key]} MiB at "
                f"{big['hosts']} hosts (x{ratio:.2f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
