"""Investigation latency and enrich throughput vs history length (issue #4).

A synthetic fleet (bench/gen.py: 5-minute DHCP churn, users, process snapshots and
process_events) at 1x and 2x history: `who ip` and `who uid` median latency through the
library, and the rate of `enrich process_events` (usernames of uid and auid as of each event's
time, one set-based statement, every event counted; also with the output sorted by time, which
costs more than the joins). Targets: who under 100 ms at the median,
enrich over 500,000 events/s, and 2x history costing about the same.

    python bench/bench_investigate.py [--hosts 300] [--days 2] [--lookups 30]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hindsight
from bench.gen import DAY, START, dhcp_lines, mixed_lines, write
from hindsight.investigate.enrich import EventFilter, enrich_sql
from hindsight.investigate.evidence import SPLAY_SLACK
from hindsight.investigate.source import queries_of
from hindsight.store.layout import hist_table


def build(out: Path, hosts: int, days: int) -> Path:
    data = out / f"investigate-{hosts}x{days}"
    if (data / "hindsight.duckdb").exists():
        return data
    log = out / f"investigate-{hosts}x{days}.log"
    lines, size = write(log, itertools.chain(dhcp_lines(hosts, days, seed=7), mixed_lines(hosts, days * 24)))
    start = time.perf_counter()
    with hindsight.open(data) as hs:
        hs.ingest([log])
    print(f"  built {days} days: {lines:,} lines {size / 1e6:.0f} MB in {time.perf_counter() - start:.0f} s")
    log.unlink()
    return data


def median_ms(calls: list[tuple[str, tuple[object, ...]]], hs: hindsight.Hindsight) -> float:
    latencies = []
    for method, args in calls:
        start = time.perf_counter()
        getattr(hs.investigate, method)(*args)
        latencies.append((time.perf_counter() - start) * 1000)
    return statistics.median(latencies)


def probe(data: Path, hosts: int, days: int, n: int) -> dict[str, float]:
    rnd = random.Random(3)
    with hindsight.open(data, read_only=True) as hs:
        assert hs.investigate.schedule.heartbeat > 0  # inferred once per open store, not per lookup
        hist = hist_table(queries_of(hs.store.catalog, "interface_addresses")[0].query_id)
        held = hs._run(
            f"SELECT address, (_from + _to) // 2 FROM {hist} USING SAMPLE reservoir({n} ROWS) REPEATABLE (3)"
        ).rows  # addresses some host held at that instant: each lookup finds its host
        ips = [("who_ip", (address, at)) for address, at in held]
        uids = [("who_uid", (1000 + rnd.randrange(5), f"host-{rnd.randrange(hosts):05d}", START + rnd.randrange(days * DAY)))
                for _ in range(n)]
        rates = {}
        for ordered in (False, True):
            slack = {q: int(i * SPLAY_SLACK) for q, i in hs.investigate.schedule.intervals.items()}
            sql = enrich_sql(hs.store.catalog, "process_events", EventFilter(), ordered=ordered, intervals=slack)
            seconds = []
            for _ in range(3):  # the median of three runs
                start = time.perf_counter()
                events, named, *_ = hs._run(  # every added column consumed: no join can be pruned
                    "SELECT count(*), count(user_username), count(auid_user_username), count(user_since), "
                    f"count(auid_user_since), count(user_settled), count(host), count(DISTINCT user_username) FROM ({sql})"
                ).rows[0]
                seconds.append(time.perf_counter() - start)
            rates[ordered] = events / statistics.median(seconds)
        return {"who_ip": median_ms(ips, hs), "who_uid": median_ms(uids, hs), "events": events,
                "named": named, "rate": rates[False], "rate_sorted": rates[True]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--lookups", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for factor in (1, 2):
        days = args.days * factor
        data = build(args.out, args.hosts, days)
        r = results[factor] = probe(data, args.hosts, days, args.lookups)
        print(f"{factor}x history ({args.hosts} hosts x {days} days): who ip median {r['who_ip']:.1f} ms, "
              f"who uid median {r['who_uid']:.1f} ms, enrich {r['events']:,} process_events "
              f"({r['named']:,} named) at {r['rate']:,.0f} events/s ({r['rate_sorted']:,.0f} in time order)")
    one, two = results[1], results[2]
    print(f"2x/1x: who ip {two['who_ip'] / one['who_ip']:.2f}, who uid {two['who_uid'] / one['who_uid']:.2f}, "
          f"enrich rate {two['rate'] / one['rate']:.2f} (targets: who < 100 ms, enrich > 500,000 events/s)")


if __name__ == "__main__":
    main()
