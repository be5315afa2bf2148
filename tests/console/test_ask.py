"""The three seed questions typed into the console, each answer checked against the simulator's
truth; clicking a bar of the timeline opens that host at that instant."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from tests.console.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    VIEWER,
    VIEWER_PASSWORD,
    Console,
    shot,
    sign_in,
)


def ask(page: Page, console: Console, question: str, at: str) -> None:
    page.goto(console.url + "/")
    page.fill("input[name=q]", question)
    page.fill("input[name=at]", at)
    page.click("form.ask button[type=submit]")
    page.wait_for_load_state()
    expect(page.get_by_test_id("answer")).to_be_visible()
    expect(page.locator("[data-timeline][data-drawn='1']")).to_have_count(1)


def test_which_host_had_an_ip_at_an_instant(page: Page, console: Console) -> None:
    m = console.moment("ip_handover")
    at = m["ask_to_at"] + m["to_clock_offset"]
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    iso = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # pasted as ISO 8601
    ask(page, console, m["ip"], iso)
    hosts = page.locator("[data-testid=card] [data-answer=host]")
    expect(hosts).to_have_count(1)
    expect(hosts).to_have_text(m["to_hostname"])
    assert m["to_host"].lower() in (hosts.get_attribute("href") or "")
    expect(page.get_by_test_id("freshness").first).to_have_text("fresh")
    # the timeline shows both holders of the address over the day, and the spans nobody had it
    bars = page.locator(".vis-item.bar")
    expect(bars.filter(has_text=m["from_hostname"]).first).to_be_attached()
    expect(page.locator(".vis-item.vis-background.unknown").first).to_be_attached()
    shot(page, "ask-ip")
    # what else that host was doing: its events around the instant, enriched
    around = page.locator("[data-testid=card] [data-testid=around]")
    assert m["to_host"].lower() in (around.get_attribute("href") or "")
    # clicking the bar that covers the asked instant opens that host at that instant (near the
    # bar's start: the asked instant's line lies over its middle)
    page.locator(".vis-item.bar", has_text=m["to_hostname"]).first.click(position={"x": 6, "y": 6})
    page.wait_for_url(re.compile(r"/console/host/"))
    assert m["to_host"].lower() in page.url
    expect(page.get_by_test_id("host-title")).to_have_text(m["to_hostname"])
    assert "query=" in page.url  # the address's query, at the asked instant: the address is there
    expect(page.get_by_test_id("state-at")).to_have_attribute("data-at", str(at))
    expect(page.get_by_test_id("state")).to_contain_text(m["ip"])


def test_who_had_a_uid_on_a_host_at_an_instant(page: Page, console: Console) -> None:
    m = console.moment("uid_reuse")
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    at = m["new_process_event"]["time"]
    ask(page, console, f"{m['uid']}@{m['hostname']}", str(at))  # pasted as unix seconds
    current = page.locator("[data-testid=card][data-relation=at] [data-answer=username]")
    expect(current).to_have_text(m["new_user"])
    before = page.locator("[data-testid=card][data-relation=before] [data-answer=username]")
    expect(before).to_have_text(m["old_user"])
    expect(page.locator(".vis-item.bar", has_text=m["old_user"]).first).to_be_attached()
    shot(page, "ask-uid")
    # and at the old process's time, the uid was the old user's
    ask(page, console, f"{m['uid']}@{m['hostname']}", str(m["old_process_event"]["time"]))
    expect(current).to_have_text(m["old_user"])


def test_which_usb_drive_was_behind_a_path(page: Page, console: Console) -> None:
    m = console.moment("usb_drive")
    offset = next(h["clock_offset"] for h in console.manifest["hosts"] if h["uuid"] == m["host"])
    at = (m["mounted_at"] + m["unmounted_at"]) // 2 + offset
    calendar = datetime.fromtimestamp(at, UTC).strftime("%a %b %d %H:%M:%S %Y UTC")  # calendarTime
    sign_in(page, console, ADMIN, ADMIN_PASSWORD)
    ask(page, console, f"{m['mount_path']}@{m['hostname']}", calendar)
    expect(page.locator("[data-testid=card] [data-answer=serial]")).to_have_text(m["serial"])
    expect(page.locator(".vis-item.bar", has_text=f"USB {m['serial']}").first).to_be_attached()
    shot(page, "ask-usb")
    # the drive's serial alone: every host and span it was attached
    ask(page, console, m["serial"], calendar)
    expect(page.get_by_test_id("answer")).to_have_attribute("data-kind", "usb")
    expect(page.locator("[data-testid=card]").first).to_contain_text(m["hostname"])


def test_the_time_picker_fills_the_instant(page: Page, console: Console) -> None:
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    page.goto(console.url + "/")
    page.fill("input[data-picks=at]", "2024-06-13T11:37:52")
    expect(page.locator("input[name=at]")).to_have_value("2024-06-13T11:37:52Z")


def test_a_question_it_cannot_read_says_why(page: Page, console: Console) -> None:
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    ask_page = console.url + "/?q=%2Fmedia%2Fusb0&at="
    page.goto(ask_page)
    expect(page.get_by_test_id("error")).to_contain_text("on which host?")
    page.goto(console.url + "/?q=10.1.2.3&at=yesterday-ish")
    expect(page.get_by_test_id("error")).to_contain_text("cannot read TIME")
    page.goto(console.url + "/?q=no-such-thing-here&at=")
    expect(page.get_by_test_id("error")).to_contain_text("not a host, user or USB serial")


def test_the_questions_hindsight_demo_suggests_are_answered(page: Page, console: Console) -> None:
    """`hindsight demo` ends with three inputs for the console's Ask box: each gives the answer
    the demo says it will."""
    from hindsight.console.hints import ask_inputs, console_hints

    inputs = ask_inputs(console.manifest)
    assert len(inputs) == 3
    assert any("hindsight serve" in line for line in console_hints(console.data, console.manifest))
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    for typed, at, expect_text in inputs:
        ask(page, console, typed, at)
        answer = expect_text.split(" (")[0].split()[-1]  # the host, the account, the serial
        expect(page.get_by_test_id("answer")).to_contain_text(answer)


def test_a_host_name_opens_the_host_and_a_user_name_shows_the_accounts(page: Page, console: Console) -> None:
    m = console.moment("uid_reuse")
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    page.goto(f"{console.url}/?q={m['hostname']}&at=")
    expect(page.get_by_test_id("host-title")).to_have_text(m["hostname"])
    ask(page, console, m["old_user"], str(m["old_process_event"]["time"]))
    expect(page.get_by_test_id("answer")).to_have_attribute("data-kind", "user")
    expect(page.get_by_test_id("answer")).to_contain_text(m["hostname"])
