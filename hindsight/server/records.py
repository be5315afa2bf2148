"""Journal records: a logger request's body kept as it came, with the enrolled node's identity.

The logger endpoint validates a body with one `orjson.loads` (C speed) and then writes the
gunzipped body bytes themselves, wrapped in a one-line record that names the node the request's key
was issued to:

    {"hindsight_record":1,"host_uuid":"<uuid>","body":<the body, newlines made spaces>}

No line is re-serialised on the acknowledgement path. A validated JSON body holds raw newlines only
as whitespace between tokens (a JSON string cannot contain one), so turning them into spaces
keeps it the same document on one line, and a record stays a single journal line: a crash tears at
most the last, unacknowledged one (journal.py).

The ingester (in the store process) turns each segment into plain osquery lines with `plain_file`,
applying the attribution there: every line's `decorations.host_uuid` becomes the record's
`host_uuid`, whatever the body claims. Lines that are not records (those of distributed writes,
journals written before records existed) pass through as they are, and so does a record that
cannot be read (a torn write): the store rejects it with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

MARK = b'{"hindsight_record":1,"host_uuid":'
_NEWLINES = bytes.maketrans(b"\r\n", b"  ")


def record(host_uuid: str, body: bytes) -> bytes:
    """The journal line of a validated logger BODY (a JSON object) sent by HOST_UUID."""
    return MARK + orjson.dumps(host_uuid) + b',"body":' + body.translate(_NEWLINES) + b"}\n"


def attributed(lines: list[Any], host_uuid: str) -> Iterator[bytes]:
    """Each osquery line (a decoded object) encoded, its host_uuid decoration set to HOST_UUID."""
    for line in lines:
        if not isinstance(line, dict):
            yield orjson.dumps(line)  # the endpoint refuses these; kept for the store to reject
            continue
        decorations = line.get("decorations")
        if isinstance(decorations, dict):
            line["decorations"] = {**decorations, "host_uuid": host_uuid}
        else:
            line["decorations"] = {"host_uuid": host_uuid}
        yield orjson.dumps(line)


def plain_lines(raw: bytes) -> Iterator[bytes]:
    """The osquery lines of one journal line (without newlines)."""
    if not raw.startswith(MARK):
        yield raw
        return
    try:
        doc = orjson.loads(raw)
        host_uuid, data = doc["host_uuid"], doc["body"]["data"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        yield raw  # a torn record: never acknowledged; the store keeps it aside with its reason
        return
    if not isinstance(host_uuid, str) or not isinstance(data, list):
        yield raw
        return
    yield from attributed(data, host_uuid)


def plain_file(segment: Path, out: Path) -> Path:
    """Write the plain osquery lines of SEGMENT to OUT (one line each); returns OUT."""
    with open(segment, "rb") as src, open(out, "wb") as dst:
        for raw in src:
            line = raw.rstrip(b"\r\n")
            if line:
                dst.writelines(piece + b"\n" for piece in plain_lines(line))
    return out
