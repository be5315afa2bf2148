"""Reading files as osquery and relays write them."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import orjson
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from hindsight.osquery import reader
from hindsight.osquery.lines import ResultLine, StatusLine
from hindsight.osquery.reader import expand, read_lines

LINE = b'{"name":"q","hostIdentifier":"h","unixTime":1,"columns":{"a":"1"},"action":"added"}'


def test_plain_gzip_and_zstd(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(LINE + b"\n")
    (tmp_path / "b.log.gz").write_bytes(gzip.compress(LINE + b"\r\n\n" + LINE))
    (tmp_path / "c.log.2.zst").write_bytes(zstandard.ZstdCompressor().compress(LINE + b"\n"))
    lines = [ln for f in expand([tmp_path]) for ln in read_lines(f, 1 << 20)]
    assert len(lines) == 4 and all(isinstance(ln.parsed, ResultLine) for ln in lines)


def _line(n: int) -> bytes:
    return orjson.dumps({"name": "q", "hostIdentifier": "h", "unixTime": n, "counter": n,
                         "columns": {"n": str(n), "pad": "x" * 100}, "action": "added"})


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_a_compressed_file_cut_short_keeps_its_whole_lines(tmp_path: Path, kind: str) -> None:
    """A rotated file copied while it was compressed, a partial transfer: its whole lines are
    read, the cut one is rejected with its reason, and nothing is raised (the other files of
    the ingest are read)."""
    data = b"".join(_line(n) + b"\n" for n in range(1, 5001))
    packed = gzip.compress(data) if kind == "gzip" else zstandard.ZstdCompressor().compress(data)
    path = tmp_path / f"osqueryd.results.log.1.{'gz' if kind == 'gzip' else 'zst'}"
    path.write_bytes(packed[: len(packed) // 2])
    lines = list(read_lines(path, 1 << 20))
    good, bad = lines[:-1], lines[-1]
    assert len(good) > 1000 and all(isinstance(ln.parsed, ResultLine) for ln in good)
    assert [ln.number for ln in good] == list(range(1, len(good) + 1))
    assert bad.error is not None and bad.number == len(good) + 1
    assert "cut short" in bad.error or "unexpected end of data" in bad.error


@pytest.mark.parametrize("damage", ["torn", "bad byte"])
def test_a_damaged_first_line_costs_that_line_only(tmp_path: Path, damage: str) -> None:
    """A first line torn by a crash (the next line appended to it) or holding a byte that is not
    UTF-8 is one bad line of JSON lines, not the start of a pretty-printed document."""
    first = _line(1)[:60] + _line(2) if damage == "torn" else _line(1).replace(b'"h"', b'"\xff"')
    path = tmp_path / "osqueryd.results.log"
    path.write_bytes(first + b"\n" + _line(3) + b"\n" + _line(4) + b"\n")
    lines = list(read_lines(path, 1 << 20))
    read = [ln.parsed.unix_time for ln in lines if isinstance(ln.parsed, ResultLine)]
    assert read == ([2, 3, 4] if damage == "torn" else [3, 4])
    assert [ln.number for ln in lines if ln.error] == [1]


def test_rotated_files_oldest_first(tmp_path: Path) -> None:
    names = [
        "osqueryd.results.log",
        "osqueryd.results.log.1",
        "osqueryd.results.log.2.zst",
        "osqueryd.results.log.10.zst",
        "osqueryd.INFO.20240101-000000.1",
    ]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    order = [p.name for p in expand([tmp_path])]  # type: ignore[union-attr]
    assert order == [
        "osqueryd.results.log.10.zst",
        "osqueryd.results.log.2.zst",
        "osqueryd.results.log.1",
        "osqueryd.results.log",
    ]


def test_tls_body_pretty_printed(samples: Path) -> None:
    body = samples / "fleetdm__fleet__server__service__frontend_test.go.requestBody.tls-logger.json"
    lines = list(read_lines(body, 1 << 20))
    assert [(ln.number, ln.item) for ln in lines] == [(1, 1), (1, 2)]  # one body: one scope
    assert lines[1].where.endswith(".json:1 (data[1])")
    assert all(isinstance(ln.parsed, ResultLine) and ln.parsed.shape == "snapshot" for ln in lines)


def test_tls_status_body(tmp_path: Path) -> None:
    body = {
        "node_key": "k",
        "log_type": "status",
        "data": [
            {
                "hostIdentifier": "h",
                "unixTime": 5,
                "severity": 0,
                "filename": "f.cpp",
                "line": 3,
                "message": "hi",
                "version": "5.12.1",
            }
        ],
    }
    path = tmp_path / "status.json"
    path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    (line,) = read_lines(path, 1 << 20)
    assert isinstance(line.parsed, StatusLine) and line.parsed.message == "hi"


def test_long_line_is_rejected_and_the_next_one_read(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b'{"x":"' + b"a" * 5000 + b'"}\n' + LINE + b"\n")
    first, second = read_lines(path, 1000)
    assert first.parsed is None and "exceeds the 1000-byte limit" in (first.error or "")
    assert first.number == 1 and second.number == 2 and second.parsed is not None


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO(LINE + b"\n" + LINE + b"\n")

    monkeypatch.setattr(sys, "stdin", Stdin)
    assert [ln.where for ln in read_lines("-", 1 << 20)] == ["-:1", "-:2"]


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_compressed_stdin(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    data = LINE + b"\n" + LINE + b"\n"
    packed = gzip.compress(data) if kind == "gzip" else zstandard.ZstdCompressor().compress(data)

    class Stdin:
        buffer = io.BufferedReader(io.BytesIO(packed))

    monkeypatch.setattr(sys, "stdin", Stdin)
    lines = list(read_lines("-", 1 << 20))
    assert [ln.where for ln in lines] == ["-:1", "-:2"] and not any(ln.error for ln in lines)


def test_a_byte_order_mark_before_the_first_line_is_not_part_of_it(tmp_path: Path) -> None:
    """A log exported on Windows starts with one: the first line is read as it is without."""
    path = tmp_path / "exported.log"
    path.write_bytes(b"\xef\xbb\xbf" + LINE + b"\r\n" + LINE + b"\r\n")
    lines = list(read_lines(path, 1 << 20))
    assert [ln.error for ln in lines] == [None, None] and lines[0].raw == LINE


def test_files_of_a_directory_that_are_not_osquery_output_are_skipped(tmp_path: Path) -> None:
    """A README or a .DS_Store beside the logs would be rejected line by line; a file that may
    hold output is kept, however it begins."""
    line = b'{"name":"q","hostIdentifier":"h","unixTime":1,"columns":{"a":"1"},"action":"added"}'
    kept = {
        "results.log": line + b"\n",
        "torn-first-line.log": b'ntime":1}\n' + line + b"\n",
        "long-first-line.log": b"x" * 5000 + b"\n" + line + b"\n",  # nothing whole to judge
        "empty.log": b"",
        "blank.log": b"\n\n",
        "bom.log": b"\xef\xbb\xbf" + line + b"\n",
        "body.json": b'{\n  "node_key": "k",\n  "data": []\n}\n',
        "results.log.1.gz": gzip.compress(line + b"\n"),
    }
    not_output = {
        "README.md": b"# Logs\n\nCollected from web-07.\n",
        ".DS_Store": b"\x00\x00\x00\x01Bud1\x00" * 10,
        "notes.txt.gz": gzip.compress(b"not json\nat all\n"),
    }
    for name, data in {**kept, **not_output}.items():
        (tmp_path / name).write_bytes(data)
    skipped: list[Path] = []
    found = {Path(p).name for p in expand([tmp_path], skipped)}
    assert found == set(kept)
    assert sorted(p.name for p in skipped) == sorted(not_output)
    # named, a file is read whatever it holds
    assert expand([tmp_path / "README.md"], skipped) == [tmp_path / "README.md"]


def _lines_as_specified(
    data: bytes, limit: int, start: int, complete_only: bool, number: int
) -> list[tuple[int, bytes, str | None, int]]:
    """What the reader gives for DATA read from START, as its docstring and the osquery logger's
    format say, line by line: (number, raw, error, end)."""
    out = []
    pos = start
    pieces = data[start:].split(b"\n")
    for k, piece in enumerate(pieces):
        ended = k < len(pieces) - 1  # by a newline
        if not ended and (not piece or complete_only):
            break
        number += 1
        size = len(piece) + ended
        first = pos == 0
        pos += size
        if len(piece) > limit:
            error = f"line of {size} bytes exceeds the {limit}-byte limit"
            out.append((number, piece[: min(limit + 1, 200)], error, pos))
            continue
        raw = piece.rstrip(b"\r")
        if first and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if raw and not raw.isspace():
            out.append((number, raw, None, pos))
    return out


@settings(max_examples=500)  # (cheap: a few ms each)
@given(
    pieces=st.lists(
        st.one_of(
            st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"x").replace(b'"', b"x")),
            st.sampled_from([b"", b" ", b"\t \r", b"\r", b"{}\r", b"\xef\xbb\xbf{}", b"a" * 40]),
        ),
        max_size=12,
    ),
    ended=st.booleans(),
    block=st.integers(1, 9),
    limit=st.integers(3, 30),
    skip=st.integers(0, 12),
    complete_only=st.booleans(),
    number=st.integers(0, 5),
)
def test_lines_of_any_bytes_are_those_the_format_gives(
    pieces: list[bytes],
    ended: bool,
    block: int,
    limit: int,
    skip: int,
    complete_only: bool,
    number: int,
) -> None:
    """The block reader against a line-by-line statement of the format, on any bytes split by
    any block size: long lines (past the limit, across blocks), CRLF, blank lines, a byte order
    mark, a last line without its newline (left when COMPLETE_ONLY), a start past some lines."""
    data = b"\n".join(pieces) + (b"\n" if ended and pieces else b"")
    starts = [0] + [i + 1 for i, b in enumerate(data) if b == 10]
    start = starts[min(skip, len(starts) - 1)]
    stream = io.BytesIO(data)
    stream.seek(start)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reader, "_BLOCK", block)
        got = [
            (ln.number, ln.raw, ln.error, ln.end)
            for block in reader._jsonl("f", stream, limit, False, start, complete_only, number)
            for ln in block
        ]
    assert got == _lines_as_specified(data, limit, start, complete_only, number)
