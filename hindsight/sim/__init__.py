"""Fleet simulator: osquery filesystem-logger output for a simulated fleet plus ground truth.

``simulate(SimConfig(hosts=N, days=D, out=Path, seed=S, start=unix_seconds))`` writes

- ``OUT/hosts/<host_uuid>/osqueryd.results.log`` and ``osqueryd.snapshots.log`` (+ rotated
  ``.1``, ``.2.zst``, ... or logrotate ``.1.gz``, ...),
- ``OUT/late/<arrival>_<host_uuid>_<n>.json``: TLS logger request bodies delivered late,
- ``OUT/truth/<host_uuid>.jsonl.zst``: the ground truth (see :mod:`hindsight.sim.truth`),
- ``OUT/manifest.json``: hosts, queries and noteworthy moments.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator
from functools import partial

from .config import SimConfig, SimSummary
from .host import HostResult, simulate_host
from .manifest import ManifestWriter
from .truth import iter_truth, read_truth_file

__all__ = ["SimConfig", "SimSummary", "iter_truth", "read_truth_file", "simulate"]

ProgressFn = Callable[[int, int], None]


def _prepare(cfg: SimConfig) -> None:
    cfg.out.mkdir(parents=True, exist_ok=True)
    for sub in ("hosts", "late", "truth"):
        shutil.rmtree(cfg.out / sub, ignore_errors=True)
        (cfg.out / sub).mkdir()


def _results(cfg: SimConfig) -> Iterator[HostResult]:
    workers = cfg.workers or os.cpu_count() or 1
    if workers <= 1 or cfg.hosts < 4:
        yield from (simulate_host(cfg, i) for i in range(cfg.hosts))
        return
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(min(workers, cfg.hosts)) as pool:
        yield from pool.imap(partial(simulate_host, cfg), range(cfg.hosts), chunksize=1)


def simulate(config: SimConfig, on_host_done: ProgressFn | None = None) -> SimSummary:
    """Simulate the fleet host by host (streaming); deterministic for a given config."""
    t0 = time.perf_counter()
    _prepare(config)
    manifest = ManifestWriter(config.out / "manifest.json", config)
    lines = rows = files = 0
    for i, res in enumerate(_results(config), 1):
        manifest.add_host(res.entry, res.moments)
        lines, rows, files = lines + res.lines, rows + res.rows, files + res.files
        if on_host_done is not None:
            on_host_done(i, config.hosts)
    manifest.close()
    return SimSummary(config.hosts, lines, rows, files + 1, time.perf_counter() - t0)
