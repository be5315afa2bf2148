"""The library: everything the command line does is one call here.

import hindsight
with hindsight.open("hindsight-data") as hs:
    hs.ingest(["/var/log/osquery"])
    hs.sql("SELECT host FROM interface_addresses WHERE address = '10.1.2.3'",
           at="2026-11-01T14:03:00Z").dicts()
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import duckdb

from hindsight.columns import unique_names
from hindsight.errors import NoState, QueryError, QueryTimeout, UnknownHost, did_you_mean
from hindsight.query import relations
from hindsight.query.names import resolve_query
from hindsight.settings import GATHER_BYTES, Settings
from hindsight.store.follow import Positions
from hindsight.store.ingest import IngestSummary
from hindsight.store.layout import quote
from hindsight.store.rebuild import rebuild_all
from hindsight.store.store import Progress, Store
from hindsight.timeparse import parse_time
from hindsight.watchdog import WATCHDOG

Time = str | int | float | None

if TYPE_CHECKING:
    from hindsight.investigate import Investigator

#: DuckDB's binder on a column no relation has
_UNKNOWN_COLUMN = re.compile(
    r'(?:Referenced column "|does not have a column named ")((?:[^"]|"")+)"'
)
_REWRITTEN = re.compile(r"\s+LINE \d+:.*$")
#: DuckDB's binder on an instant given as a timestamp (AS OF to_timestamp(x))
_TIMESTAMP_INSTANT = re.compile(r"Cannot compare values of type BIGINT and type TIMESTAMP")
_AS_OF = re.compile(r"\bAS\s+OF\b", re.IGNORECASE)
#: DuckDB on a comparison of a number with text that is not one: a typed column with a quoted
#: value (uid = 'abc'), or a text column with a number (address = 10: "... from source column")
_NOT_A_NUMBER = re.compile(
    r"Could not convert string '.*' to \w+(?: when casting from source column (?P<column>\w+))?$"
)


@dataclass(frozen=True)
class Result:
    """Rows of an answer, bounded: `truncated` is set when more rows existed."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    elapsed_ms: float = 0.0
    #: what cut the rows: "max_rows" (HINDSIGHT_MAX_ROWS) or "max_bytes"
    #: (HINDSIGHT_MAX_RESPONSE_BYTES); None when nothing did
    truncated_reason: str | None = None

    def __post_init__(self) -> None:
        """A repeated column name gets `_2`, `_3`, ... (hindsight.columns): every consumer
        (dicts(), the formats, the HTTP API, the console) names every column alike."""
        object.__setattr__(self, "columns", unique_names(self.columns))
        if self.truncated and self.truncated_reason is None:
            object.__setattr__(self, "truncated_reason", "max_rows")

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


#: Settings that bound a read or a request: 0 or less would lift the bound.
BOUNDS = (
    "batch_lines",
    "max_line_bytes",
    "query_timeout_s",
    "max_rows",
    "max_sql_bytes",
    "max_response_bytes",
    "serve_max_body_bytes",
    "serve_max_backlog",
)


class Hindsight:
    """A Hindsight store in a data directory."""

    def __init__(
        self, data: str | Path | None = None, *, read_only: bool = False, **settings: Any
    ) -> None:
        self.settings = Settings.from_env(data=data, **settings)
        self.settings.require(BOUNDS, lambda v: v > 0, "above 0 (every read is bounded)")
        self.settings.require(("native",), lambda v: v in ("auto", "on", "off"), "auto, on or off")
        self.store = Store(self.settings, read_only=read_only)

    def __enter__(self) -> Hindsight:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    # -- writing -----------------------------------------------------------------------------
    def ingest(
        self,
        sources: Iterable[str | Path],
        progress: Progress | None = None,
        maintain: bool = True,
    ) -> IngestSummary:
        """Read osquery result and status lines from files, directories or '-' (stdin).
        MAINTAIN False skips the compaction that follows (run `store.maintain()` later)."""
        return self.store.ingest(sources, progress, maintain)

    def follow(
        self, sources: Iterable[str | Path], stop: threading.Event | None = None
    ) -> Iterator[IngestSummary]:
        """Ingest what osqueryd appends to SOURCES (files, directories) until STOP is set: one
        summary per read. What the files hold is read at once; then every HINDSIGHT_FOLLOW_EVERY
        seconds it looks for new lines, and reads them once 1 MiB have gathered or the first has
        waited HINDSIGHT_FOLLOW_GATHER seconds: a read costs the store about 0.2 s of CPU
        however few lines it holds. Each file is read from where the store's lines of it end,
        across rotations and restarts (see hindsight.store.follow). The store is compacted
        every HINDSIGHT_SERVE_MAINTAIN seconds and when stopped."""
        stop = stop or threading.Event()
        sources = list(sources)
        gather = self.settings.follow_gather_s
        maintained = time.monotonic()
        # since when new lines wait to be read: what the files hold already is read at once
        waiting: float | None = -math.inf
        try:
            while not stop.is_set():
                pending = Positions(self.store.con).pending(sources) if gather > 0 else 1
                if pending and waiting is None:
                    waiting = time.monotonic()
                if waiting is not None and (
                    pending >= GATHER_BYTES or time.monotonic() - waiting >= gather
                ):
                    waiting = None
                    yield self.store.ingest(sources, maintain=False, resume=True)
                if time.monotonic() - maintained >= self.settings.serve_maintain_s:
                    self.store.maintain()
                    maintained = time.monotonic()
                stop.wait(self.settings.follow_every_s)
        finally:
            self.store.maintain()

    def rebuild(self, progress: Progress | None = None) -> int:
        """Recompute every interval and event from the raw lines. Returns streams rebuilt."""
        return rebuild_all(self.store, progress)

    # -- reading -----------------------------------------------------------------------------
    def state(self, query: str, at: Time = None, hosts: Sequence[str] | None = None) -> Result:
        """The result set of QUERY on each host as of AT (default now)."""
        info = resolve_query(self.store.catalog, query)
        instant = parse_time(at)
        host_ids = self.host_ids(hosts) if hosts else None
        if info.is_event:
            raise NoState(info.name)
        sql = f"SELECT * FROM {relations.state_as_of(info, instant, host_ids)} ORDER BY ALL"
        return self._run(sql)

    def sql(self, sql: str, at: Time = None) -> Result:
        """Time-travel SQL over the recorded queries (see hindsight.query.timetravel)."""
        from hindsight.query.timetravel import rewrite  # (sqlglot: 0.2 s every command paid)

        instant = parse_time(at)
        start = time.perf_counter()
        plain = rewrite(sql, instant, self.store.catalog, self.settings.max_sql_bytes)
        left = self.settings.query_timeout_s - (time.perf_counter() - start)
        if left <= 0:  # (the rewrite counts in the time bound, but cannot be stopped in it)
            raise self.settings.timed_out()
        try:
            return self._run(plain, left)
        except QueryTimeout:
            raise
        except QueryError as exc:
            missing = _UNKNOWN_COLUMN.search(str(exc))
            if missing is not None:
                raise self._unknown_column(missing.group(1), sql, instant) from None
            # DuckDB quotes the rewritten SQL, which the user never wrote
            raise QueryError(_hinted(_REWRITTEN.sub("", str(exc)), sql)) from None

    def _unknown_column(self, column: str, sql: str, at: int) -> QueryError:
        """The columns of the queries SQL reads, for an unknown COLUMN (DuckDB's own message
        quotes the rewritten SQL, which the user never wrote)."""
        from hindsight.query.timetravel import referenced, rewrite

        columns: dict[str, list[str]] = {}
        for name in referenced(sql, self.store.catalog):
            result = self._run(
                rewrite(f"SELECT * FROM {quote(name)} LIMIT 0", at, self.store.catalog)
            )
            columns[name] = result.columns
        every = [c for cols in columns.values() for c in cols]
        listing = "; ".join(f"{name} has {', '.join(cols)}" for name, cols in columns.items())
        return QueryError(f"unknown column {column!r}{did_you_mean(column, every)}: {listing}")

    def hosts(self) -> Result:
        """Each host under the identifier it reported last (of several at that second, the
        greatest), its key, first and last seen, every identifier it reported."""
        return self._run(
            "SELECT coalesce(arg_max(n.identifier, (n.last_seen, n.identifier)), any_value(h.host_key)) AS host, "
            "any_value(h.host_key) AS host_key, to_timestamp(any_value(h.first_seen)) AS first_seen, "
            "to_timestamp(any_value(h.last_seen)) AS last_seen, "
            "string_agg(DISTINCT n.identifier, ', ' ORDER BY n.identifier) AS identifiers "
            "FROM hosts h LEFT JOIN host_names n USING (host_id) GROUP BY h.host_id ORDER BY host, host_key"
        )

    def queries(self) -> Result:
        """Each query with the hosts that reported it (event queries too: from the raw lines
        kept, as streams hold state queries only), first and last seen."""
        return self._run(
            "SELECT q.name AS query, q.kind, q.os_table AS osquery_table, "
            "count(DISTINCT r.host_id) AS hosts, to_timestamp(q.first_seen) AS first_seen, "
            "to_timestamp(q.last_seen) AS last_seen FROM queries q "
            "LEFT JOIN (SELECT DISTINCT query_id, host_id FROM raw_chunks) r USING (query_id) "
            "GROUP BY ALL ORDER BY query"
        )

    def quality(self) -> Result:
        """Data-quality signals: counter gaps, ambiguous resets, rows removed but never open,
        columns settled by a value their type cannot hold, host keys two machines share, hosts
        that went on under another host key."""
        return self._run(
            "SELECT host_key, query, to_timestamp(unix_time) AS at, kind, detail FROM ("
            "SELECT h.host_key AS host_key, q.name AS query, x.unix_time, x.kind, x.detail "
            "FROM quality x JOIN hosts h USING (host_id) JOIN queries q USING (query_id) "
            f"UNION ALL {relations.shared_identities()} UNION ALL {relations.continued_identities()}) "
            "ORDER BY unix_time, host_key, query, kind"
        )

    def rejects(self) -> Result:
        return self._run("SELECT source, line, reason, size FROM rejects ORDER BY source, line")

    @functools.cached_property
    def investigate(self) -> Investigator:
        """Investigations: who had an address, uid or mount; enrich; timelines; diffs."""
        from hindsight.investigate import Investigator

        return Investigator(self)

    def host_ids(self, names: Sequence[str]) -> list[int]:
        """Host ids for host keys (uuid) or any identifier a host ever reported."""
        sql = "SELECT DISTINCT host_id, host_key, identifier FROM hosts LEFT JOIN host_names USING (host_id)"
        con = self.store.con.cursor()
        try:
            rows = con.execute(
                f"{sql} WHERE host_key IN (SELECT lower(unnest($1::VARCHAR[]))) "
                "OR identifier IN (SELECT unnest($1::VARCHAR[]))",
                [list(names)],
            ).fetchall()
            ids: list[int] = []
            for name in names:
                found = [h for h, key, ident in rows if name.lower() == key or name == ident]
                if not found:  # only now read every name, to suggest the closest
                    every = con.execute(sql).fetchall()
                    raise UnknownHost(
                        name, {k for _, k, _ in every} | {i for _, _, i in every if i}
                    )
                ids.extend(found)
        finally:
            con.close()
        return sorted(set(ids))

    # -- bounded execution -------------------------------------------------------------------
    def _run(self, sql: str, timeout_s: float | None = None) -> Result:
        """SQL as given (Hindsight's own statements, not the user's read-only SQL), bounded in
        rows, bytes and time (TIMEOUT_S, default HINDSIGHT_QUERY_TIMEOUT)."""
        cursor = self.store.con.cursor()
        start = time.perf_counter()
        try:
            with WATCHDOG.bound(timeout_s or self.settings.query_timeout_s, cursor.interrupt):
                cursor.execute(sql)
                columns = [d[0] for d in cursor.description or []]
                rows, cut = _fetch(cursor, self.settings.max_rows, self.settings.max_response_bytes)
        except duckdb.InterruptException:
            if WATCHDOG.stopped:  # a Ctrl-C (cli_common.ctrl_c_stops_statements)
                raise KeyboardInterrupt from None
            raise self.settings.timed_out() from None
        except duckdb.OutOfMemoryException:
            raise QueryError(
                "the query needs more memory than the store may take (HINDSIGHT_MEMORY_LIMIT; "
                "under `hindsight serve`, HINDSIGHT_SERVE_MAX_MEMORY): select fewer or shorter "
                "values"
            ) from None
        except duckdb.Error as exc:
            raise QueryError(str(exc).replace("\n", " ")) from None
        finally:
            cursor.close()
        elapsed = (time.perf_counter() - start) * 1000
        return Result(columns, rows, cut is not None, elapsed, cut)


#: Rows fetched at a time: DuckDB computes a result as it is fetched, so the rows past a bound
#: are never computed, let alone held (fetching MAX_ROWS at once held them all, whatever their
#: size: 5.9 GB for 2,000 rows of 5 MB).
FETCH_ROWS = 2048


def _fetch(
    cursor: duckdb.DuckDBPyConnection, max_rows: int, max_bytes: int
) -> tuple[list[tuple[Any, ...]], str | None]:
    """At most MAX_ROWS rows of CURSOR's result, stopping once their values pass MAX_BYTES
    (`_Sizer`), and what cut them (None: nothing did)."""
    sizer = _Sizer([str(d[1]) for d in cursor.description or []])
    rows: list[tuple[Any, ...]] = []
    size = 0
    while True:
        chunk = cursor.fetchmany(min(FETCH_ROWS, max_rows + 1 - len(rows)))
        grown = size + sizer.bytes(chunk)
        if grown <= max_bytes:
            rows.extend(chunk)
            size = grown
        else:  # row by row, to the last that fits (a first row alone is kept: an answer
            for row in chunk:  # past the bound refuses it then, server/answer.py)
                size += sizer.bytes([row])
                if size > max_bytes and rows:
                    return rows, "max_bytes"
                rows.append(row)
        if len(rows) > max_rows:
            return rows[:max_rows], "max_rows"
        if not chunk:
            return rows, None


#: Types whose values take as many bytes as they hold; nested ones count as their text, and
#: all others as 16 bytes.
_SIZED = frozenset({"VARCHAR", "BLOB", "JSON", "BIT"})
_NESTED = ("]", ")")  # lists, arrays, structs, maps, unions


class _Sizer:
    """The bytes rows of a result's column TYPES take in an answer, roughly, column by column
    (in C: no Python call per value)."""

    def __init__(self, types: list[str]) -> None:
        self.texts = [i for i, t in enumerate(types) if t in _SIZED]
        self.nested = [i for i, t in enumerate(types) if t.endswith(_NESTED)]
        self.fixed = 16 * (len(types) - len(self.texts) - len(self.nested))

    def bytes(self, rows: list[tuple[Any, ...]]) -> int:
        size = self.fixed * len(rows)
        if rows and (self.texts or self.nested):
            columns = list(zip(*rows, strict=True))
            size += sum(sum(map(len, filter(None, columns[i]))) for i in self.texts)
            size += sum(sum(map(len, map(str, columns[i]))) for i in self.nested)
        return size


def open(data: str | Path | None = None, *, read_only: bool = False, **settings: Any) -> Hindsight:
    """Open (or create) the store in DATA (default $HINDSIGHT_DATA or ./hindsight-data)."""
    return Hindsight(data, read_only=read_only, **settings)


def _hinted(message: str, sql: str) -> str:
    """DuckDB's MESSAGE on SQL, with what to write instead where the mistake is a usual one."""
    if _TIMESTAMP_INSTANT.search(message) and _AS_OF.search(sql):
        return message + (
            ": FOR SYSTEM_TIME AS OF takes unix seconds; for a timestamp write "
            "AS OF epoch(<timestamp>)"
        )
    mismatch = _NOT_A_NUMBER.search(message)
    if mismatch is None:
        return message
    column = mismatch["column"]
    if column is not None:
        return message + (
            f": {column} holds text; quote the value it is compared with ({column} = '...')"
        )
    return message + (
        ": a column osquery's schema types as a number is compared with text that is not one; "
        "compare it with a number (uid = 1001), or compare its text (uid::VARCHAR = 'x')"
    )
