"""`ingest --follow` against plain ingest of the same lines, measured in the same run.

A directory of --files log files (one host each, DHCP churn in event format) is ingested once
plainly (the baseline) and once by a follow's first read; then a tenth of the files grow and the
follow reads again, and a read that finds nothing is timed (its cost is per file: a stat and the
first KB). --rounds rounds, alternated, on fresh files and stores; the medians are judged.
Targets: the first read runs at >= 80 % of plain ingest's rows/s (following costs little per
line), and a read over --files files that finds nothing takes < 1 ms per file.

Then a trickle: one log gaining --trickle lines a second for --trickle-seconds, followed as
`ingest --follow` does (a look every second), once reading at every look (HINDSIGHT_FOLLOW_GATHER
0, the baseline) and once letting lines gather (the default): the CPU share of a core each takes.
Target: gathering takes at most a third of the baseline's CPU (a read costs the store ~0.2 s
however few lines it holds).

    python bench/bench_follow.py [--files 500] [--lines 200] [--rounds 3] [--trickle 5]
                                 [--trickle-seconds 30] [--out bench/out]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import threading
import time
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hindsight
from bench.bench_ingest import cpu_seconds
from bench.gen import dhcp_lines
from bench.targets import missed, verdict
from hindsight.settings import Settings


def write_files(logs: Path, files: int, lines: int) -> list[list[bytes]]:
    """FILES files of LINES lines each (the first LINES of each host's churn); returns the
    lines each host has left, for appends."""
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    by_host: dict[str, list[bytes]] = {}
    for line in dhcp_lines(files, 30, seed=5):
        host = line[line.index(b'"hostIdentifier"') :][:40]
        by_host.setdefault(host.decode(), []).append(line)
    rest = []
    for n, host_lines in enumerate(islice(by_host.values(), files)):
        (logs / f"host-{n:05d}.log").write_bytes(b"".join(ln + b"\n" for ln in host_lines[:lines]))
        rest.append(host_lines[lines:])
    return rest


def timed(call: object) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()  # type: ignore[operator]
    return time.perf_counter() - start, result


def one_round(root: Path, files: int, lines: int) -> dict[str, float]:
    """Plain ingest and a follow of the same fresh files: rows/s of each, then the follow's
    read after some files grew and its median read that finds nothing."""
    logs = root / "logs"
    rest = write_files(logs, files, lines)
    for name in ("plain", "follow"):
        shutil.rmtree(root / name, ignore_errors=True)
    with hindsight.open(root / "plain") as hs:
        plain_s, plain = timed(lambda: hs.ingest([logs], maintain=False))
    with hindsight.open(root / "follow", follow_settle_s=0) as hs:
        store = hs.store
        first_s, first = timed(lambda: store.ingest([logs], resume=True, maintain=False))
        for n in range(files // 10):
            with (logs / f"host-{n:05d}.log").open("ab") as f:
                f.write(b"".join(ln + b"\n" for ln in rest[n][:20]))
        grow_s, grew = timed(lambda: store.ingest([logs], resume=True, maintain=False))
        idle = [timed(lambda: store.ingest([logs], resume=True, maintain=False)) for _ in range(5)]
    assert all(r.lines == 0 for _, r in idle)  # type: ignore[attr-defined]
    assert grew.lines == 20 * (files // 10)  # type: ignore[attr-defined]
    return {
        "plain": plain.rows / plain_s,  # type: ignore[attr-defined]
        "first": first.rows / first_s,  # type: ignore[attr-defined]
        "grow_ms": grow_s * 1000,
        "idle_ms": statistics.median(s for s, _ in idle) * 1000,
    }


def trickle(root: Path, gather: float, rate: int, seconds: float) -> float:
    """The share of a core a follow takes (the process's CPU) on a log gaining RATE lines a
    second for SECONDS, letting new lines gather GATHER seconds (0: read at every look)."""
    logs = root / f"trickle-{gather}"
    (rest,) = write_files(logs, 1, 100)
    log = next(logs.iterdir())
    shutil.rmtree(root / f"trickle-data-{gather}", ignore_errors=True)
    with hindsight.open(root / f"trickle-data-{gather}", follow_gather_s=gather) as hs:
        stop = threading.Event()
        thread = threading.Thread(target=lambda: sum(s.lines for s in hs.follow([log], stop)))
        thread.start()
        time.sleep(3)  # (the first read, of what the file held)
        cpu, start = cpu_seconds(), time.monotonic()
        for n in range(int(seconds)):
            with log.open("ab") as f:
                f.write(b"".join(ln + b"\n" for ln in rest[n * rate : (n + 1) * rate]))
            time.sleep(max(0.0, start + n + 1 - time.monotonic()))
        share = (cpu_seconds() - cpu) / (time.monotonic() - start)
        stop.set()
        thread.join(60)
    return share


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trickle", type=int, default=5, help="lines a second of the trickle")
    parser.add_argument("--trickle-seconds", type=float, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    rounds = [one_round(args.out / "follow", args.files, args.lines) for _ in range(args.rounds)]
    for n, r in enumerate(rounds, 1):
        print(
            f"round {n}: plain {r['plain']:,.0f} rows/s, follow's first read {r['first']:,.0f} "
            f"rows/s ({100 * r['first'] / r['plain']:.0f} %), {args.files // 10} files grown "
            f"read in {r['grow_ms']:.0f} ms, nothing new in {args.files} files {r['idle_ms']:.0f} ms"
        )
    share = statistics.median(r["first"] for r in rounds) / statistics.median(
        r["plain"] for r in rounds
    )
    idle_ms = statistics.median(r["idle_ms"] for r in rounds)
    print(
        f"medians: follow's first read at {100 * share:.0f} % of plain ingest; a read finding "
        f"nothing {idle_ms:.0f} ms ({idle_ms / args.files:.3f} ms per file)"
    )
    every = trickle(args.out / "follow", 0, args.trickle, args.trickle_seconds)
    gathered = trickle(
        args.out / "follow", Settings().follow_gather_s, args.trickle, args.trickle_seconds
    )
    print(
        f"a trickle of {args.trickle} lines/s: read at every look {100 * every:.1f} % of a core, "
        f"gathered {100 * gathered:.1f} % ({gathered / every:.2f}x)"
    )
    misses = [
        missed("first read % of plain", 100 * share, share >= 0.8),
        missed("idle ms per file", idle_ms / args.files, idle_ms < args.files),
        missed("trickle CPU gathered / every look", gathered / every, gathered <= every / 3),
    ]
    verdict(
        "targets (first read >= 80 % of plain ingest, idle read < 1 ms per file, a trickle "
        "gathered at most a third of the CPU of reading it at every look)",
        misses,
    )


if __name__ == "__main__":
    main()
