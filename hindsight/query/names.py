"""Resolving the names users type: query names (full, or short for pack queries) and hosts."""

from __future__ import annotations

import re
from collections.abc import Callable

from hindsight.errors import UnknownQuery
from hindsight.store.catalog import Catalog, QueryInfo

_PACK = re.compile(r"^pack[/_.:-]")
_SPLIT = re.compile(r"[/_.:-]")


def short_names(name: str) -> list[str]:
    """Names a pack query can be called by, longest first: pack_ir_users -> ir_users, users.
    Queries outside packs (`logged_in_users`) have only their own name."""
    if not _PACK.match(name):
        return []
    rest = name[5:]
    return [rest] + [rest[m.end() :] for m in _SPLIT.finditer(rest) if rest[m.end() :]]


def resolve_query(catalog: Catalog, name: str) -> QueryInfo:
    """A query by its full name, or by the short name of a pack query; as typed, else without
    case, as SQL binds names (`FROM USERS`), when that names one query.

    When several pack queries end in the name (`groups`: pack_ir_groups, pack_ir_user_groups),
    the one whose pack part is shortest wins; a tie is ambiguous.
    """
    info = catalog.queries.get(name)
    if info is not None:
        return info
    for fold in (str, str.lower):
        found = _resolve(catalog, name, fold)
        if found is not None:
            return found
    raise UnknownQuery(
        name, [*catalog.queries, *(s for q in catalog.queries for s in short_names(q))]
    )


def _resolve(catalog: Catalog, name: str, fold: Callable[[str], str]) -> QueryInfo | None:
    full = [q for q in catalog.queries.values() if fold(q.name) == fold(name)]
    if len(full) == 1:
        return full[0]
    matches = sorted(
        (len(q.name) - len(name), q.name, q)
        for q in catalog.queries.values()
        if fold(name) in map(fold, short_names(q.name))
    )
    if matches and (len(matches) == 1 or matches[0][0] < matches[1][0]):
        return matches[0][2]
    if len(full) > 1 or matches:
        names = ", ".join(q.name for q in full) or ", ".join(m[1] for m in matches)
        raise UnknownQuery(name, [], f": ambiguous, use the full name ({names})")
    return None


#: Columns Hindsight adds; an osquery column of the same name is exposed with a `_` suffix.
RESERVED = ("host", "host_key", "valid_from", "valid_to")


def exposed(column: str) -> str:
    return column + "_" if column in RESERVED else column
