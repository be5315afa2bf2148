"""Ground truth: one JSON object per (query, execution), zstd-compressed JSON lines.

``{"query": name, "unixTime": t, "epoch": e, "counter": c, "rows": [{col: str}, ...]}``
with ``unixTime`` as logged (host clock). Differential and snapshot queries: every execution,
including those that wrote nothing; rows are the complete result set, values as strings,
"" for NULL. Event queries: every execution that logged events, rows = those events.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import zstandard


class TruthWriter:
    def __init__(self, path: Path, level: int) -> None:
        self._fh: BinaryIO = path.open("wb")
        self._z = zstandard.ZstdCompressor(level=level).stream_writer(self._fh)

    def write(self, data: bytes) -> None:
        """Append complete JSON lines (callers buffer; this compresses at once)."""
        self._z.write(data)

    def close(self) -> None:
        self._z.close()  # type: ignore[no-untyped-call]


def truth_path(out_dir: Path, host_uuid: str) -> Path:
    return out_dir / "truth" / f"{host_uuid}.jsonl.zst"


def read_truth_file(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as fh:
        reader = zstandard.ZstdDecompressor().stream_reader(fh)
        for line in io.BufferedReader(reader, 1 << 20):
            obj: dict[str, Any] = orjson.loads(line)
            yield obj


def iter_truth(out_dir: Path | str) -> Iterator[tuple[str, str, int, list[dict[str, str]]]]:
    """Yield (host_uuid, query, unixTime, rows) for every truth record, host by host."""
    for path in sorted((Path(out_dir) / "truth").glob("*.jsonl.zst")):
        host = path.name.removesuffix(".jsonl.zst")
        for rec in read_truth_file(path):
            yield host, rec["query"], rec["unixTime"], rec["rows"]
