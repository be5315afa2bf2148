"""The lake target of `hindsight serve --lake`: journal segments published again after a crash
(between publication and the progress record) carry the same line keys, however the segments are
grouped, so the lake build drops them as repeats; a lake that cannot be written fails the ingest
(the journal keeps the lines) without leaving anything buffered."""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hindsight.lake.layout import LakeError
from hindsight.server.targets import LakeMode, LakeTarget
from hindsight.settings import Settings

T0 = 1_718_236_800


def _line(host: str, seq: int, value: str) -> bytes:
    return orjson.dumps(
        {
            "name": "pack/ev:proc_events",
            "hostIdentifier": host,
            "calendarTime": "x",
            "unixTime": T0 + seq // 3,
            "epoch": 0,
            "counter": seq,
            "numerics": False,
            "decorations": {"host_uuid": host},
            "columns": {"v": value},
            "action": "added",
        }
    )


def _segments(journal: Path, lines: list[bytes], cuts: list[int]) -> list[Path]:
    journal.mkdir(parents=True, exist_ok=True)
    bounds = [0, *sorted(set(cuts)), len(lines)]
    paths = []
    for n, (lo, hi) in enumerate(itertools.pairwise(bounds), start=1):
        path = journal / f"{n:012d}.jsonl"
        path.write_bytes(b"".join(x + b"\n" for x in lines[lo:hi]))
        paths.append(path)
    return paths


def _keys(lake: Path) -> list[tuple[str, int, int]]:
    files = f"{lake}/raw/*/*/*.parquet"
    return sorted(
        duckdb.sql(
            f"SELECT DISTINCT host_key, unix_time, line_key FROM read_parquet('{files}')"
        ).fetchall()
    )


LINES = st.lists(
    st.tuples(st.sampled_from(["h1", "h2"]), st.integers(0, 1), st.sampled_from(["a", "b"])),
    min_size=1,
    max_size=30,
)


@settings(deadline=None)  # the profile's examples: ci 25, deep 400
@given(
    lines=LINES,
    cuts=st.lists(st.integers(1, 30), max_size=6),
    crash=st.integers(0, 6),
    unmarked=st.booleans(),
    group=st.integers(1, 3),
)
@example(lines=[("h1", 0, "a")] * 2, cuts=[1], crash=1, unmarked=False, group=1)
def test_a_crash_changes_no_line_key(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[tuple[str, int, str]],
    cuts: list[int],
    crash: int,
    unmarked: bool,
    group: int,
) -> None:
    """Identical lines in a row (a repeat counts) may sit on both sides of a segment boundary;
    whether a receiver died there or not, the lake gets the same keys."""
    tmp = tmp_path_factory.mktemp("republish")
    raw = [_line(h, seq, v) for h, seq, v in lines]  # lines in a row may be identical
    segments = _segments(tmp / "journal", raw, [c for c in cuts if c <= len(raw)])
    crash = min(crash, len(segments))
    once, twice = tmp / "once", tmp / "twice"
    LakeTarget(Settings(lake=str(once)), tmp / "j1").ingest(segments)
    # the receiver ingests the segments before CRASH (its progress says so), maybe publishes the
    # next one and dies before recording it; the next process takes it from there
    first = LakeTarget(Settings(lake=str(twice)), tmp / "j2")
    for segment in segments[:crash]:
        first.ingest([segment])
    if unmarked:
        first.ingest(segments[crash : crash + 1])
    again = LakeTarget(Settings(lake=str(twice)), tmp / "j3")
    for i in range(crash, len(segments), group):
        again.ingest(segments[i : i + group])
    assert _keys(twice) == _keys(once)


def test_an_unwritable_lake_fails_the_ingest_and_keeps_nothing(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    target = LakeTarget(Settings(lake=str(lake)), tmp_path / "journal")
    [segment] = _segments(tmp_path / "journal", [_line("h1", i, "a") for i in range(10)], [])
    (lake / "raw").write_text("not a directory")  # (permissions do not stop root)
    with pytest.raises(LakeError, match="cannot write the lake"):
        target.ingest([segment])
    (lake / "raw").unlink()
    counts = target.ingest([segment])
    assert (counts.lines, counts.rows, counts.rejected) == (10, 10, 0) and counts.files == 2
    assert len(_keys(lake)) == 10


def test_one_ingester_per_journal(tmp_path: Path) -> None:
    import hindsight.server.targets as targets

    LakeTarget(Settings(lake=str(tmp_path / "lake")), tmp_path / "journal")
    with pytest.raises(LakeError, match="another process ingests this journal"):
        targets._exclusive(tmp_path / "journal" / targets.LOCK, patience_s=0.3)


def test_questions_to_a_receiver_name_the_lake_and_the_engine() -> None:
    exc = LakeMode("s3://bucket/lake", "sql")
    assert "hindsight lake build s3://bucket/lake" in str(exc)
    assert "--engine spark --lake s3://bucket/lake" in str(exc)
