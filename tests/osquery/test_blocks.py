"""A batch's lines held in blocks (hindsight.osquery.blocks) against the list of `Line`s they
stand for: indexing, iteration, taking a batch's share, popping, tails, spans and segments."""

from __future__ import annotations

import io
from array import array
from itertools import accumulate, pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hindsight.osquery import reader
from hindsight.osquery.blocks import Block, Line, Lines
from hindsight.store import native

LIB = native.library("on")  # the tests need it built (pip install with cargo: native.BUILD_HINT)


def block_of(origin: str, raws: list[bytes], number: int, base: int) -> Block:
    """RAWS as the reader's block holds them: after a first line of its own."""
    data = b"first\n" + b"".join(raw + b"\n" for raw in raws)
    nl = array("q", [i for i, b in enumerate(data) if b == 10])
    return Block(origin, data, nl, number, base)


def fields(line: Line) -> tuple[object, ...]:
    return (line.origin, line.number, line.raw, line.end, line.error, line.item)


raw_lines = st.lists(st.binary(min_size=1, max_size=9).map(lambda b: b.replace(b"\n", b"x")))
items = st.lists(
    st.tuples(st.booleans(), st.sampled_from(["a", "b"]), raw_lines, st.integers(0, 99)),
    max_size=6,
)


def build(spec: list[tuple[bool, str, list[bytes], int]]) -> tuple[Lines, list[Line]]:
    """Lines of SPEC's items (a block, or each raw a Line), and the list they stand for."""
    lines, model = Lines(), []
    for as_block, origin, raws, number in spec:
        if as_block:
            block = block_of(origin, raws, number, 1000)
            lines.add(block)
            model += [block.line(k) for k in range(len(block))]
        else:
            for k, raw in enumerate(raws):
                line = Line(origin, number + k, raw, None, end=number + k)
                lines.add(line)
                model.append(line)
    return lines, model


@given(spec=items, data=st.data())
def test_lines_are_the_list_they_stand_for(
    spec: list[tuple[bool, str, list[bytes], int]], data: st.DataObject
) -> None:
    lines, model = build(spec)
    assert len(lines) == len(model)
    assert [fields(ln) for ln in lines] == [fields(ln) for ln in model]
    if model:
        i = data.draw(st.integers(-len(model), len(model) - 1))
        assert fields(lines[i]) == fields(model[i])
        assert lines[i] is lines[i]  # (made once: what is set on it stays)
    with pytest.raises(IndexError):
        lines[len(model)]
    assert sum(n for _, n in lines.spans()) == len(model)
    assert [fields(ln) for ln, _ in lines.spans()] == [
        fields(model[end - n]) for end, (_, n) in zip(lines.ends, lines.spans(), strict=True)
    ]
    last = {ln.origin: fields(ln) for ln in model}
    assert {ln.origin: fields(ln) for ln in lines.tails()} == last
    segments = lines.segments()
    assert [d[a + 1 : b] for d, nl in segments for a, b in pairwise(nl)] == [
        ln.raw for ln in model
    ]


@given(spec=items, at=st.integers(0, 40), most=st.integers(1, 40), room=st.integers(1, 200))
def test_taking_a_batch_share_stops_where_the_list_would(
    spec: list[tuple[bool, str, list[bytes], int]], at: int, most: int, room: int
) -> None:
    """`take` as the batcher filled a batch from a list: at most MOST lines from AT, up to the
    one whose bytes reach ROOM (included)."""
    lines, model = build(spec)
    taken, held = lines.take(at, most, room)
    sizes = list(accumulate(len(ln.raw) for ln in model[at : at + most]))
    n = next((k + 1 for k, size in enumerate(sizes) if size >= room), len(sizes))
    assert [fields(ln) for ln in taken] == [fields(ln) for ln in model[at : at + n]]
    assert held == sum(len(ln.raw) for ln in model[at : at + n])


@given(spec=items, pops=st.integers(0, 20))
def test_popping_takes_the_last_lines_off(
    spec: list[tuple[bool, str, list[bytes], int]], pops: int
) -> None:
    lines, model = build(spec)
    for _ in range(min(pops, len(model))):
        assert fields(lines.pop()) == fields(model.pop())
    assert [fields(ln) for ln in lines] == [fields(ln) for ln in model]
    lines.add(Line("c", 1, b"x", None))
    assert fields(lines[-1]) == fields(Line("c", 1, b"x", None))


def test_what_is_set_on_a_line_of_a_block_stays() -> None:
    lines = Lines([block_of("a", [b"{}", b"{ }"], 1, 0)])
    lines[-1].cut = True
    assert lines[1].cut and [ln.cut for ln in lines] == [False, True]
    assert lines.tails()[0].cut


def test_lines_with_read_errors_leave_them_out() -> None:
    bad = Line("a", 2, b"x", None, "cannot read")
    lines = Lines([Line("a", 1, b"{}", None), bad, block_of("a", [b"{}"], 3, 0)])
    assert lines.errors() == [bad]
    kept = lines.without_errors()
    assert [ln.number for ln in kept] == [1, 3]
    clean = Lines([block_of("a", [b"{}"], 1, 0)])
    assert clean.without_errors() is clean


@settings(max_examples=300)
@given(
    pieces=st.lists(
        st.one_of(
            st.sampled_from([b"{}", b'{"a":1}', b"", b" \x0b", b"\r", b"x" * 30, b'{"log_type"']),
            st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"x")),
        ),
        max_size=30,
    ),
    block=st.integers(1, 64),
    limit=st.integers(3, 30),
)
def test_the_native_split_reads_the_lines_the_python_split_reads(
    pieces: list[bytes], block: int, limit: int
) -> None:
    """The reader with the library's split (lines left in their block) and without it: the
    same lines, numbers, ends and errors, on any bytes by any block size."""
    data = b"\n".join(pieces) + b"\n"

    def read(split: reader.Split | None) -> list[tuple[object, ...]]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(reader, "_BLOCK", block)
            stream = io.BytesIO(data)
            blocks = reader._jsonl("f", stream, limit, False, 0, False, 0, native.holds(LIB), split)
            return [fields(ln) for lines in blocks for ln in lines]

    assert read(native.split(LIB)) == read(None)


def test_a_plain_file_is_read_into_blocks(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    path.write_bytes(b"".join(b'{"name":"q","n":%d}\n' % n for n in range(5000)))
    blocks = list(reader.read_blocks(path, 1 << 20, parse=False, split=native.split(LIB)))
    assert any(isinstance(item, Block) for lines in blocks for item in lines.items)
    assert [ln.number for lines in blocks for ln in lines] == list(range(1, 5001))
    assert blocks[-1][-1].end == path.stat().st_size


def test_the_native_split_finds_more_newlines_than_it_made_room_for() -> None:
    split = native.split(LIB)
    found, longest, blank = split(b"\n" * 5000)
    assert list(found) == list(range(5000)) and (longest, blank) == (0, True)
    found, longest, blank = split(b"x" * 900 + b"\n{}\n{ }\n" + b"tail")
    assert list(found) == [900, 903, 907] and (longest, blank) == (3, False)
