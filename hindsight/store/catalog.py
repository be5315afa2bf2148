"""What the store knows about: hosts, queries and their columns (kept in memory, written through)."""

from __future__ import annotations

import fnmatch
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

    def query(self, name: str, columns: frozenset[str]) -> QueryInfo:
        info = self.queries.get(name)
        if info is None:
            info = self._create(name, columns)
        missing = sorted(columns - info.columns.keys())
        if missing:
            self._add_columns(info, missing)
        return info

    def kind_of(self, name: str) -> str:
        """ "event" for a query whose results are events (by name: `*_events` by default)."""
        event = any(fnmatch.fnmatchcase(name, p) for p in self.event_patterns)
        return "event" if event else "state"

    def _create(self, name: str, columns: frozenset[str]) -> QueryInfo:
        schema = table_for_query(name, set(columns))
        event = self.kind_of(name) == "event"
        qid = len(self.queries) + 1
        info = QueryInfo(qid, name, "event" if event else "state", schema.name if schema else None)
        self.queries[name] = self.ids[qid] = info
        self.con.execute(
            "INSERT INTO queries VALUES (?, ?, ?, ?, NULL, NULL, 0)",
            [qid, name, info.kind, info.os_table],
        )
        if event:
            self.con.execute(
                f"CREATE TABLE {event_table(qid)}(_host INTEGER, _unix BIGINT, _time BIGINT)"
            )
        else:
            self.con.execute(
                f"CREATE TABLE {cur_table(qid)}(_host INTEGER, _from BIGINT, _n SMALLINT, _rh UBIGINT)"
            )
            self.con.execute(
                f"CREATE TABLE {hist_table(qid)}"
                "(_host INTEGER, _from BIGINT, _to BIGINT, _n SMALLINT, _rh UBIGINT)"
            )
        return info

    def _add_columns(self, info: QueryInfo, names: list[str]) -> None:
        schema = known_tables().get(info.os_table or "")
        tables = (
            [event_table(info.query_id)]
            if info.is_event
            else [cur_table(info.query_id), hist_table(info.query_id)]
        )
        for name in names:
            text = name in self.as_text.get(info.name, ())
            typ = schema.sql_type(name) if schema and not text else "VARCHAR"
            for table in tables:
                self.con.execute(f"ALTER TABLE {table} ADD COLUMN {quote(name)} {typ}")
            self.con.execute(
                "INSERT INTO query_columns VALUES (?, ?, ?, ?)",
                [info.query_id, name, typ, len(info.columns)],
            )
            info.columns[name] = typ
            if typ != "VARCHAR" and name in self.as_loose.get(info.name, ()):
                self.loosen(info, name)
        # by name, whatever the order they came in (the engines and any order of ingest agree)
        info.columns = dict(sorted(info.columns.items()))

    def loosen(self, info: QueryInfo, name: str) -> None:
        """Make a typed column read NULL for a value its type cannot hold (store.fit)."""
        self.con.execute("INSERT OR IGNORE INTO loose_columns VALUES (?, ?)", [info.query_id, name])
        info.loose.add(name)
