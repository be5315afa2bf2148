"""Resolving the names users type: query names (full or short, pack prefixes) and hosts."""

from __future__ import annotations

import re

from hindsight.errors import UnknownQuery
from hindsight.store.catalog import Catalog, QueryInfo

_SPLIT = re.compile(r"[/_.:-]")


def short_names(name: str) -> list[str]:
    """Suffixes a pack query can be called by: pack_ir_users -> ir_users, users."""
    parts = [m.end() for m in _SPLIT.finditer(name)]
    return [name[i:] for i in parts if name[i:]]


def resolve_query(catalog: Catalog, name: str) -> QueryInfo:
    """A query by its full name, or by a short name that only one query has."""
    info = catalog.queries.get(name)
    if info is not None:
        return info
    matches = [q for q in catalog.queries.values() if name in short_names(q.name)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        full = ", ".join(sorted(q.name for q in matches))
        raise UnknownQuery(name, [], f": ambiguous, use the full name ({full})")
    raise UnknownQuery(
        name, [*catalog.queries, *(s for q in catalog.queries for s in short_names(q))]
    )


#: Columns Hindsight adds; an osquery column of the same name is exposed with a `_` suffix.
RESERVED = ("host", "host_key", "valid_from", "valid_to")


def exposed(column: str) -> str:
    return column + "_" if column in RESERVED else column
