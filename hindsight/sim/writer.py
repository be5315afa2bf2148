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

    Each generation ("chunk") is written to a temporary segment; at close the segments get
    their final names: newest -> X, then X.1, X.2.zst, ... (osqueryd --logger_rotate) or
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
        self.fh: BinaryIO = self._seg(0).open("wb")
        self.files = 0

    def _seg(self, i: int, ext: str = "") -> Path:
        return self.path.with_name(f"{self.path.name}.seg{i:05d}{ext}")

    def write(self, data: bytes, host_time: int) -> None:
        if self.logrotate:
            if host_time >= self.next_rotate:
                while self.next_rotate <= host_time:
                    self.next_rotate += 86400
                if self.size:
                    self._rotate()
        elif self.size >= self.cfg.rotate_size:
            self._rotate()
        self.buf += data
        self.size += len(data)
        if len(self.buf) >= FLUSH:
            self.fh.write(self.buf)
            self.buf.clear()

    def _close_chunk(self) -> None:
        self.fh.write(self.buf)
        self.buf.clear()
        self.fh.close()

    def _compress(self, i: int) -> None:
        raw = self._seg(i)
        data = raw.read_bytes()
        if self.logrotate:
            self._seg(i, ".gz").write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
        else:
            cctx = zstandard.ZstdCompressor(level=self.cfg.zstd_level)
            self._seg(i, ".zst").write_bytes(cctx.compress(data))
        raw.unlink()

    def _rotate(self) -> None:
        self._close_chunk()
        if self.logrotate:
            self._compress(self.chunk)  # logrotate 'compress': X.1.gz at once
        elif self.chunk >= 1:
            self._compress(self.chunk - 1)  # osqueryd keeps X.1 plain, zstd from X.2 on
        self.chunk += 1
        self.size = 0
        self.fh = self._seg(self.chunk).open("wb")

    def close(self) -> int:
        """Give every generation its final name; return the number of files."""
        self._close_chunk()
        k = self.chunk
        files = 0
        for i in range(k, -1, -1):
            age = k - i
            if age > self.cfg.rotate_max_files and not self.logrotate:
                for ext in ("", ".zst"):
                    self._seg(i, ext).unlink(missing_ok=True)
                continue
            if age == 0:
                os.replace(self._seg(i), self.path)
            elif self.logrotate:
                os.replace(self._seg(i, ".gz"), f"{self.path}.{age}.gz")
            elif age == 1:
                os.replace(self._seg(i), f"{self.path}.1")
            else:
                os.replace(self._seg(i, ".zst"), f"{self.path}.{age}.zst")
            files += 1
        return files


class Router:
    """Sends each line to the host's files, or, while the host cannot deliver, to its TLS
    buffer (RocksDB keys tls_r_<unixTime>_<seq>) flushed later as request bodies."""

    def __init__(self, cfg: SimConfig, prof: HostProfile, host_dir: Path, late_dir: Path,
                 rng: random.Random) -> None:
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
        self.tls: list[tuple[str, bytes, int]] = []
        self.seq = 0
        self.dup_rate = 0.004 if prof.has("dups") else 0.0
        self.lines = 0
        self.rows = 0
        self.late_files = 0
        self.late_dups = 0

    def new_process(self) -> None:
        self.seq = 0  # the key sequence is a per-process counter starting at 1

    def emit(self, kind: str, t: int, unix_time: int, line: bytes, nrows: int) -> None:
        self.lines += 1
        self.rows += nrows
        if t >= self.edge:
            if self._offline(t):
                self.seq += 1
                self.tls.append((f"tls_r_{unix_time}_{self.seq}", line, nrows))
                return
        elif self.dup_rate and self.rng.random() < self.dup_rate:
            self.lines += 1
            self.rows += nrows
            self.files[kind].write(line + b"\n", unix_time)  # a shipper re-read: written twice
        self.files[kind].write(line + b"\n", unix_time)

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
        for i in range(0, len(self.tls), n):
            batch = self.tls[i : i + n]
            body = head + b",".join(line for _, line, _ in batch) + b"]}"
            self._late(t, body)
            if self.rng.random() < 0.25:  # response lost: the same batch is sent again
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
