"""Request bodies, read within bounds: size before and after gunzip (gzip bombs stop at the
limit), JSON, and the shape each endpoint expects (unknown keys and wrong types named)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import orjson
from starlette.requests import Request

from hindsight.errors import HindsightError

try:  # ISA-L's inflate, three times zlib's speed: gunzip is a good share of a logger request
    from isal import isal_zlib as zlib
except ImportError:  # pragma: no cover - a platform without its wheels
    import zlib  # type: ignore[no-redef]

GZIP_MAGIC = b"\x1f\x8b"
GZIP_ERROR = cast("type[Exception]", zlib.error)  # (isal's stub declares an instance)


class RequestError(HindsightError):
    """A request that is refused: HTTP status, a short code and a clear reason."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> bytes:
    """The one error shape of every endpoint. osqueryd treats any body with `error` as a failed
    request and keeps (and resends) what it sent."""
    return orjson.dumps({"error": message, "code": code})


async def read_body(request: Request, limit: int) -> bytes:
    """The body, gunzipped when `Content-Encoding: gzip`, refused past LIMIT bytes either way."""
    raw, gzipped = await read_raw(request, limit)
    return gunzip(raw, limit) if gzipped else raw


async def read_raw(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body as sent (refused past LIMIT bytes), and whether it is gzip'd."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise RequestError(
            415, "bad_encoding", f"unsupported Content-Encoding {encoding!r} (use gzip or none)"
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, "too_large", f"body of {declared} bytes exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks), encoding == "gzip"


def gunzip(raw: bytes, limit: int) -> bytes:
    if not raw.startswith(GZIP_MAGIC):
        raise RequestError(
            400,
            "bad_gzip",
            "not gzip data (Content-Encoding: gzip but the body does not start with the gzip magic)",
        )
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, limit + 1)
    except GZIP_ERROR as exc:
        raise RequestError(400, "bad_gzip", f"invalid gzip body: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise RequestError(413, "too_large", f"gzip body inflates past {limit} bytes")
    if not inflater.eof:
        raise RequestError(400, "bad_gzip", "invalid gzip body: truncated")
    if inflater.unused_data.strip(b"\0"):
        raise RequestError(400, "bad_gzip", "invalid gzip body: data after the gzip stream")
    return out


def parse_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise RequestError(400, "bad_json", "empty body: expected a JSON object")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, "bad_json", f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RequestError(400, "bad_json", f"expected a JSON object, got {kind_of(doc)}")
    return doc


def check_keys(doc: dict[str, Any], required: Iterable[str], optional: Iterable[str] = ()) -> None:
    required = list(required)
    allowed = {*required, *optional}
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise RequestError(
            400, "unknown_field", f"unknown field {unknown[0]!r} (expected {sorted(allowed)})"
        )
    for key in required:
        if key not in doc:
            raise RequestError(400, "missing_field", f"missing field {key!r}")


def want(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    value = doc.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int,))):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RequestError(
            400, "wrong_type", f"{where}{key}: expected {_json_name(names)}, got {kind_of(value)}"
        )
    return value


def _json_name(python: str) -> str:
    for a, b in (
        ("dict", "an object"),
        ("list", "an array"),
        ("str", "a string"),
        ("int", "an integer"),
    ):
        python = python.replace(a, b)
    return python


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )
