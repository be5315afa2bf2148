"""The lake on an object store: the same files, through S3's API, as on a local path.

The S3 endpoint is moto's server on localhost (the outermost edge: a real HTTP server speaking
S3's protocol); the lake code is the one that writes to a directory, through pyarrow's S3
filesystem. Spark reading `s3a://` needs the hadoop-aws jars, which this machine cannot fetch:
that half is documented in docs/lake.md, not tested here.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from hindsight.cli import main
from hindsight.lake.compact import compact_lake
from hindsight.lake.layout import RAW_SCHEMA, LakePaths

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "osquery" / "samples"
# columns a writer makes unique (its batch id); everything else is the observation itself
WRITER_UNIQUE = {"batch"}


def _samples() -> list[Path]:
    return sorted(p for p in SAMPLES.iterdir() if p.suffix != ".md")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty bucket on a local S3 endpoint; yields the lake's URI in it."""
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"127.0.0.1:{port}"
        fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", region="us-east-1",
                               allow_bucket_creation=True)
        fs.create_dir("lake-bucket")
        yield f"s3://lake-bucket/lake?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    finally:
        server.stop()


def _observations(paths: LakePaths) -> list[tuple[object, ...]]:
    names = [f.name for f in RAW_SCHEMA if f.name not in WRITER_UNIQUE]
    rows: list[tuple[object, ...]] = []
    for file in paths.files(paths.raw()):
        table = pq.read_table(file, filesystem=paths.fs, schema=RAW_SCHEMA).select(names)
        rows.extend(zip(*(table.column(n).to_pylist() for n in names), strict=True))
    return sorted(rows, key=repr)


def _ingest(lake: str, sources: list[Path]) -> str:
    got = CliRunner().invoke(main, ["ingest", "--lake", lake, *map(str, sources)])
    assert got.exit_code in (0, 1), got.output
    return got.output


def test_a_lake_on_s3_holds_what_a_local_lake_holds(bucket: str, tmp_path: Path) -> None:
    sources = _samples()
    assert sources
    remote_summary = _ingest(bucket, sources)
    local_summary = _ingest(str(tmp_path / "lake"), sources)
    assert remote_summary == local_summary and "files published" in remote_summary
    remote, local = LakePaths.open(bucket), LakePaths.open(str(tmp_path / "lake"))
    assert remote.queries() == local.queries() and remote.queries()
    found = _observations(remote)
    assert found == _observations(local) and len(found) > 30
    # no temporary file is left visible, and every published file is whole
    listed = remote.fs.get_file_info(pafs.FileSelector(remote.root, recursive=True))
    assert not [i.path for i in listed if i.base_name.startswith("_tmp-")]


def test_compaction_on_s3_keeps_every_observation(bucket: str) -> None:
    sources = _samples()
    for source in sources * 2:  # the same lines twice: more files, repeats the build drops
        _ingest(bucket, [source])
    paths = LakePaths.open(bucket)
    before = _observations(paths)
    report = compact_lake(bucket, min_files=2)
    assert report["partitions_compacted"] > 0
    assert _observations(paths) == before


def test_a_wrong_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    uri = f"s3://lake-bucket/lake?endpoint_override=127.0.0.1:{_free_port()}&scheme=http&region=us-east-1"
    got = CliRunner().invoke(
        main, ["ingest", "--lake", uri, str(tmp_path)],
        env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_EC2_METADATA_DISABLED": "true"},
    )
    assert got.exit_code != 0 and "cannot open the lake" in got.output, got.output


def test_spark_reads_the_s3_lake_through_hadoops_s3a(bucket: str) -> None:
    paths = LakePaths.open(bucket, create=True)
    assert paths.uri_of(paths.raw("users")) == "s3a://lake-bucket/lake/raw/query=users"
