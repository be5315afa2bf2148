"""Investigation latency and enrich throughput at fleet scale, and with the history doubled
(issue #4), every answer checked against the generator's truth.

A lean fleet (bench/invfleet.py: DHCP churn with addresses handed between hosts, accounts with
uids reused, host identity, process_events, USB drives mounted on laptops) is generated for D
and 2D days, streamed to gzip files and ingested through the public path
(`hindsight.open(...).ingest`), timed. Then, on each store: `who ip`, `who uid` and `who mount`
latency (median and p90) over sampled (address, instant), (uid, host, instant) and (path on a
drive, host, instant) probes, each answer compared with the truth; and the rate of
`enrich process_events` (usernames of uid and auid as of each event's time, one set-based
statement, every added column consumed) on every event of the store and, on the doubled store,
also on the events of its last D days (as many events as the 1x store, over twice the history).
A sample of enriched events is compared with the truth. Any wrong answer fails the bench.

Targets: who (ip, uid, mount) under 100 ms at the median, enrich over 500,000 events/s, 2x
history about the same; the bench exits 1 when a target is missed (bench/targets.py).

    python bench/bench_investigate.py                      # 300 hosts x 3 days: a quick check
    nice -n 10 python bench/bench_investigate.py --hosts 10000 --days 30 --events 1000000 \\
        --out /tmp/invbench                                # issue #4's scale (~25 min, 2 cores)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hindsight
from bench.invfleet import DAY, START, generate, read_truth
from bench.targets import verdict
from hindsight.investigate.enrich import EventFilter, enrich_sql


class WrongAnswer(AssertionError):
    pass


def build(out: Path, hosts: int, days: int, events: int, keep_logs: bool) -> tuple[Path, dict[str, Any]]:
    """The fleet's store (generated and ingested once; figures kept beside it)."""
    root = out / f"fleet-{hosts}x{days}"
    figures = root / "build.json"
    current = (root / "truth" / "mount.jsonl").exists()  # else made by an older generator
    if figures.exists() and current:
        return root, dict(orjson.loads(figures.read_bytes()))
    if current and (root / "truth" / "stats.json").exists() and (root / "logs").is_dir():  # kept
        stats = dict(orjson.loads((root / "truth" / "stats.json").read_bytes()))
    else:
        start = time.perf_counter()
        stats = generate(root, hosts, days, events)
        stats["generate_s"] = time.perf_counter() - start
        (root / "truth" / "stats.json").write_bytes(orjson.dumps(stats))
    shutil.rmtree(root / "data", ignore_errors=True)  # an ingest cut short
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with hindsight.open(root / "data") as hs:
        summary = hs.ingest(sorted((root / "logs").glob("*.log.gz")))
    stats["ingest_s"] = time.perf_counter() - start
    stats["ingest_load"] = (load + os.getloadavg()[0]) / 2
    stats["rows"] = summary.rows
    stats["store_bytes"] = sum(f.stat().st_size for f in (root / "data").rglob("*") if f.is_file())
    stats["gzip_bytes"] = sum(f.stat().st_size for f in (root / "logs").glob("*.log.gz"))
    if summary.rejected or summary.lines != stats["lines"]:
        raise WrongAnswer(f"ingest: {summary.lines} lines read of {stats['lines']}, {summary.rejected} rejected")
    if not keep_logs:
        shutil.rmtree(root / "logs")
    figures.write_bytes(orjson.dumps(stats))
    return root, stats


CPU: list[float] = []  # CPU time of the process (all its threads) per lookup, ms


def timed(call: Any, *args: Any) -> tuple[float, Any]:
    """Wall-clock ms of one call (its CPU ms appended to CPU: the machine may be shared)."""
    cpu, start = time.process_time(), time.perf_counter()
    result = call(*args)
    CPU.append((time.process_time() - cpu) * 1000)
    return (time.perf_counter() - start) * 1000, result


def who_ip(hs: hindsight.Hindsight, probes: list[dict[str, Any]]) -> list[float]:
    latencies = []
    for p in probes:
        ms, result = timed(hs.investigate.who_ip, p["address"], p["at"])
        got = sorted(r["host"] for r in result.dicts())
        if got != p["hosts"]:
            raise WrongAnswer(f"who ip {p['address']} at {p['at']}: {got}, truth {p['hosts']}")
        latencies.append(ms)
    return latencies


def who_uid(hs: hindsight.Hindsight, probes: list[dict[str, Any]]) -> list[float]:
    latencies = []
    for p in probes:
        ms, result = timed(hs.investigate.who_uid, p["uid"], p["host"], p["at"])
        got = sorted([r["relation"], r["username"]] for r in result.dicts())
        if got != p["accounts"]:
            raise WrongAnswer(f"who uid {p['uid']} --host {p['host']} at {p['at']}: {got}, truth {p['accounts']}")
        latencies.append(ms)
    return latencies


def who_mount(hs: hindsight.Hindsight, probes: list[dict[str, Any]]) -> list[float]:
    latencies = []
    for p in probes:
        ms, result = timed(hs.investigate.who_mount, p["path"], p["host"], p["at"])
        got = [(r["mount_path"], r["usb_serial"]) for r in result.dicts()]
        if got != [(p["mount_path"], p["serial"])]:
            raise WrongAnswer(f"who mount {p['path']} --host {p['host']} at {p['at']}: {got}, truth "
                              f"{p['mount_path']} on {p['serial']}")
        latencies.append(ms)
    return latencies


def enrich_rate(hs: hindsight.Hindsight, flt: EventFilter, runs: int = 3) -> tuple[int, float]:
    """(events, events/s): the median of `runs` runs, every added column consumed."""
    slack = hs.investigate.schedule.splayed()
    sql = enrich_sql(hs.store.catalog, "process_events", flt, ordered=False, intervals=slack)
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        events, *_ = hs._run(
            "SELECT count(*), count(user_username), count(auid_user_username), count(user_since), "
            f"count(auid_user_since), count(user_settled), count(host), count(DISTINCT user_username) FROM ({sql})"
        ).rows[0]
        seconds.append(time.perf_counter() - start)
    return int(events), events / statistics.median(seconds)


def check_enrich(hs: hindsight.Hindsight, truth: list[dict[str, Any]]) -> int:
    """The enriched username of each sampled event is the account holding its uid then."""
    sql = enrich_sql(hs.store.catalog, "process_events", EventFilter(), ordered=False)
    values = ", ".join(f"('{t['host']}', {t['pid']}, {t['time']})" for t in truth)
    got = {
        (h, int(p), int(t)): (u, n)
        for h, p, t, u, n in hs._run(
            f"WITH want(h, p, t) AS (VALUES {values}) SELECT e.host, e.pid, e.time, e.user_username, "
            f"count(*) OVER (PARTITION BY e.host, e.pid) FROM ({sql}) e "
            "JOIN want ON e.host = want.h AND e.pid = want.p"
        ).rows
    }
    for t in truth:
        found = got.get((t["host"], t["pid"], t["time"]))
        if found != (t["username"], 1):
            raise WrongAnswer(f"enrich: {t['host']} pid {t['pid']} at {t['time']}: {found}, truth {t['username']}")
    return len(truth)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] if len(values) > 1 else values[0]


def probe(root: Path, days: int, n: int, half: bool) -> dict[str, Any]:
    rnd = random.Random(3)
    ips = rnd.sample(read_truth(root, "ip"), min(n, len(read_truth(root, "ip"))))
    uids = read_truth(root, "uid")[:n]
    events = read_truth(root, "events")[:n]
    mounts = read_truth(root, "mount")[:n]
    with hindsight.open(root / "data", read_only=True) as hs:
        assert hs.investigate.schedule.heartbeat > 0  # inferred once per open store
        hs.investigate.who_ip(ips[0]["address"], ips[0]["at"])  # warm: the first query reads the catalog
        load = os.getloadavg()[0]
        CPU.clear()
        ip_ms = who_ip(hs, ips)
        ip_cpu = statistics.median(CPU)
        CPU.clear()
        uid_ms = who_uid(hs, uids)
        uid_cpu = statistics.median(CPU)
        CPU.clear()
        mount_ms = who_mount(hs, mounts)
        r: dict[str, Any] = {
            "load": (load + os.getloadavg()[0]) / 2, "who_ip_cpu": ip_cpu, "who_uid_cpu": uid_cpu,
            "who_mount": statistics.median(mount_ms), "who_mount_p90": pct(mount_ms, 0.9),
            "who_mount_cpu": statistics.median(CPU), "mount_probes": len(mount_ms),
            "who_ip": statistics.median(ip_ms), "who_ip_p90": pct(ip_ms, 0.9), "ip_probes": len(ip_ms),
            "who_uid": statistics.median(uid_ms), "who_uid_p90": pct(uid_ms, 0.9), "uid_probes": len(uid_ms),
            "checked_events": check_enrich(hs, events),
        }
        r["events"], r["rate"] = enrich_rate(hs, EventFilter())
        if half:
            since = START + (days // 2) * DAY
            r["events_last_half"], r["rate_last_half"] = enrich_rate(hs, EventFilter(since=since))
    return r


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--events", type=int, default=30_000, help="process_events at 1x history")
    parser.add_argument("--probes", type=int, default=300, help="who ip / uid / mount lookups per store")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    results = {}
    for factor in (1, 2):
        days = args.days * factor
        root, b = build(args.out, args.hosts, days, args.events * factor, args.keep_logs)
        print(f"{args.hosts} hosts x {days} days: {b['lines']:,} lines ({b['bytes'] / 1e9:.2f} GB raw, "
              f"{b['gzip_bytes'] / 1e6:.0f} MB gzip), {b['process_events']:,} process_events; generated in "
              f"{b.get('generate_s', float('nan')):.0f} s, ingested in {b['ingest_s']:.0f} s = {b['lines'] / b['ingest_s']:,.0f} "
              f"lines/s, {b['rows'] / b['ingest_s']:,.0f} rows/s (load average {b['ingest_load']:.1f}); "
              f"store {b['store_bytes'] / 1e9:.2f} GB", flush=True)
        r = results[factor] = probe(root, days, args.probes, factor == 2)
        print(f"  who ip: median {r['who_ip']:.1f} ms, p90 {r['who_ip_p90']:.1f} ms, CPU median "
              f"{r['who_ip_cpu']:.1f} ms ({r['ip_probes']} probes, all right); who uid: median {r['who_uid']:.1f} ms, "
              f"p90 {r['who_uid_p90']:.1f} ms, CPU median {r['who_uid_cpu']:.1f} ms ({r['uid_probes']} probes, "
              f"all right)")
        print(f"  who mount: median {r['who_mount']:.1f} ms, p90 {r['who_mount_p90']:.1f} ms, CPU median "
              f"{r['who_mount_cpu']:.1f} ms ({r['mount_probes']} probes of {b['usb_drives']:,} drives, all "
              f"right); load average {r['load']:.1f} on {os.cpu_count()} cores")
        print(f"  enrich: {r['events']:,} process_events at {r['rate']:,.0f} events/s "
              f"({r['checked_events']} sampled usernames right)", flush=True)
        if factor == 2:
            print(f"  enrich, events of the last {args.days} days: {r['events_last_half']:,} at "
                  f"{r['rate_last_half']:,.0f} events/s")
    one, two = results[1], results[2]
    print(f"2x/1x: who ip median {two['who_ip'] / one['who_ip']:.2f}, who uid median "
          f"{two['who_uid'] / one['who_uid']:.2f}, who mount median {two['who_mount'] / one['who_mount']:.2f}, enrich rate {two['rate'] / one['rate']:.2f} "
          f"(last {args.days} days: {two['rate_last_half'] / one['rate']:.2f})")
    misses = [
        f"{name} {r[k]:,.1f} at {f}x" for f, r in results.items()
        for name, k, ok in (("who ip ms", "who_ip", r["who_ip"] < 100), ("who uid ms", "who_uid", r["who_uid"] < 100),
                            ("who mount ms", "who_mount", r["who_mount"] < 100),
                            ("enrich events/s", "rate", r["rate"] > 500_000))
        if not ok
    ]
    verdict("targets (who < 100 ms, enrich > 500,000 events/s)", misses)


if __name__ == "__main__":
    main()
