"""A store an older Hindsight wrote, brought to this one's layout when a writer opens it.

Layout 3 to 4: a row logged with numerics on identifies a double by the text osquery gives it
with numerics off (normalise._DOUBLE_TEXT), no longer by DuckDB's. The streams whose intervals
may hold such a row (a text value that reads as a double) are rebuilt from their raw lines;
the others keep their intervals, whose identities did not change.

Layout 4 to 5: new raw chunks may be written by column (store/chunks.py); the chunks there are
lines, which layout 5 reads as they are: only the number changes (so that a Hindsight of layout
4 refuses the store rather than misread its new chunks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hindsight.store.catalog import QueryInfo
from hindsight.store.layout import LAYOUT_VERSION, cur_table, hist_table, quote
from hindsight.store.rebuild import rebuild

if TYPE_CHECKING:
    from hindsight.store.store import Store

#: Layouts this Hindsight brings to its own.
MIGRATES = frozenset({"3", "4"})

#: DuckDB's text of a double (`5.0`, `12.345678901234567`, `1e+16`); osquery's text of one
#: with numerics off matches too (rebuilding a stream that did not need it changes nothing).
_DOUBLE = r"^-?[0-9]+(\.[0-9]+(e[-+]?[0-9]+)?|e[-+]?[0-9]+)$"


def layout(store: Store) -> str:
    found = store.con.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()
    return str(found[0]) if found else LAYOUT_VERSION


def migrate(store: Store) -> None:
    """Bring the store (open for writing, its catalog read) to LAYOUT_VERSION."""
    found = layout(store)
    if found not in MIGRATES:
        return
    if found == "3":
        _rebuild_doubles(store)
    store.con.execute("UPDATE meta SET value = ? WHERE key = 'layout'", [LAYOUT_VERSION])


def _rebuild_doubles(store: Store) -> None:
    queries = store.catalog.queries.values()
    streams = [stream for info in queries for stream in _doubles(store, info)]
    if streams:
        rebuild(store, sorted(streams))


def _doubles(store: Store, info: QueryInfo) -> list[tuple[int, int]]:
    """The streams of a state query whose intervals hold a text value that reads as a double."""
    texts = [quote(c) for c, kind in info.columns.items() if kind == "VARCHAR"]
    if info.is_event or not texts:
        return []
    cols = ", ".join(texts)
    found = " OR ".join(f"regexp_matches({c}, '{_DOUBLE}')" for c in texts)
    rows = store.con.execute(
        f"SELECT DISTINCT _host FROM (SELECT _host, {cols} FROM {cur_table(info.query_id)} "
        f"UNION ALL SELECT _host, {cols} FROM {hist_table(info.query_id)}) WHERE {found}"
    ).fetchall()
    return [(host, info.query_id) for (host,) in rows]
