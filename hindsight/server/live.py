"""Live (distributed) queries: asked through the API with a token made `--live`, sent to the
chosen hosts at their next distributed read, answered through distributed write. Answers are kept
with the query (bounded) and recorded in the store as the snapshot query `live_<id>`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hindsight.errors import HindsightError, UnknownHost
from hindsight.server.answer import live_bytes
from hindsight.server.body import RequestError, error_body, parse_object, read_body
from hindsight.server.core import Core
from hindsight.server.osquery_api import ANY_METHOD


def _error(exc: RequestError) -> Response:
    return Response(error_body(exc.code, exc.message), exc.status, media_type="application/json")


async def create(request: Request) -> Response:
    from hindsight.server.query_api import _token, json_response

    core: Core = request.app.state.core
    try:
        if request.method != "POST":
            raise RequestError(405, "method_not_allowed", "use POST")
        token = _token(request)
        if not token.can_live:
            raise RequestError(
                403,
                "forbidden",
                "this token cannot start live queries (hindsight token create --live)",
            )
        doc = parse_object(await read_body(request, 1 << 20))
        unknown = sorted(set(doc) - {"sql", "hosts"})
        if unknown:
            raise RequestError(
                400,
                "unknown_parameter",
                f"unknown parameter {unknown[0]!r} (expected ['sql', 'hosts'])",
            )
        sql, hosts = doc.get("sql"), doc.get("hosts")
        if not isinstance(sql, str) or not sql.strip():
            raise RequestError(400, "missing_parameter", "sql: expected a non-empty string")
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) for h in hosts):
            raise RequestError(
                400, "wrong_type", "hosts: expected a non-empty array of host uuids or identifiers"
            )
        try:
            targets = core.state.host_uuids(hosts)
        except UnknownHost as exc:
            raise RequestError(400, "unknown_host", f"{exc} (never enrolled)") from None
        query_id = core.state.create_live(sql, targets, token.name)
        return json_response({"id": query_id, "hosts": targets}, 201)
    except RequestError as exc:
        return _error(exc)
    except HindsightError as exc:
        return _error(RequestError(500, "error", str(exc)))


async def answers(request: Request) -> Response:
    from hindsight.server.query_api import _token

    core: Core = request.app.state.core
    try:
        _token(request)
        found = core.state.live(request.path_params["query_id"])
        if found is None:
            raise RequestError(
                404, "not_found", f"no live query {request.path_params['query_id']!r}"
            )
        body = live_bytes(found, core.settings.max_response_bytes)
        return Response(body, 200, media_type="application/json")
    except RequestError as exc:
        return _error(exc)


def routes(prefix: str) -> list[Route]:
    return [
        Route(prefix + "/live", create, methods=ANY_METHOD),
        Route(prefix + "/live/{query_id}", answers, methods=["GET"]),
    ]


def openapi_paths(prefix: str) -> dict[str, Any]:
    err = {
        "default": {
            "description": "error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    }
    return {
        prefix + "/live": {
            "post": {
                "summary": "Run SQL on chosen hosts at their next distributed read (token made --live)",
                "tags": ["live"],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["sql", "hosts"],
                                "properties": {
                                    "sql": {"type": "string"},
                                    "hosts": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        }
                    }
                },
                "responses": {"201": {"description": "the live query's id"}, **err},
            }
        },
        prefix + "/live/{query_id}": {
            "get": {
                "summary": "Each host's answer to a live query (rows kept up to 10,000 per host; a host's "
                "rows left out past HINDSIGHT_MAX_RESPONSE_BYTES: rows_left_out, truncated)",
                "tags": ["live"],
                "parameters": [
                    {
                        "name": "query_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {"200": {"description": "answers"}, **err},
            }
        },
    }
