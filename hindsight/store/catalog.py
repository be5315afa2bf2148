"""What the store knows about: hosts, queries and their columns (kept in memory, written through)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from hindsight.osquery.schema import known_tables, table_for_query
from hindsight.store.layout import cur_table, event_table, hist_table, quote
from hindsight.store.writes import attach, detach


@dataclass
class QueryInfo:
    query_id: int
    name: str
    kind: str  # "state" or "event"
    os_table: str | None
    columns: dict[str, str] = field(default_factory=dict)  # name -> DuckDB type, by name
    loose: set[str] = field(default_factory=set)  # typed columns reading NULL for a misfit

    @property
    def is_event(self) -> bool:
        return self.kind == "event"


class Catalog:
    """Ids of hosts and queries, and each query's typed columns."""

    def __init__(self, con: duckdb.DuckDBPyConnection, event_patterns: tuple[str, ...]) -> None:
        self.con = con
        self.event_patterns = event_patterns
        # per query name, columns found holding values their type cannot (store.fit): created
        # as text (or loose), by a batch written again after one that created them typed was
        # rolled back
        self.as_text: dict[str, set[str]] = {}
        self.as_loose: dict[str, set[str]] = {}
        self.reload()

    def reload(self) -> None:
        """Read ids and columns back from the store (after a rolled-back batch)."""
        con = self.con
        self.hosts: dict[str, int] = dict(
            con.execute("SELECT host_key, host_id FROM hosts").fetchall()
        )
        self.queries: dict[str, QueryInfo] = {}
        self.ids: dict[int, QueryInfo] = {}
        for qid, name, kind, os_table in con.execute(
            "SELECT query_id, name, kind, os_table FROM queries ORDER BY query_id"
        ).fetchall():
            self.queries[name] = self.ids[qid] = QueryInfo(qid, name, kind, os_table)
        for qid, name, typ in con.execute(
            "SELECT query_id, name, type FROM query_columns ORDER BY query_id, name"
        ).fetchall():
            self.by_id(qid).columns[name] = typ
        loose = "SELECT query_id, name FROM loose_columns"
        if not con.execute(  # (a store written before it, opened read-only: none)
            "SELECT 1 FROM duckdb_tables() WHERE table_name = 'loose_columns' "
            "AND database_name = current_database() AND schema_name = 'main'"
        ).fetchone():
            loose = "SELECT 0 AS query_id, '' AS name WHERE false"
        for qid, name in con.execute(loose).fetchall():
            self.by_id(qid).loose.add(name)

    def by_id(self, query_id: int) -> QueryInfo:
        return self.ids[query_id]

    def host_id(self, host_key: str) -> int:
        host_id = self.hosts.get(host_key)
        if host_id is None:
            host_id = self.hosts[host_key] = len(self.hosts) + 1
            self.con.execute("INSERT INTO hosts VALUES (?, ?, NULL, NULL)", [host_id, host_key])
        return host_id

    def add_hosts(self, host_keys: list[str]) -> None:
        """Ids for the host keys not known yet, inserted in one statement."""
        new = [k for k in dict.fromkeys(host_keys) if k not in self.hosts]
        if not new:
            return
        first = len(self.hosts) + 1
        for n, key in enumerate(new):
            self.hosts[key] = first + n
        attach(
            self.con,
            "_new_hosts",
            pa.table(
                {
                    "host_id": pa.array(range(first, first + len(new)), pa.int32()),
                    "host_key": pa.array(new, pa.string()),
                }
            ),
        )
        try:
            self.con.execute(
                "INSERT INTO hosts SELECT host_id, host_key, NULL, NULL FROM _new_hosts"
            )
        finally:
            detach(self.con, "_new_hosts")

    def queries_of(self, columns: Mapping[str, Iterable[str]]) -> list[QueryInfo]:
        """The queries named in COLUMNS (name -> the columns its lines have), created or given
        the columns they lack. New queries are created together, each table with its columns:
        a statement costs about 6 ms inside a batch's transaction, and a column added by one
        to a new query's tables made the first batch of a fleet of 40 queries 0.6 s slower."""
        new = [name for name in columns if name not in self.queries]
        if new:
            self._create(new, columns)
        out = []
        for name, cols in columns.items():
            info = self.queries[name]
            missing = sorted(set(cols) - info.columns.keys())
            if missing:
                self._add_columns(info, missing)
            out.append(info)
        return out

    def kind_of(self, name: str) -> str:
        """ "event" for a query whose results are events (by name: `*_events` by default)."""
        event = any(fnmatch.fnmatchcase(name, p) for p in self.event_patterns)
        return "event" if event else "state"

    def types_of(self, name: str, columns: Iterable[str]) -> dict[str, str]:
        """The types the COLUMNS of query NAME have, or will have once created or added (a
        preparer's guess, in its thread: the writer checks it against the types it writes)."""
        known = self.queries.get(name)
        if known is None:
            schema = table_for_query(name, set(columns))
            known = QueryInfo(0, name, self.kind_of(name), schema.name if schema else None)
        have = dict(known.columns)
        new = [c for c in columns if c not in have]
        have.update(self._typed(known, new) if new else {})
        return {c: have[c] for c in columns}

    def _create(self, names: list[str], columns: Mapping[str, Iterable[str]]) -> None:
        """The queries NAMES, with their tables and the COLUMNS of each."""
        infos, tables, recorded = [], [], []
        for name in names:
            schema = table_for_query(name, set(columns[name]))
            kind = self.kind_of(name)
            qid = len(self.queries) + 1
            info = QueryInfo(qid, name, kind, schema.name if schema else None)
            self.queries[name] = self.ids[qid] = info
            infos.append(info)
            typed = self._typed(info, sorted(columns[name]))
            cols = "".join(f", {quote(c)} {t}" for c, t in typed.items())
            tables += [f"{table}({fixed}{cols})" for table, fixed in _tables(info).items()]
            recorded += self._record(info, typed)
        self.con.execute(
            "INSERT INTO queries SELECT unnest($ids), unnest($names), unnest($kinds), "
            "unnest($tables), NULL, NULL, 0",
            {
                "ids": [i.query_id for i in infos],
                "names": [i.name for i in infos],
                "kinds": [i.kind for i in infos],
                "tables": [i.os_table for i in infos],
            },
        )
        self.con.execute("".join(f"CREATE TABLE {t};\n" for t in tables))
        self._insert_columns(recorded)

    def _add_columns(self, info: QueryInfo, names: list[str]) -> None:
        typed = self._typed(info, names)
        for name, typ in typed.items():
            for table in _tables(info):
                self.con.execute(f"ALTER TABLE {table} ADD COLUMN {quote(name)} {typ}")
        self._insert_columns(self._record(info, typed))

    def _typed(self, info: QueryInfo, names: list[str]) -> dict[str, str]:
        """The types of new columns NAMES of INFO: osquery's schema's for its table, else text
        (and text for a column found holding values its type cannot: `as_text`)."""
        schema = known_tables().get(info.os_table or "")
        text = self.as_text.get(info.name, set())
        return {
            name: schema.sql_type(name) if schema and name not in text else "VARCHAR"
            for name in names
        }

    def _record(self, info: QueryInfo, typed: dict[str, str]) -> list[tuple[int, str, str, int]]:
        """New columns TYPED of INFO in INFO; returns their rows of `query_columns` (numbered
        in the order they came)."""
        first = len(info.columns)
        info.columns.update(typed)
        for name, typ in typed.items():
            if typ != "VARCHAR" and name in self.as_loose.get(info.name, ()):
                self.loosen(info, name)
        # by name, whatever the order they came in (the engines and any order of ingest agree)
        info.columns = dict(sorted(info.columns.items()))
        return [(info.query_id, n, t, first + k) for k, (n, t) in enumerate(typed.items())]

    def _insert_columns(self, rows: list[tuple[int, str, str, int]]) -> None:
        self.con.execute(
            "INSERT INTO query_columns SELECT unnest($q), unnest($n), unnest($t), unnest($p)",
            {k: [r[n] for r in rows] for n, k in enumerate("qntp")},
        )

    def loosen(self, info: QueryInfo, name: str) -> None:
        """Make a typed column read NULL for a value its type cannot hold (store.fit)."""
        self.con.execute("INSERT OR IGNORE INTO loose_columns VALUES (?, ?)", [info.query_id, name])
        info.loose.add(name)


def _tables(info: QueryInfo) -> dict[str, str]:
    """A query's tables, each with the columns it has before the query's own."""
    qid = info.query_id
    if info.is_event:
        return {event_table(qid): "_host INTEGER, _unix BIGINT, _time BIGINT"}
    return {
        cur_table(qid): "_host INTEGER, _from BIGINT, _n SMALLINT, _rh UBIGINT",
        hist_table(qid): "_host INTEGER, _from BIGINT, _to BIGINT, _n SMALLINT, _rh UBIGINT",
    }
