"""Output files: osqueryd's rotating logs, external logrotate, and late TLS bodies."""

from __future__ import annotations

import gzip
import os
import random
from pathlib import Path
from typing import BinaryIO

import zstandard

from .config import SimConfig
from .fleet import HostProfile

FLUSH = 1 << 20
LOGROTATE_AT = 6 * 3600 + 25 * 60  # cron.daily at 06:25 host clock
TLS_PERIOD = 4  # --logger_tls_period


class LogFile:
    """One osqueryd log file and its rotated predecessors.

    Each generation ("chunk") is kept in memory (spilled to a temporary segment only when it
    outgrows FLUSH); rotated generations are compressed as they age. At close every generation
    gets its final name: newest -> X, then X.1, X.2.zst, ... (osqueryd --logger_rotate) or
    X.1.gz, X.2.gz, ... (external logrotate, daily).
    """

    def __init__(self, path: Path, cfg: SimConfig, logrotate: bool, start: int) -> None:
        self.path = path
        self.cfg = cfg
        self.logrotate = logrotate
        self.next_rotate = start - start % 86400 + LOGROTATE_AT
        if self.next_rotate <= start:
            self.next_rotate += 86400
        self.chunk = 0
        self.size = 0
        self.buf = bytearray()
        self.fh: BinaryIO | None = None  # spill file of the current chunk, if any
        self.pending: bytes | None = None  # the previous chunk, future X.1 (osquery)

    def _seg(self, i: int, ext: str = "") -> Path:
        return self.path.with_name(f"{self.path.name}.seg{i:05d}{ext}")

    def write(self, lines: list[bytes], host_time: int) -> None:
        """Append complete lines; rotate as osqueryd does (before a write, when the file is
        already >= rotate_size) or as a daily logrotate does."""
        if self.logrotate:
            if host_time >= self.next_rotate:
                while self.next_rotate <= host_time:
                    self.next_rotate += 86400
                if self.size:
                    self._rotate()
            self._append(b"".join(lines))
            return
        limit = self.cfg.rotate_size
        if self.size >= limit:
            self._rotate()
        data = b"".join(lines)
        if self.size + len(data) - len(lines[-1]) < limit:
            self._append(data)
            return
        for line in lines:
            if self.size >= limit:
                self._rotate()
            self._append(line)

    def _append(self, data: bytes) -> None:
        self.buf += data
        self.size += len(data)
        if len(self.buf) >= FLUSH:
            if self.fh is None:
                self.fh = self._seg(self.chunk).open("wb")
            self.fh.write(self.buf)
            self.buf.clear()

    def _take_chunk(self) -> bytes:
        """The whole content of the current chunk."""
        if self.fh is None:
            data = bytes(self.buf)
        else:
            self.fh.write(self.buf)
            self.fh.close()
            self.fh = None
            seg = self._seg(self.chunk)
            data = seg.read_bytes()
            seg.unlink()
        self.buf.clear()
        return data

    def _compress(self, i: int, data: bytes) -> None:
        if self.logrotate:
            self._seg(i, ".gz").write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
        else:
            cctx = zstandard.ZstdCompressor(level=self.cfg.zstd_level)
            self._seg(i, ".zst").write_bytes(cctx.compress(data))

    def _rotate(self) -> None:
        data = self._take_chunk()
        if self.logrotate:
            self._compress(self.chunk, data)  # logrotate 'compress': X.1.gz at once
        else:
            if self.pending is not None:
                self._compress(self.chunk - 1, self.pending)  # X.1 -> X.2.zst
            self.pending = data  # osqueryd keeps X.1 plain
        self.chunk += 1
        self.size = 0

    def close(self) -> int:
        """Give every generation its final name; return the number of files."""
        self.path.write_bytes(self._take_chunk())
        k, files = self.chunk, 1
        if self.pending is not None:
            Path(f"{self.path}.1").write_bytes(self.pending)
            files += 1
        for i in range(k - 1 if self.logrotate else k - 2, -1, -1):
            age = k - i
            if self.logrotate:
                os.replace(self._seg(i, ".gz"), f"{self.path}.{age}.gz")
            elif age > self.cfg.rotate_max_files:
                self._seg(i, ".zst").unlink()
                continue
            else:
                os.replace(self._seg(i, ".zst"), f"{self.path}.{age}.zst")
            files += 1
        return files


class Router:
    """Sends each line to the host's files, or, while the host cannot deliver, to its TLS
    buffer (RocksDB keys tls_r_<unixTime>_<seq>) flushed later as request bodies."""

    def __init__(
        self, cfg: SimConfig, prof: HostProfile, host_dir: Path, late_dir: Path, rng: random.Random
    ) -> None:
        self.cfg = cfg
        self.p = prof
        self.late_dir = late_dir
        self.rng = rng
        logrotate = prof.rotation == "logrotate-gz"
        hs = prof.start + prof.clock_offset
        self.files = {
            "results": LogFile(host_dir / "osqueryd.results.log", cfg, logrotate, hs),
            "snapshots": LogFile(host_dir / "osqueryd.snapshots.log", cfg, logrotate, hs),
        }
        self.offline = list(prof.offline)
        self.oi = 0
        self.edge = self.offline[0][0] if self.offline else 1 << 62
        self.inside = False
        self.tls: list[tuple[str, bytes, int]] = []
        self.seq = 0
        self.dup_rate = 0.004 if prof.has("dups") else 0.0
        self.recent: dict[str, list[bytes]] = {"results": [], "snapshots": []}  # per file
        self.lines = 0
        self.rows = 0
        self.late_files = 0
        self.late_dups = 0

    def new_process(self) -> None:
        self.seq = 0  # the key sequence is a per-process counter starting at 1

    def emit(self, kind: str, t: int, unix_time: int, lines: list[bytes], nrows: int) -> None:
        self.lines += len(lines)
        self.rows += nrows
        if t >= self.edge:
            self.inside = self._offline(t)
        if self.inside:
            per = nrows if len(lines) == 1 else 1
            for line in lines:
                self.seq += 1
                self.tls.append((f"tls_r_{unix_time}_{self.seq}", line[:-1], per))
            return
        if self.dup_rate:
            lines = self._with_dups(kind, lines, nrows)
        self.files[kind].write(lines, unix_time)

    def _with_dups(self, kind: str, lines: list[bytes], nrows: int) -> list[bytes]:
        """A log shipper resent a batch now and then: the last few lines come again, after
        other lines (lines of earlier executions, after this one's: a copy in a run of its
        own, while identical lines in one execution's run are identical rows)."""
        out = list(lines)
        recent = self.recent[kind]
        for _ in lines:
            if self.rng.random() < self.dup_rate and len(recent) >= 2:
                block = recent[-self.rng.randint(2, len(recent)) :]
                if block[0] != out[-1]:
                    out.extend(block)
                    self.lines += len(block)
                    self.rows += len(block) * (nrows if len(lines) == 1 else 1)
                    break  # one resent batch: a second, right after it, would continue its run
        self.recent[kind] = (recent + list(lines))[-6:]
        return out

    def _offline(self, t: int) -> bool:
        """Flush windows that ended; is t inside an offline window? Updates self.edge."""
        off = self.offline
        while self.oi < len(off) and t >= off[self.oi][1]:
            self._flush(off[self.oi][1])
            self.oi += 1
        if self.oi >= len(off):
            self.edge = 1 << 62
            return False
        a, b = off[self.oi]
        self.edge = a if t < a else b
        return a <= t

    def _flush(self, arrival: int) -> None:
        if not self.tls:
            return
        self.tls.sort(key=lambda kv: kv[0])  # lexicographic: _10 sorts before _9
        n = self.cfg.tls_max_lines
        head = b'{"node_key":"' + self.p.node_key.encode() + b'","log_type":"result","data":['
        t = arrival
        starts = range(0, len(self.tls), n)
        lost = self.rng.choice(starts)  # at least one response per backlog is lost
        for i in starts:
            batch = self.tls[i : i + n]
            body = head + b",".join(line for _, line, _ in batch) + b"]}"
            self._late(t, body)
            if i == lost or self.rng.random() < 0.15:  # no response: the batch is sent again
                t += TLS_PERIOD
                self._late(t, body)
                self.late_dups += len(batch)
                self.lines += len(batch)
                self.rows += sum(nr for _, _, nr in batch)
            t += TLS_PERIOD
        self.tls.clear()

    def _late(self, arrival: int, body: bytes) -> None:
        self.late_files += 1
        name = f"{arrival}_{self.p.uuid}_{self.late_files:04d}.json"
        (self.late_dir / name).write_bytes(body)

    def close(self) -> int:
        while self.oi < len(self.offline):
            self._flush(self.offline[self.oi][1])
            self.oi += 1
        return sum(f.close() for f in self.files.values()) + self.late_files
