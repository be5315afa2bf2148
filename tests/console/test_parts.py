"""The console's parts without a browser: what the Ask box recognises, where SQL errors point,
accounts and sessions."""

from __future__ import annotations

import ipaddress
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hindsight.console.auth import Accounts
from hindsight.console.recognise import recognise
from hindsight.console.sqlpos import locate
from hindsight.errors import InputError

hostnames = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


@given(st.ip_addresses())
def test_any_address_is_an_ip_question(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert recognise(f" {address} ").kind == "ip"


@given(st.ip_addresses(v=4), st.integers(0, 32))
def test_any_cidr_range_is_an_ip_question(address: ipaddress.IPv4Address, prefix: int) -> None:
    assert recognise(f"{address}/{prefix}").kind == "ip"


@given(st.integers(0, 2**32), hostnames)
def test_uid_at_host(uid: int, host: str) -> None:
    q = recognise(f"{uid}@{host}")
    assert (q.kind, q.subject, q.host) == ("uid", str(uid), host)


@given(st.lists(st.from_regex(r"[A-Za-z0-9_. -]{1,12}", fullmatch=True), min_size=1, max_size=4), hostnames)
def test_path_at_host(parts: list[str], host: str) -> None:
    path = "/" + "/".join(parts)
    q = recognise(f"{path}@{host}")
    assert (q.kind, q.subject, q.host) == ("mount", path, host)
    assert recognise(f"C:\\Users\\x@{host}").kind == "mount"


@given(hostnames)
def test_a_word_is_left_to_the_store(word: str) -> None:
    assert recognise(word).kind == "word"


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [("", "auto", "type something"), ("/media/usb0", "auto", "on which host?"),
     ("1001@", "auto", "type it as uid@host"), ("abc@host", "uid", "is not a uid"),
     ("10.1.2", "ip", "not an IP address"), ("x", "nope", "unknown question kind"),
     ("media@host", "mount", "is not a path")],
)
def test_what_cannot_be_read_says_why(text: str, kind: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        recognise(text, kind)


def test_sql_errors_point_at_their_position() -> None:
    parse = locate("SELECT a,\n  FROM x WHERE", "cannot parse SQL: Invalid expression (line 2, column 3)")
    assert (parse.line, parse.column, parse.text, parse.caret) == (2, 3, "  FROM x WHERE", "  ^")
    binder = locate("SELECT host,\n  adress FROM t",
                    'Binder Error: Referenced column "adress" not found LINE 1: SELECT ... ^^^')
    assert (binder.line, binder.column) == (2, 3)
    assert "LINE 1" not in binder.message  # DuckDB's excerpt is of the rewritten statement
    assert locate("SELECT 1", "something else").line is None


def test_accounts_hash_passwords_and_sessions_expire(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    accounts.add_user("ann", "viewer", "a long password")
    stored = sqlite3.connect(tmp_path / "console.sqlite").execute("SELECT hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$") and "a long password" not in stored
    assert accounts.verify("ann", "a long password") == "viewer"
    assert accounts.verify("ann", "wrong") is None and accounts.verify("bob", "x") is None
    for name, role, password, message in (("ann", "viewer", "another one", "exists"),
                                          ("b b", "viewer", "long enough", "user name"),
                                          ("bob", "root", "long enough", "role"),
                                          ("bob", "admin", "short", "too short")):
        with pytest.raises(InputError, match=message):
            accounts.add_user(name, role, password)
    cookie, session = accounts.open_session("ann", 0.5)
    assert accounts.session(cookie).session == session
    assert accounts.session(cookie[:-2] + "xx").reason == "invalid"  # tampered signature
    assert accounts.session(None).reason == "none"
    time.sleep(0.6)
    assert accounts.session(cookie).reason == "expired"
    assert accounts.session(cookie).reason == "invalid"  # an expired session is deleted
    cookie, _ = accounts.open_session("ann", 60)
    assert accounts.remove_user("ann") and accounts.session(cookie).reason == "invalid"
    assert (tmp_path / "console.secret").stat().st_mode & 0o777 == 0o600
    accounts.close()
