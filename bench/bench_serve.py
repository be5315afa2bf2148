"""`hindsight serve` under load: N simulated hosts posting concurrently through the logger endpoint.

Against the real server (a subprocess, HTTPS on localhost), after enrolling every host (not timed):
- back to back (`--rounds` times, sustained load): every host posts all its lines, up to
  `--max-lines` per request, one request after the other; all hosts at once. Reports result rows
  acknowledged per second (an acknowledgement = lines fsync'd in the journal) and the ack latency
  p50/p90/p99/max. With 1,000 hosts each starting with a full buffer, latency here is mostly queueing
  (all requests arrive in the same instant): the rate is the figure of this run;
- paced: every host posts one request of `--paced-lines` lines every `--period` seconds (osqueryd's
  logger_tls_period, 4 s by default; 1,000 hosts x 145 lines / 4 s is about 50,000 rows/s offered)
  for `--paced-seconds`, from a random phase: the ack latency of a fleet at its usual rhythm;
- file ingest of the same lines (`Hindsight.ingest`, or into a lake with --lake), measured in the
  same run, and the ratio of each acknowledged rate to it; then rows/s until the background ingester
  has put every acknowledged line in the store (end to end);
- CPU: the HTTP process, the store process and the load generator, each as a share of one core over
  each run's window (the server's from /proc sampled every 0.1 s, the client processes' from their
  own process_time between their first post and last answer), and rows acknowledged per CPU second
  of the HTTP process (the figure that does not depend on what else the machine runs);
- RSS of the HTTP process and of the store process over time (memory flat under sustained load).

The load generator (bench/serve_client.py) costs little, so the figures are the server's: requests
are whole HTTP/1.1 byte strings built and gzip'd before the clock starts (osqueryd's buffer is
already there too), each host has one keep-alive TLS connection (osqueryd's --tls_session_reuse),
and `--clients` processes (uvloop, no HTTP library) share the hosts. The load average at the start
is printed: on a busy machine the server gets less than a core and latency grows.

    python bench/bench_serve.py [--hosts 1000] [--days 0.2] [--rounds 2] [--clients 2] [--lake]

Targets (issue #5, 1,000 hosts, 2 cores): >= 50,000 rows/s acknowledged, p99 < 250 ms, memory flat.
The verdict reads them as: every back-to-back round acknowledges >= 50,000 rows/s (sustained), the
paced run (what 1,000 osquery hosts send at about 50,000 rows/s) has p99 < 250 ms, and each
process's mean RSS over the last third of the samples is at most 1.2x that of the middle third
(the first third is the processes' warm-up from empty: caches, DuckDB's buffers).
It exits 1 when one is missed (bench/targets.py).
With --lake the server runs as a lake receiver (`hindsight serve --lake`): the end-to-end rate is
then to the lines published in the lake, and the baseline is file ingest into a lake.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import ssl
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hindsight
from bench.bench_ingest import rows_in
from bench.serve_client import Outcome, client_process
from bench.targets import missed, verdict
from hindsight.server.testclient import FleetHost, fleet_hosts
from hindsight.sim import SimConfig, simulate
from tests.server.serverproc import ServerProcess


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


class Sampler(threading.Thread):
    """RSS every half second, and CPU seconds every 0.1 s (to cut out each run's window), of the
    HTTP process and its children (the store process)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.t0 = time.time()
        self.samples: list[tuple[float, float, float]] = []  # (s, HTTP process MB, store MB)
        self.cpu: list[tuple[float, float, float]] = []  # (time.time(), HTTP CPU s, store CPU s)
        self.stop = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self.stop.wait(0.1):
            try:
                kids = children(self.pid)
                now = time.time()
                self.cpu.append((now, cpu_s(self.pid), sum(cpu_s(p) for p in kids)))
                if tick % 5 == 0:
                    store = sum(rss_mb(p) for p in kids)
                    self.samples.append((now - self.t0, rss_mb(self.pid), store))
                tick += 1
            except OSError:
                return

    def cpu_between(self, start: float, end: float) -> tuple[float, float]:
        """CPU seconds of (HTTP process, store process) from START to END (wall clock)."""
        before = [c for c in self.cpu if c[0] <= start] or self.cpu[:1]
        after = [c for c in self.cpu if c[0] >= end] or self.cpu[-1:]
        return after[0][1] - before[-1][1], after[0][2] - before[-1][2]


def drive(srv: ServerProcess, hosts: list[FleetHost], max_lines: int, period_s: float,
          seconds: float, processes: int) -> list[Outcome]:
    """All hosts, split over PROCESSES client processes that start posting together."""
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    barrier = manager.Barrier(processes)
    parts = [hosts[i::processes] for i in range(processes)]
    with ctx.Pool(processes) as pool:
        outcomes = pool.map(client_process, [
            (srv.port, srv.cert, srv.secret, part, max_lines, period_s, seconds, barrier) for part in parts
        ])
    manager.shutdown()
    return outcomes


def server_status(srv: ServerProcess, token: str) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=srv.cert)
    doc: dict[str, Any] = httpx.get(
        srv.url + "/api/v1/server", verify=ctx, headers={"Authorization": f"Bearer {token}"}
    ).json()
    return doc


def wait_ingested(srv: ServerProcess, token: str, timeout_s: float = 1800) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = server_status(srv, token)
        if st["journal"]["backlog_bytes"] == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("ingest did not catch up")


@dataclass
class Run:
    label: str
    outcomes: list[Outcome]
    http_cpu_s: float
    store_cpu_s: float
    load: float  # the machine's 1-minute load average at the run's end

    @property
    def seconds(self) -> float:
        return max(o.end for o in self.outcomes) - min(o.start for o in self.outcomes)

    @property
    def acked(self) -> int:
        return sum(o.acked_rows for o in self.outcomes)

    @property
    def rate(self) -> float:
        """Rows acknowledged a second."""
        return self.acked / self.seconds

    @property
    def p99_ms(self) -> float:
        lat = sorted(x for o in self.outcomes for x in o.latencies)
        return 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan")

    def report(self, file_rate: float) -> None:
        lat = sorted(x for o in self.outcomes for x in o.latencies)
        requests = sum(o.requests for o in self.outcomes)
        failures = sum(o.failures for o in self.outcomes)
        client_cpu = sum(o.cpu_s for o in self.outcomes)

        def pct(q: float) -> float:
            return 1000 * lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")

        rate = self.acked / self.seconds
        offered = sum(o.offered for o in self.outcomes)
        steady = f", {offered:,.0f} rows/s offered once every host has started" if offered else ""
        print(f"[{self.label}] acknowledged {self.acked:,} rows in {self.seconds:.1f} s = "
              f"{rate:,.0f} rows/s ({requests:,} requests, {failures} refused{steady})")
        print(f"    ack latency ms: p50 {pct(0.5):.0f}, p90 {pct(0.9):.0f}, p99 {pct(0.99):.0f}, "
              f"max {pct(1.0):.0f}; acknowledged / file ingest = {rate / file_rate:.2f}")
        http = self.http_cpu_s / self.seconds
        print(f"    CPU share of one core over the run: HTTP process {100 * http:.0f} %, store process "
              f"{100 * self.store_cpu_s / self.seconds:.0f} %, load generator (all client processes) "
              f"{100 * client_cpu / self.seconds:.0f} %; {self.acked / max(self.http_cpu_s, 1e-9):,.0f} "
              f"rows acknowledged per HTTP-process CPU second")


def measured(srv: ServerProcess, sampler: Sampler, label: str, hosts: list[FleetHost],
             max_lines: int, period_s: float, seconds: float, processes: int) -> Run:
    outcomes = drive(srv, hosts, max_lines, period_s, seconds, processes)
    time.sleep(0.2)  # a CPU sample after the window
    start, end = min(o.start for o in outcomes), max(o.end for o in outcomes)
    return Run(label, outcomes, *sampler.cpu_between(start, end), os.getloadavg()[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--days", type=float, default=0.2)
    ap.add_argument("--max-lines", type=int, default=1024, help="lines per request, back-to-back run")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--period", type=float, default=4.0, help="seconds between a host's requests (paced run)")
    ap.add_argument("--paced-lines", type=int, default=145, help="lines per request, paced run")
    ap.add_argument("--paced-seconds", type=float, default=24.0, help="length of the paced run")
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--rounds", type=int, default=2, help="back-to-back runs (sustained load)")
    ap.add_argument("--lake", action="store_true", help="run the server as a lake receiver")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        simulate(SimConfig(hosts=args.hosts, days=args.days, out=root / "fleet", seed=args.seed))
        hosts = fleet_hosts(root / "fleet")
        lines = sum(len(h.results) for h in hosts)
        rows = sum(rows_in(orjson.loads(x)) for h in hosts for x in h.results)
        print(f"fleet: {args.hosts} hosts, {lines:,} result lines, {rows:,} rows; back to back: up to "
              f"{args.max_lines} lines per request, paced: {args.paced_lines} lines every {args.period:g} s "
              f"per host (gzip, keep-alive HTTPS); {args.clients} client processes; "
              f"{os.cpu_count()} cores, load average before {os.getloadavg()[0]:.1f}")

        # file ingest of the same lines: the baseline
        flat = root / "lines.jsonl"
        with flat.open("wb") as f:
            for h in hosts:
                f.write(b"\n".join(h.results) + b"\n")
        if args.lake:
            from hindsight.lake.ingest import ingest_files

            start = time.perf_counter()
            file_rows = ingest_files(str(root / "file-lake"), [flat]).rows
            file_seconds = time.perf_counter() - start
            shutil.rmtree(root / "file-lake")
        else:
            with hindsight.open(root / "file-data") as hs:
                start = time.perf_counter()
                file_rows = hs.ingest([flat]).rows
                file_seconds = time.perf_counter() - start
            shutil.rmtree(root / "file-data")
        file_rate = file_rows / file_seconds

        lake = ("--lake", str(root / "lake")) if args.lake else ()
        srv = ServerProcess(root / "data", args=lake).start()
        assert srv.proc is not None
        sampler = Sampler(srv.proc.pid)
        sampler.start()
        runs: list[Run] = []
        try:
            from hindsight.server.state import State

            state = State(root / "data" / "serve" / "state.sqlite")
            token = state.create_token("bench")
            state.close()
            t0 = time.perf_counter()
            for r in range(args.rounds):
                runs.append(measured(srv, sampler, f"back to back, round {r + 1}", hosts, args.max_lines, 0.0, 0.0, args.clients))
            runs.append(measured(srv, sampler, f"paced: one request per host every {args.period:g} s", hosts,
                                 args.paced_lines, args.period, args.paced_seconds, args.clients))
            syncs = server_status(srv, token)["journal"]["latest_syncs"]
            wait_ingested(srv, token)
            end_to_end = time.perf_counter() - t0
            srv.stop()
        finally:
            srv.kill()
            sampler.stop.set()

        for run in runs:
            run.report(file_rate)
            print(f"    load average at its end: {run.load:.1f}")
        print(f"journal group commits (the latest {syncs.get('fsyncs', 0)}, mostly the paced run): "
              f"fdatasync p50 {syncs.get('fsync_ms_p50')} ms, p99 {syncs.get('fsync_ms_p99')} ms, "
              f"max {syncs.get('fsync_ms_max')} ms; {syncs.get('records_per_fsync')} requests per fsync")
        where = "in the lake" if args.lake else "in the store"
        print(f"file ingest of the same lines ({where}): {file_rate:,.0f} rows/s")
        total = sum(run.acked for run in runs)
        print(f"{where}, all runs ({total:,} rows acknowledged, all but the first {rows:,} "
              f"duplicates), from the first enrolment to the last row ingested: "
              f"{total / end_to_end:,.0f} rows/s")
        growth: dict[str, float] = {}
        for label, index in (("HTTP process", 1), ("store process", 2)):
            rss = [sample[index] for sample in sampler.samples]
            if not rss:
                continue
            third = max(1, len(rss) // 3)
            print(f"{label} RSS: start {rss[0]:.0f} MB, peak {max(rss):.0f} MB, mean of first third "
                  f"{sum(rss[:third]) / third:.0f} MB, of last third {sum(rss[-third:]) / third:.0f} MB "
                  f"({len(rss)} samples)")
            step = max(1, len(rss) // 16)
            print("    over time (s: MB): " + ", ".join(
                f"{sample[0]:.0f}: {sample[index]:.0f}" for sample in sampler.samples[::step]))
            middle = rss[third:-third] or rss
            growth[label] = (sum(rss[-third:]) / third) / (sum(middle) / len(middle))
            print(f"    last third / middle third: {growth[label]:.2f}")
        verdict(
            "targets (issue #5, 1,000 hosts): every back-to-back round >= 50,000 rows/s acknowledged, "
            "p99 < 250 ms at the paced load, RSS of the last third <= 1.2x the middle third",
            [
                *(missed(f"{run.label} rows/s", run.rate, run.rate >= 50_000) for run in runs[:-1]),
                missed("paced p99 ms", runs[-1].p99_ms, runs[-1].p99_ms < 250),
                *(missed(f"{label} RSS growth", g, g <= 1.2) for label, g in growth.items()),
            ],
        )


if __name__ == "__main__":
    main()
