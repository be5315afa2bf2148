"""The console's routes (mounted at /console by `hindsight serve`): server-rendered pages, htmx
fragments, and the sign-in around them."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from anyio import CapacityLimiter, to_thread
from starlette.applications import Starlette
from starlette.datastructures import URL, MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hindsight.console import download, render
from hindsight.console.auth import (
    MAX_PASSWORD,
    Accounts,
    FailedSignIns,
    Session,
    could_be_user,
    same,
)
from hindsight.console.recognise import KINDS
from hindsight.console.sqlpos import SqlError, locate
from hindsight.errors import HindsightError, InputError
from hindsight.server import serve_dir
from hindsight.server.core import Core
from hindsight.server.query_api import _query_threads
from hindsight.server.targets import LakeMode
from hindsight.timeparse import format_time, parse_time

HERE = Path(__file__).parent
PREFIX = "/console"
COOKIE = "hindsight_session"
LOGIN_COOKIE = "hindsight_login"
EVENTS_SHOWN = 500
SQL_SHOWN = 1_000
MAX_FAILURES = 5  # failed sign-ins of one user name within FAILURE_WINDOW_S before a pause
FAILURE_WINDOW_S = 300.0
MAX_TRACKED = 10_000  # user names whose failed sign-ins are remembered (the oldest go first)
VERIFIES = 2  # password checks at once (argon2id takes 64 MiB each): more sign-ins queue
SQL_PER_USER = 2  # SQL statements one user may have running at once (the store answers one call
# at a time: more would hold every other page, the query API and ingest behind them)

templates = Jinja2Templates(directory=str(HERE / "templates"))
render.install(templates.env)

Page = Callable[[Request, Session], Awaitable[Response]]


class Console:
    """What the pages need: the server's core (store process, state) and the accounts."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.accounts = Accounts(serve_dir(core.settings.data))
        core.settings.require(
            ("console_session_hours",), lambda v: v > 0, "above 0 (a session must last)"
        )
        self.session_s = core.settings.console_session_hours * 3600
        self.started = time.time()
        self.failures = FailedSignIns(MAX_FAILURES, FAILURE_WINDOW_S, MAX_TRACKED)
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)], maxlen=64)
        self._verifies: CapacityLimiter | None = None
        self._sql_running: dict[str, int] = {}

    @property
    def verifies(self) -> CapacityLimiter:
        """The threads password checks run on (made in the event loop, on first use)."""
        if self._verifies is None:
            self._verifies = CapacityLimiter(VERIFIES)
        return self._verifies

    def ingest_rate(self, lines: int, window_s: float = 300.0) -> float:
        """Lines ingested per second over about the last WINDOW_S (samples taken per Fleet view;
        the first one is the server's start)."""
        now = time.time()
        self._samples.append((now, lines))
        since = [s for s in self._samples if now - s[0] <= window_s and s[0] < now] or [
            self._samples[0]
        ]
        t0, l0 = since[0]
        return (lines - l0) / max(now - t0, 1e-3)

    @contextlib.asynccontextmanager
    async def sql_slot(self, user: str) -> AsyncIterator[None]:
        """One of USER's SQL_PER_USER statements at once; past it, an error to wait (429)."""
        if self._sql_running.get(user, 0) >= SQL_PER_USER:
            raise Busy(
                f"{user} has {SQL_PER_USER} SQL statements running: wait for them to finish "
                "(each is bounded by HINDSIGHT_QUERY_TIMEOUT)"
            )
        self._sql_running[user] = self._sql_running.get(user, 0) + 1
        try:
            yield
        finally:
            self._sql_running[user] -= 1
            if not self._sql_running[user]:
                del self._sql_running[user]

    async def data(self, name: str, *args: Any) -> Any:
        return await self.store(f"console.{name}", *args)

    async def store(self, method: str, *args: Any) -> Any:
        """Call the store process from one of the query API's threads (never the threads the
        osquery endpoints need)."""
        return await to_thread.run_sync(
            lambda: self.core.store.call(method, *args), limiter=_query_threads()
        )


class Busy(InputError):
    """A user's request refused while their earlier ones still run."""


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


# -- sign-in --------------------------------------------------------------------------------------
def page(admin: bool = False) -> Callable[[Page], Callable[[Request], Awaitable[Response]]]:
    """Wrap a page: a valid session is required (admin role when ADMIN), POSTs carry its CSRF
    token, domain errors become an error message in the page."""

    def wrap(handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            lookup = _console(request).accounts.session(request.cookies.get(COOKIE))
            if lookup.session is None:
                if _from_another_site(request):
                    return _same_site_again(request)
                return _to_login(request, lookup.reason)
            session = lookup.session
            if request.method == "POST" and not await _csrf_ok(request, session):
                return _error(
                    request,
                    session,
                    403,
                    "the form's CSRF token is missing or wrong: reload the page",
                )
            if admin and not session.is_admin:
                return _error(
                    request, session, 403, f"{session.name} is a viewer: this needs an admin"
                )
            try:
                return await handler(request, session)
            except Busy as exc:
                return _error(request, session, 429, str(exc))
            except HindsightError as exc:
                return _error(request, session, 400, str(exc))

        return endpoint

    return wrap


async def _csrf_ok(request: Request, session: Session) -> bool:
    token = request.headers.get("x-csrf-token")
    if token is None:
        form = await request.form()
        value = form.get("csrf")
        token = value if isinstance(value, str) else None
    return same(token, session.csrf)


def _from_another_site(request: Request) -> bool:
    """A page opened from a link on another site (a ticket, a chat): the SameSite=Strict session
    cookie is not sent with such a navigation, signed in or not."""
    return (
        request.method == "GET"
        and not request.headers.get("hx-request")
        and request.headers.get("sec-fetch-site") == "cross-site"
        and request.headers.get("sec-fetch-mode") == "navigate"
    )


def _same_site_again(request: Request) -> Response:
    """Open the same page again from this site (a refresh, no script), so that the session
    cookie comes with it; signed out, that request goes to the sign-in page."""
    here = escape(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    body = (
        f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={here}">'
        f'<link rel="icon" href="data:,"><title>Hindsight</title><a href="{here}">open the page</a>'
    )
    return Response(body, media_type="text/html", headers={"Cache-Control": "no-store"})


def _to_login(request: Request, reason: str) -> Response:
    """To the sign-in page, then back to the page asked for, query string kept (for an htmx
    request: the page it was made from, not the fragment)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request"):
        page_url = URL(request.headers.get("hx-current-url", ""))
        here = page_url.path + (f"?{page_url.query}" if page_url.query else "")
    target = f"{PREFIX}/login?next={quote(_next_from(here), safe='/')}"
    if reason == "expired":
        target += "&expired=1"
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, 303)


def _error(request: Request, session: Session | None, status: int, message: str) -> Response:
    name = "_error.html" if request.headers.get("hx-request") else "error.html"
    return templates.TemplateResponse(
        request, name, {"session": session, "message": message}, status_code=status
    )


async def login_form(request: Request) -> Response:
    token = secrets.token_urlsafe(24)
    context = {
        "session": None,
        "login_token": token,
        "next": _next(request),
        "expired": request.query_params.get("expired") == "1",
        "message": None,
    }
    response = templates.TemplateResponse(request, "login.html", context)
    _set_cookie(response, LOGIN_COOKIE, token, 600)
    return response


def _next(request: Request) -> str:
    return _next_from(request.query_params.get("next") or "")


async def login(request: Request) -> Response:
    form = await request.form()
    console = _console(request)
    name, password = str(form.get("name") or ""), str(form.get("password") or "")
    if not same(str(form.get("login_token") or ""), request.cookies.get(LOGIN_COOKIE)):
        return await _login_failed(request, "the sign-in form expired: try again", 403)
    if not could_be_user(name):  # no account has it: nothing to hash, nothing to remember
        return await _login_failed(request, "wrong user name or password", 401)
    if console.failures.locked_out(name):
        return await _login_failed(
            request,
            f"too many failed sign-ins for {name}: wait {FAILURE_WINDOW_S / 60:g} minutes",
            429,
        )
    role = (
        await to_thread.run_sync(console.accounts.verify, name, password, limiter=console.verifies)
        if len(password) <= MAX_PASSWORD
        else None
    )
    if role is None:
        console.failures.add(name)
        return await _login_failed(request, "wrong user name or password", 401)
    cookie, _ = console.accounts.open_session(name, console.session_s)
    response = RedirectResponse(_next_from(str(form.get("next") or "")), 303)
    _set_cookie(response, COOKIE, cookie, int(console.session_s))
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


def _next_from(target: str) -> str:
    """Where to go after signing in: a console page only, with its query string (no open
    redirect: a same-origin path below PREFIX, no scheme, host, backslash or control)."""
    path = target.split("?", 1)[0]
    safe = (
        target.startswith(PREFIX + "/")
        and "//" not in path
        and "\\" not in target
        and "/../" not in unquote(path) + "/"
        and target.isprintable()
    )
    return target if safe else PREFIX + "/"


async def _login_failed(request: Request, message: str, status: int) -> Response:
    token = secrets.token_urlsafe(24)
    form = await request.form()
    context = {
        "session": None,
        "login_token": token,
        "next": _next_from(str(form.get("next") or "")),
        "expired": False,
        "message": message,
    }
    response = templates.TemplateResponse(request, "login.html", context, status_code=status)
    _set_cookie(response, LOGIN_COOKIE, token, 600)
    return response


def _set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=PREFIX, secure=True, httponly=True, samesite="strict"
    )


@page()
async def logout(request: Request, session: Session) -> Response:
    _console(request).accounts.close_session(request.cookies.get(COOKIE))
    response = RedirectResponse(f"{PREFIX}/login", 303)
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


# -- pages ----------------------------------------------------------------------------------------
def _at(request: Request, name: str = "at") -> int | None:
    text = request.query_params.get(name, "").strip()
    return parse_time(text) if text else None


def _view(request: Request, session: Session, name: str, **context: Any) -> Response:
    return templates.TemplateResponse(request, name, {"session": session, **context})


@page()
async def ask(request: Request, session: Session) -> Response:
    console = _console(request)
    text, kind = request.query_params.get("q", ""), request.query_params.get("kind", "auto")
    at_text = request.query_params.get("at", "").strip()
    context: dict[str, Any] = {
        "q": text,
        "kind": kind,
        "kinds": KINDS,
        "at_text": at_text,
        "answer": None,
        "message": None,
        "elapsed_ms": None,
    }
    if text.strip():
        start = time.perf_counter()
        try:
            at = parse_time(at_text) if at_text else (await console.data("time_range"))[1]
            answer = await console.data("ask", text, kind, at)
        except HindsightError as exc:
            context["message"] = str(exc)
        else:
            if answer["kind"] == "host":
                return RedirectResponse(render.host_url(answer["host_key"], at=at), 303)
            if answer["kind"] == "hosts":  # a name several hosts reported: which one?
                context.update(choose=answer["hosts"], at_text=at_text or format_time(at), at=at)
                return _view(request, session, "ask.html", **context)
            context.update(
                answer=answer,
                at_text=at_text or format_time(at),
                timeline=render.timeline_json(answer),
                elapsed_ms=(time.perf_counter() - start) * 1000,
            )
    return _view(request, session, "ask.html", **context)


def _host_path(request: Request) -> tuple[str, str]:
    """The host key and the part ('', 'state' or 'diff') of a /host/... URL, read from the raw
    path: the key is one percent-encoded segment, so a key holding '/' stays whole (a key a
    browser would take as a dot segment comes as /host/-?key=...)."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else quote(request.url.path)
    segments = path.split("/host/", 1)[-1].split("/")
    if len(segments) > 2 or (len(segments) == 2 and segments[1] not in ("state", "diff")):
        raise InputError(f"no console page {request.url.path}")
    key = unquote(segments[0])
    if key == "-" and "key" in request.query_params:
        key = request.query_params["key"]
    return key, segments[1] if len(segments) == 2 else ""


@page()
async def host_any(request: Request, session: Session) -> Response:
    key, part = _host_path(request)
    handler = {"": host, "state": host_state, "diff": host_diff}[part]
    return await handler(request, session, key)


async def host(request: Request, session: Session, name: str) -> Response:
    console = _console(request)
    overview = await console.data("host", name)
    if "choose" in overview:  # a name several hosts reported: which one?
        return _view(
            request, session, "hosts.html", subject=name, choose=overview["choose"], at=_at(request)
        )
    query = request.query_params.get("query") or _first_state(overview)
    at = _at(request)
    state = await console.data("host_state", name, query, at) if query else None
    return _view(
        request,
        session,
        "host.html",
        host=overview,
        query=query,
        state=state,
        strip=render.strip_json(overview),
        at=at,
    )


def _first_state(overview: dict[str, Any]) -> str | None:
    """The query a host page opens on: its users (who could log in), else the first state."""
    states = [q for q in overview["queries"] if q["kind"] == "state"]
    chosen = next((q for q in states if q["os_table"] == "users"), states[0] if states else None)
    return None if chosen is None else str(chosen["query"])


async def host_state(request: Request, session: Session, name: str) -> Response:
    query = request.query_params.get("query", "")
    state = await _console(request).data("host_state", name, query, _at(request))
    return _view(request, session, "_state.html", state=state)


async def host_diff(request: Request, session: Session, name: str) -> Response:
    q = request.query_params
    t1, t2 = _at(request, "t1"), _at(request, "t2")
    if t1 is None or t2 is None:
        raise InputError("give both instants of the diff")
    diff = await _console(request).data("host_diff", name, q.get("query", ""), t1, t2)
    return _view(request, session, "_diff.html", diff=diff, t1=t1, t2=t2)


@page()
async def events(request: Request, session: Session) -> Response:
    q = request.query_params
    found = await _console(request).data(
        "events",
        q.get("query") or None,
        q.get("host") or None,
        _at(request, "since"),
        _at(request, "until"),
        q.get("text", ""),
        EVENTS_SHOWN,
    )
    return _view(
        request, session, "events.html", found=found, host=q.get("host", ""), text=q.get("text", "")
    )


@page()
async def sql_page(request: Request, session: Session) -> Response:
    q = request.query_params
    return _view(request, session, "sql.html", sql=q.get("sql", ""), at_text=q.get("at", ""))


async def _sql(request: Request, user: str, sql: str, at: str | None) -> download.Bounded:
    """The statement's answer within the query API's bounds (rows, then bytes)."""
    console = _console(request)
    async with console.sql_slot(user):
        result = await console.store("sql", sql, at)
        return await to_thread.run_sync(
            download.bounded,
            result,
            console.core.settings.max_response_bytes,
            limiter=_query_threads(),
        )


@page()
async def sql_run(request: Request, session: Session) -> Response:
    form = await request.form()
    text, at_text = str(form.get("sql") or ""), str(form.get("at") or "").strip()
    context: dict[str, Any] = {"sql": text, "at_text": at_text, "result": None, "error": None}
    try:
        answer = await _sql(request, session.name, text, at_text or None)
    except Busy as exc:  # shown in the page's result, as a refusal (429)
        context["error"] = SqlError(str(exc))
        return templates.TemplateResponse(
            request, "_sql_result.html", {"session": session, **context}, status_code=429
        )
    except HindsightError as exc:
        context["error"] = locate(text, str(exc))
    else:
        context.update(result=answer.result, cut=download.note(answer), shown=SQL_SHOWN)
    return _view(request, session, "_sql_result.html", **context)


@page()
async def sql_download(request: Request, session: Session) -> Response:
    # POST from the page's buttons (a statement of any length); GET for links and scripts
    q = await request.form() if request.method == "POST" else request.query_params
    fmt = str(q.get("format") or "csv")
    if fmt not in ("csv", "json"):
        raise InputError(f"format {fmt!r}: csv or json")
    answer = await _sql(
        request, session.name, str(q.get("sql") or ""), str(q.get("at") or "") or None
    )
    if fmt == "json":
        body, media = download.as_json(answer), "application/json"
    else:
        body, media = download.as_csv(answer), "text/csv"
    return Response(body, media_type=media, headers=download.headers(answer, fmt))


@page()
async def fleet(request: Request, session: Session) -> Response:
    from hindsight.server.hosts import hosts_with_checkins

    console = _console(request)
    hosts = await to_thread.run_sync(hosts_with_checkins, console.core, limiter=_query_threads())
    stats = await console.store("stats")
    try:
        data = await console.data("fleet", int(console.core.settings.serve_offline_after_s))
    except LakeMode:  # the server writes to a lake: hosts and check-ins only, no history here
        data = {
            "first": 0,
            "last": 0,
            "quality": [],
            "rejects": [],
            "silent": [],
            "rate": [],
            "lake": True,
        }
    journal = console.core.journal
    return _view(
        request,
        session,
        "fleet.html",
        hosts=hosts.dicts(),
        data=data,
        stats=stats,
        journal={
            "records": journal.appended_records,
            "bytes": journal.appended_bytes,
            "backlog": journal.reader.backlog_bytes(),
        },
        rate=render.rate_json(data["rate"]),
        lines_per_s=console.ingest_rate(int(stats.get("lines") or 0)),
        uptime_s=time.time() - console.started,
        silent_after=int(console.core.settings.serve_offline_after_s),
    )


@page(admin=True)
async def admin(request: Request, session: Session) -> Response:
    users = _console(request).accounts.users()
    return _view(request, session, "admin.html", users=users, token=None, message=None)


@page(admin=True)
async def admin_token(request: Request, session: Session) -> Response:
    form = await request.form()
    name = str(form.get("name") or "api").strip() or "api"
    token = await to_thread.run_sync(_console(request).core.state.create_token, name, False)
    users = _console(request).accounts.users()
    return _view(request, session, "admin.html", users=users, token=token, message=None)


@page(admin=True)
async def admin_user(request: Request, session: Session) -> Response:
    form = await request.form()
    accounts = _console(request).accounts
    await to_thread.run_sync(
        accounts.add_user,
        str(form.get("name") or ""),
        str(form.get("role") or "viewer"),
        str(form.get("password") or ""),
    )
    return _view(
        request,
        session,
        "admin.html",
        users=accounts.users(),
        token=None,
        message=f"user {form.get('name')} added",
    )


def routes() -> list[Route | Mount]:
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", ask, methods=["GET"]),
        Route("/host/{rest:path}", host_any, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
        Route("/sql", sql_page, methods=["GET"]),
        Route("/sql", sql_run, methods=["POST"]),
        Route("/sql/download", sql_download, methods=["GET", "POST"]),
        Route("/fleet", fleet, methods=["GET"]),
        Route("/admin", admin, methods=["GET"]),
        Route("/admin/tokens", admin_token, methods=["POST"]),
        Route("/admin/users", admin_user, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]


#: every console response: scripts only from the package, no framing, no referrer (SQL may be
#: in URLs); inline styles are allowed (vis-timeline positions items with them)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def build_console(core: Core) -> Starlette:
    """The console as an app of its own, mounted at /console in the server's app."""
    app = Starlette(routes=routes(), middleware=[Middleware(SecurityHeaders)])
    app.state.console = Console(core)
    return app
