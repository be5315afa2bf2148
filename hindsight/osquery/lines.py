"""One normaliser for every shape osquery writes a result or status line in.

Shapes (FORMATS.md §1): event format (one row, `action` added/removed), batch format
(`diffResults`), snapshot (`snapshot` array) and event-style snapshot (`action: snapshot`).
Accepted typings: numbers or strings for `unixTime`/`epoch`/`counter`/`numerics` (pre-3.2 and the
AWS loggers stringify everything), `""` for an empty array, top-level decorations.

Rows are canonicalised so that the same row compares equal whatever the host's `numerics`:
every value becomes text (`1001` and `"1001"` are one value, NULL is `""`, doubles use osquery's
15 significant digits). A row is identified by the 64-bit hash of its canonical JSON.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
import xxhash

from hindsight.errors import BadLine

_hash = xxhash.xxh3_64_intdigest
_SORT = orjson.OPT_SORT_KEYS
#: unixTime must name a second of years 1 to 9999 (a calendar date): beyond, it is not seconds
#: (milliseconds, most likely) and no instant of it can be asked for.
UNIX_MIN, UNIX_MAX = -62135596800, 253402300799


class Shape(StrEnum):
    EVENT = "event"  # differential, one row per line
    BATCH = "batch"  # differential, diffResults per execution
    SNAPSHOT = "snapshot"  # full result set in one line
    SNAPSHOT_EVENT = "snapshot_event"  # full result set, one row per line


@dataclass(frozen=True, slots=True)
class Row:
    """A result row in canonical form: sorted keys, text values."""

    hash: int
    canon: bytes


@dataclass(frozen=True, slots=True)
class ResultLine:
    host_key: str  # stable identity: host_uuid/uuid decoration, else hostIdentifier
    identifier: str  # hostIdentifier as reported on this line
    name: str
    unix_time: int
    epoch: int
    counter: int | None
    shape: Shape
    added: tuple[Row, ...]  # rows of a snapshot are here too
    removed: tuple[Row, ...]
    columns: frozenset[str]
    key: int  # content hash of the line, independent of key order and value typing


@dataclass(frozen=True, slots=True)
class StatusLine:
    host_key: str
    identifier: str
    unix_time: int | None
    severity: int | None
    filename: str
    line: int | None
    message: str
    version: str


Parsed = ResultLine | StatusLine


def parse_document(doc: Any) -> Parsed:
    """Normalise one decoded osquery line (a JSON object)."""
    if not isinstance(doc, dict):
        raise BadLine(f"expected a JSON object, got {type(doc).__name__}")
    log_type = doc.get("log_type")
    if log_type == "status" or (log_type is None and _looks_like_status(doc)):
        return _status(doc)
    if "diffResults" in doc:
        diff = doc["diffResults"]
        if not isinstance(diff, dict):
            raise BadLine("must be an object with added and removed", "diffResults")
        text = _all_text(doc)
        added = _rows(diff.get("added"), "diffResults.added", text)
        removed = _rows(diff.get("removed"), "diffResults.removed", text)
        return _result(doc, Shape.BATCH, added, removed)
    if "snapshot" in doc:
        return _result(doc, Shape.SNAPSHOT, _rows(doc["snapshot"], "snapshot", _all_text(doc)), ())
    if "columns" in doc:
        return _event_line(doc)
    raise BadLine("not an osquery result or status line (no diffResults, snapshot or columns)")


def _looks_like_status(doc: dict[str, Any]) -> bool:
    return "severity" in doc and "message" in doc and "name" not in doc


def _event_line(doc: dict[str, Any]) -> ResultLine:
    action = doc.get("action")
    row = _rows([doc["columns"]], "columns", _all_text(doc))
    if action == "added":
        return _result(doc, Shape.EVENT, row, ())
    if action == "removed":
        return _result(doc, Shape.EVENT, (), row)
    if action == "snapshot":
        return _result(doc, Shape.SNAPSHOT_EVENT, row, ())
    raise BadLine(f"must be added, removed or snapshot, got {action!r}", "action")


def _result(
    doc: dict[str, Any], shape: Shape, added: tuple[Row, ...], removed: tuple[Row, ...]
) -> ResultLine:
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise BadLine("missing or not a string", "name")
    identifier, host_key = _identity(doc)
    unix_time = _unix_time(doc, required=True)
    assert unix_time is not None
    epoch = _int(doc, "epoch") or 0
    counter = _int(doc, "counter")
    columns = _columns(doc, shape)
    header = f"{host_key}\x00{name}\x00{unix_time}\x00{epoch}\x00{counter}\x00{shape}".encode()
    key = _hash(
        header + _row_sum(added).to_bytes(8, "little") + _row_sum(removed).to_bytes(8, "little")
    )
    return ResultLine(
        host_key, identifier, name, unix_time, epoch, counter, shape, added, removed, columns, key
    )


def _row_sum(rows: tuple[Row, ...]) -> int:
    return (sum(r.hash for r in rows) + len(rows)) & 0xFFFFFFFFFFFFFFFF


def _columns(doc: dict[str, Any], shape: Shape) -> frozenset[str]:
    if shape is Shape.EVENT or shape is Shape.SNAPSHOT_EVENT:
        return frozenset(doc["columns"])
    rows = doc["snapshot"] if shape is Shape.SNAPSHOT else doc["diffResults"]
    if shape is Shape.BATCH:
        rows = [*(rows.get("added") or ()), *(rows.get("removed") or ())]
    return frozenset().union(*rows) if rows else frozenset()


def _identity(doc: dict[str, Any]) -> tuple[str, str]:
    identifier = doc.get("hostIdentifier", doc.get("hostname"))
    decorations = doc.get("decorations")
    if not isinstance(decorations, dict):
        decorations = doc  # --decorations_top_level puts them at the top
    uuid = decorations.get("host_uuid") or decorations.get("uuid")
    if identifier is not None and not isinstance(identifier, str):
        raise BadLine("must be a string", "hostIdentifier")
    if uuid is not None and not isinstance(uuid, str):
        raise BadLine("must be a string", "decorations.host_uuid")
    if not identifier and not uuid:
        raise BadLine("missing (and no host_uuid decoration)", "hostIdentifier")
    host_key = uuid.lower() if uuid else str(identifier)
    return str(identifier or uuid), host_key


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _int(doc: dict[str, Any], field: str, required: bool = False) -> int | None:
    value = doc.get(field)
    if value is None or value == "":
        if required:
            raise BadLine("missing", field)
        return None
    number: int | None = None
    if type(value) is int:
        number = value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = int(value)
    if number is None:
        raise BadLine(f"must be an integer, got {orjson.dumps(value).decode()[:40]}", field)
    if not INT64_MIN <= number <= INT64_MAX:  # (an epoch set past 2^63-1: osquery's is unsigned)
        raise BadLine(f"{number} is past the 64-bit signed integers Hindsight keeps it in", field)
    return number


def _unix_time(doc: dict[str, Any], required: bool = False) -> int | None:
    value = _int(doc, "unixTime", required)
    if value is not None and not UNIX_MIN <= value <= UNIX_MAX:
        hint = " (milliseconds? osquery writes seconds)" if value > UNIX_MAX else ""
        raise BadLine(f"{value} is not a unix time in seconds of years 1 to 9999{hint}", "unixTime")
    return value


def _all_text(doc: dict[str, Any]) -> bool:
    """Lines written with numerics off (or before the flag existed) hold text values only."""
    numerics = doc.get("numerics", doc.get("logNumericsAsNumbers", False))
    return numerics is False or numerics == "false"


def _rows(value: Any, field: str, text: bool = False) -> tuple[Row, ...]:
    if value is None or value == "":
        return ()
    if not isinstance(value, list):
        raise BadLine(f"must be an array of rows, got {type(value).__name__}", field)
    return tuple([_row(r, field, text) for r in value])


def _row(row: Any, field: str, text: bool) -> Row:
    if not isinstance(row, dict):
        raise BadLine(f"a row must be an object, got {type(row).__name__}", field)
    try:
        canon = orjson.dumps(row, option=_SORT) if text else b""
        # numerics off: every value is text, which the canonical form shows as one `":"` per
        # column (quotes inside values are escaped); otherwise convert the values one by one
        if canon.count(b'":"') != len(row):
            canon = orjson.dumps(
                {k: v if v.__class__ is str else _text(v) for k, v in row.items()}, option=_SORT
            )
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise BadLine(str(exc), field) from None
    return Row(_hash(canon), canon)


def _text(value: Any) -> str:
    """A row value as osquery writes it when numerics is off."""
    if value is None:
        return ""
    if value is True or value is False:
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.15g}"
        return text if "." in text or "e" in text or "n" in text else text + ".0"
    raise TypeError(f"column value must be a scalar, got {type(value).__name__}")


def _status(doc: dict[str, Any]) -> StatusLine:
    identifier = doc.get("hostIdentifier")
    found = doc.get("decorations")
    decorations: dict[str, Any] = found if isinstance(found, dict) else doc
    uuid = decorations.get("host_uuid") or decorations.get("uuid")
    host_key = str(uuid).lower() if uuid else str(identifier or "")
    return StatusLine(
        host_key=host_key,
        identifier=str(identifier or uuid or ""),
        unix_time=_unix_time(doc),
        severity=_int(doc, "severity"),
        filename=str(doc.get("filename", "")),
        line=_int(doc, "line"),
        message=str(doc.get("message", "")),
        version=str(doc.get("version", "")),
    )


def row_values(row: Row) -> dict[str, str]:
    """The canonical row as a dict of text values."""
    values: dict[str, str] = orjson.loads(row.canon)
    return values
