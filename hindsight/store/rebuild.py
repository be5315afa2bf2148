"""`hindsight rebuild`: every interval and event recomputed from the raw lines."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import duckdb

from hindsight.errors import StoreError, first_line
from hindsight.store import fit, native
from hindsight.store.ingest import in_transaction, rebuild_events, stops
from hindsight.store.layout import STATUS_QUERY_ID
from hindsight.store.streams import StreamWriter

if TYPE_CHECKING:
    from hindsight.store.store import Progress, Store


CHUNK = 500  # streams replayed per set-based build


def rebuild_all(store: Store, progress: Progress | None = None) -> int:
    streams = store.con.execute(
        "SELECT DISTINCT host_id, query_id FROM raw_chunks WHERE query_id <> ? ORDER BY ALL",
        [STATUS_QUERY_ID],
    ).fetchall()
    return rebuild(store, streams, progress)


def rebuild(store: Store, streams: list[tuple[int, int]], progress: Progress | None = None) -> int:
    """The intervals and events of STREAMS `(host_id, query_id)` recomputed from their raw
    lines, in one transaction, then the store compacted."""
    con = store.con
    state = [s for s in streams if not store.catalog.by_id(s[1]).is_event]
    events = [s for s in streams if store.catalog.by_id(s[1]).is_event]

    lib = native.library(store.settings.native, con)

    def replay() -> None:
        for i in range(0, len(events), CHUNK):
            rebuild_events(con, store.catalog, events[i : i + CHUNK], lib)
        for i in range(0, len(state), CHUNK):
            StreamWriter(con, store.catalog, lib).replay(state[i : i + CHUNK])
            if progress:
                done = min(i + CHUNK, len(state))
                progress(done, len(state))

    undone = "the rebuild was rolled back, the store is as it was before it"
    with stops(
        lambda: RebuildInterrupted(f"interrupted: {undone}"),
        lambda exc: StoreError(f"could not write the store: {first_line(exc)}; {undone}"),
    ):
        while True:
            try:
                in_transaction(con, store.catalog, replay)
                break
            except duckdb.Error as exc:  # a value its typed column cannot hold (a store written
                # before values were checked): the column becomes text
                misfit = fit.misfit_of(exc, store.catalog)
                if misfit is None:
                    raise
                in_transaction(con, store.catalog, partial(_settle, store, misfit))
    done = "the rebuild is done, only the compaction after it"
    with stops(
        lambda: RebuildInterrupted(
            f"interrupted: {done} was stopped (`hindsight rebuild` or the next ingest does it)"
        ),
        lambda exc: StoreError(f"could not write the store: {first_line(exc)}; {done} failed"),
    ):
        store.compact(force=True)
    return len(streams)


class RebuildInterrupted(KeyboardInterrupt):
    """Ctrl-C during a rebuild; the message says what stays."""


def _settle(store: Store, misfit: fit.Misfit) -> None:
    fit.signal(store.con, store.catalog, fit.settle(store.con, store.catalog, misfit, None))
