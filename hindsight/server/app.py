"""The ASGI app: osquery's remote API under /osquery, the query API under /api/v1."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from hindsight.console.app import build_console
from hindsight.errors import HindsightError
from hindsight.server import live, osquery_api, query_api
from hindsight.server.body import RequestError, error_body
from hindsight.server.core import Core


async def healthz(request: Request) -> Response:
    return query_api.json_response({"ok": True})


async def server_status(request: Request) -> Response:
    """Ingest progress: what is acknowledged but not yet in the store."""
    try:
        query_api._token(request)
    except RequestError as exc:
        return Response(
            error_body(exc.code, exc.message), exc.status, media_type="application/json"
        )
    core: Core = request.app.state.core
    reader = core.journal.reader
    try:
        ingest: dict[str, object] = await to_thread.run_sync(
            core.store.call, "stats", limiter=query_api._query_threads()
        )
    except HindsightError as exc:
        ingest = {"error": str(exc)}
    return query_api.json_response(
        {
            "journal": {
                "segments_waiting": len(reader.closed_segments()),
                "backlog_bytes": reader.backlog_bytes(),
                "appended_bytes": core.journal.appended_bytes,
                "appended_records": core.journal.appended_records,
                "last_ingested_segment": reader.progress(),
                "latest_syncs": core.journal.sync_stats(),
            },
            "ingest": ingest,
            "store_process": {"pid": core.store.pid, "restarts": core.store.restarts},
            "config_error": core.config.last_error,
        }
    )


async def not_found(request: Request, exc: Exception) -> Response:
    return Response(
        error_body("not_found", f"no endpoint {request.url.path}"),
        404,
        media_type="application/json",
    )


def build_app(core: Core) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        core.start()
        # what imports and startup made (~50k objects: modules, functions, classes) lives as
        # long as the server: frozen, the collector's full collections no longer walk it (each
        # took ~40 ms of the event loop with it at 1,000 hosts)
        gc.freeze()
        try:
            yield
        finally:
            core.close()

    routes = [
        *osquery_api.ROUTES,
        *query_api.routes(),
        *live.routes(query_api.PREFIX),
        Route(query_api.PREFIX + "/server", server_status, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Mount("/console", app=build_console(core)),  # the web console (hindsight.console)
        Route("/", lambda request: RedirectResponse("/console/"), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found})
    app.state.core = core
    return app
