"""Small builders of osquery lines for example-based tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson


def event(
    name: str,
    t: int,
    action: str,
    cols: dict[str, Any],
    *,
    host: str = "web-07",
    uuid: str = "U-1",
    counter: int = 1,
    epoch: int = 0,
    numerics: bool = False,
) -> bytes:
    return orjson.dumps(
        {
            "name": name,
            "hostIdentifier": host,
            "calendarTime": "",
            "unixTime": t,
            "epoch": epoch,
            "counter": counter,
            "numerics": numerics,
            "decorations": {"host_uuid": uuid, "hostname": host},
            "columns": cols,
            "action": action,
        }
    )


def batch(
    name: str,
    t: int,
    added: list[dict[str, Any]],
    removed: list[dict[str, Any]] | None = None,
    *,
    host: str = "web-07",
    uuid: str = "U-1",
    counter: int = 1,
    epoch: int = 0,
) -> bytes:
    return orjson.dumps(
        {
            "diffResults": {"removed": removed or [], "added": added},
            "name": name,
            "hostIdentifier": host,
            "calendarTime": "",
            "unixTime": t,
            "epoch": epoch,
            "counter": counter,
            "numerics": False,
            "decorations": {"host_uuid": uuid},
        }
    )


def snapshot(
    name: str, t: int, rows: list[dict[str, Any]], *, host: str = "web-07", uuid: str = "U-1"
) -> bytes:
    return orjson.dumps(
        {
            "snapshot": rows,
            "action": "snapshot",
            "name": name,
            "hostIdentifier": host,
            "calendarTime": "",
            "unixTime": t,
            "epoch": 0,
            "counter": 0,
            "numerics": False,
            "decorations": {"host_uuid": uuid},
        }
    )


def write(path: Path, *lines: bytes) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path
