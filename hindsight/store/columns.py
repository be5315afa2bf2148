"""Column names a store cannot hold, told per line before anything is written.

A query's columns become columns of its tables (store/layout.py), whose names DuckDB compares
without case and where Hindsight's own columns start with `_`. So a line is kept aside, with its
reason, when one of its columns has no name, has the name of an internal column (a query's SQL
alias `AS _from`), or differs only in case from another column of its query (the alias `Name`
edited to `name`): the column recorded first keeps its name (of two new ones, the first in
byte order), whatever the order of ingest after that.
"""

from __future__ import annotations

from collections.abc import Iterable

from hindsight.store.layout import INTERNAL_COLUMNS


def bad_columns(known: Iterable[str], found: Iterable[str]) -> dict[str, str]:
    """The columns of FOUND (a query's columns in a batch) that the store cannot hold beside
    KNOWN (those it holds), each with the reason."""
    kept = {c.casefold(): c for c in known}
    bad: dict[str, str] = {}
    for column in sorted(set(found) - set(kept.values())):
        folded = column.casefold()
        if not column:
            bad[column] = "a column without a name"
        elif column in INTERNAL_COLUMNS:
            bad[column] = f"column {column!r} has the name of one of Hindsight's own columns"
        elif folded in kept:
            bad[column] = (
                f"column {column!r} differs only in case from column {kept[folded]!r} of its "
                "query (the store compares names without case: rename one in the query's SQL)"
            )
        else:
            kept[folded] = column
    return bad
