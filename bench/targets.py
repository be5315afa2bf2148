"""The verdict every benchmark with targets ends on: one line naming each missed target, and a
non-zero exit when any is missed (after everything else is printed), so a script or CI running
the benchmark sees the miss without reading its output.

    misses = [miss for miss in (missed("who ip ms", ms, ms < 100),) if miss]
    verdict("targets (who < 100 ms)", misses)   # last statement of main()
"""

from __future__ import annotations

import sys


def missed(name: str, value: float, ok: bool) -> str:
    """'' when the target is met, else NAME and VALUE for the verdict."""
    return "" if ok else f"{name} {value:,.2f}"


def verdict(targets: str, misses: list[str]) -> None:
    """Print TARGETS and 'met', or 'MISSED: ' and the misses; exit with status 1 on a miss."""
    misses = [m for m in misses if m]
    print(f"{targets}: " + ("met" if not misses else "MISSED: " + ", ".join(misses)), flush=True)
    if misses:
        sys.exit(1)
