"""Following log files as osqueryd writes them (`hindsight ingest --follow`).

Each file's position is kept in the store (`file_positions`), written in the transaction of the
lines read up to it: a follow that stops, or crashes, resumes where the store's lines end, with
nothing read twice and nothing missed.

- A file is known by its device and inode, not its name: osquery's rotation renames
  `osqueryd.results.log` to `osqueryd.results.log.1`, and what was written before the rotation
  is read from `.1`, from where the last read stopped.
- Its first bytes (up to `HEAD`) are kept as a hash: an inode reused by a new file, or a file
  rewritten in place, starts over from its beginning. So does a file shorter than its position
  (truncated, as `copytruncate` does). The store drops the lines it already holds.
- A compressed file (rotated, then gzipped or zstd'd: a new inode) is read whole, once, and a
  JSON document (a TLS body) too.
- A last line without its newline is left for the next read: osqueryd may be half-way through it.
  So is the last execution of a file written to in the last `follow_settle_s` seconds: osqueryd
  may not have written all its lines, and an execution read in two parts costs a replay of its
  stream. Its identical rows are counted on from one read to the next (the store keeps the
  scope a read ended in: store/carry.py), though not across a restart of the follow, where a
  line repeating one read before the restart would be taken for a resend.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import xxhash

from hindsight.errors import InputError
from hindsight.osquery.blocks import Line, Lines
from hindsight.osquery.reader import GZIP_MAGIC, ZSTD_MAGIC, expand
from hindsight.store.writes import detach, register

HEAD = 1024  # bytes of a file's start that identify it (past the first line's unixTime)

DDL = """
CREATE TABLE IF NOT EXISTS file_positions(
    dev UBIGINT, ino UBIGINT, head_len INTEGER, head UBIGINT, path VARCHAR, "offset" BIGINT,
    lines BIGINT, done BOOLEAN, updated BIGINT, PRIMARY KEY (dev, ino));
"""


@dataclass(frozen=True)
class Start:
    """Where to read one file from: byte OFFSET, after NUMBER lines (0, 0: all of it)."""

    path: Path
    dev: int
    ino: int
    head_len: int
    head: int
    offset: int
    number: int
    plain: bool  # not compressed: JSON lines are read on from an offset, a document whole
    size: int  # the file's size when planned


class Positions:
    """The followed files' positions in the store."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.starts: dict[str, Start] = {}

    def plan(self, sources: Iterable[str | Path], skipped: list[Path] | None = None) -> list[Start]:
        """Where to read each file of SOURCES from; files with nothing new are left out (and
        files of directories that are not osquery output added to SKIPPED: see expand)."""
        known = {
            (dev, ino): (head_len, head, offset, lines, done)
            for dev, ino, head_len, head, offset, lines, done in self.con.execute(
                'SELECT dev, ino, head_len, head, "offset", lines, done FROM file_positions'
            ).fetchall()
        }
        starts = []
        for path in expand(_with_rotated(sources, known), skipped):
            if path == "-":
                raise InputError("--follow reads files and directories, not stdin (-)")
            start = _start(Path(path), known)
            if start is not None:
                starts.append(start)
        self.starts = {str(s.path): s for s in starts}
        return starts

    def pending(self, sources: Iterable[str | Path]) -> int:
        """Bytes of SOURCES not read yet (a compressed file or a document: all of it)."""
        return sum(s.size - s.offset for s in self.plan(sources))

    def record(self, lines: Lines) -> None:
        """The positions the lines of a batch reach, in the batch's transaction."""
        last: dict[str, Line] = {}
        for line in lines.tails():  # (the last line of each file is among them)
            if line.number:  # (0: the file could not be opened: no position)
                last[line.origin] = line
        rows = []
        for origin, line in last.items():
            s = self.starts[origin]
            # a document's lines have no offsets: it is done once its last line is stored, at
            # the size it had (read again if it grows: it was being written)
            document = s.plain and line.end == 0
            done = line.eof and (document or not s.plain)
            end = s.size if document else line.end
            rows.append((s.dev, s.ino, s.head_len, s.head, origin, end, line.number, done))
        if not rows:
            return
        cols = zip(*rows, strict=True)
        types = (_U64, _U64, _I32, _U64, pa.string(), _I64, _I64, pa.bool_())
        names = ("dev", "ino", "head_len", "head", "path", "offset", "lines", "done")
        register(
            self.con,
            "_positions",
            {n: (list(v), t) for n, v, t in zip(names, cols, types, strict=True)},
        )
        self.con.execute(
            "INSERT OR REPLACE INTO file_positions SELECT *, ? FROM _positions", [int(time.time())]
        )
        detach(self.con, "_positions")


_U64, _I64, _I32 = pa.uint64(), pa.int64(), pa.int32()


def hold_back(
    batch: Lines, start: Start, settle_s: float, key: Callable[[Line], object]
) -> int:
    """Take the lines of the last execution (by KEY) of START's file off the end of BATCH if
    the file changed in the last SETTLE_S seconds (see the module docstring); returns their
    bytes. A batch never ends inside an execution, so all of them are in it."""
    origin = str(start.path)
    if not start.plain or not batch or batch[-1].origin != origin or batch[-1].end == 0:
        return 0  # compressed, or a document: whole
    try:
        if time.time() - start.path.stat().st_mtime >= settle_s:
            return 0
    except OSError:  # rotated away: its writer moved on
        return 0
    last, removed = key(batch[-1]), 0
    while batch and batch[-1].origin == origin and key(batch[-1]) == last:
        removed += len(batch.pop().raw)
    return removed


def _with_rotated(
    sources: Iterable[str | Path], known: dict[tuple[int, int], tuple[int, int, int, int, bool]]
) -> list[str | Path]:
    """SOURCES, each file named preceded by the files it was rotated to (`X.1`, `X.2.gz` beside
    it) that a follow read before under its name: the lines written between the last read and
    the rotation are theirs. (A directory named has them already.)"""
    out: list[str | Path] = []
    for source in sources:
        path = Path(source)
        if source != "-" and path.is_file():
            rotated = []
            for sibling in path.parent.glob(f"{glob.escape(path.name)}.*"):
                try:
                    st = sibling.stat()
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in known and sibling.is_file():
                    rotated.append((st.st_mtime, str(sibling)))
            out += [name for _, name in sorted(rotated)]
        out.append(source)
    return out


def _start(
    path: Path, known: dict[tuple[int, int], tuple[int, int, int, int, bool]]
) -> Start | None:
    try:
        st = path.stat()
        with path.open("rb") as f:
            first = f.read(HEAD)
    except OSError:  # rotated away between the listing and now: its lines come by its new name
        return None
    plain = first[:2] != GZIP_MAGIC and first[:4] != ZSTD_MAGIC
    head = xxhash.xxh3_64_intdigest(first)
    seen = known.get((st.st_dev, st.st_ino))
    start = Start(path, st.st_dev, st.st_ino, len(first), head, 0, 0, plain, st.st_size)
    if seen is None:
        return start if st.st_size else None
    head_len, old_head, offset, lines, done = seen
    if xxhash.xxh3_64_intdigest(first[:head_len]) != old_head:
        return start  # another file under this inode: from its start
    if done and plain:  # a document: again if it grew
        return None if st.st_size == offset else start
    if not plain:  # (its offsets are of its decompressed lines)
        return None if done else start  # read whole again if its last read did not end
    if st.st_size < offset:
        return start  # truncated
    if st.st_size == offset:
        return None
    return Start(path, st.st_dev, st.st_ino, head_len, old_head, offset, lines, plain, st.st_size)
