"""State streams: executions -> intervals in the store, built set-based by intervals.build_sql.

For a batch, every touched stream (host, query) is either extended from its open intervals (all
its new executions come after the last one applied) or replayed from its raw lines (a late or
out-of-order execution, a split execution). Both go through the same normalisation and the same
SQL, so they agree. Executions are grouped and classified (diff, snapshot or reset, with the
data-quality signals) set-based too (intervals.classify_sql): Python sees neither rows nor executions.
"""

from __future__ import annotations

import ctypes

import duckdb
import pyarrow as pa
import zstandard

from hindsight.intervals.build_sql import build_intervals
from hindsight.intervals.classify_sql import executions_sql, first_not_after_sql
from hindsight.store import chunks, fit, native
from hindsight.store.catalog import Catalog, QueryInfo
from hindsight.store.layout import cur_table, hist_table, quote
from hindsight.store.normalise import as_text, hash_rows, normalise
from hindsight.store.writes import attach, detach, typed_select

StreamKey = tuple[int, int]  # (host_id, query_id)
I32, I64, U64, I16, I8 = pa.int32(), pa.int64(), pa.uint64(), pa.int16(), pa.int8()


class StreamWriter:
    """Applies executions to their streams; with LIB (store/native/), the native stream step
    classifies the executions and builds the intervals, else classify_sql's and build_sql's
    statements."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        catalog: Catalog,
        lib: ctypes.CDLL | None = None,
        texts: pa.ChunkedArray | None = None,
        rows: pa.Table | None = None,
    ) -> None:
        self.con = con
        self.catalog = catalog
        self.lib = lib
        self.texts = texts  # the batch's rows' texts by `ref`, where the library read them all
        self.rows = rows  # the Arrow table `_n_rh` reads, where it is one (native.relations)

    def write(self, prefix: str) -> int:
        """Apply a normalised batch's fresh state lines to their streams; returns how many
        streams were replayed (those receiving an execution at or before their last one)."""
        con = self.con
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _sl AS SELECT 0 AS src, host_id, query_id, t, epoch, "
            f"counter, snap, n_add, n_rem, i FROM {prefix}_lines l SEMI JOIN {prefix}_fresh f "
            "USING (i) WHERE NOT is_event"
        )
        # the first new execution of a stream is its least line key: no grouping needed here
        keys = "SELECT host_id, query_id, t AS time, epoch, COALESCE(counter, -1) AS ckey, snap FROM _sl"
        replay = [
            (h, q) for h, q in con.execute(first_not_after_sql(f"({keys})", "streams")).fetchall()
        ]
        self._apply(replay, prefix)
        return len(replay)

    def replay(self, keys: list[StreamKey]) -> None:
        """Drop the streams' intervals and rebuild them from their raw lines."""
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE _sl AS SELECT 0 AS src, 0 AS host_id, 0 AS query_id, "
            "0::BIGINT AS t, 0::BIGINT AS epoch, 0::BIGINT AS counter, false AS snap, 0 AS n_add, "
            "0 AS n_rem, 0 AS i WHERE false"
        )
        self._apply(keys, None)

    def _apply(self, replay: list[StreamKey], batch: str | None) -> None:
        """Executions of the batch's streams not replayed (extended from their open intervals)
        and of the replayed streams (all their archived lines), classified and built."""
        con = self.con
        self._forget(replay)
        sources = [(batch, 0)] if batch else []
        if replay:
            archived_lines(con, self.catalog, replay, "_r", self.lib)
            sources.append(("_r", 1))
            attach(con, "_replayed", _keys_table(replay))
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _sl_all AS SELECT * FROM _sl ANTI JOIN _replayed "
                "USING (host_id, query_id) UNION ALL SELECT 1, host_id, query_id, t, epoch, counter, "
                "snap, n_add, n_rem, i FROM _r_lines WHERE NOT is_event"
            )
            detach(con, "_replayed")
        lines = "_sl_all" if replay else "_sl"
        # the opened intervals' texts taken from the batch's rows by the native step, unless
        # replayed rows (the archive's) are among them: those are joined in SQL (`_build`)
        texts = self.texts if self.lib is not None and not replay else None
        if self.lib is not None:
            self._apply_native(lines, sources, texts)
        else:
            con.execute(executions_sql(lines, "streams", "_ex"))
            extended = con.execute(
                "SELECT DISTINCT host_id, query_id FROM _ex WHERE extended"
            ).fetchall()
            self._load_open([(h, q) for h, q in extended])
        if not con.execute("SELECT count(*) FROM _ex").fetchone()[0]:  # type: ignore[index]
            return
        if texts is not None:
            self._write_built()
        else:
            self._build(sources, batch)

    def _apply_native(
        self, lines: str, sources: list[tuple[str, int]], texts: pa.ChunkedArray | None
    ) -> None:
        """The native stream step (store/native/): `_ex` and the intervals in one pass, from
        the positions and open instances of the streams it extends (the batch's own lines' streams
        that have a position)."""
        con = self.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _stream_positions AS SELECT host_id, query_id, epoch, counter "
            f"FROM streams SEMI JOIN (SELECT host_id, query_id FROM {lines} WHERE src = 0) "
            "USING (host_id, query_id)"
        )
        extended = con.execute("SELECT host_id, query_id FROM _stream_positions").fetchall()
        self._load_open([(h, q) for h, q in extended])
        assert self.lib is not None
        native.apply_streams(
            con,
            self.lib,
            lines,
            "_stream_positions",
            [f"SELECT {src} AS src, i, op, rh, ref FROM {prefix}_rh" for prefix, src in sources],
            "_open_before",
            "_ex",
            texts,
            self.rows if sources == [("_n", 0)] else None,
        )

    def _load_open(self, keys: list[StreamKey]) -> None:
        """Instances open before the batch, of the streams being extended."""
        by_query: dict[int, list[int]] = {}
        for host_id, qid in keys:
            by_query.setdefault(qid, []).append(host_id)
        parts = [
            f"SELECT _host AS host_id, {qid}::INTEGER AS query_id, _rh AS rh, _from, _n "
            f"FROM {cur_table(qid)} WHERE _host IN ({', '.join(map(str, hosts))})"
            for qid, hosts in by_query.items()
        ]
        parts.insert(
            0,
            "SELECT 0::INTEGER AS host_id, 0::INTEGER AS query_id, 0::UBIGINT AS rh, "
            "0::BIGINT AS _from, 0::SMALLINT AS _n WHERE false",
        )
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE _open_before AS " + " UNION ALL ".join(parts)
        )

    def _forget(self, keys: list[StreamKey]) -> None:
        for host_id, qid in keys:
            for table in (cur_table(qid), hist_table(qid)):
                self.con.execute(f"DELETE FROM {table} WHERE _host = ?", [host_id])
            # (the signals the replay gives again: a column made text stays so, and says so)
            for table, which in _REPLAYED:
                self.con.execute(
                    f"DELETE FROM {table} WHERE host_id = ? AND query_id = ?{which}", [host_id, qid]
                )

    # -- build and write ---------------------------------------------------------------------
    def _build(self, sources: list[tuple[str, int]], batch: str | None) -> None:
        con = self.con
        texts = [
            f"SELECT ref + {src << 62} AS ref, r FROM {prefix}_rh WHERE op > 0"
            for prefix, src in sources
        ]
        # the builder carries each row's number (payload); its text is joined back for the
        # few rows that open an interval (`_payloads`)
        con.execute(f"CREATE OR REPLACE TEMP VIEW _payloads AS {' UNION ALL '.join(texts)}")
        if self.lib is None:  # (the native step built them with `_ex`)
            self._build_sql(sources, batch)
        self._join_texts()
        self._write_built()

    def _build_sql(self, sources: list[tuple[str, int]], batch: str | None) -> None:
        con = self.con
        parts = []
        for prefix, src in sources:
            fresh = f"SEMI JOIN {prefix}_fresh f USING (i)" if prefix == batch else ""
            parts.append(
                f"SELECT x.host_id, x.query_id, x.seq, r.op, r.rh, r.ref + {src << 62} AS payload "
                f"FROM {prefix}_rh r JOIN {prefix}_lines l USING (i) {fresh} JOIN _ex x "
                f"ON x.src = {src} AND x.host_id = l.host_id AND x.query_id = l.query_id "
                f"AND x.time = l.t AND x.epoch = l.epoch AND x.ckey = COALESCE(l.counter, -1) "
                f"AND x.snap = l.snap WHERE NOT x.full_set OR r.op > 0"
            )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _changes AS {' UNION ALL '.join(parts)}")
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _execs AS SELECT host_id, query_id, seq, time, full_set, snap "
            "FROM _ex"
        )
        # snapshots as differences only pay off where there are several snapshots
        (snaps,) = con.execute("SELECT count(*) FROM _ex WHERE snap").fetchone() or (0,)
        build_intervals(con, "_changes", "_execs", "_open_before", deltas=snaps > 1)

    def _join_texts(self) -> None:
        """`_iv_new_closed_r` and `_iv_new_open_r`: the intervals opened in the batch, each with
        its row's text (`_payloads`)."""
        con = self.con
        # the texts of the rows that open an interval, joined once for every query
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _opened AS SELECT t.ref, t.r FROM _payloads t SEMI JOIN "
            "(SELECT payload FROM iv_new_closed UNION ALL SELECT payload FROM iv_new_open) v "
            "ON t.ref = v.payload"
        )
        # and with their intervals, once: each query's statement then only filters (a batch
        # holds dozens of queries, and planning a join per query costs)
        for source in ("iv_new_closed", "iv_new_open"):
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _{source}_r AS SELECT v.*, t.r FROM {source} v "
                f"JOIN _opened t ON t.ref = v.payload"
            )

    def _write_built(self) -> None:
        """Write the intervals built (`build_sql.OUTPUTS`, the opened ones with their texts:
        `_iv_new_closed_r`, `_iv_new_open_r`) and the executions' log."""
        con = self.con
        counts: dict[int, list[int]] = {}
        for qid, kind, n in con.execute(_PER_QUERY).fetchall():
            counts.setdefault(qid, [0, 0, 0])[kind] = n
        for qid in sorted(counts):
            self._write_query(self.catalog.by_id(qid), *counts[qid])
        self._write_log()

    def _write_query(self, info: QueryInfo, closed: int, new_closed: int, new_open: int) -> None:
        """The query's intervals the batch closed or opened (CLOSED, NEW_CLOSED, NEW_OPEN of
        them): a statement only for what the query has, `hist` written once (a batch holds
        dozens of queries, and each statement costs)."""
        qid, cur, hist = info.query_id, cur_table(info.query_id), hist_table(info.query_id)
        names = "".join(f", {quote(n)}" for n in info.columns)
        kept = "".join(f", c.{quote(n)}" for n in info.columns)
        key = "c._host = x.host_id AND c._rh = x.rh AND c._from = x._from AND c._n = x._n"
        ended = []
        if closed:  # open before the batch, closed by it
            ended.append(
                f"SELECT c._host, c._from, x._to, c._n, c._rh{kept} "
                f"FROM {cur} c JOIN iv_closed_existing x ON x.query_id = {qid} AND {key} "
                f"WHERE x._to > c._from"
            )
        if new_closed:
            ended.append(_opened_rows(info, "iv_new_closed", "host_id, _from, _to, _n, rh"))
        if ended:
            self.con.execute(
                f"INSERT INTO {hist} (_host, _from, _to, _n, _rh{names}) {' UNION ALL '.join(ended)}"
            )
        if closed:
            self.con.execute(
                f"DELETE FROM {cur} c USING iv_closed_existing x WHERE x.query_id = {qid} AND {key}"
            )
        if new_open:
            self.con.execute(
                f"INSERT INTO {cur} (_host, _from, _n, _rh{names}) "
                + _opened_rows(info, "iv_new_open", "host_id, _from, _n, rh")
            )

    def _write_log(self) -> None:
        """Executions, data-quality signals and stream positions (all from `_ex`)."""
        con = self.con
        con.execute(
            "INSERT INTO executions SELECT host_id, query_id, time, epoch, counter, full_set, added, "
            "removed FROM _ex"
        )
        # the data-quality signals, in one statement where there are any (planned for none, it
        # took ~4 ms a batch); resets (full sets that are not snapshots) that closed rows are
        # the ambiguous case
        (signals,) = con.execute(_ANY_SIGNAL).fetchone() or (False,)
        if signals:
            self._write_signals()
        con.execute(
            "INSERT OR REPLACE INTO streams SELECT host_id, query_id, time, epoch, ckey, snap, epoch, counter "
            "FROM _ex QUALIFY ROW_NUMBER() OVER (PARTITION BY host_id, query_id ORDER BY seq DESC) = 1"
        )

    def _write_signals(self) -> None:
        """The batch's data-quality signals (`_ex`, `iv_signals`) into `quality`."""
        self.con.execute(
            "INSERT INTO quality "
            "SELECT host_id, query_id, time, 'counter_gap', 'counter ' || prev_counter || ' -> ' || "
            "counter || ': executions missing' FROM _ex WHERE counter_gap "
            "UNION ALL SELECT host_id, query_id, time, 'reset_with_removed', "
            "'counter 0 or new epoch with removed rows: applied as a diff' FROM _ex WHERE reset_with_removed "
            "UNION ALL SELECT s.host_id, s.query_id, s.time, 'removed_not_open', "
            "s.removed_not_open || ' removed rows were not in the state' FROM iv_signals s WHERE s.removed_not_open > 0 "
            "UNION ALL SELECT s.host_id, s.query_id, s.time, 'reset_closed_rows', 'reset (counter 0 or new "
            "epoch) closed ' || s.closed_by_full || ' rows osquery never reported removed; a pre-5.19 purge diff would not have' "
            "FROM iv_signals s JOIN _ex x ON x.host_id = s.host_id AND x.query_id = s.query_id AND x.seq = s.seq "
            "WHERE s.closed_by_full > 0 AND x.full_set AND NOT x.snap"
        )


_REPLAYED = (
    ("executions", ""),
    ("quality", f" AND kind NOT IN {tuple(fit.KINDS)}"),
    ("streams", ""),
)


def _opened_rows(info: QueryInfo, source: str, fixed: str) -> str:
    """SELECT of the query's intervals in SOURCE (FIXED columns, then the typed columns read
    from their texts, joined in `_{SOURCE}_r`)."""
    relation = (
        f"(SELECT *, {as_text(info, 'r')} AS _j FROM _{source}_r WHERE query_id = {info.query_id})"
    )
    return typed_select(info, fixed, relation)


# Per query with intervals, how many the builder closed (open before the batch: 0), closed
# (opened in the batch: 1) and left open (2); one aggregate (joined per kind, it took 8 ms a batch).
_PER_QUERY = """
SELECT query_id, kind, count(*) FROM (
    SELECT query_id, 0 AS kind FROM iv_closed_existing
    UNION ALL SELECT query_id, 1 FROM _iv_new_closed_r
    UNION ALL SELECT query_id, 2 FROM _iv_new_open_r) GROUP BY ALL
"""

# Whether the batch gave any data-quality signal (`_write_signals`).
_ANY_SIGNAL = (
    "SELECT EXISTS (SELECT 1 FROM _ex WHERE counter_gap OR reset_with_removed) "
    "OR EXISTS (SELECT 1 FROM iv_signals WHERE removed_not_open > 0) "
    "OR EXISTS (SELECT 1 FROM iv_signals s JOIN _ex x USING (host_id, query_id, seq) "
    "WHERE s.closed_by_full > 0 AND x.full_set AND NOT x.snap)"
)


def _keys_table(keys: list[StreamKey]) -> pa.Table:
    return pa.table(
        {
            "host_id": pa.array([k[0] for k in keys], I32),
            "query_id": pa.array([k[1] for k in keys], I32),
        }
    )


def archived_lines(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    keys: list[StreamKey],
    prefix: str,
    lib: ctypes.CDLL | None = None,
) -> list[QueryInfo]:
    """Every accepted line of the streams, from the raw archive (read with LIB, the native
    library, where given), normalised like a batch: `{prefix}_lines` and `{prefix}_rh` (and
    `_hdr`, `_rows`). Returns the queries involved."""
    attach(
        con,
        "_keys",
        pa.table(
            {
                "host_id": pa.array([k[0] for k in keys], I32),
                "query_id": pa.array([k[1] for k in keys], I32),
            }
        ),
    )
    try:
        found = con.execute(
            "SELECT data FROM raw_chunks SEMI JOIN _keys USING (host_id, query_id)"
        ).fetchall()
    finally:
        detach(con, "_keys")
    dctx = zstandard.ZstdDecompressor()
    raws = [raw for (data,) in found for raw in chunks.read(data, dctx, lib)]
    normalise(con, raws, prefix=prefix, careful=True)
    queries = [
        catalog.queries[name]
        for (name,) in con.execute(f"SELECT DISTINCT name FROM {prefix}_hdr").fetchall()
    ]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {prefix}_lines AS SELECT h.i, s.host_id, q.query_id, "
        f"q.kind = 'event' AS is_event, h.t, h.epoch, h.counter, h.snap, "
        f"h.n_add, h.n_rem "
        f"FROM {prefix}_hdr h JOIN hosts s USING (host_key) JOIN queries q USING (name)"
    )
    hash_rows(con, queries, prefix)
    return queries
