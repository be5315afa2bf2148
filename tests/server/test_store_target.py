"""The store target of `hindsight serve`: the ingester counts identical lines of one execution
per journal segment (as the lake does), so what the store keeps depends neither on how segments
were grouped into ingester steps nor on a crash between an ingest and its progress record; and the
store is compacted now and then, not after each segment."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hindsight.api import Hindsight
from hindsight.server import ingester as ingester_module
from hindsight.server import records
from hindsight.server.ingester import Ingester
from hindsight.server.journal import JournalReader
from hindsight.server.targets import Counts, LakeTarget, StoreTarget
from hindsight.settings import Settings

T0 = 1_718_236_800

Spec = tuple[str, int, str]  # host, sequence number, value


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


def _segments(journal: Path, lines: list[Spec], cuts: list[int]) -> list[list[Spec]]:
    """Write LINES cut at CUTS into segment files of JOURNAL; returns each segment's lines."""
    journal.mkdir(parents=True, exist_ok=True)
    bounds = [0, *sorted({c for c in cuts if c < len(lines)}), len(lines)]
    parts = [lines[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    for n, part in enumerate(parts, start=1):
        data = b"".join(_line(*spec) + b"\n" for spec in part)
        (journal / f"{n:012d}.jsonl").write_bytes(data)
    return parts


def _expected(parts: list[list[Spec]]) -> Counter[Spec]:
    """The lines kept: a line is known by its content and how many identical ones came before
    it in its run of one execution's lines (host and sequence number) in its segment."""
    keys: set[tuple[Spec, int]] = set()
    for part in parts:
        for _, run in itertools.groupby(part, key=lambda spec: spec[:2]):
            seen: Counter[Spec] = Counter()
            for spec in run:
                keys.add((spec, seen[spec]))
                seen[spec] += 1
    return Counter(spec for spec, _ in keys)


def _stored(hs: Hindsight) -> Counter[Spec]:
    rows = hs.store.con.execute(
        "SELECT h.host_key, e._unix, e.v FROM hosts h JOIN ("
        + " UNION ALL ".join(
            f"SELECT _host, _unix, v FROM ev_{q.query_id}"
            for q in hs.store.catalog.queries.values()
            if q.is_event
        )
        + ") e ON e._host = h.host_id"
    ).fetchall()
    return Counter((host, unix, v) for host, unix, v in rows)


def _as_stored(specs: Counter[Spec]) -> Counter[tuple[str, int, str]]:
    out: Counter[tuple[str, int, str]] = Counter()
    for (h, seq, v), n in specs.items():
        out[(h, T0 + seq // 3, v)] += n
    return out


LINES = st.lists(
    st.tuples(st.sampled_from(["h1", "h2"]), st.integers(0, 2), st.sampled_from(["a", "b"])),
    min_size=1,
    max_size=24,
)


@settings(max_examples=12, deadline=None)
@given(
    lines=LINES,
    cuts=st.lists(st.integers(1, 24), max_size=5),
    crash=st.integers(0, 5),
    unmarked=st.booleans(),
    group=st.integers(1, 3),
)
@example(lines=[("h1", 0, "a")] * 3, cuts=[1], crash=1, unmarked=True, group=2)
@example(lines=[("h1", 0, "a")] * 2, cuts=[1], crash=0, unmarked=False, group=2)
def test_repeats_count_per_segment_whatever_the_grouping_and_crashes(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[Spec],
    cuts: list[int],
    crash: int,
    unmarked: bool,
    group: int,
) -> None:
    tmp = tmp_path_factory.mktemp("store-target")
    journal = tmp / "journal"
    parts = _segments(journal, lines, cuts)
    want = _expected(parts)
    # the lake's receiver keeps the same lines (its build drops repeated line keys)
    lake_copy = tmp / "lake-journal"
    shutil.copytree(journal, lake_copy)
    LakeTarget(Settings(lake=str(tmp / "lake")), lake_copy).ingest(
        sorted(lake_copy.glob("*.jsonl"))
    )
    files = f"{tmp}/lake/raw/*/*/*.parquet"
    [(lake_keys,)] = duckdb.sql(
        f"SELECT count(DISTINCT (host_key, unix_time, line_key)) FROM read_parquet('{files}')"
    ).fetchall()
    assert lake_keys == sum(want.values())

    with Hindsight(tmp / "data") as hs:
        target = StoreTarget(hs, threading.Lock())
        reader = JournalReader(journal)
        segments = reader.closed_segments()
        crash = min(crash, len(segments))
        for segment in segments[:crash]:  # ingested and recorded before the crash
            target.ingest([segment.path])
            reader.mark_ingested(segment.number)
        if unmarked and crash < len(segments):  # ingested, the crash came before the record
            target.ingest([segments[crash].path])
        ingester = Ingester(target, reader, segments_per_step=group)
        while ingester.step():
            pass
        assert _stored(hs) == _as_stored(want)


def test_the_store_is_compacted_by_the_ingester_not_by_each_segment(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    _segments(journal, [("h1", i, "ab"[i % 2]) for i in range(40)], list(range(2, 40, 2)))
    with Hindsight(tmp_path / "data") as hs:
        calls: list[str] = []
        compact, reclaim = hs.store.compact, hs.store.reclaim

        def counted_compact(force: bool = False) -> int:
            calls.append("compact")
            return compact(force)

        def counted_reclaim(min_free: float = 0.3, min_bytes: int = 32 << 20) -> bool:
            calls.append("reclaim")
            return reclaim(min_free, min_bytes)

        hs.store.compact = counted_compact  # type: ignore[method-assign]
        hs.store.reclaim = counted_reclaim  # type: ignore[method-assign]
        ingester = Ingester(StoreTarget(hs, threading.Lock()), JournalReader(journal))
        assert ingester.step() and ingester.stats.segments == 20
        assert calls == []  # twenty ingests, no compaction
        ingester.stop_and_drain()
        assert calls == ["compact", "reclaim"]
        assert sum(_stored(hs).values()) == 40


def test_a_rejected_line_is_named_by_its_segment_and_record(tmp_path: Path) -> None:
    """Not by a temporary file: the store reads the segment's records itself."""
    good = {
        "name": "q",
        "hostIdentifier": "h",
        "unixTime": 1,
        "columns": {"a": "1"},
        "action": "added",
    }
    body = orjson.dumps({"log_type": "result", "data": [good, {"name": "q"}]})
    journal = tmp_path / "journal"
    journal.mkdir()
    segment = journal / "000000000001.jsonl"
    segment.write_bytes(records.record("u-1", body))
    with Hindsight(tmp_path / "data") as hs:
        counts = StoreTarget(hs, threading.Lock()).ingest([segment])
        assert (counts.lines, counts.rejected) == (2, 1)
        where = hs.store.con.execute("SELECT source, line, reason FROM rejects").fetchall()
    assert [(source, line) for source, line, _ in where] == [(str(segment), 1)]


class _CallsCounted:
    """The store target, with the segments of each ingest call recorded."""

    def __init__(self, target: StoreTarget) -> None:
        self.target = target
        self.calls: list[list[str]] = []

    def ingest(self, paths: list[Path]) -> Counts:
        self.calls.append([p.name for p in paths])
        return self.target.ingest(paths)

    def maintain(self) -> None:
        self.target.maintain()


def test_waiting_segments_are_ingested_together_within_the_step_budget(tmp_path: Path) -> None:
    """An ingest's fixed cost grows with the queries it touches: one call per segment would
    fall behind a server closing a segment every second. What waits goes in one call, up to
    the step's bytes, and every segment is counted and deleted."""
    journal = tmp_path / "journal"
    parts = _segments(journal, [("h1", i, "ab"[i % 2]) for i in range(30)], list(range(3, 30, 3)))
    size = (journal / f"{1:012d}.jsonl").stat().st_size  # the others: a byte or so longer
    with Hindsight(tmp_path / "data") as hs:
        target = _CallsCounted(StoreTarget(hs, threading.Lock()))
        ingester = Ingester(target, JournalReader(journal), step_bytes=4 * size + size // 2)
        while ingester.step():
            pass
        assert [len(call) for call in target.calls] == [4, 4, 2]
        assert target.calls[0] == [f"{n:012d}.jsonl" for n in (1, 2, 3, 4)]
        assert ingester.stats.segments == 10 and ingester.stats.lines == 30
        assert not JournalReader(journal).segments()
        assert _stored(hs) == _as_stored(_expected(parts))


class _FailsOnce(_CallsCounted):
    """The store target, failing its first ingest with an error that is not Hindsight's."""

    def ingest(self, paths: list[Path]) -> Counts:
        if not self.calls:
            self.calls.append([])
            raise ValueError("year 58375 is out of range")
        return super().ingest(paths)


def test_an_unexpected_error_is_retried_not_the_end_of_ingest(tmp_path: Path) -> None:
    """A bug in a step (an error that is not Hindsight's) ended the ingester's thread: every
    later segment waited in the journal, unsaid. It is recorded and retried."""
    journal = tmp_path / "journal"
    parts = _segments(journal, [("h1", i, "ab"[i % 2]) for i in range(6)], [3])
    with Hindsight(tmp_path / "data") as hs:
        target = _FailsOnce(StoreTarget(hs, threading.Lock()))
        ingester = Ingester(target, JournalReader(journal))
        ingester.start()
        try:
            for _ in range(100):
                if ingester.stats.segments == 2:
                    break
                threading.Event().wait(0.1)
            ingested_by_the_thread = ingester.stats.segments  # (before the drain ingests too)
        finally:
            ingester.stop_and_drain()
        assert ingested_by_the_thread == 2 and len(target.calls) == 2
        assert _stored(hs) == _as_stored(_expected(parts))


def test_a_small_fleets_segments_gather_before_they_are_ingested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small fleet closes a segment of a few lines every second, and an ingest costs the
    store ~0.2 s of CPU however few lines it holds: closed segments wait until they hold
    GATHER_BYTES or the oldest has waited the gathering time (HINDSIGHT_SERVE_GATHER). The
    drain at exit takes them whatever they hold."""
    journal = tmp_path / "journal"
    parts = _segments(journal, [("h1", i, "ab"[i % 2]) for i in range(12)], [3, 6, 9])
    paths = [s.path for s in JournalReader(journal).closed_segments()]
    with Hindsight(tmp_path / "data") as hs:
        target = _CallsCounted(StoreTarget(hs, threading.Lock()))
        ingester = Ingester(target, JournalReader(journal), segments_per_step=2, gather_s=60)
        assert not ingester.step() and target.calls == []  # small and just closed: they wait
        waited = time.time() - 61
        os.utime(paths[0], (waited, waited))  # the oldest has waited past the gathering time
        assert ingester.step() and target.calls == [[paths[0].name, paths[1].name]]
        assert not ingester.step()  # the next two: small and fresh
        size = sum(p.stat().st_size for p in paths[2:])
        monkeypatch.setattr(ingester_module, "GATHER_BYTES", size)  # (a mebibyte, made small)
        assert ingester.step() and target.calls[-1] == [paths[2].name, paths[3].name]
        _segments(tmp_path / "later", [("h1", 12, "c")], [])
        shutil.copy(tmp_path / "later" / f"{1:012d}.jsonl", journal / f"{5:012d}.jsonl")
        ingester.stop_and_drain()  # small and fresh, taken at exit
        assert target.calls[-1] == [f"{5:012d}.jsonl"]
        assert _stored(hs) == _as_stored(_expected([*parts, [("h1", 12, "c")]]))
