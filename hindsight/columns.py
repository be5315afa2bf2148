"""Column names of an answer made unique, so that every output names every column.

`SELECT *` over a join repeats names (`host`, `pid`, ...): a JSON object or a dict would keep
only the last of them. The first keeps its name; a later one gets `_2`, `_3`, ... (the first
suffix no other column has).
"""

from __future__ import annotations

from collections.abc import Sequence


def unique_names(columns: Sequence[str]) -> list[str]:
    """COLUMNS with each repeated name after its first made unique (`pid`, `pid_2`, ...),
    skipping names other columns already have."""
    taken = set(columns)
    seen: set[str] = set()
    out: list[str] = []
    for name in columns:
        if name in seen:
            name = _free(name, taken)
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out


def _free(name: str, taken: set[str]) -> str:
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"
