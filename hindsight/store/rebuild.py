"""`hindsight rebuild`: every interval and event recomputed from the raw lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hindsight.store.ingest import BatchWriter, IngestSummary, rebuild_events, rebuild_stream
from hindsight.store.layout import STATUS_QUERY_ID

if TYPE_CHECKING:
    from hindsight.store.store import Progress, Store


def rebuild_all(store: Store, progress: Progress | None = None) -> int:
    con = store.con
    streams = con.execute(
        "SELECT DISTINCT host_id, query_id FROM raw_chunks WHERE query_id <> ? ORDER BY ALL",
        [STATUS_QUERY_ID],
    ).fetchall()
    writer = BatchWriter(con, store.catalog, IngestSummary())
    con.execute("BEGIN TRANSACTION")
    try:
        for i, (host_id, query_id) in enumerate(streams, 1):
            if store.catalog.by_id(query_id).is_event:
                rebuild_events(writer, host_id, query_id)
            else:
                rebuild_stream(writer, host_id, query_id)
            if progress:
                progress(i, f"{i}/{len(streams)} streams")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    store.compact(force=True)
    return len(streams)
