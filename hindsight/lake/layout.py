"""Where each dataset of the lake lives, and its schema (docs/lake.md describes the same).

    LAKE/hindsight-lake.json                          {"format": "hindsight-lake", "version": 1}
    LAKE/raw/query=<q>/day=<YYYY-MM-DD>/<file>.parquet   normalised observations, one per row
    LAKE/hosts/day=<YYYY-MM-DD>/<file>.parquet          identifiers each host reported, per batch
    LAKE/rejects/day=<YYYY-MM-DD>/<file>.parquet        lines kept aside, with their reason
    LAKE/built/CURRENT                                 "v<NNNNNNNN>": the published build
    LAKE/built/v<N>/build.json                         per query: kind, columns, osquery table,
                                                       version; raw files consumed
    LAKE/built/v<N>/intervals/query=<q>/to_day=<d>/    validity intervals (state queries)
    LAKE/built/v<N>/events/query=<q>/day=<d>/          event rows (event queries)
    LAKE/built/v<N>/streams/                           last execution of each stream
    LAKE/built/v<N>/query_hosts/                       hosts of each query (layout 4)

`<q>` is the query name with every byte outside [A-Za-z0-9._-] written %XX (Spark and Hive
partition escaping decodes it). Files are zstd Parquet; a file becomes visible only when complete
(written under a `_`-prefixed temporary name, then renamed), and file names are unique per writer
(time, writer id, random suffix), so writers never coordinate.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

from hindsight.errors import HindsightError

LAKE_VERSION = 1
MARKER = "hindsight-lake.json"
OPEN_END = 9223372036854775807  # _to of an interval still open (as in the embedded store)
OPEN_DAY = "9999-12-31"  # to_day partition of open intervals

_SAFE = re.compile(rb"[A-Za-z0-9._-]")

#: One row per row instance of an accepted result line (op +1 added / -1 removed), or one row
#: with op 0 for a line without rows (an empty snapshot still says "nothing is there").
RAW_SCHEMA = pa.schema(
    [
        ("host_key", pa.string()),
        ("identifier", pa.string()),
        ("unix_time", pa.int64()),
        ("epoch", pa.int64()),
        ("counter", pa.int64()),
        ("shape", pa.string()),
        ("line_key", pa.int64()),
        ("batch", pa.string()),
        ("line", pa.int32()),
        ("op", pa.int8()),
        ("rh", pa.int64()),
        ("row", pa.string()),
    ]
)
HOSTS_SCHEMA = pa.schema(
    [
        ("host_key", pa.string()),
        ("identifier", pa.string()),
        ("first_seen", pa.int64()),
        ("last_seen", pa.int64()),
    ]
)
REJECTS_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("raw", pa.binary()),
        ("rejected_at", pa.int64()),
    ]
)


class LakeError(HindsightError):
    """The lake cannot be read or written (wrong layout version, unreachable path)."""


def encode_name(name: str) -> str:
    """A query name as one path segment: unsafe bytes as %XX (reversible, Hive-compatible)."""
    return "".join(
        chr(b) if _SAFE.fullmatch(bytes([b])) else f"%{b:02X}" for b in name.encode("utf-8")
    )


def decode_name(segment: str) -> str:
    return (
        re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), segment)
        .encode("latin-1")
        .decode("utf-8")
    )


def day_of(unix_time: int) -> str:
    return dt.datetime.fromtimestamp(unix_time, dt.UTC).strftime("%Y-%m-%d")


def unique_name(writer_id: str) -> str:
    """A file name no other writer (nor this one later) can produce."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"part-{now}-{writer_id}-{secrets.token_hex(6)}.parquet"


@dataclass(frozen=True)
class LakePaths:
    """Paths of the lake's datasets under a root (a local path or an object-store URI)."""

    fs: pafs.FileSystem
    root: str  # path inside fs, without a trailing slash
    uri: str  # as given, for engines that take URIs (Spark)

    @classmethod
    def open(cls, uri: str, create: bool = False) -> LakePaths:
        try:
            fs, root = (
                pafs.FileSystem.from_uri(uri)
                if "://" in uri
                else (pafs.LocalFileSystem(), _absolute(uri))
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise LakeError(f"cannot open the lake {uri}: {exc}") from exc
        paths = cls(fs, root.rstrip("/"), uri if "://" in uri else root)
        try:
            paths._check_marker(create)
        except OSError as exc:  # an object store that does not answer, a bucket missing
            raise LakeError(f"cannot open the lake {uri}: {exc}") from exc
        return paths

    def _check_marker(self, create: bool) -> None:
        marker = f"{self.root}/{MARKER}"
        info = self.fs.get_file_info(marker)
        if info.type == pafs.FileType.NotFound:
            if not create:
                raise LakeError(
                    f"no Hindsight lake at {self.uri} (no {MARKER}): ingest into it first"
                )
            self.fs.create_dir(self.root, recursive=True)
            body = json.dumps({"format": "hindsight-lake", "version": LAKE_VERSION}).encode()
            publish_bytes(self.fs, marker, body)
            return
        with self.fs.open_input_stream(marker) as f:
            found = json.loads(f.read()).get("version")
        if found != LAKE_VERSION:
            raise LakeError(
                f"the lake at {self.uri} has layout version {found}; this Hindsight reads version {LAKE_VERSION}"
            )

    def raw(self, query: str | None = None, day: str | None = None) -> str:
        path = f"{self.root}/raw"
        if query is not None:
            path += f"/query={encode_name(query)}"
            if day is not None:
                path += f"/day={day}"
        return path

    def dataset(self, name: str, day: str | None = None) -> str:
        return f"{self.root}/{name}" + (f"/day={day}" if day else "")

    def built(self, query: str) -> str:
        return f"{self.root}/built/{encode_name(query)}"

    def queries(self) -> list[str]:
        """Names of the queries with raw observations."""
        found = self.fs.get_file_info(pafs.FileSelector(self.raw(), allow_not_found=True))
        names = [
            decode_name(i.base_name[len("query=") :])
            for i in found
            if i.type == pafs.FileType.Directory and i.base_name.startswith("query=")
        ]
        return sorted(names)

    def files(self, base: str) -> list[str]:
        """Published Parquet files under a directory (temporary `_` names excluded), sorted."""
        found = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        return sorted(
            i.path
            for i in found
            if i.type == pafs.FileType.File
            and i.base_name.endswith(".parquet")
            and not i.base_name.startswith(("_", "."))
        )

    def uri_of(self, path: str) -> str:
        """A path inside fs as a URI an engine (Spark) can open."""
        if isinstance(self.fs, pafs.LocalFileSystem):
            return "file://" + path
        scheme = self.uri.split("://", 1)[0]
        return f"{HADOOP_SCHEMES.get(scheme, scheme)}://{path}"


#: pyarrow's URI schemes that Hadoop's connectors (Spark) name differently.
HADOOP_SCHEMES = {"s3": "s3a"}


def _absolute(path: str) -> str:
    import os

    return os.path.abspath(path)


def publish_bytes(fs: pafs.FileSystem, path: str, body: bytes) -> None:
    """Write a small file so it appears whole or not at all."""
    tmp = _temp_beside(path)
    with fs.open_output_stream(tmp) as out:
        out.write(body)
    fs.move(tmp, path)


def _temp_beside(path: str) -> str:
    head, _, name = path.rpartition("/")
    return f"{head}/_tmp-{secrets.token_hex(8)}-{name}.tmp"


def publish_table(
    fs: pafs.FileSystem, path: str, table: pa.Table, row_group: int = 128 * 1024
) -> None:
    """Write a Parquet file (zstd) under a temporary name, then rename it into place: readers
    never see a partial file, and a writer that dies leaves only a `_tmp-*.tmp` file that every
    reader ignores (`hindsight lake compact` removes old ones)."""
    import pyarrow.parquet as pq

    head = path.rpartition("/")[0]
    fs.create_dir(head, recursive=True)
    tmp = _temp_beside(path)
    try:
        with fs.open_output_stream(tmp) as out:
            pq.write_table(table, out, compression="zstd", row_group_size=row_group)
        fs.move(tmp, path)
    except BaseException:
        fs.delete_file(tmp) if fs.get_file_info(tmp).type == pafs.FileType.File else None
        raise
