"""The raw archive's chunks (hindsight.store.chunks): whatever layout a chunk is written in, its
lines read back exactly, in order; event lines are written by column, and the store holds them
in fewer bytes."""

from __future__ import annotations

import ctypes
from pathlib import Path

import orjson
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

import hindsight
from bench.gen import events_lines, write
from hindsight.errors import StoreError
from hindsight.store import chunks, native
from hindsight.store.layout import LAYOUT_VERSION
from tests.helpers import event
from tests.helpers import write as write_lines

LIB = native.library("on")
IA = "pack_net_interface_addresses"

#: JSON values as osquery and relays write them, and the odd bytes a kept line may hold.
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n"), max_size=12)
_value = st.one_of(
    _text,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.just("%s %% %d"),
)
_keys = st.lists(st.sampled_from(["pid", "path", "cmdline", "uid", "%", "a-1", "7"]), min_size=1,
                 max_size=5, unique=True)  # fmt: skip


@st.composite
def _json_lines(draw: st.DrawFn) -> list[bytes]:
    """Lines of a few shapes (keys and value kinds), as a stream's lines mostly share one."""
    shapes = draw(st.lists(_keys, min_size=1, max_size=3))
    count = draw(st.integers(min_value=0, max_value=40))
    lines = []
    for _ in range(count):
        keys = draw(st.sampled_from(shapes))
        row = {k: draw(_value) for k in keys}
        lines.append(orjson.dumps({"name": "q", "columns": row, "action": "added"}))
    return lines


_odd_lines = st.lists(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")), max_size=20
)  # not JSON at all: quotes left open, lone backslashes, `%`, NUL


def _round_trip(streams: list[list[bytes]]) -> None:
    zstd = zstandard.ZstdCompressor(level=3)
    for lib in (LIB, None):  # written, then read, with the library and without
        stored = chunks.compress(zstd, chunks.pack(lib, streams), threads=2)
        for reader in (LIB, None):
            assert [chunks.read(data, lib=reader) for data in stored] == streams


@given(st.lists(_json_lines(), min_size=1, max_size=4))
def test_json_lines_read_back_exactly(streams: list[list[bytes]]) -> None:
    _round_trip([s for s in streams if s])


@given(st.lists(st.one_of(_odd_lines, _json_lines()), min_size=1, max_size=4), st.data())
def test_any_bytes_read_back_exactly(streams: list[list[bytes]], data: st.DataObject) -> None:
    mixed = []
    for lines in (s for s in streams if s):
        odd = data.draw(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
                                 max_size=3))  # fmt: skip
        mixed.append(lines + odd if data.draw(st.booleans()) else odd + lines)
    _round_trip([m for m in mixed if m])


def test_lines_that_begin_like_a_chunk_by_column_read_back_as_lines() -> None:
    # (found by the property above: no accepted line begins with NUL, but any bytes read back)
    _round_trip([[chunks.MAGIC], [chunks.MAGIC + b"\x00", b"\x00" * 6, b""], [chunks.LINES, b"x"]])


def test_lines_of_one_shape_are_written_by_column_and_others_as_lines() -> None:
    events = [event(IA, 100 + i, "added", {"address": f"10.0.0.{i}", "pid": i}) for i in range(20)]
    batches = [orjson.dumps({"name": "q", "diffResults": {"added": [{"a": "1"}] * i}})
               for i in range(1, 9)]  # fmt: skip
    by_column, as_lines = chunks.pack(LIB, [events, batches])
    assert bytes(by_column).startswith(chunks.MAGIC)
    assert bytes(as_lines) == b"\n".join(batches)
    assert len(by_column) < 0.6 * len(b"\n".join(events))  # each key once
    assert chunks.lines(bytes(by_column)) == events
    # lines of their own among them: templates of one line each, not JSON, `%` and NUL kept
    odd = [*events[:4], b'{"open": "5%', b'"\\', *events[4:], b"\x00%s", b"-"]
    (payload,) = chunks.pack(LIB, [odd])
    assert bytes(payload).startswith(chunks.MAGIC)
    assert chunks.lines(bytes(payload)) == odd


@pytest.mark.parametrize("lib", [LIB, None])
@pytest.mark.parametrize("cut", [6, 30, -1])
def test_a_damaged_chunk_by_column_says_so(cut: int, lib: ctypes.CDLL | None) -> None:
    lines = [event(IA, 100 + i, "added", {"address": f"10.0.0.{i}"}) for i in range(9)]
    (payload,) = chunks.pack(LIB, [lines])
    with pytest.raises(StoreError, match="raw archive is damaged") as raised:
        chunks.lines(bytes(payload)[:cut], lib)
    assert "ingest the logs again into a new --data directory" in str(raised.value)


def test_event_lines_take_less_room_by_column_and_replay_the_same(tmp_path: Path) -> None:
    """bench_ingest's events (process_events, 31 columns): the archive by column 18 % smaller at
    its full size (4.46 -> 3.74 MB); here at 20 hosts x 6 h."""
    count, _ = write(tmp_path / "events.log", events_lines(20, 6))
    sizes, events = [], []
    for mode in ("off", "on"):  # the SQL path writes chunks as lines
        with hindsight.open(tmp_path / mode, native=mode) as hs:
            assert hs.ingest([tmp_path / "events.log"]).rows == count
            con = hs.store.con
            (size,) = con.execute("SELECT sum(octet_length(data)) FROM raw_chunks").fetchone() or (
                0,
            )
            sizes.append(size)
            hs.rebuild()  # every event again, from the archive
            events.append(hs.sql("SELECT * FROM process_events ORDER BY ALL").rows)
    assert len(events[0]) == count and events[0] == events[1]
    assert sizes[1] < 0.88 * sizes[0]


def test_a_store_of_layout_4_keeps_its_chunks_of_lines_and_adds_chunks_by_column(
    tmp_path: Path,
) -> None:
    """Layout 5 is layout 4 with chunks by column: a writer renumbers the store (so that a
    Hindsight of layout 4 refuses it rather than misread them) and reads both."""
    early = [
        event(IA, 100 * i, "added", {"address": f"10.0.0.{i}"}, counter=i) for i in range(1, 9)
    ]
    late = [
        event(IA, 100 * i, "added", {"address": f"10.0.1.{i}"}, counter=i) for i in range(9, 17)
    ]
    with hindsight.open(tmp_path / "d", native="off") as hs:  # chunks as lines, as layout 4's
        hs.ingest([write_lines(tmp_path / "a.log", *early)])
        hs.store.con.execute("UPDATE meta SET value = '4' WHERE key = 'layout'")
    with hindsight.open(tmp_path / "d") as hs:
        layout = hs.store.con.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()
        assert layout == (LAYOUT_VERSION,)
        hs.ingest([write_lines(tmp_path / "b.log", *late)])
        con = hs.store.con
        stored = [
            chunks.read(d)
            for (d,) in con.execute("SELECT data FROM raw_chunks ORDER BY rowid").fetchall()
        ]
        firsts = [
            zstandard.ZstdDecompressor().decompress(d)[:5]
            for (d,) in con.execute("SELECT data FROM raw_chunks ORDER BY rowid").fetchall()
        ]
        assert stored == [early, late]
        assert firsts[0] != chunks.MAGIC and firsts[1] == chunks.MAGIC
        hs.rebuild()
        want = sorted([f"10.0.0.{i}" for i in range(1, 9)] + [f"10.0.1.{i}" for i in range(9, 17)])
        assert [
            a for (a,) in hs.sql(f"SELECT address FROM {IA} ORDER BY ALL", at=2000).rows
        ] == want
