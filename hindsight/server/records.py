"""Journal records: a logger request's body kept as it came, with the enrolled node's identity.

The logger endpoint validates a body with one `orjson.loads` (C speed) and then writes the
gunzipped body bytes themselves, wrapped in a one-line record that names the node the request's key
was issued to:

    {"hindsight_record":1,"host_uuid":"<uuid>","copies":0,"occ":{},"body":<the body, newlines made spaces>}

No line is re-serialised on the acknowledgement path. A validated JSON body holds raw newlines only
as whitespace between tokens (a JSON string cannot contain one), so turning them into spaces
keeps it the same document on one line, and a record stays a single journal line: a crash tears at
most the last, unacknowledged one (journal.py).

The ingester (in the store process) hands whole segments to the store or the lake, whose reader
(`hindsight.osquery.reader`, with `hindsight.osquery.records`) splits each record into its lines
and applies the attribution there: every line's `decorations.host_uuid` becomes the record's
`host_uuid`, whatever the body claims. A rejected line is named by its segment, the record's line
and its place in `data`. Lines that are not records (those of distributed writes, journals written
before records existed) are read as they are; a record that cannot be read (a torn write) is
kept aside with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from hindsight.osquery.records import MARK, attribute
from hindsight.server.continuity import Marks

__all__ = ["MARK", "attributed", "record"]

_NEWLINES = bytes.maketrans(b"\r\n", b"  ")


def record(
    host_uuid: str, body: bytes, node_key: str | None = None, marks: Marks | None = None
) -> bytes:
    """The journal line of a validated logger BODY (a JSON object) sent by HOST_UUID. The
    body's NODE_KEY, a credential, is blanked (`"node_key":""`): the record names its node by
    host_uuid, and the journal keeps no secret. The key is matched as the JSON string the
    server issued (hex digits, written one way); a client spelling it with escapes keeps its own
    key in the journal, nothing else. MARKS (server/continuity.py): `copies`, the lines
    recorded before (a count of first lines, or their positions); `occ`, the occurrence of a line among identical ones of its execution
    sent by the node, where not 0."""
    if node_key:
        body = body.replace(orjson.dumps(node_key), b'""')
    marked = b""
    if marks is not None:
        occ = {str(i): n for i, n in marks.occurrences.items()}
        marked = b',"copies":%s,"occ":%s' % (orjson.dumps(marks.copies), orjson.dumps(occ))
    if b"\n" in body or b"\r" in body:  # (found at memchr's speed; translating is ~5x slower)
        body = body.translate(_NEWLINES)
    return b"".join((MARK, orjson.dumps(host_uuid), marked, b',"body":', body, b"}\n"))


def attributed(lines: list[Any], host_uuid: str) -> Iterator[bytes]:
    """Each osquery line (a decoded object) encoded, its host_uuid decoration set to HOST_UUID
    (anything but an object as it is: the endpoint refuses these, the store rejects them)."""
    for line in lines:
        yield orjson.dumps(attribute(line, host_uuid))
