"""Where osquery lines come from: log files (plain, gzip, zstd), directories, stdin, and the
request bodies of the TLS logger (`{"node_key","log_type","data":[...]}`).

Yields `Line`s with their origin (`file:line`) so every rejection can say where it was.
Memory stays bounded: files are streamed, and a line longer than the limit is skipped in chunks.
"""

from __future__ import annotations

import functools
import gzip
import io
import re
import sys
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from itertools import accumulate
from operator import add
from pathlib import Path
from typing import IO, Any, TypeAlias

import orjson
import zstandard

from hindsight.errors import BadLine, InputError, did_you_mean
from hindsight.osquery import records
from hindsight.osquery.blocks import Block, Line, Lines
from hindsight.osquery.lines import parse_document

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: Glog text status files in a logger directory: not JSON, skipped when walking directories.
_GLOG = re.compile(r"\.(INFO|WARNING|ERROR|FATAL)(\.|$)")
_ROTATED = re.compile(r"^(?P<base>.+?)\.(?P<n>\d+)(\.(zst|gz))?$")
#: A whole-file JSON document (a TLS body) is read at once only up to this size.
#: A pretty-printed document (a TLS body, a list of lines) is decoded whole: its bound is the
#: server's on a TLS body (HINDSIGHT_SERVE_MAX_BODY), as a document of tiny items decodes into
#: ~30x its bytes.
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
#: How much of a file found in a directory is read to tell whether it may be osquery output.
_SNIFF_BYTES = 4096
_BOM = b"\xef\xbb\xbf"
#: What a line read one at a time holds (a TLS body or status line, a journal record): a block
#: without either is read at once.
SPECIAL = (b'"log_type"', records.MARK)
#: A test of whether bytes hold either of SPECIAL (the native library's is faster: store.native).
Holds = Callable[[bytes], bool]
#: Where the newlines of a block are, the longest line between two of them and whether one of
#: those is blank (the native library's: store.native.scan); without it, blocks are split here
#: into a `Line` a line.
Split: TypeAlias = "Callable[[bytes], tuple[array[int], int, bool]]"


def holds_special(data: bytes) -> bool:
    """Whether DATA holds either of SPECIAL."""
    return any(needle in data for needle in SPECIAL)


def expand(paths: Iterable[str | Path], skipped: list[Path] | None = None) -> list[Path | str]:
    """Files to read, in an order that puts a host's older rotated files first. In a directory,
    glog's text logs are left out, and so are files that cannot be osquery output (`looks_like_
    output`), which are added to SKIPPED: a README or a .DS_Store beside the logs would be
    rejected line by line. A file named itself is always read. A file named twice (itself and
    in its directory, or by two paths) is read once: read twice in one ingest, its lines would
    be one scope and its identical rows counted twice."""
    out: list[Path | str] = []
    for p in paths:
        if str(p) == "-":
            out.append("-")
            continue
        path = Path(p)
        if not path.exists() and path.is_symlink():
            raise InputError(f"broken symlink: {p} points to {path.readlink()}, which is missing")
        if not path.exists():
            siblings = [str(c) for c in path.parent.iterdir()] if path.parent.is_dir() else []
            raise InputError(f"no such file or directory: {p}{did_you_mean(str(p), siblings)}")
        if path.is_dir():
            files = [f for f in path.rglob("*") if f.is_file() and not _GLOG.search(f.name)]
            for f in sorted(files, key=_rotation_order):
                if looks_like_output(f):
                    out.append(f)
                elif skipped is not None:
                    skipped.append(f)
        else:
            out.append(path)
    return _once(out)


def _once(files: list[Path | str]) -> list[Path | str]:
    """FILES without the second naming of a file (the same device and inode)."""
    seen: set[tuple[int, int]] = set()
    out: list[Path | str] = []
    for f in files:
        if f != "-":
            try:
                st = Path(f).stat()
            except OSError:  # (the reader reports it)
                out.append(f)
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
        out.append(f)
    return out


def looks_like_output(path: Path) -> bool:
    """Whether a file may hold osquery output, judged by its first KBs (decompressed): False
    only for text whose lines there all begin with something else than `{` or `[` (a first
    line torn by a rotation is followed by a whole one), or for binary data (JSON has no NUL
    byte)."""
    try:
        with ExitStack() as stack:
            stream, _ = _open(path, stack)
            head = stream.read(_SNIFF_BYTES)
    except (OSError, EOFError, zlib.error, zstandard.ZstdError):
        return True  # the reader reports what is wrong with it
    if b"\0" in head:
        return False
    pieces = head.removeprefix(_BOM).split(b"\n")
    if len(pieces) == 1:  # no whole line to judge by: a long first line (maybe torn), or empty
        return True
    return not head.strip() or any(p.lstrip()[:1] in (b"{", b"[") for p in pieces)


@functools.lru_cache(maxsize=4096)  # (asked for every line of a batch: ~6 us a path)
def rotation_base(origin: str) -> str:
    """The log a file is a rotation of (`dir/X` for `dir/X.2.gz`, `dir/X.1` and `dir/X`
    itself): the lines of a log's rotated files, read oldest first, follow one another, and an
    execution the rotation cut in two is one scope (hindsight.osquery.scopes)."""
    path = Path(origin)
    match = _ROTATED.match(path.name)
    return str(path.with_name(match["base"])) if match else origin


def _rotation_order(path: Path) -> tuple[str, str, int]:
    match = _ROTATED.match(path.name)
    if match:  # X.3.zst before X.2.zst before X.1 before X
        return (str(path.parent), match["base"], -int(match["n"]))
    return (str(path.parent), path.name, 0)


def read_lines(source: Path | str, max_line_bytes: int, parse: bool = True) -> Iterator[Line]:
    """Every line of one source, parsed or rejected, one at a time (see `read_blocks`)."""
    for block in read_blocks(source, max_line_bytes, parse=parse):
        yield from block


def read_blocks(
    source: Path | str,
    max_line_bytes: int,
    on_bytes: Callable[[int], None] | None = None,
    parse: bool = True,
    start: int = 0,
    complete_only: bool = False,
    number: int = 0,
    holds: Holds = holds_special,
    split: Split | None = None,
) -> Iterator[Lines]:
    """Every line of one source, parsed or rejected, in blocks (the lines of up to a MB of the
    file: what reads many lines takes them a block at a time). `on_bytes` hears, at each
    block, how many bytes of the file (compressed, as on disk) have been read. HOLDS: the test
    of a block for a line read one at a time. SPLIT: the native split of a block, which leaves
    a plain block's lines in it (a `Block`).

    With `parse=False`, JSON lines are passed on undecoded (`parsed` None, `error` None): ingest
    parses them in bulk. Documents and TLS bodies are still split into their lines here.
    START: the byte offset of a plain file's line to begin at, NUMBER the lines before it (a
    followed file, read up to there before; see hindsight.store.follow). COMPLETE_ONLY: a last
    line without its newline is left unread (a writer may be half-way through it)."""
    origin = str(source)
    with ExitStack() as stack:
        try:
            stream, raw = _open(source, stack)
        except OSError as exc:  # kept aside like a line that cannot be read: the rest goes on
            unread = Line(origin, 0, b"", None, f"cannot read the file: {exc.strerror or exc}")
            yield Lines([unread])
            return
        last = number
        try:
            for block in _read(
                origin,
                stream,
                raw,
                max_line_bytes,
                on_bytes,
                parse,
                start,
                complete_only,
                number,
                holds,
                split,
            ):
                if block:
                    last = block[-1].number
                    yield block
        except (EOFError, zlib.error, zstandard.ZstdError) as exc:  # the lines before are kept
            cut = Line(origin, last + 1, b"", None, f"the compressed data is cut short: {exc}")
            yield Lines([cut])


def _read(
    origin: str,
    stream: IO[bytes],
    raw: IO[bytes] | None,
    max_line_bytes: int,
    on_bytes: Callable[[int], None] | None,
    parse: bool,
    start: int,
    complete_only: bool,
    number: int,
    holds: Holds,
    split: Split | None,
) -> Iterator[Lines]:
    """read_blocks of an open source."""
    if start:
        stream.seek(start)
    head = stream.peek(64) if hasattr(stream, "peek") and not start else b""
    if head.lstrip()[:1] in (b"{", b"[") and _is_document(stream, head):
        yield Lines(_document_lines(origin, stream))
        return
    seekable = raw is not None and raw.seekable()  # not a pipe
    tell = raw.tell if raw is not None and seekable and on_bytes is not None else None
    blocks = _jsonl(
        origin, stream, max_line_bytes, parse, start, complete_only, number, holds, split
    )
    for block in blocks:
        if tell is not None and on_bytes is not None:
            on_bytes(tell())
        yield block


def _open(source: Path | str, stack: ExitStack) -> tuple[IO[bytes], IO[bytes] | None]:
    """The decompressed stream of a source, and the file underneath (for progress)."""
    if source == "-":
        stdin = sys.stdin.buffer
        if not isinstance(stdin, io.BufferedReader):  # (a test's stand-in)
            return stdin, None
        return _decompressed(stdin, stack), None
    raw = stack.enter_context(open(source, "rb"))  # noqa: SIM115 - closed by the stack
    return _decompressed(raw, stack), raw


def _decompressed(raw: io.BufferedReader, stack: ExitStack) -> IO[bytes]:
    """RAW's bytes, decompressed when they are gzip or zstd."""
    magic = raw.peek(4)[:4]  # not read: a pipe (`<(zcat ...)`, a FIFO) cannot seek back
    if magic[:2] == GZIP_MAGIC:
        gz = stack.enter_context(gzip.GzipFile(fileobj=raw))
        return io.BufferedReader(_Read1(gz), buffer_size=1 << 20)
    if magic == ZSTD_MAGIC:
        reader = stack.enter_context(zstandard.ZstdDecompressor().stream_reader(raw))
        return io.BufferedReader(reader, buffer_size=1 << 20)
    return io.BufferedReader(raw, buffer_size=1 << 20)


class _Read1(io.RawIOBase):
    """A gzip stream read by `read1`: each fill of the buffer above takes what is decoded so far,
    so a file cut short loses only its cut line (read whole, a fill past the cut raised and took
    with it up to a buffer of lines decoded before)."""

    def __init__(self, inner: gzip.GzipFile) -> None:
        self.inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read1(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _is_document(stream: IO[bytes], head: bytes) -> bool:
    """A pretty-printed JSON document (a TLS body) rather than JSON lines."""
    first = head.lstrip()
    newline = first.find(b"\n")
    if newline == -1:
        return False
    try:
        orjson.loads(first[:newline])
        return False  # the first line is a complete document: JSON lines
    except orjson.JSONDecodeError:
        # a damaged first line of JSON lines (torn by a crash, a bad byte) still ends like an
        # object; a pretty-printed document's first line opens one (`{`, `"data": [`)
        return not first[:newline].rstrip().endswith((b"}", b"]"))


def _document_lines(origin: str, stream: IO[bytes]) -> Iterator[Line]:
    data = stream.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        yield Line(origin, 1, data[:200], None, f"JSON document over {MAX_DOCUMENT_BYTES} bytes")
        return
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        yield Line(origin, 1, data[:200], None, f"invalid JSON: {exc}")
        return
    yield from document_items(origin, doc, 1)


def document_items(origin: str, doc: Any, number: int) -> Iterator[Line]:
    """Lines inside one decoded document (line NUMBER of ORIGIN): a TLS logger body or a list,
    each element a line with its place in it (`item`: the lines of one body), or one line."""
    if isinstance(doc, dict) and isinstance(doc.get("data"), list) and "log_type" in doc:
        items, log_type = doc["data"], doc.get("log_type")
    elif isinstance(doc, list):
        items, log_type = doc, None
    else:
        yield _parsed(origin, number, orjson.dumps(doc), doc, None)
        return
    for i, item in enumerate(items, 1):
        line = _parsed(origin, number, orjson.dumps(item), item, log_type)
        line.item = i
        yield line


def _parsed(origin: str, number: int, raw: bytes, doc: Any, log_type: Any) -> Line:
    if log_type == "status" and isinstance(doc, dict):
        doc = {**doc, "log_type": "status"}
    try:
        return Line(origin, number, raw, parse_document(doc))
    except BadLine as exc:
        return Line(origin, number, raw, None, exc.reason)


#: Bytes read at a time from a stream of JSON lines (split in C: no Python call per byte).
_BLOCK = 1 << 20
_SPACE = frozenset(b" \t\n\r\x0b\x0c")


def _jsonl(
    origin: str,
    stream: IO[bytes],
    limit: int,
    parse: bool = True,
    pos: int = 0,
    complete_only: bool = False,
    number: int = 0,
    holds: Holds = holds_special,
    split: Split | None = None,
) -> Iterator[Lines]:
    """The lines of a stream of JSON lines, a block at a time, numbered after NUMBER, each with
    `end`: its offset in the file, the stream starting at POS (see `_pieces`); HOLDS tests a
    block for a line to read one at a time; SPLIT (native) splits it (see read_blocks)."""
    first = pos == 0  # (a byte order mark may begin the file)
    read = getattr(stream, "read1", stream.read)
    for piece in _pieces(read, limit, complete_only, split):
        block, parts, whole, nl = piece.block, piece.parts, piece.whole, piece.nl
        # (whether any line may be special, or end in a CR: the first may have begun before)
        special = parse or holds(block) or bool(whole and holds_special(parts[0]))
        crlf = b"\r" in block or parts[0].endswith(b"\r")
        # (the usual block: its first line read line by line, as it may have begun before, the
        # others at once)
        plain = not (special or crlf) and nl == 1 and piece.longest <= limit
        if not plain and piece.newlines is not None:
            parts = piece.split()
        out = Lines()
        for part in parts if not plain else parts[:1]:
            number += 1
            length, whole = whole or len(part), 0
            pos += length + nl
            if length > limit:
                first = False
                out.add(_too_long(origin, number, part, length + nl, limit, pos))
                continue
            raw = part.rstrip(b"\r") if crlf else part
            if first:
                first = False
                if raw.startswith(_BOM):
                    raw = raw[len(_BOM) :]
            if not raw or (raw[0] in _SPACE and raw.isspace()):
                continue
            if special and (parse or raw.startswith(records.MARK) or b'"log_type"' in raw):
                for line in _special(origin, number, raw, pos, parse):
                    out.add(line)
                continue
            out.add(Line(origin, number, raw, None, end=pos))
        if plain and piece.newlines is not None:
            lines = Block(origin, block, piece.newlines, number + 1, pos - piece.newlines[0] - 1)
            out.add(lines)
            number, pos = number + len(lines), lines.base + piece.newlines[-1] + 1
        elif plain and len(parts) > 1:
            number, pos = _plain(origin, parts[1:], number, pos, out)
        yield out


def _plain(origin: str, parts: list[bytes], number: int, pos: int, out: Lines) -> tuple[int, int]:
    """PARTS, whole lines each ended by a newline, none special nor too long, after line NUMBER
    ending at POS, added to OUT as lines (blank ones left out). Returns the number and end of
    the last."""
    ends = list(map(add, accumulate(map(len, parts)), range(pos + 1, pos + 1 + len(parts))))
    numbers = range(number + 1, number + 1 + len(parts))
    for n, part, end in zip(numbers, parts, ends, strict=True):
        if part and not (part[0] in _SPACE and part.isspace()):
            out.add(Line(origin, n, part, None, None, None, end))
    return numbers[-1], ends[-1]


class _Piece:
    """A block read (see `_pieces`): its lines (`parts`: all of them, or with SPLIT only the
    first, the others left in the block at its `newlines`), the longest but the first, WHOLE
    and NL."""

    __slots__ = ("block", "longest", "newlines", "nl", "parts", "whole")

    def __init__(
        self,
        block: bytes,
        parts: list[bytes],
        whole: int,
        nl: int,
        newlines: array[int] | None = None,
        longest: int = 0,
    ) -> None:
        self.block, self.parts, self.whole, self.nl = block, parts, whole, nl
        self.newlines, self.longest = newlines, longest

    def split(self) -> list[bytes]:
        """Every line of it (those left in the block split off)."""
        if self.newlines is None or len(self.newlines) < 2:
            return self.parts
        rest = self.block[self.newlines[0] + 1 : self.newlines[-1]]
        return [*self.parts, *rest.split(b"\n")]


def _pieces(
    read: Callable[[int], bytes], limit: int, complete_only: bool, split: Split | None = None
) -> Iterator[_Piece]:
    """A stream's lines, by blocks (what READ gives, up to `_BLOCK`: a pipe's lines come as
    they are written), split in C (or by the native SPLIT, which leaves all lines but the first
    in the block, unless one of them is blank or longer than LIMIT): `parts`, the lines
    without their newline (of a line longer than LIMIT, only its first LIMIT + 1 bytes: memory
    stays bounded), WHOLE the length of the first line when it began in blocks before (else
    0), NL 1 (each line ended by a newline) or 0 (the last line, without one: left out when
    COMPLETE_ONLY, as a writer may be half-way through it)."""
    head, held = b"", 0  # the line a block ended in: its first LIMIT + 1 bytes, its length
    while block := read(_BLOCK):
        newlines, longest, blank = split(block) if split is not None else (None, 0, False)
        if newlines is None or blank or longest > limit:
            parts = block.split(b"\n")
            tail = parts.pop()  # what follows the block's last newline
            newlines, longest = None, max(map(len, parts[1:]), default=0)
        elif newlines:
            parts, tail = [block[: newlines[0]]], block[newlines[-1] + 1 :]
        else:
            parts, tail = [], block
        if not parts:  # no newline: the line goes on
            held += len(tail)
            head += tail[: limit + 1 - len(head)]
            continue
        whole = 0
        if held:
            whole = held + len(parts[0])
            parts[0] = head + parts[0][: limit + 1 - len(head)]
        head, held = tail[: limit + 1], len(tail)
        yield _Piece(block, parts, whole, 1, newlines, longest)
    if held and not complete_only:
        yield _Piece(head, [head], held, 0)


def _too_long(origin: str, number: int, part: bytes, size: int, limit: int, end: int) -> Line:
    """A line of SIZE bytes past the LIMIT, rejected with its first bytes (PART begins it)."""
    return Line(
        origin,
        number,
        part[: min(limit + 1, 200)],
        None,
        f"line of {size} bytes exceeds the {limit}-byte limit",
        end=end,
    )


def _special(origin: str, number: int, raw: bytes, pos: int, parse: bool) -> Iterator[Line]:
    """The lines of a journal record of `hindsight serve`, or of a line decoded here (with
    PARSE, or a one-line TLS body: a relay's dump); else the line, undecoded."""
    if raw.startswith(records.MARK):
        read = list(_record(origin, number, raw, parse))
    elif parse or b'"log_type"' in raw:
        read = list(_decode(origin, number, raw))
    else:
        read = [Line(origin, number, raw, None)]
    for line in read:
        line.end = pos
        yield line


def _record(origin: str, number: int, raw: bytes, parse: bool) -> Iterator[Line]:
    """The lines of a journal record, attributed to its node, each named by the record's line
    and its place in `data`. Unparsed unless PARSE (ingest parses them in bulk)."""
    try:
        doc = orjson.loads(raw)
        found = records.body_of(doc)
    except orjson.JSONDecodeError as exc:  # a torn write: never acknowledged
        yield Line(origin, number, raw[:200], None, f"invalid JSON (a torn journal record): {exc}")
        return
    if found is None:
        yield Line(origin, number, raw[:200], None, "a journal record without a logger body")
        return
    body, host_uuid = found
    copied, occurrences = records.marks_of(doc)
    status = body.get("log_type") == "status"
    for i, item in enumerate(body["data"], 1):
        if i - 1 in copied:  # the receiver recorded these lines before (a request sent again)
            continue
        line = records.attribute(item, host_uuid)
        if status and isinstance(line, dict):
            line = {**line, "log_type": "status"}
        text = orjson.dumps(line)
        read = (
            _parsed(origin, number, text, line, None) if parse else Line(origin, number, text, None)
        )
        read.item, read.node = i, host_uuid
        if occurrences is not None:
            read.occurrence = occurrences.get(str(i - 1), 0)
        yield read


def torn(raw: bytes) -> int | None:
    """Where, in a line that is not JSON, a whole JSON object starts that runs to its end: the
    line osqueryd wrote after one it was cut short in (a crash, then an append to the torn file,
    with no newline between). Tried from the right, so each nested object fails fast."""
    start = raw.rfind(b'{"')
    for _ in range(10_000):
        if start <= 0:
            return None
        try:
            if isinstance(orjson.loads(raw[start:]), dict):
                return start
        except orjson.JSONDecodeError:
            pass
        start = raw.rfind(b'{"', 0, start)
    return None


def torn_reason(cut: int) -> str:
    return f"invalid JSON, cut short: the line written after it (from byte {cut}) is read"


def _decode(origin: str, number: int, raw: bytes) -> Iterator[Line]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        cut = torn(raw)
        if cut is None:
            yield Line(origin, number, raw, None, f"invalid JSON: {exc}")
            return
        yield Line(origin, number, raw[:cut], None, torn_reason(cut))
        raw = raw[cut:]
        doc = orjson.loads(raw)
    if isinstance(doc, dict) and isinstance(doc.get("data"), list) and "log_type" in doc:
        # a TLS logger body on one line (a relay's dump): each data[] element is a line
        yield from document_items(origin, doc, number)
        return
    yield _parsed(origin, number, raw, doc, None)
