"""Read the simulator's output back: every result line of a host, from every file kind.

A reference for consumers and what the tests use to replay logs against the truth.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import zstandard

_ROTATED = re.compile(r"^osqueryd\.(results|snapshots)\.log(?:\.(\d+)(?:\.(zst|gz))?)?$")


@dataclass(frozen=True)
class LogLine:
    source: str  # file name (results/snapshots file) or late body file name
    raw: bytes  # the line as written, without newline
    obj: dict[str, Any]


def read_log_file(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".zst":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    return data


def host_files(host_dir: Path) -> list[Path]:
    """The host's log files, oldest generation first (X.N ... X.2, X.1, X)."""

    def age(p: Path) -> tuple[str, int]:
        m = _ROTATED.match(p.name)
        assert m, p.name
        return m.group(1), -int(m.group(2) or 0)

    return sorted((p for p in host_dir.iterdir() if _ROTATED.match(p.name)), key=age)


def iter_host_lines(host_dir: Path) -> Iterator[LogLine]:
    for path in host_files(host_dir):
        for raw in read_log_file(path).splitlines():
            yield LogLine(path.name, raw, orjson.loads(raw))


def iter_late(out_dir: Path, host_uuid: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, request body) of late TLS deliveries, in arrival order."""
    for path in sorted((out_dir / "late").glob("*.json")):
        if host_uuid is None or path.name.split("_")[1] == host_uuid:
            yield path.name, orjson.loads(path.read_bytes())


def iter_all_lines(out_dir: Path, host_uuid: str) -> Iterator[LogLine]:
    yield from iter_host_lines(out_dir / "hosts" / host_uuid)
    for name, body in iter_late(out_dir, host_uuid):
        for obj in body["data"]:
            yield LogLine(name, orjson.dumps(obj), obj)
