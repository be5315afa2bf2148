"""The query API: JSON over HTTP, read-only, behind API tokens (`hindsight token create`).

Every answer is `{"columns": [...], "rows": [[...]], "truncated": bool, "truncated_reason":
null | "max_rows" | "max_bytes", "elapsed_ms": n}` or `{"error": "<message>", "code": "<code>"}`;
each query is bounded by HINDSIGHT_QUERY_TIMEOUT, HINDSIGHT_MAX_ROWS and, serialised,
HINDSIGHT_MAX_RESPONSE_BYTES (server/answer.py). Parameters are checked against their declared
type and bounds before anything runs. Routes are a table (`API_ROUTES`): investigations (who,
timeline, diff, enrich) plug in with `register(ApiRoute(...))`, and appear in the OpenAPI
document.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from anyio import CapacityLimiter, to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hindsight.api import Result
from hindsight.errors import HindsightError, InputError, QueryError, QueryTimeout, StoreError
from hindsight.server.answer import answer_bytes, dumps
from hindsight.server.body import RequestError, error_body, kind_of, parse_object, read_body
from hindsight.server.core import Core
from hindsight.server.osquery_api import ANY_METHOD
from hindsight.settings import Settings

PREFIX = "/api/v1"
Params = dict[str, Any]
Handler = Callable[[Core, Params], Result]


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    required: bool = False
    repeated: bool = False
    kind: str = "string"  # "string", "integer" or "instant" (a string or unix seconds)
    minimum: int | None = None  # integers: the least accepted
    maximum: int | str | None = None  # integers: the most accepted, or the Settings field that is

    def schema(self) -> dict[str, Any]:
        """Its OpenAPI schema."""
        if self.repeated:
            return {"type": "array", "items": {"type": "string"}}
        if self.kind == "instant":
            return {"type": ["string", "number"]}
        bounds = {"minimum": self.minimum} if self.minimum is not None else {}
        if isinstance(self.maximum, int):
            bounds["maximum"] = self.maximum
        return {"type": self.kind, **bounds}


@dataclass(frozen=True)
class ApiRoute:
    """One read-only question: GET with query parameters (or POST with the same as JSON)."""

    path: str  # below PREFIX
    summary: str
    handler: Handler
    params: tuple[Param, ...] = ()
    tags: tuple[str, ...] = field(default=("queries",))


def json_response(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status, media_type="application/json")


# -- handlers ----------------------------------------------------------------------------------
def _state(core: Core, p: Params) -> Result:
    result: Result = core.store.call("state", p["query"], p.get("at"), p.get("host") or None)
    return result


def _sql(core: Core, p: Params) -> Result:
    result: Result = core.store.call("sql", p["sql"], p.get("at"))
    return result


def _listing(method: str) -> Handler:
    def handler(core: Core, p: Params) -> Result:
        result: Result = core.store.call(method)
        return result

    return handler


def _hosts(core: Core, p: Params) -> Result:
    from hindsight.server.hosts import hosts_with_checkins

    return hosts_with_checkins(core)


def _status(core: Core, p: Params) -> Result:
    start = time.perf_counter()
    limit = int(p.get("limit") or core.settings.max_rows)
    sev = p.get("min_severity")
    hosts = p.get("host") or []
    columns, rows = core.state.status_logs(
        core.state.host_uuids(hosts, with_status=True) if hosts else None,
        p.get("contains"),
        int(sev) if sev not in (None, "") else None,
        limit + 1,
    )
    at = columns.index("received")  # unix seconds, shown as every time is: ISO 8601, UTC
    shown = [(*r[:at], dt.datetime.fromtimestamp(r[at], dt.UTC), *r[at + 1 :]) for r in rows]
    elapsed = (time.perf_counter() - start) * 1000
    return Result(columns, shown[:limit], len(rows) > limit, elapsed)


AT = Param(
    "at", "instant: ISO 8601, unix seconds or relative like now-2h (default now)", kind="instant"
)
HOST = Param("host", "host uuid or identifier (repeatable)", repeated=True)

API_ROUTES: list[ApiRoute] = [
    ApiRoute(
        "/state",
        "The result set of a query on each host as of an instant",
        _state,
        (Param("query", "query name (as scheduled)", required=True), AT, HOST),
    ),
    ApiRoute(
        "/sql",
        "Time-travel SQL (read-only SELECT; FOR SYSTEM_TIME AS OF/ALL/BETWEEN)",
        _sql,
        (Param("sql", "the statement", required=True), AT),
    ),
    ApiRoute(
        "/hosts",
        "Hosts: enrolled and recorded, online or offline, last seen",
        _hosts,
        tags=("hosts",),
    ),
    ApiRoute(
        "/queries", "Queries recorded, with kind, hosts, first and last seen", _listing("queries")
    ),
    ApiRoute(
        "/quality", "Data-quality signals: counter gaps, ambiguous resets", _listing("quality")
    ),
    ApiRoute("/rejects", "Lines kept aside, with their reason", _listing("rejects")),
    ApiRoute(
        "/status",
        "osquery status logs (newest first, bounded)",
        _status,
        (
            HOST,
            Param("contains", "text the message contains"),
            Param(
                "min_severity",
                "0 info, 1 warning, 2 error, 3 fatal",
                kind="integer",
                minimum=0,
                maximum=3,
            ),
            Param(
                "limit",
                "most lines (default and most: HINDSIGHT_MAX_ROWS)",
                kind="integer",
                minimum=1,
                maximum="max_rows",
            ),
        ),
        tags=("hosts",),
    ),
]


def register(route: ApiRoute) -> None:
    """Add a read-only question to the API (before the app is built)."""
    API_ROUTES.append(route)


# -- plumbing ----------------------------------------------------------------------------------
def _token(request: Request) -> Any:
    header = request.headers.get("authorization", "")
    if header[:7].lower() != "bearer ":
        raise RequestError(
            401,
            "unauthorized",
            "missing API token: send 'Authorization: Bearer <token>' (hindsight token create)",
        )
    token = _core(request).state.token(header[7:].strip())
    if token is None:
        raise RequestError(401, "unauthorized", "unknown API token")
    return token


def _core(request: Request) -> Core:
    core: Core = request.app.state.core
    return core


async def _params(request: Request, route: ApiRoute, settings: Settings) -> Params:
    if request.method == "GET":
        q = request.query_params
        given: Params = {
            p.name: q.getlist(p.name) if p.repeated else q.get(p.name)
            for p in route.params
            if p.name in q
        }
        unknown = sorted(set(q) - {p.name for p in route.params})
    elif request.method == "POST":
        doc = parse_object(await read_body(request, 1 << 20))
        given = dict(doc)
        unknown = sorted(set(doc) - {p.name for p in route.params})
        for p in route.params:
            if p.repeated and isinstance(given.get(p.name), str):
                given[p.name] = [given[p.name]]
    else:
        raise RequestError(
            405, "method_not_allowed", f"{request.method} not allowed: use GET or POST"
        )
    if unknown:
        raise RequestError(
            400,
            "unknown_parameter",
            f"unknown parameter {unknown[0]!r} (expected {[p.name for p in route.params]})",
        )
    for p in route.params:
        _check(p, given.get(p.name), settings)
    return given


def _check(p: Param, value: Any, settings: Settings) -> None:
    """VALUE of P, refused with a 400 naming it unless of its type and within its bounds. JSON
    gives types (a bool is never a number, a number never a string except for instants); a query
    string gives text, read as the type."""
    if p.required and value in (None, "", []):
        raise RequestError(400, "missing_parameter", f"missing parameter {p.name!r}")
    if value is None:
        return
    if p.repeated:
        if not isinstance(value, list):
            got = kind_of(value)
        else:
            got = next((f"{kind_of(v)} in it" for v in value if not isinstance(v, str)), "")
        if got:
            raise RequestError(
                400, "wrong_type", f"{p.name}: expected an array of strings, got {got}"
            )
        return
    if p.kind == "integer":
        if not _is_int(value):
            raise RequestError(
                400, "wrong_type", f"{p.name}: expected an integer, got {_shown(value)}"
            )
        _check_bounds(p, int(value), settings)
    elif p.kind == "instant":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise RequestError(
                400,
                "wrong_type",
                f"{p.name}: expected a string or a number (unix seconds), got {kind_of(value)}",
            )
    elif not isinstance(value, str):
        raise RequestError(400, "wrong_type", f"{p.name}: expected a string, got {kind_of(value)}")


def _check_bounds(p: Param, value: int, settings: Settings) -> None:
    most = getattr(settings, p.maximum) if isinstance(p.maximum, str) else p.maximum
    if (p.minimum is not None and value < p.minimum) or (most is not None and value > most):
        low = "" if p.minimum is None else f" at least {p.minimum}"
        high = "" if most is None else f" at most {most}"
        raise RequestError(
            400,
            "bad_value",
            f"{p.name}: expected{low}{' and' if low and high else ''}{high}, got {value}",
        )


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else kind_of(value)


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().lstrip("-").isdigit()


def _endpoint(route: ApiRoute) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        try:
            token = _token(request)
            core = _core(request)
            params = await _params(request, route, core.settings)
            with _slot(token.name):
                result = await to_thread.run_sync(
                    route.handler, core, params, limiter=_query_threads()
                )
            body = answer_bytes(result, core.settings.max_response_bytes)
            return Response(body, 200, media_type="application/json")
        except RequestError as exc:
            return Response(
                error_body(exc.code, exc.message), exc.status, media_type="application/json"
            )
        except HindsightError as exc:
            status, code = _status_of(exc)
            return Response(error_body(code, str(exc)), status, media_type="application/json")

    return endpoint


_limiter: CapacityLimiter | None = None
#: Questions one token may have waiting on the store at once: the store answers one call at a
#: time, so a flood of one client's slow statements held every other client, the console and
#: ingest behind them. Past it: 429, to retry.
PER_TOKEN = 2
_running: collections.Counter[str] = collections.Counter()


@contextlib.contextmanager
def _slot(token: str) -> Iterator[None]:
    if _running[token] >= PER_TOKEN:
        raise RequestError(
            429,
            "busy",
            f"token {token!r} has {PER_TOKEN} questions running: wait for one to finish "
            "(each is bounded by HINDSIGHT_QUERY_TIMEOUT)",
        )
    _running[token] += 1
    try:
        yield
    finally:
        _running[token] -= 1
        if not _running[token]:
            del _running[token]


def _query_threads() -> CapacityLimiter:
    """Threads waiting on the store for the query API: their own few, so that queries, however
    slow or many, never take the threads the osquery endpoints use (enroll, status, live)."""
    global _limiter
    if _limiter is None:
        _limiter = CapacityLimiter(4)
    return _limiter


def _status_of(exc: HindsightError) -> tuple[int, str]:
    from hindsight.server.targets import LakeMode

    if isinstance(exc, LakeMode):
        return 501, "lake_mode"
    if isinstance(exc, QueryTimeout):
        return 408, "timeout"
    if isinstance(exc, InputError | QueryError):
        return 400, "bad_query"
    if isinstance(exc, StoreError):
        return 503, "store_unavailable"
    return 500, "error"


def openapi() -> dict[str, Any]:
    result = {
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": {"type": "array", "items": {}}},
            "truncated": {"type": "boolean"},
            "truncated_reason": {
                "enum": [None, "max_rows", "max_bytes"],
                "description": "what cut the rows: HINDSIGHT_MAX_ROWS or HINDSIGHT_MAX_RESPONSE_BYTES",
            },
            "elapsed_ms": {"type": "number"},
        },
    }
    error = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
        "required": ["error", "code"],
    }
    paths: dict[str, Any] = {}
    for route in API_ROUTES:
        responses = {
            "200": {
                "description": "rows",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Result"}}
                },
            },
            "default": {
                "description": "error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        }
        params = [
            {
                "name": p.name,
                "in": "query",
                "required": p.required,
                "description": p.description,
                "schema": p.schema(),
                **({"explode": True} if p.repeated else {}),
            }
            for p in route.params
        ]
        body = {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {p.name: p.schema() for p in route.params},
                    }
                }
            }
        }
        paths[PREFIX + route.path] = {
            "get": {
                "summary": route.summary,
                "tags": list(route.tags),
                "parameters": params,
                "responses": responses,
            },
            "post": {
                "summary": route.summary,
                "tags": list(route.tags),
                "requestBody": body,
                "responses": responses,
            },
        }
    from hindsight.server.live import openapi_paths

    paths.update(openapi_paths(PREFIX))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hindsight query API",
            "version": "1",
            "description": "Read-only answers over the osquery history Hindsight records.",
        },
        "components": {
            "schemas": {"Result": result, "Error": error},
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
        "paths": paths,
    }


async def openapi_endpoint(request: Request) -> Response:
    return json_response(openapi())


def routes() -> list[Route]:
    import hindsight.server.investigate_api  # noqa: F401 - registers the investigations' routes

    out = [Route(PREFIX + r.path, _endpoint(r), methods=ANY_METHOD) for r in API_ROUTES]
    out.append(Route(PREFIX + "/openapi.json", openapi_endpoint, methods=["GET"]))
    return out
