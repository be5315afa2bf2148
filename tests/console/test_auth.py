"""Sign-in, wrong password, expired session, logout, CSRF, a viewer trying an admin action, and
API tokens still working for scripts."""

from __future__ import annotations

import sqlite3
import time

import httpx
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


def test_sign_in_and_out(page: Page, console: Console) -> None:
    page.goto(console.url + "/fleet")
    expect(page).to_have_url(console.url + "/login?next=/console/fleet")
    shot(page, "login")
    page.fill("input[name=name]", ADMIN)
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("form.login button[type=submit]")
    expect(page).to_have_url(console.url + "/fleet")  # back where it was going
    expect(page.get_by_test_id("user")).to_have_text(f"{ADMIN} (admin)")
    headers = page.request.get(console.url + "/fleet").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
    cookie = next(c for c in page.context.cookies() if c["name"] == "hindsight_session")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.click("header form.who button")
    expect(page).to_have_url(console.url + "/login")
    # the old cookie no longer opens anything: the session was ended on the server
    stale = httpx.get(console.url + "/", cookies={"hindsight_session": cookie["value"]},
                      verify=console.server.verify, follow_redirects=False)
    assert stale.status_code == 303 and "/console/login" in stale.headers["location"]


def test_wrong_password_and_unknown_user(page: Page, console: Console) -> None:
    for name, password in ((ADMIN, "not the password"), ("mallory", "whatever123")):
        page.goto(console.url + "/login")
        page.fill("input[name=name]", name)
        page.fill("input[name=password]", password)
        page.click("form.login button[type=submit]")
        expect(page.get_by_test_id("error")).to_have_text("wrong user name or password")
        assert not [c for c in page.context.cookies() if c["name"] == "hindsight_session"]
    shot(page, "login-wrong-password")


def test_expired_session_asks_to_sign_in_again(page: Page, console: Console) -> None:
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    expect(page.get_by_test_id("user")).to_have_text(f"{VIEWER} (viewer)")
    with sqlite3.connect(console.data / "serve" / "console.sqlite") as db:
        db.execute("UPDATE sessions SET expires = ? WHERE name = ?", (time.time() - 1, VIEWER))
    page.goto(console.url + "/sql")
    expect(page).to_have_url(console.url + "/login?next=/console/sql&expired=1")
    expect(page.get_by_test_id("error")).to_contain_text("session expired")


def test_viewer_cannot_do_admin_actions(page: Page, console: Console) -> None:
    sign_in(page, console, VIEWER, VIEWER_PASSWORD)
    expect(page.locator("nav [data-nav=admin]")).to_have_count(0)
    response = page.goto(console.url + "/admin")
    assert response is not None and response.status == 403
    expect(page.get_by_test_id("error")).to_contain_text("needs an admin")
    shot(page, "viewer-denied")
    csrf = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    made = page.request.post(console.url + "/admin/tokens", form={"name": "x", "csrf": csrf})
    assert made.status == 403 and "needs an admin" in made.text()
    added = page.request.post(console.url + "/admin/users",
                              form={"name": "eve", "role": "admin", "password": "longenough1", "csrf": csrf})
    assert added.status == 403


def test_forms_need_the_csrf_token(page: Page, console: Console) -> None:
    sign_in(page, console, ADMIN, ADMIN_PASSWORD)
    for form in ({"name": "x"}, {"name": "x", "csrf": "forged"}):
        response = page.request.post(console.url + "/admin/tokens", form=form)
        assert response.status == 403 and "CSRF" in response.text()


def test_admin_makes_an_api_token_that_scripts_use(page: Page, console: Console) -> None:
    sign_in(page, console, ADMIN, ADMIN_PASSWORD)
    page.goto(console.url + "/admin")
    page.fill("input[name=name][aria-label='token name']", "script")
    page.click("[data-testid=token-form] button")
    token = page.get_by_test_id("token").inner_text()
    shot(page, "admin")
    answer = httpx.get(console.server.url + "/api/v1/hosts", headers={"Authorization": f"Bearer {token}"},
                       verify=console.server.verify)
    assert answer.status_code == 200 and len(answer.json()["rows"]) == 20
    # the console's session cookie is no API token, and the API takes no cookie
    assert httpx.get(console.server.url + "/api/v1/hosts", verify=console.server.verify).status_code == 401


def test_repeated_wrong_passwords_pause_that_user_name(page: Page, console: Console) -> None:
    def attempt(password: str) -> None:
        page.goto(console.url + "/login")
        page.fill("input[name=name]", "mallory2")
        page.fill("input[name=password]", password)
        page.click("form.login button[type=submit]")

    for _ in range(5):
        attempt("guess")
        expect(page.get_by_test_id("error")).to_have_text("wrong user name or password")
    attempt("another guess")
    expect(page.get_by_test_id("error")).to_contain_text("too many failed sign-ins for mallory2")
