"""The lake writer: atomic, unique files; readable by another engine (DuckDB) as documented."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from hindsight.lake import LakeWriter
from hindsight.lake.layout import LakeError, LakePaths, decode_name, encode_name, publish_table
from hindsight.osquery.reader import read_lines

LINES = b"""{"name":"pack/ir:users","hostIdentifier":"h1","unixTime":1718236800,"epoch":0,"counter":0,"numerics":false,"decorations":{"host_uuid":"U1"},"columns":{"uid":"0","username":"root"},"action":"snapshot"}
{"name":"pack/ir:users","hostIdentifier":"h1","unixTime":1718323300,"epoch":0,"counter":1,"numerics":false,"decorations":{"host_uuid":"U1"},"diffResults":{"added":[{"uid":"1","username":"bin"}],"removed":[]}}
{"name":"pack/ir:users","hostIdentifier":"h1","unixTime":1718323400,"epoch":0,"counter":0,"numerics":false,"decorations":{"host_uuid":"U1"},"snapshot":[]}
not json
"""


def lines(tmp_path: Path) -> list:  # type: ignore[type-arg]
    src = tmp_path / "in.log"
    src.write_bytes(LINES)
    return list(read_lines(src, 1 << 20))


def test_writes_partitioned_files_duckdb_can_read(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    writer = LakeWriter(str(lake))
    files = writer.write(lines(tmp_path)).files
    assert writer.summary.rejected == 1 and writer.summary.lines == 4
    raw = sorted(f for f in files if "/raw/" in f)
    assert [f.split("/raw/")[1].rsplit("/", 1)[0] for f in raw] == [
        "query=pack%2Fir%3Ausers/day=2024-06-13", "query=pack%2Fir%3Ausers/day=2024-06-14"]
    got = duckdb.sql(
        f"SELECT query, op, row FROM read_parquet('{lake}/raw/*/*/*.parquet', hive_partitioning=true) "
        "ORDER BY unix_time, op").fetchall()
    assert [(op, row) for _, op, row in got] == [
        (1, '{"uid":"0","username":"root"}'), (1, '{"uid":"1","username":"bin"}'), (0, None)]
    assert {decode_name(q) for q, _, _ in got} == {"pack/ir:users"}
    assert len(list(lake.rglob("rejects/*/*.parquet"))) == 1
    assert not list(lake.rglob("_tmp-*")), "no temporary file stays behind"


def test_writers_never_collide(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    batch = lines(tmp_path)
    names = [f for _ in range(5) for f in LakeWriter(lake, writer_id="same").write(batch).files]
    assert len(names) == len(set(names)) == 5 * 5  # 2 raw, 2 hosts, 1 rejects per write


def test_a_failed_write_leaves_nothing_visible(tmp_path: Path) -> None:
    paths = LakePaths.open(str(tmp_path / "lake"), create=True)
    with pytest.raises((TypeError, AttributeError)):  # the writer dies mid-file
        publish_table(paths.fs, f"{paths.root}/raw/x.parquet", "not a table")  # type: ignore[arg-type]
    assert list(Path(paths.root).rglob("*.parquet")) == [] and list(Path(paths.root).rglob("_tmp-*")) == []


def test_names_round_trip_and_wrong_version_is_refused(tmp_path: Path) -> None:
    for name in ("users", "pack/ir:users", "é=%x y"):
        assert decode_name(encode_name(name)) == name and "/" not in encode_name(name)
    lake = tmp_path / "lake"
    LakePaths.open(str(lake), create=True)
    (lake / "hindsight-lake.json").write_text('{"format": "hindsight-lake", "version": 99}')
    with pytest.raises(LakeError, match="version 99"):
        LakePaths.open(str(lake))
    with pytest.raises(LakeError, match="no Hindsight lake"):
        LakePaths.open(str(tmp_path / "nothing"))


def _event(t: int, value: str) -> bytes:
    return (
        b'{"name":"procs","hostIdentifier":"h1","unixTime":%d,"epoch":0,"counter":0,'
        b'"columns":{"name":"%s"},"action":"added"}' % (t, value.encode())
    )


def test_identical_lines_are_rows_in_their_scope_and_copies_across(tmp_path: Path) -> None:
    """bash, sshd, bash in one execution (the query's result order) are three rows; the same
    execution again later in the file, or the same TLS body twice, adds nothing (the build keeps
    one copy per line key)."""
    a, b, later = _event(100, "bash"), _event(100, "sshd"), _event(200, "cron")
    body = b'{"node_key":"k","log_type":"result","data":[%s,%s,%s]}' % (a, b, a)
    (tmp_path / "a.log").write_bytes(b"\n".join([a, b, a, later, a, b]) + b"\n")
    (tmp_path / "body.log").write_bytes(body + b"\n" + body + b"\n")
    lake = tmp_path / "lake"
    writer = LakeWriter(str(lake))
    for name in ("a.log", "body.log"):
        writer.write(list(read_lines(tmp_path / name, 1 << 20)))
    got = duckdb.sql(
        f"SELECT unix_time, count(*), count(DISTINCT line_key) FROM read_parquet("
        f"'{lake}/raw/*/*/*.parquet') GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert got == [(100, 11, 3), (200, 1, 1)]


def test_a_unix_time_in_milliseconds_is_kept_aside_by_the_lake_and_the_store(tmp_path: Path) -> None:
    """One line of a year past 9999 (milliseconds, most likely): rejected with its reason by
    both writers, the lines around it stored (it stopped the lake's whole write)."""
    import hindsight

    good = LINES.splitlines()[:2]
    ms = good[0].replace(b'"unixTime":1718236800', b'"unixTime":1718236800000')
    status = b'{"hostIdentifier":"h1","unixTime":"99999999999999","severity":"0","message":"m","filename":"f","line":"1"}'
    src = tmp_path / "in.log"
    src.write_bytes(b"\n".join([good[0], ms, status, good[1]]) + b"\n")
    writer = LakeWriter(str(tmp_path / "lake"))
    writer.write(list(read_lines(src, 1 << 20)))
    assert writer.summary.rejected == 2 and writer.summary.lines == 4
    with hindsight.open(tmp_path / "data") as hs:
        summary = hs.ingest([src])
        assert summary.rejected == 2 and summary.rows == 2
        reasons = dict(summary.rejections)
    assert "unixTime: 1718236800000 is not a unix time in seconds" in reasons[f"{src}:2"]
    assert "milliseconds?" in reasons[f"{src}:2"] and f"{src}:3" in reasons


def test_columns_no_store_can_hold_are_kept_aside_by_the_writer(tmp_path: Path) -> None:
    """As the embedded store keeps them aside (store/columns.py): published, they failed every
    later build of the lake."""
    line = '{{"name":"{q}","hostIdentifier":"h","unixTime":1718236800,"columns":{c},"action":"added"}}'
    src = tmp_path / "in.log"
    src.write_text("\n".join([
        line.format(q="caseq", c='{"Name":"A"}'),
        line.format(q="caseq", c='{"name":"b"}'),
        line.format(q="resq", c='{"_from":"1","v":"x"}'),
        line.format(q="q", c='{"":"1","a":"2"}'),
        line.format(q="q", c='{"a":"3"}'),
    ]) + "\n")  # fmt: skip
    writer = LakeWriter(str(tmp_path / "lake"))
    writer.write(list(read_lines(src, 1 << 20)))
    assert writer.summary.rejected == 3 and writer.summary.rows == 2
    reasons = dict(writer.summary.rejections)
    assert "differs only in case from column 'Name'" in reasons[f"{src}:2"]
    assert "one of Hindsight's own columns" in reasons[f"{src}:3"]
    assert "a column without a name" in reasons[f"{src}:4"]
