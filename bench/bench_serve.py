"""`hindsight serve` under load: N simulated hosts posting concurrently through the logger endpoint.

Measures, against the real server (a subprocess, HTTPS on localhost):
- result rows acknowledged per second (an acknowledgement = lines fsync'd in the journal),
- p50/p99 acknowledgement latency,
- rows/s until the background ingester has put them all in the store (end to end),
- the ratio of the acknowledged rate to file ingest of the same lines (`Hindsight.ingest`), measured
  in the same run (target of issue #5: >= 50,000 rows/s, p99 < 250 ms, at 1,000 hosts),
- the server's RSS sampled every half second (memory flat under sustained load).

The client does as little as it can: request bodies are built and gzip'd before the clock starts
(as osqueryd's are: its buffer is already there), each host posting its bodies one after the other.

    python bench/bench_serve.py [--hosts 1000] [--days 0.1] [--max-lines 1024] [--lake]

With --lake the server runs as a lake receiver (`hindsight serve --lake`): the end-to-end rate is
then to the lines published in the lake, and the baseline is file ingest into a lake.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
import os
import random
import shutil
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hindsight
from bench.bench_ingest import rows_in
from hindsight.server.testclient import FleetHost, OsqueryHost, fleet_hosts
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


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float, float]] = []  # (s, HTTP process MB, store MB)
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                store = sum(rss_mb(p) for p in children(self.pid))
                self.samples.append((time.monotonic() - self.t0, rss_mb(self.pid), store))
            except OSError:
                return


def bodies(host: FleetHost, node_key: str, max_lines: int) -> list[tuple[bytes, int]]:
    """The host's logger requests, gzip'd, with the rows each carries."""
    out = []
    for i in range(0, len(host.results), max_lines):
        batch = host.results[i : i + max_lines]
        body = (b'{"node_key":' + orjson.dumps(node_key) + b',"log_type":"result","data":['
                + b",".join(batch) + b"]}")
        out.append((gzip.compress(body, 6), sum(rows_in(orjson.loads(x)) for x in batch)))
    return out


async def load(url: str, cert: str, secret: str, hosts: list[FleetHost], max_lines: int,
               period_s: float, barrier: Any) -> tuple[int, int, float, float, list[float]]:
    """One client process: enroll its hosts, build their requests, wait for the others, post.
    period_s 0: each host posts its requests back to back (saturation); else one request per
    host every period_s (osqueryd's logger_tls_period), starting at a random phase."""
    limits = httpx.Limits(max_connections=len(hosts) + 10, max_keepalive_connections=len(hosts) + 10)
    ctx = ssl.create_default_context(cafile=cert)
    async with httpx.AsyncClient(base_url=url, verify=ctx, limits=limits, timeout=60) as http:
        clients = [OsqueryHost(http, secret, h.uuid, h.identifier, max_lines) for h in hosts]
        sem = asyncio.Semaphore(25)  # enrolments (TLS handshakes) are not what is measured

        async def enroll(c: OsqueryHost) -> None:
            async with sem:
                await c.enroll()
                await c.refresh_config()

        await asyncio.gather(*(enroll(c) for c in clients))
        work = [bodies(h, c.node_key or "", max_lines) for c, h in zip(clients, hosts, strict=True)]
        latencies: list[float] = []
        acked_rows = 0
        failures = 0
        rnd = random.Random(len(hosts))

        async def run(client: OsqueryHost, requests: list[tuple[bytes, int]]) -> None:
            nonlocal acked_rows, failures
            headers = {"Content-Type": "application/json", "Content-Encoding": "gzip",
                       "Authorization": f"NodeKey {client.node_key}"}
            if period_s:
                await asyncio.sleep(rnd.uniform(0, period_s))
            for body, rows in requests:
                began = time.perf_counter()
                while True:
                    start = time.perf_counter()
                    r = await http.post("/osquery/log", content=body, headers=headers)
                    if r.content.strip() == b"{}":
                        latencies.append(time.perf_counter() - start)
                        acked_rows += rows
                        break
                    failures += 1
                    await asyncio.sleep(0.5)
                if period_s:
                    await asyncio.sleep(max(0.0, period_s - (time.perf_counter() - began)))

        await asyncio.to_thread(barrier.wait)
        start = time.time()
        await asyncio.gather(*(run(c, w) for c, w in zip(clients, work, strict=True)))
        end = time.time()
    return acked_rows, failures, start, end, latencies


def client_process(args: tuple[Any, ...]) -> tuple[int, int, float, float, list[float]]:
    return asyncio.run(load(*args))


def drive(srv: ServerProcess, hosts: list[FleetHost], max_lines: int, period_s: float,
          processes: int) -> tuple[int, int, float, list[float]]:
    """All hosts, split over PROCESSES client processes started together."""
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    barrier = manager.Barrier(processes)
    parts = [hosts[i::processes] for i in range(processes)]
    with ctx.Pool(processes) as pool:
        results = pool.map(client_process, [(srv.url, srv.cert, srv.secret, part, max_lines, period_s, barrier) for part in parts])
    manager.shutdown()
    acked = sum(r[0] for r in results)
    failures = sum(r[1] for r in results)
    seconds = max(r[3] for r in results) - min(r[2] for r in results)
    return acked, failures, seconds, [x for r in results for x in r[4]]


def wait_ingested(srv: ServerProcess, token: str, timeout_s: float = 1800) -> None:
    ctx = ssl.create_default_context(cafile=srv.cert)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = httpx.get(srv.url + "/api/v1/server", verify=ctx, headers={"Authorization": f"Bearer {token}"}).json()
        if st["journal"]["backlog_bytes"] == 0:
            return
        time.sleep(0.5)
    raise RuntimeError("ingest did not catch up")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--days", type=float, default=0.1)
    ap.add_argument("--max-lines", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--period", type=float, default=4.0, help="seconds between a host's requests (paced run)")
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--lake", action="store_true", help="run the server as a lake receiver")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        simulate(SimConfig(hosts=args.hosts, days=args.days, out=root / "fleet", seed=args.seed))
        hosts = fleet_hosts(root / "fleet")
        lines = sum(len(h.results) for h in hosts)
        rows = sum(rows_in(orjson.loads(x)) for h in hosts for x in h.results)
        print(f"fleet: {args.hosts} hosts, {lines:,} result lines, {rows:,} rows, "
              f"up to {args.max_lines} lines per request (gzip)")

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
        sampler = RssSampler(srv.proc.pid)
        sampler.start()
        try:
            from hindsight.server.state import State

            state = State(root / "data" / "serve" / "state.sqlite")
            token = state.create_token("bench")
            state.close()
            t0 = time.perf_counter()
            runs = []
            for period in (0.0, args.period):
                cpu0 = cpu_s(srv.proc.pid)
                acked, failures, seconds, latencies = drive(srv, hosts, args.max_lines, period, args.clients)
                busy = (cpu_s(srv.proc.pid) - cpu0) / seconds
                runs.append((period, acked, failures, seconds, sorted(latencies), busy))
            wait_ingested(srv, token)
            end_to_end = time.perf_counter() - t0
            srv.stop()
        finally:
            srv.kill()
            sampler.stop.set()

        for period, acked, failures, seconds, latencies, busy in runs:
            def pct(q: float, lat: list[float] = latencies) -> float:
                return 1000 * lat[min(len(lat) - 1, int(q * len(lat)))]

            rate = acked / seconds
            mode = "back to back (saturation)" if not period else f"one request per host every {period:g} s"
            print(f"[{mode}] acknowledged {acked:,} rows in {seconds:.1f} s = {rate:,.0f} rows/s "
                  f"({len(latencies):,} requests, {failures} refused); ack latency p50 {pct(0.5):.0f} ms, "
                  f"p99 {pct(0.99):.0f} ms, max {pct(1.0):.0f} ms")
            print(f"    acknowledged / file ingest = {rate / file_rate:.2f}; HTTP process CPU "
                  f"{100 * busy:.0f} % of one core during the run (load average {os.getloadavg()[0]:.1f}), "
                  f"i.e. {acked / (busy * seconds):,.0f} rows acknowledged per CPU second")
        print("targets (issue #5, 1,000 hosts): >= 50,000 rows/s acknowledged, p99 < 250 ms")
        where = "in the lake" if args.lake else "in the store"
        print(f"file ingest of the same lines ({where}): {file_rate:,.0f} rows/s")
        print(f"{where}, both runs ({2 * rows:,} rows, the second all duplicates), from the first "
              f"enrolment to the last row ingested: {2 * rows / end_to_end:,.0f} rows/s")
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


if __name__ == "__main__":
    main()
