"""osquery's TLS remote API: enroll, config, logger, distributed read and write.

osqueryd ignores HTTP status codes (FORMATS.md §3.2.1): what it does depends on the body only.
`{}` is success (the logger deletes its buffered lines), a body with `error` is a failure (they
are kept and resent), `node_invalid: true` makes it drop its node key and enroll again. Statuses
are still meaningful (4xx for bad requests, 401 for an unknown node, 503 when lines cannot be
recorded) for people and other clients.

Trust: every line is attributed to the node its key was issued to. The logger rewrites each
line's `decorations.host_uuid` to the enrolled host's uuid, whatever the body claims, so one node
key cannot write for another host.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson
from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hindsight.server import continuity, records
from hindsight.server.body import (
    RequestError,
    check_keys,
    error_body,
    gunzip,
    kind_of,
    parse_object,
    read_body,
    read_raw,
    want,
)
from hindsight.server.core import Core
from hindsight.server.journal import JournalError
from hindsight.server.state import Node

log = logging.getLogger("hindsight.serve")

ENROLL = "/osquery/enroll"
CONFIG = "/osquery/config"
LOGGER = "/osquery/log"
DISTRIBUTED_READ = "/osquery/distributed/read"
DISTRIBUTED_WRITE = "/osquery/distributed/write"

OK = b"{}"
ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
NODE_INVALID = orjson.dumps(
    {"node_invalid": True, "error": "unknown node key: enroll again", "code": "node_invalid"}
)


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status, media_type="application/json")


def _core(request: Request) -> Core:
    core: Core = request.app.state.core
    return core


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _doc(request: Request) -> dict[str, Any]:
    if request.method != "POST":
        raise RequestError(405, "method_not_allowed", f"{request.method} not allowed: use POST")
    raw = await read_body(request, _core(request).settings.serve_max_body_bytes)
    return parse_object(raw)


def _checked_in(request: Request, doc: dict[str, Any], kind: str) -> Node | None:
    """The enrolled node of a request, its check-in recorded; None for an unknown node key."""
    node = _node(request, doc)
    if node is not None:
        _core(request).state.checkin(node.host_uuid, kind, _address(request))
    return node


def _node(request: Request, doc: dict[str, Any]) -> Node | None:
    """The enrolled node a request speaks for, from its body or its Authorization header."""
    body_key = doc.get("node_key")
    if body_key is not None and not isinstance(body_key, str):
        raise RequestError(
            400, "wrong_type", f"node_key: expected a string, got {type(body_key).__name__}"
        )
    header = request.headers.get("authorization", "")
    header_key = header[8:].strip() if header[:8].lower() == "nodekey " else None
    if body_key and header_key and body_key != header_key:
        raise RequestError(
            400, "node_key_mismatch", "node_key in the body and in the Authorization header differ"
        )
    key = body_key or header_key
    if not key:
        raise RequestError(400, "missing_field", "missing field 'node_key'")
    return _core(request).state.node(key)


def _guard(handler: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except RequestError as exc:
            return _json(error_body(exc.code, exc.message), exc.status)

    endpoint.__name__ = handler.__name__
    return endpoint


@_guard
async def enroll(request: Request) -> Response:
    doc = await _doc(request)
    check_keys(
        doc, ["enroll_secret", "host_identifier"], ["platform_type", "host_details", "node_key"]
    )
    secret = want(doc, "enroll_secret", str)
    identifier = want(doc, "host_identifier", str)
    details = doc.get("host_details", {})
    if not isinstance(details, dict):
        raise RequestError(400, "wrong_type", "host_details: expected an object")
    platform = doc.get("platform_type")
    if platform is not None and not isinstance(platform, str | int):
        raise RequestError(400, "wrong_type", "platform_type: expected a string")
    core = _core(request)
    expected = core.config.get().enroll_secret
    if not secrets.compare_digest(secret.strip().encode(), expected.encode()):
        body = {"node_invalid": True, "error": "wrong enroll secret", "code": "bad_secret"}
        return _json(orjson.dumps(body), 401)
    system_info = details.get("system_info")
    uuid = system_info.get("uuid") if isinstance(system_info, dict) else None
    host_uuid = (uuid if isinstance(uuid, str) and uuid.strip() else identifier).strip().lower()
    if not host_uuid:
        raise RequestError(
            400,
            "missing_field",
            "no host identity: host_identifier is empty and host_details.system_info.uuid missing",
        )
    node = await to_thread.run_sync(  # a committed SQLite write: not on the event loop
        core.state.enroll,
        host_uuid,
        identifier,
        None if platform is None else str(platform),
        details,
        _address(request),
    )
    core.state.checkin(host_uuid, "enroll", _address(request))
    return _json(orjson.dumps({"node_key": node.node_key, "node_invalid": False}))


@_guard
async def config(request: Request) -> Response:
    doc = await _doc(request)
    check_keys(doc, [], ["node_key"])
    node = _checked_in(request, doc, "config")
    if node is None:
        return _json(NODE_INVALID, 401)
    core = _core(request)
    return _json(core.config.get().osquery_bytes)


@_guard
async def logger(request: Request) -> Response:
    if request.method != "POST":
        raise RequestError(405, "method_not_allowed", f"{request.method} not allowed: use POST")
    core = _core(request)
    limit = core.settings.serve_max_body_bytes
    sent, gzipped = await read_raw(request, limit)
    async with core.intake:  # bounds the bodies held between gunzip and their fsync
        # (zlib lets go of the GIL: other requests go on meanwhile)
        raw = await to_thread.run_sync(gunzip, sent, limit) if gzipped else sent
        del sent
        if len(raw) > SMALL_BODY and not _may_be_enrolled(request, core, raw):
            return _json(NODE_INVALID, 401)
        checked = validate_log(raw)
        node = _checked_in(request, {"node_key": checked.node_key}, "logger")
        if node is None:
            return _json(NODE_INVALID, 401)
        if not checked.lines:
            return _json(OK)
        lines, node_key = checked.lines, checked.node_key
        if checked.status is not None:  # (a request sent again adds only its new lines)
            fresh, hashes = core.continuity.status_fresh(node.host_uuid, checked.status)
            keep = core.settings.serve_status_keep
            await to_thread.run_sync(core.state.add_status, node.host_uuid, fresh, keep)
            core.continuity.status_recorded(node.host_uuid, hashes)
            return _json(OK)
        marks = core.continuity.mark(node.host_uuid, checked.results or [], checked.heads)
        del checked
        if len(marks.copied) == lines:  # the previous request again: recorded already
            return _json(OK)
        try:
            await core.journal.append(records.record(node.host_uuid, raw, node_key, marks))
            core.continuity.recorded(node.host_uuid, marks)
        except JournalError as exc:
            log.error("lines not recorded (the host keeps them): %s", exc)
            return _json(
                error_body("not_recorded", f"lines not recorded, resend later: {exc}"), 503
            )
    return _json(OK)


#: A logger body larger than this is decoded only once its node key is known (a small one is
#: decoded first, so that a malformed request gets its precise error)
SMALL_BODY = 64 * 1024
_KEY_NAME = b'"node_key"'
_KEY_VALUE = re.compile(rb'\s*:\s*"([^"\\]{1,256})"')


def _may_be_enrolled(request: Request, core: Core, raw: bytes) -> bool:
    """Whether the node key of a logger request, in its Authorization header or as any
    `"node_key"` member of its body, may be an enrolled node's, told without decoding the body:
    a client that has no key costs no decode (a body of 30 MB takes ~0.4 s of the event loop).
    osqueryd writes the key last in the body and as a plain string; `_node` then checks it."""
    header = request.headers.get("authorization", "")
    if header[:8].lower() == "nodekey ":
        return core.state.node(header[8:].strip()) is not None
    start = raw.rfind(_KEY_NAME)
    while start >= 0:
        found = _KEY_VALUE.match(raw, start + len(_KEY_NAME))
        if found and core.state.node(found[1].decode("utf-8", "replace")) is not None:
            return True
        start = raw.rfind(_KEY_NAME, 0, start)
    return False


@dataclass(frozen=True)
class LogBody:
    """What the logger needs of a validated body (the body's bytes are journaled; the lines are
    kept only to be marked, server/continuity.py)."""

    node_key: Any
    lines: int
    status: list[dict[str, Any]] | None  # the lines of a status log, decoded
    results: list[msgspec.Raw] | None  # the lines of a result log, each its JSON text
    heads: list[continuity.Head] | None  # and each one's head (continuity.heads)


#: A logger body with more JSON objects than one per this many bytes is refused: the lines of a
#: result log are kept as their text (~70 bytes an object besides), and real osquery lines
#: hold one object per 40 bytes or more.
BYTES_PER_OBJECT = 16


def validate_log(raw: bytes) -> LogBody:
    """One pass over a logger body, checked (shape, keys, types). A result log's lines are split
    as JSON text (msgspec), not decoded: decoded whole, 32 MB of event lines took ~230 MB (~9x
    their bytes); each is decoded alone where it is marked."""
    objects = raw.count(b"{")
    if objects > max(1024, len(raw) // BYTES_PER_OBJECT):
        raise RequestError(
            413,
            "too_many_objects",
            f"{objects:,} JSON objects in a body of {len(raw):,} bytes: more than one per "
            f"{BYTES_PER_OBJECT} bytes, which no osquery log holds",
        )
    try:
        doc = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
    except msgspec.DecodeError:
        parse_object(raw)  # (its words for what is wrong)
        raise RequestError(400, "bad_json", "invalid JSON") from None
    check_keys(doc, ["log_type", "data"], ["node_key"])
    fields = {k: orjson.loads(memoryview(v)) for k, v in doc.items() if k != "data"}
    log_type = want(fields, "log_type", str)
    if log_type not in ("result", "status"):
        raise RequestError(
            400, "bad_value", f"log_type: expected 'result' or 'status', got {log_type!r}"
        )
    try:
        data = msgspec.json.decode(doc["data"], type=list[msgspec.Raw])
    except msgspec.DecodeError:
        want({"data": orjson.loads(memoryview(doc["data"]))}, "data", list)
        raise
    heads = None
    if log_type == "result":
        with contextlib.suppress(msgspec.DecodeError):  # (an item not an object: said below)
            heads = continuity.heads(doc["data"], len(data))
    if heads is None:  # (else their decode checked each is an object)
        _objects(data)
    if log_type == "status":
        return LogBody(fields.get("node_key"), len(data), _decoded(data), None, None)
    return LogBody(fields.get("node_key"), len(data), None, data, heads)


def _objects(data: list[msgspec.Raw]) -> None:
    """Refuses DATA unless each item is an object."""
    for i, item in enumerate(data):
        if bytes(memoryview(item)[:1]) != b"{":
            got = kind_of(orjson.loads(memoryview(item)))
            raise RequestError(
                400, "wrong_type", f"data[{i}]: expected an object (one osquery line), got {got}"
            )


def _decoded(lines: list[msgspec.Raw]) -> list[dict[str, Any]]:
    """LINES decoded (a status log's). The decoded objects are acyclic: the cyclic garbage
    collector is paused while they are made, or a large body would trigger collections that
    walk everything the server holds."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return [orjson.loads(memoryview(line)) for line in lines]
    finally:
        if paused:
            gc.enable()


def attribute(lines: list[dict[str, Any]], host_uuid: str) -> bytes:
    """The lines as journal records, each attributed to HOST_UUID (the enrolled node)."""
    return b"".join(line + b"\n" for line in records.attributed(lines, host_uuid))


@_guard
async def distributed_read(request: Request) -> Response:
    doc = await _doc(request)
    check_keys(doc, [], ["node_key"])
    node = _checked_in(request, doc, "distributed")
    if node is None:
        return _json(NODE_INVALID, 401)
    core = _core(request)
    queries = await to_thread.run_sync(core.state.live_for, node.host_uuid)
    return _json(orjson.dumps({"queries": queries, "node_invalid": False}))


@_guard
async def distributed_write(request: Request) -> Response:
    doc = await _doc(request)
    check_keys(doc, ["queries"], ["node_key", "statuses", "messages", "stats"])
    queries = want(doc, "queries", dict)
    statuses = doc.get("statuses", {})
    messages = doc.get("messages", {})
    for key, value in (
        ("statuses", statuses),
        ("messages", messages),
        ("stats", doc.get("stats", {})),
    ):
        if not isinstance(value, dict):
            raise RequestError(400, "wrong_type", f"{key}: expected an object")
    for qid, rows in queries.items():
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise RequestError(
                400, "wrong_type", f"queries.{qid}: expected an array of row objects"
            )
    node = _checked_in(request, doc, "distributed")
    if node is None:
        return _json(NODE_INVALID, 401)
    core = _core(request)
    lines = []
    for qid, rows in queries.items():
        status = statuses.get(qid, 0)
        status = status if isinstance(status, int) and not isinstance(status, bool) else 1
        message = messages.get(qid)
        texts = [{str(k): "" if v is None else str(v) for k, v in r.items()} for r in rows]
        at = await to_thread.run_sync(
            core.state.live_answer,
            node.host_uuid,
            qid,
            texts,
            status,
            None if message is None else str(message),
        )
        if at is not None and status == 0:  # (stamped with the second it was recorded at)
            lines.append(_live_line(qid, node, at, texts))
    if lines:
        try:
            await core.journal.append(attribute(lines, node.host_uuid))
        except JournalError as exc:
            return _json(
                error_body("not_recorded", f"results not recorded, resend later: {exc}"), 503
            )
    return _json(OK)


def _live_line(qid: str, node: Node, now: int, rows: list[dict[str, str]]) -> dict[str, Any]:
    """A live query's answer as a snapshot line, so the store keeps it as query `live_<id>`."""
    return {
        "name": f"live_{qid}",
        "hostIdentifier": node.host_identifier,
        "calendarTime": time.strftime("%a %b %d %H:%M:%S %Y UTC", time.gmtime(now)),
        "unixTime": now,
        "epoch": 0,
        "counter": 0,
        "numerics": False,
        "snapshot": rows,
        "action": "snapshot",
    }


ROUTES = [
    Route(ENROLL, enroll, methods=ANY_METHOD),
    Route(CONFIG, config, methods=ANY_METHOD),
    Route(LOGGER, logger, methods=ANY_METHOD),
    Route(DISTRIBUTED_READ, distributed_read, methods=ANY_METHOD),
    Route(DISTRIBUTED_WRITE, distributed_write, methods=ANY_METHOD),
]


def osqueryd_flags(hostname: str, cert: str, secret_path: str) -> list[str]:
    """The flags an osqueryd needs to talk to this server."""
    return [
        f"--tls_hostname={hostname}",
        f"--tls_server_certs={cert}",
        f"--enroll_secret_path={secret_path}",
        f"--enroll_tls_endpoint={ENROLL}",
        "--config_plugin=tls",
        f"--config_tls_endpoint={CONFIG}",
        "--config_refresh=300",
        "--logger_plugin=tls",
        f"--logger_tls_endpoint={LOGGER}",
        "--logger_tls_compress=true",
        "--disable_distributed=false",
        "--distributed_plugin=tls",
        f"--distributed_tls_read_endpoint={DISTRIBUTED_READ}",
        f"--distributed_tls_write_endpoint={DISTRIBUTED_WRITE}",
        "--host_identifier=uuid",
        "--disable_events=false",
        "--enable_file_events=true",
        "--audit_allow_config=true",
        "--audit_allow_process_events=true",
        "--audit_allow_sockets=true",
        "--audit_allow_user_events=true",
        "--disable_audit=false",
    ]
