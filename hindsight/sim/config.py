"""Simulation configuration and summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_START = 1718236800  # Thu Jun 13 00:00:00 2024 UTC
DEFAULT_SEED = 1


@dataclass(frozen=True)
class SimConfig:
    """What to simulate and where to write it.

    ``days`` may be fractional (tests use a few hours).  ``workers`` = 0 means one worker
    process per CPU; 1 simulates in-process.  The output does not depend on ``workers``.
    """

    hosts: int = 20
    days: float = 1.0
    out: Path = field(default_factory=lambda: Path("sim-out"))
    seed: int = DEFAULT_SEED
    start: int = DEFAULT_START
    rotate_size: int = 512 << 10  # osqueryd --logger_rotate_size (osquery default 25 MiB)
    rotate_max_files: int = 1000  # osqueryd --logger_rotate_max_files (osquery default 25)
    tls_max_lines: int = 1024  # --logger_tls_max_lines: lines per late TLS body
    zstd_level: int = 3
    workers: int = 1
    max_moments_per_kind: int = 50

    @property
    def end(self) -> int:
        return self.start + int(self.days * 86400)


@dataclass(frozen=True)
class SimSummary:
    hosts: int
    lines: int
    rows: int
    files: int
    seconds: float
