"""Host (identity, strip, slider, diff), Events, SQL and Fleet pages in the browser."""

from __future__ import annotations

import asyncio
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playwright.sync_api import Page, expect

from hindsight.server.testclient import fleet_hosts, replay_fleet
from tests.console.conftest import VIEWER, VIEWER_PASSWORD, Console, shot, sign_in


def test_host_page_travels_in_time(page: Page, console: Console) -> None:
    m = console.moment("uid_reuse")
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    page.goto(f"{console.url}/host/{m['hostname']}")  # opens on its users
    expect(page.get_by_test_id("host-title")).to_have_text(m["hostname"])
    expect(page.locator("[data-strip][data-drawn='1']")).to_have_count(1)
    state = page.get_by_test_id("state")
    expect(state).to_contain_text(m["new_user"])  # the latest state: the uid's new owner
    shot(page, "host")
    # the slider moves back to the change point before the old owner's process ran: the old
    # owner is there, the new one is not
    points = json.loads(page.locator(".slider").get_attribute("data-points") or "[]")
    index = max(i for i, t in enumerate(points) if t <= m["old_process_event"]["time"])
    slider = page.get_by_test_id("slider")
    slider.fill(str(index))
    slider.dispatch_event("change")
    expect(state.get_by_test_id("state-at")).to_have_attribute("data-at", str(points[index]))
    expect(state).to_contain_text(m["old_user"])
    expect(state).not_to_contain_text(m["new_user"])
    # the slider set the diff's second instant; diff from there to the latest change point
    page.fill("form.diff input[name=t1]", str(points[index]))
    page.fill("form.diff input[name=t2]", str(points[-1]))
    page.click("form.diff button")
    diff = page.get_by_test_id("diff-grid")
    expect(diff).to_contain_text(m["new_user"])
    expect(diff).to_contain_text(m["old_user"])


def test_events_are_enriched_and_filtered(page: Page, console: Console) -> None:
    m = console.moment("uid_reuse")
    ev = m["new_process_event"]
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    page.goto(f"{console.url}/events?query=process_events&host={m['hostname']}"
              f"&since={ev['time'] - 60}&until={ev['time'] + 60}&text={ev['cmdline']}")
    grid = page.get_by_test_id("events-grid")
    expect(grid).to_contain_text(ev["cmdline"])
    expect(grid).to_contain_text(m["new_user"])  # the uid's account as of the event's own time
    expect(grid.locator("th", has_text=re.compile(r"^user_username$"))).to_have_count(1)
    shot(page, "events")


def test_sql_grid_downloads_and_error_position(page: Page, console: Console) -> None:
    m = console.moment("ip_handover")
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    page.goto(console.url + "/sql")
    page.fill("[data-testid=editor]", f"SELECT host, interface, address FROM interface_addresses WHERE address = '{m['ip']}'")
    page.fill("input[name=at]", str(m["ask_to_at"] + m["to_clock_offset"]))
    page.click("form.sql button[type=submit]")
    expect(page.get_by_test_id("sql-grid")).to_contain_text(m["to_hostname"])
    expect(page.get_by_test_id("elapsed")).to_contain_text(re.compile(r"1 rows in [\d.]+ ms"))
    shot(page, "sql")
    with page.expect_download() as got:
        page.get_by_test_id("csv").click()
    csv = Path(got.value.path()).read_text(encoding="utf-8").splitlines()
    assert csv[0] == "host,interface,address" and m["to_hostname"] in csv[1]
    with page.expect_download() as got:
        page.get_by_test_id("json").click()
    assert json.loads(Path(got.value.path()).read_text())[0]["host"] == m["to_hostname"]
    page.fill("[data-testid=editor]", "SELECT host,\n  adress\nFROM interface_addresses")
    page.click("form.sql button[type=submit]")
    expect(page.get_by_test_id("sql-error")).to_contain_text("adress")
    expect(page.get_by_test_id("sql-position")).to_contain_text("line 2, column 3")
    shot(page, "sql-error")


def test_fleet_page_shows_hosts_checking_in_and_ingest(page: Page, console: Console) -> None:
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    page.goto(console.url + "/fleet")
    stats = page.get_by_test_id("fleet-stats")
    expect(stats).to_contain_text("20 hosts")
    expect(stats).to_contain_text("0 online")
    # two hosts enroll and send their lines through osquery's TLS API, as osqueryd does
    hosts = [h for h in fleet_hosts(console.fleet) if h.results][:2]
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        report = pool.submit(asyncio.run, replay_fleet(
            console.server.url, console.server.verify, console.server.secret, hosts, max_lines=512)).result()
    assert report.acked == report.lines > 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the store process ingests closed journal segments
        page.goto(console.url + "/fleet")
        if page.get_by_test_id("ingest-rate").inner_text() != "0.0":
            break
        time.sleep(0.5)
    expect(stats).to_contain_text("2 online")
    assert float(page.get_by_test_id("ingest-rate").inner_text()) > 0
    online = page.get_by_test_id("hosts").locator("tr", has=page.locator(".badge.online"))
    expect(online).to_have_count(2)
    expect(page.get_by_test_id("hosts").locator("tbody tr")).to_have_count(20)
    expect(page.locator("[data-rate][data-drawn='1']")).to_have_count(1)
    shot(page, "fleet")
