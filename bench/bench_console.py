"""Console pages: server time of each page's data on a simulated fleet (issue #6).

A fleet from the simulator (hindsight.sim), ingested once into bench/out/. For each page, the
data call the store process answers (`hindsight.console.data`, exactly what runs under
`hindsight serve`) is timed over the simulator's noteworthy moments (IP handovers, uid reuse, USB
drives, hosts), and then whole pages are fetched over HTTPS from a real `hindsight serve` signed
in as a viewer (template rendering and the store-process round trip included). Target: every
page's data under 300 ms at the median (exit status 1 when missed).

A second store holds DHCP churn over 30 days (bench/gen.py): the Ask page for its busiest
addresses is timed for its data and for the browser drawing the timeline (vis-timeline in
Debian's chromium, measured in the page).

    python bench/bench_console.py [--hosts 1000] [--days 0.25] [--samples 15] [--timeline-hosts 300]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hindsight
from bench.targets import missed, verdict
from hindsight.console import data as pages
from hindsight.console.auth import Accounts
from hindsight.server import serve_dir
from hindsight.sim import SimConfig, simulate
from tests.server.serverproc import ServerProcess

OUT = Path(__file__).resolve().parent / "out"
TARGET_MS = 300.0


def build(hosts: int, days: float) -> tuple[Path, dict[str, Any]]:
    root = OUT / f"console-{hosts}x{days:g}"
    fleet, data = root / "fleet", root / "data"
    if not (data / "hindsight.duckdb").exists():
        start = time.perf_counter()
        simulate(SimConfig(hosts=hosts, days=days, out=fleet, seed=11))
        with hindsight.open(data) as hs:
            summary = hs.ingest([fleet / "hosts", fleet / "late"])
        print(f"  built: {summary.lines:,} lines, {summary.rows:,} rows in {time.perf_counter() - start:.0f} s")
    return data, orjson.loads((fleet / "manifest.json").read_bytes())


def moments(manifest: dict[str, Any], kind: str, n: int) -> list[dict[str, Any]]:
    return [m for m in manifest["moments"] if m["kind"] == kind][:n]


def offset(manifest: dict[str, Any], host: str) -> int:
    return int(next(h["clock_offset"] for h in manifest["hosts"] if h["uuid"] == host))


def held_addresses(data: Path, n: int) -> list[tuple[str, int]]:
    """(address, instant) pairs: addresses hosts held, asked in the middle of a holding (the
    fleet's DHCP handovers when the simulation has them, else any held address)."""
    with hindsight.open(data, read_only=True) as hs:
        rows = hs.sql(
            "SELECT address, valid_from, coalesce(valid_to, valid_from + 7200) AS valid_to "
            "FROM interface_addresses FOR SYSTEM_TIME ALL WHERE address LIKE '10.%' "
            f"ORDER BY hash(address, valid_from) LIMIT {n}"
        ).rows
    return [(str(a), (int(f) + int(t)) // 2) for a, f, t in rows]


def cases(manifest: dict[str, Any], n: int, held: list[tuple[str, int]]) -> dict[str, list[tuple[Any, ...]]]:
    """Per page: the arguments of its data call, one tuple per sample."""
    ips = [(m["ip"], "auto", m["ask_to_at"] + m["to_clock_offset"]) for m in moments(manifest, "ip_handover", n)]
    ips = ips or [(a, "auto", t) for a, t in held]
    uids = [(f"{m['uid']}@{m['hostname']}", "auto", m["new_process_event"]["time"])
            for m in moments(manifest, "uid_reuse", n)]
    usb = [m for m in moments(manifest, "usb_drive", 10 * n) if "mounted_at" in m][:n]
    mounts = [(f"{m['mount_path']}@{m['hostname']}", "auto",
               (m["mounted_at"] + m["unmounted_at"]) // 2 + offset(manifest, m["host"])) for m in usb]
    serials = [(m["serial"], "auto", m["mounted_at"]) for m in usb]
    hosts = [m["hostname"] for m in moments(manifest, "uid_reuse", n)]
    return {
        "ask ip": ips, "ask uid@host": uids, "ask path@host": mounts, "ask usb serial": serials,
        "host": [(h,) for h in hosts],
        "host state (users)": [(h, "users", None) for h in hosts],
        "host diff (users)": [(m["hostname"], "users", m["old_process_event"]["time"], m["new_process_event"]["time"])
                              for m in moments(manifest, "uid_reuse", n)],
        "events (process_events, one host, 1 h)": [
            ("process_events", m["hostname"], m["new_process_event"]["time"] - 3600, m["new_process_event"]["time"], "", 500)
            for m in moments(manifest, "uid_reuse", n)],
        "events (process_events, fleet, 1 h)": [
            ("process_events", None, m["new_process_event"]["time"] - 3600, m["new_process_event"]["time"], "", 500)
            for m in moments(manifest, "uid_reuse", n)],
        "events (process_events, fleet, 1 h, text)": [
            ("process_events", None, m["new_process_event"]["time"] - 3600, m["new_process_event"]["time"],
             m["new_process_event"]["cmdline"].split()[0], 500)
            for m in moments(manifest, "uid_reuse", n)],
        "fleet": [(600,)] * min(n, 5),
    }


CALLS: dict[str, Callable[..., Any]] = {
    "ask ip": pages.ask, "ask uid@host": pages.ask, "ask path@host": pages.ask, "ask usb serial": pages.ask,
    "host": pages.host, "host state (users)": pages.host_state, "host diff (users)": pages.host_diff,
    "events (process_events, one host, 1 h)": pages.events, "events (process_events, fleet, 1 h)": pages.events,
    "events (process_events, fleet, 1 h, text)": pages.events,
    "fleet": pages.fleet,
}


def time_data(data: Path, manifest: dict[str, Any], n: int, held: list[tuple[str, int]]) -> dict[str, float]:
    medians = {}
    with hindsight.open(data, read_only=True) as hs:
        pages.ask(hs, "127.0.0.1", "auto", 0)  # the first answer infers the fleet's schedule once
        for page, samples in cases(manifest, n, held).items():
            if not samples:
                continue
            took = []
            for args in samples:
                start = time.perf_counter()
                CALLS[page](hs, *args)
                took.append((time.perf_counter() - start) * 1000)
            medians[page] = statistics.median(took)
            print(f"  {page:42s} median {medians[page]:7.1f} ms  max {max(took):7.1f} ms  ({len(took)} samples)")
    return medians


def time_http(data: Path, manifest: dict[str, Any], n: int, held: list[tuple[str, int]]) -> dict[str, float]:
    accounts = Accounts(serve_dir(data))
    if "bench" not in {u for u, _, _ in accounts.users()}:
        accounts.add_user("bench", "viewer", "bench password")
    accounts.close()
    server = ServerProcess(data).start(timeout_s=120)
    medians = {}
    try:
        with httpx.Client(base_url=server.url + "/console", verify=server.verify, timeout=60) as client:
            form = client.get("/login").text
            token = re.search(r'name="login_token" value="([^"]+)"', form)
            assert token
            client.post("/login", data={"name": "bench", "password": "bench password",
                                        "login_token": token.group(1), "next": "/console/"})
            urls = _urls(manifest, n, held)
            for page, paths in urls.items():
                took = []
                for path in paths:
                    start = time.perf_counter()
                    response = client.get(path)
                    took.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, (path, response.status_code, response.text[:300])
                if took:
                    medians[page] = statistics.median(took)
                    print(f"  {page:42s} median {medians[page]:7.1f} ms  max {max(took):7.1f} ms  ({len(took)} pages)")
    finally:
        server.stop()
    return medians


def _urls(manifest: dict[str, Any], n: int, held: list[tuple[str, int]]) -> dict[str, list[str]]:
    c = cases(manifest, n, held)
    return {
        "GET / (ask ip)": [f"/?{httpx.QueryParams({'q': a[0], 'at': a[2]})}" for a in c["ask ip"]],
        "GET / (ask uid@host)": [f"/?{httpx.QueryParams({'q': a[0], 'at': a[2]})}" for a in c["ask uid@host"]],
        "GET / (ask path@host)": [f"/?{httpx.QueryParams({'q': a[0], 'at': a[2]})}" for a in c["ask path@host"]],
        "GET /host/H (with users state)": [f"/host/{a[0]}?query=users" for a in c["host"]],
        "GET /events (fleet, 1 h)": [
            f"/events?{httpx.QueryParams({'query': a[0], 'since': a[2], 'until': a[3]})}"
            for a in c["events (process_events, fleet, 1 h)"]],
        "GET /events (one host, 1 h)": [
            f"/events?{httpx.QueryParams({'query': a[0], 'host': a[1], 'since': a[2], 'until': a[3]})}"
            for a in c["events (process_events, one host, 1 h)"]],
        "GET /fleet": ["/fleet"] * min(n, 5),
    }


def timeline_store(hosts: int, days: int) -> Path:
    """DHCP churn (bench/gen.py: leases of 5 to 60 minutes on a shared /16) over DAYS."""
    from bench.gen import dhcp_lines, write

    data = OUT / f"console-dhcp-{hosts}x{days}"
    if not (data / "hindsight.duckdb").exists():
        log = OUT / f"console-dhcp-{hosts}x{days}.log"
        start = time.perf_counter()
        lines, _ = write(log, dhcp_lines(hosts, days, seed=5))
        with hindsight.open(data) as hs:
            hs.ingest([log])
        log.unlink()
        print(f"  built: {lines:,} lines in {time.perf_counter() - start:.0f} s")
    return data


def time_timeline(hosts: int, days: int, n: int) -> None:
    """The Ask page for the busiest addresses over DAYS: data time, and the browser's draw time
    of the timeline (vis-timeline, chromium)."""
    from playwright.sync_api import sync_playwright

    data = timeline_store(hosts, days)
    with hindsight.open(data, read_only=True) as hs:
        busiest = hs.sql(
            "SELECT address, count(*) AS n, max(valid_from) AS t FROM interface_addresses FOR SYSTEM_TIME ALL "
            f"WHERE address LIKE '10.%' GROUP BY address ORDER BY n DESC LIMIT {n}"
        ).rows
        lo, hi = pages.time_range(hs)
        took, items = [], []
        for address, _, _ in busiest:
            at = (lo + hi) // 2
            start = time.perf_counter()
            answer = pages.ask(hs, str(address), "auto", at)
            took.append((time.perf_counter() - start) * 1000)
            items.append(len(answer["items"]))
    print(f"  ask ip over {days} days (data)       median {statistics.median(took):7.1f} ms, "
          f"{statistics.median(items):.0f} timeline items (busiest {len(busiest)} addresses)")
    accounts = Accounts(serve_dir(data))
    if "bench" not in {u for u, _, _ in accounts.users()}:
        accounts.add_user("bench", "viewer", "bench password")
    accounts.close()
    server = ServerProcess(data).start(timeout_s=120)
    chromium = shutil.which("chromium")
    assert chromium, "apt-get install -y chromium"
    draws, loads = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(ignore_https_errors=True, viewport={"width": 1400, "height": 900})
            page.goto(server.url + "/console/login")
            page.fill("input[name=name]", "bench")
            page.fill("input[name=password]", "bench password")
            page.click("form.login button[type=submit]")
            page.wait_for_load_state()
            for address, _, _ in busiest:
                start = time.perf_counter()
                page.goto(f"{server.url}/console/?q={address}&at={(lo + hi) // 2}")
                drawn = page.locator("[data-timeline][data-drawn]")
                drawn.wait_for(state="attached", timeout=30_000)
                loads.append((time.perf_counter() - start) * 1000)
                draws.append(int(drawn.get_attribute("data-draw-ms") or 0))
            browser.close()
    finally:
        server.stop()
    print(f"  timeline drawn in the browser          median {statistics.median(draws):7.1f} ms, "
          f"max {max(draws)} ms (page request to drawn: median {statistics.median(loads):.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--days", type=float, default=0.25)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--timeline-hosts", type=int, default=300, help="DHCP-churn hosts of the 30-day timeline")
    parser.add_argument("--timeline-days", type=int, default=30)
    args = parser.parse_args()
    print(f"fleet: {args.hosts} simulated hosts over {args.days:g} days")
    data, manifest = build(args.hosts, args.days)
    print("page data (what the store process computes per page):")
    held = held_addresses(data, args.samples)
    medians = time_data(data, manifest, args.samples, held)
    print("whole pages over HTTPS from hindsight serve (render and round trip included):")
    http = time_http(data, manifest, args.samples, held)
    print(f"an IP's timeline over {args.timeline_days} days ({args.timeline_hosts} hosts renewing DHCP leases of 5-60 min):")
    time_timeline(args.timeline_hosts, args.timeline_days, 5)
    worst = max([*medians.values(), *http.values()])
    subprocess.run(["du", "-sh", str(data)], check=False)
    verdict(f"target (every page's median < {TARGET_MS:.0f} ms)", [missed("slowest median ms", worst, worst < TARGET_MS)])


if __name__ == "__main__":
    main()
