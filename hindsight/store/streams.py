"""State streams: executions -> intervals in the store, built set-based by intervals.build_sql.

For a batch, every touched stream (host, query) is either extended from its open intervals (all
its new executions come after the last one applied) or replayed from its raw lines (a late or
out-of-order execution, a split execution). Both go through the same normalisation and the same
SQL, so they agree. Python sees executions (to classify them: diff, snapshot or reset), never rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import zstandard

from hindsight.intervals import Execution, Signal, StreamState, classify
from hindsight.intervals.build_sql import build_intervals
from hindsight.store.catalog import Catalog, QueryInfo
from hindsight.store.layout import cur_table, hist_table, quote
from hindsight.store.normalise import as_text, hash_rows, normalise
from hindsight.store.writes import attach, typed_select

StreamKey = tuple[int, int]  # (host_id, query_id)
Position = tuple[int, int, int, bool]
I32, I64, U64, I16, I8 = pa.int32(), pa.int64(), pa.uint64(), pa.int16(), pa.int8()


EXEC_COLS: dict[str, pa.DataType] = {
    "host_id": I32,
    "query_id": I32,
    "seq": I64,
    "time": I64,
    "full_set": pa.bool_(),
}
MAP_COLS: dict[str, pa.DataType] = {
    "src": I8,
    "i": I32,
    "host_id": I32,
    "query_id": I32,
    "seq": I64,
    "full_set": pa.bool_(),
}
SOURCES = ("_n", "_r")  # the batch's own lines, and the archived lines of replayed streams


@dataclass
class Exec:
    """One execution of a stream: its header, row counts and the lines that carry it."""

    ex: Execution
    added: int = 0
    lines: list[int] = field(default_factory=list)


def executions(heads: list[tuple[int, int, int | None, bool, int, int, int]]) -> list[Exec]:
    """Group line headers (time, epoch, counter, snapshot, added, removed, i) into executions,
    in order (the key of `intervals.group_executions`)."""
    groups: dict[tuple[int, int, int, bool], Exec] = {}
    for t, epoch, counter, snap, n_add, n_rem, i in heads:
        key = (t, epoch, -1 if counter is None else counter, snap)
        g = groups.get(key)
        if g is None:
            g = groups[key] = Exec(Execution(t, epoch, counter, snap))
        g.added += n_add
        g.ex.removed_count += n_rem
        g.lines.append(i)
    return [groups[k] for k in sorted(groups)]


@dataclass
class Inputs:
    """Columns of the builder's input relations, filled one execution at a time."""

    execs: dict[str, list[object]] = field(default_factory=lambda: {k: [] for k in EXEC_COLS})
    lines: dict[str, list[object]] = field(default_factory=lambda: {k: [] for k in MAP_COLS})
    log: list[tuple[int, int, Exec, bool]] = field(default_factory=list)
    signals: list[tuple[int, int, Signal]] = field(default_factory=list)
    states: dict[StreamKey, StreamState] = field(default_factory=dict)

    def add(self, key: StreamKey, state: StreamState, execs: list[Exec], src: int) -> None:
        host_id, qid = key
        for seq, g in enumerate(execs):
            signals: list[Signal] = []
            full = classify(state, g.ex, signals)
            self.signals.extend((host_id, qid, s) for s in signals)
            self.log.append((host_id, qid, g, full))
            for k, v in zip(EXEC_COLS, (host_id, qid, seq, g.ex.time, full), strict=True):
                self.execs[k].append(v)
            n = len(g.lines)
            m = self.lines
            m["src"] += [src] * n
            m["i"] += g.lines
            m["host_id"] += [host_id] * n
            m["query_id"] += [qid] * n
            m["seq"] += [seq] * n
            m["full_set"] += [full] * n
        self.states[key] = state


def _heads(con: duckdb.DuckDBPyConnection, prefix: str, fresh: bool) -> dict[StreamKey, list[Any]]:
    only_fresh = f"SEMI JOIN {prefix}_fresh f USING (i)" if fresh else ""
    streams: dict[StreamKey, list[Any]] = {}
    for h, q, *head in con.execute(
        f"SELECT host_id, query_id, t, epoch, counter, snap, n_add, n_rem, i FROM {prefix}_lines l "
        f"{only_fresh} WHERE NOT is_event ORDER BY host_id, query_id, i"
    ).fetchall():
        streams.setdefault((h, q), []).append(head)
    return streams


class StreamWriter:
    def __init__(self, con: duckdb.DuckDBPyConnection, catalog: Catalog) -> None:
        self.con = con
        self.catalog = catalog

    def write(self, prefix: str) -> int:
        """Apply a normalised batch's fresh state lines to their streams; returns how many
        streams were replayed."""
        streams = _heads(self.con, prefix, fresh=True)
        positions = self._positions(list(streams))
        inputs = Inputs()
        extend: list[StreamKey] = []
        replay: list[StreamKey] = []
        for key, heads in streams.items():
            execs = executions(heads)
            pos = positions.get(key)
            if pos is not None and execs[0].ex.key <= pos[0]:
                replay.append(key)
                continue
            state = StreamState()
            if pos is not None:
                state.last, state.epoch, state.counter = pos
                extend.append(key)
            inputs.add(key, state, execs, SOURCES.index(prefix))
        self._load_open(extend)
        self.replay(replay, inputs, prefix)
        return len(replay)

    def replay(
        self, keys: list[StreamKey], inputs: Inputs | None = None, batch: str | None = None
    ) -> None:
        """Drop the streams' intervals and rebuild them from their raw lines (with `inputs`
        from the batch `batch`, when given)."""
        if inputs is None:
            inputs = Inputs()
            self._load_open([])
        self._forget(keys)
        sources = [batch] if batch else []
        if keys:
            archived_lines(self.con, self.catalog, keys, "_r")
            sources.append("_r")
            for key, heads in _heads(self.con, "_r", fresh=False).items():
                inputs.add(key, StreamState(), executions(heads), SOURCES.index("_r"))
        if inputs.log:
            self._build(inputs, sources)

    # -- inputs ------------------------------------------------------------------------------
    def _positions(
        self, keys: list[StreamKey]
    ) -> dict[StreamKey, tuple[Position, int, int | None]]:
        attach(
            self.con,
            "_touched",
            pa.table(
                {
                    "host_id": pa.array([k[0] for k in keys], I32),
                    "query_id": pa.array([k[1] for k in keys], I32),
                }
            ),
        )
        rows = self.con.execute(
            "SELECT s.host_id, s.query_id, last_time, last_epoch, last_counter, last_snapshot, epoch, counter "
            "FROM streams s SEMI JOIN _touched USING (host_id, query_id)"
        ).fetchall()
        self.con.unregister("_touched")
        return {(h, q): ((t, e, c, bool(s)), ep, co) for h, q, t, e, c, s, ep, co in rows}

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
            for table in ("executions", "quality", "streams"):
                self.con.execute(
                    f"DELETE FROM {table} WHERE host_id = ? AND query_id = ?", [host_id, qid]
                )

    # -- build and write ---------------------------------------------------------------------
    def _build(self, inputs: Inputs, sources: list[str]) -> None:
        con = self.con
        attach(
            con, "_execs", pa.table({k: pa.array(inputs.execs[k], t) for k, t in EXEC_COLS.items()})
        )
        attach(con, "_lx", pa.table({k: pa.array(inputs.lines[k], t) for k, t in MAP_COLS.items()}))
        changes = " UNION ALL ".join(
            f"SELECT x.host_id, x.query_id, x.seq, r.op, r.rh, r.r AS payload FROM {src}_rh r "
            f"JOIN _lx x ON x.src = {SOURCES.index(src)} AND x.i = r.i WHERE NOT x.full_set OR r.op > 0"
            for src in sources
        )
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _changes AS {changes}")
            build_intervals(con, "_changes", "_execs", "_open_before")
        finally:
            con.unregister("_execs")
            con.unregister("_lx")
        for qid in sorted({q for _, q in inputs.states}):
            self._write_query(self.catalog.by_id(qid))
        self._write_log(inputs)

    def _write_query(self, info: QueryInfo) -> None:
        qid, cur, hist = info.query_id, cur_table(info.query_id), hist_table(info.query_id)
        cols = "".join(f", c.{quote(n)}" for n in info.columns)
        key = "c._host = x.host_id AND c._rh = x.rh AND c._from = x._from AND c._n = x._n"
        self.con.execute(
            f"INSERT INTO {hist} SELECT c._host, c._from, x._to, c._n, c._rh{cols} FROM {cur} c "
            f"JOIN iv_closed_existing x ON x.query_id = {qid} AND {key} WHERE x._to > c._from"
        )
        self.con.execute(
            f"DELETE FROM {cur} c USING iv_closed_existing x WHERE x.query_id = {qid} AND {key}"
        )
        names = ", ".join(quote(n) for n in info.columns)
        typed = typed_select(info)
        parsed = as_text(info, "payload")
        for table, source, fixed in (
            (hist, "iv_new_closed", "host_id, _from, _to, _n, rh"),
            (cur, "iv_new_open", "host_id, _from, _n, rh"),
        ):
            target = "_host, _from, _to, _n, _rh" if table == hist else "_host, _from, _n, _rh"
            self.con.execute(
                f"INSERT INTO {table} ({target}{', ' + names if names else ''}) "
                f"SELECT {fixed}{', ' + typed if typed else ''} FROM "
                f"(SELECT *, {parsed} AS _j FROM {source} WHERE query_id = {qid})"
            )

    def _write_log(self, inputs: Inputs) -> None:
        log = inputs.log
        attach(
            self.con,
            "_log",
            pa.table(
                {
                    "host_id": pa.array([h for h, _, _, _ in log], I32),
                    "query_id": pa.array([q for _, q, _, _ in log], I32),
                    "unix_time": pa.array([g.ex.time for _, _, g, _ in log], I64),
                    "epoch": pa.array([g.ex.epoch for _, _, g, _ in log], I64),
                    "counter": pa.array([g.ex.counter for _, _, g, _ in log], I64),
                    "full_set": pa.array([f for _, _, _, f in log], pa.bool_()),
                    "added": pa.array([g.added for _, _, g, _ in log], I32),
                    "removed": pa.array([g.ex.removed_count for _, _, g, _ in log], I32),
                }
            ),
        )
        self.con.execute("INSERT INTO executions SELECT * FROM _log")
        self.con.unregister("_log")
        sig = inputs.signals
        attach(
            self.con,
            "_sig",
            pa.table(
                {
                    "host_id": pa.array([h for h, _, _ in sig], I32),
                    "query_id": pa.array([q for _, q, _ in sig], I32),
                    "unix_time": pa.array([s.time for _, _, s in sig], I64),
                    "kind": pa.array([s.kind for _, _, s in sig], pa.string()),
                    "detail": pa.array([s.detail for _, _, s in sig], pa.string()),
                }
            ),
        )
        self.con.execute("INSERT INTO quality SELECT * FROM _sig")
        self.con.unregister("_sig")
        self.con.execute(
            "INSERT INTO quality SELECT s.host_id, s.query_id, s.time, 'removed_not_open', "
            "s.removed_not_open || ' removed rows were not in the state' FROM iv_signals s WHERE s.removed_not_open > 0"
        )
        self._reset_signals(inputs)
        self._write_positions(inputs)

    def _reset_signals(self, inputs: Inputs) -> None:
        """Resets (full sets that are not snapshots) that closed rows: the ambiguous case."""
        resets = [(h, q, g.ex.time) for h, q, g, full in inputs.log if full and not g.ex.snapshot]
        if not resets:
            return
        attach(
            self.con,
            "_resets",
            pa.table(
                {
                    "host_id": pa.array([r[0] for r in resets], I32),
                    "query_id": pa.array([r[1] for r in resets], I32),
                    "time": pa.array([r[2] for r in resets], I64),
                }
            ),
        )
        self.con.execute(
            "INSERT INTO quality SELECT s.host_id, s.query_id, s.time, 'reset_closed_rows', 'reset (counter 0 or new "
            "epoch) closed ' || s.closed_by_full || ' rows osquery never reported removed; a pre-5.19 purge diff would not have' "
            "FROM iv_signals s SEMI JOIN _resets x ON x.host_id = s.host_id AND x.query_id = s.query_id AND x.time = s.time "
            "WHERE s.closed_by_full > 0"
        )
        self.con.unregister("_resets")

    def _write_positions(self, inputs: Inputs) -> None:
        done = [(k, s) for k, s in inputs.states.items() if s.last is not None]
        if not done:
            return
        attach(
            self.con,
            "_pos",
            pa.table(
                {
                    "host_id": pa.array([k[0] for k, _ in done], I32),
                    "query_id": pa.array([k[1] for k, _ in done], I32),
                    "last_time": pa.array([s.last[0] for _, s in done if s.last], I64),
                    "last_epoch": pa.array([s.last[1] for _, s in done if s.last], I64),
                    "last_counter": pa.array([s.last[2] for _, s in done if s.last], I64),
                    "last_snapshot": pa.array([s.last[3] for _, s in done if s.last], pa.bool_()),
                    "epoch": pa.array([s.epoch for _, s in done], I64),
                    "counter": pa.array([s.counter for _, s in done], I64),
                }
            ),
        )
        self.con.execute("INSERT OR REPLACE INTO streams SELECT * FROM _pos")
        self.con.unregister("_pos")


def archived_lines(
    con: duckdb.DuckDBPyConnection, catalog: Catalog, keys: list[StreamKey], prefix: str
) -> list[QueryInfo]:
    """Every accepted line of the streams, from the raw archive, normalised like a batch:
    `{prefix}_lines` and `{prefix}_rh` (and `_hdr`, `_rows`). Returns the queries involved."""
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
        chunks = con.execute(
            "SELECT data FROM raw_chunks SEMI JOIN _keys USING (host_id, query_id)"
        ).fetchall()
    finally:
        con.unregister("_keys")
    dctx = zstandard.ZstdDecompressor()
    raws = [raw for (data,) in chunks for raw in dctx.decompress(data).split(b"\n")]
    normalise(con, raws, prefix=prefix)
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
    hash_rows(con, queries, f"{prefix}_lines", prefix)
    return queries
