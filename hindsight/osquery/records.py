"""Hindsight's journal records, read back: a TLS logger body as `hindsight serve` received it, on
one line, with the identity of the node its key was issued to (written by `server/records.py`):

    {"hindsight_record":1,"host_uuid":"<uuid>","copies":0,"occ":{},"body":<the body>}

(`copies`: how many first lines of `data` were recorded before, or the list of their positions.)

Every line of the body is attributed to that node: its `decorations.host_uuid` becomes the
record's, whatever the body claims. `copies` and `occ` are the receiver's marks
(hindsight.server.continuity): lines sent before, and occurrences across the node's requests.
"""

from __future__ import annotations

from typing import Any

MARK = b'{"hindsight_record":1,"host_uuid":'


def attribute(line: Any, host_uuid: str) -> Any:
    """LINE (a decoded osquery line) with its host_uuid decoration set to HOST_UUID; anything
    but an object is returned as it is (the store rejects it)."""
    if not isinstance(line, dict):
        return line
    decorations = line.get("decorations")
    kept = decorations if isinstance(decorations, dict) else {}
    line["decorations"] = {**kept, "host_uuid": host_uuid}
    return line


def marks_of(doc: dict[str, Any]) -> tuple[set[int], dict[str, int] | None]:
    """A record's marks (hindsight.server.continuity): the positions in `data` (from 0) of the
    lines recorded before, and each line's occurrence where not 0 (None: a record written
    without marks)."""
    copies, occ = doc.get("copies"), doc.get("occ")
    if isinstance(copies, int) and not isinstance(copies, bool):
        copied = set(range(copies))
    elif isinstance(copies, list):
        copied = {i for i in copies if isinstance(i, int)}
    else:
        return set(), None
    if not isinstance(occ, dict):
        return set(), None
    return copied, {k: v for k, v in occ.items() if isinstance(v, int)}


def body_of(doc: Any) -> tuple[dict[str, Any], str] | None:
    """The logger body of a decoded record and its node's host_uuid, or None if DOC is not a
    well-formed record."""
    if not isinstance(doc, dict) or doc.get("hindsight_record") != 1:
        return None
    body, host_uuid = doc.get("body"), doc.get("host_uuid")
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None
    if not isinstance(host_uuid, str):
        return None
    return body, host_uuid
