"""Answer Hindsight's questions on Spark from the lake's published build.

The relations are the embedded store's (`hindsight.query.relations`, the time-travel rewrite of
`hindsight.query.timetravel`), translated by sqlglot: the lake's builds are registered as the
same table names (`cur_N`, `hist_N`, `ev_N`, `hosts`, `host_names`), so the SQL is written once.
Host ids on Spark are `xxhash64(host_key)` (a BIGINT, like the store's INTEGER ids, opaque).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
import threading
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from hindsight.api import Result, Time
from hindsight.engines.spark import bounded, listings
from hindsight.engines.spark.catalog import Build, current, data_root, lake_catalog
from hindsight.engines.spark.prune import prune_closed
from hindsight.engines.spark.session import REQUIRED, get_session
from hindsight.engines.spark.translate import to_spark, tree_to_spark
from hindsight.errors import NoState, QueryError, UnknownHost, first_line
from hindsight.lake import build_sql as lake_sql
from hindsight.lake.layout import OPEN_DAY, LakeError, LakePaths
from hindsight.query import relations
from hindsight.query.names import resolve_query
from hindsight.query.timetravel import rewrite
from hindsight.settings import Settings
from hindsight.store import fit
from hindsight.store.catalog import QueryInfo
from hindsight.store.layout import SORT_KEYS, cur_table, event_table, hist_table
from hindsight.timeparse import parse_time

if TYPE_CHECKING:
    from hindsight.investigate import Investigator


#: The ends of the writers' runs (`hosts/`, a batch's runs of one name per host), as lines.
_RUN_ENDS = (
    "(SELECT host_key, identifier, first_seen AS t FROM _lk_hosts_seen "
    "UNION ALL SELECT host_key, identifier, last_seen FROM _lk_hosts_seen)"
)


class SparkEngine:
    """Read side of the lake on Spark: `state`, `sql`, `hosts`, `queries`, `quality`, `rejects`."""

    name = "spark"

    def __init__(
        self, lake: str | LakePaths, spark: Any = None, settings: Settings | None = None
    ) -> None:
        self.paths = lake if isinstance(lake, LakePaths) else LakePaths.open(lake)
        self.settings = settings or Settings.from_env()
        # a session of its own (sharing the context): its views (`hosts`, `users`, ...) are
        # this lake's and this build's, whatever other engines register in the same context
        self.spark = (spark if spark is not None else get_session()).newSession()
        for key, value in REQUIRED.items():  # (a session made elsewhere too)
            self.spark.conf.set(key, value)
        build = current(self.paths)
        if build is None:
            raise LakeError(
                f"the lake at {self.paths.uri} has no build yet: run `hindsight lake build`"
            )
        self.build: Build = build
        self.catalog = lake_catalog(build.queries, self.settings.event_queries)
        self._register()

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    # -- views -------------------------------------------------------------------------------
    def _register(self) -> None:
        self._registered: set[int] = set()
        self._hosts()

    def _ensure(self, infos: list[QueryInfo]) -> None:
        """Register the views of these queries (each once: reading a build's schema costs)."""
        for info in infos:
            if info.query_id in self._registered:
                continue
            data = self._data(info)
            keys = [
                c
                for c in SORT_KEYS.get(info.os_table or "", ())
                if c in info.columns and not info.is_event
            ]
            typed = lake_sql.typed_columns(info, key=keys[0] if keys else None)
            cols = f", {typed}" if typed else ""
            if info.is_event:
                self._view(
                    event_table(info.query_id), data, f"SELECT _host, _unix, _time{cols} FROM {{t}}"
                )
            else:
                self._view(
                    cur_table(info.query_id),
                    data,
                    f"SELECT _host, _from, _n, _rh{cols} FROM {{t}} WHERE to_day = '{OPEN_DAY}'",
                )
                self._view(
                    hist_table(info.query_id),
                    data,
                    f"SELECT _host, _from, _to, _n, _rh, to_day{cols} FROM {{t}} WHERE to_day <> '{OPEN_DAY}'",
                )
            self._registered.add(info.query_id)

    def _referenced(self, duck_sql: str) -> list[QueryInfo]:
        names = {t.name for t in sqlglot.parse_one(duck_sql, read="duckdb").find_all(exp.Table)}
        ids = {int(n.split("_", 1)[1]) for n in names if re.fullmatch(r"(cur|hist|ev)_\d+", n)}
        return [self.catalog.by_id(i) for i in sorted(ids)]

    def _data(self, info: QueryInfo) -> Any:
        root = data_root(self.paths, self.build.queries[info.name])
        if not self.paths.files(root):
            return self._empty(info)
        df = self.spark.read.option("basePath", self.paths.uri_of(root)).parquet(
            self.paths.uri_of(root)
        )
        return df.where(df["query"] == info.name)

    def _empty(self, info: QueryInfo) -> Any:
        fixed = (
            "CAST(NULL AS BIGINT) AS _host, CAST(NULL AS BIGINT) AS _from, CAST(NULL AS BIGINT) AS _to, "
            "CAST(NULL AS BIGINT) AS _unix, CAST(NULL AS BIGINT) AS _time, CAST(NULL AS SMALLINT) AS _n, "
            "CAST(NULL AS BIGINT) AS _rh, CAST(NULL AS VARCHAR) AS to_day, CAST(NULL AS VARCHAR) AS _key, "
            "CAST(NULL AS VARCHAR) AS _row"
        )
        return self.spark.sql(to_spark(f"SELECT {fixed} WHERE FALSE"))

    def _view(self, name: str, data: Any, select: str) -> None:
        data.createOrReplaceTempView(f"_lk_{name}")
        self.spark.sql(to_spark(select.format(t=f"_lk_{name}"))).createOrReplaceTempView(name)

    def _hosts(self) -> None:
        files = self.paths.files(self.paths.dataset("hosts"))
        if files:
            seen = self.spark.read.parquet(*[self.paths.uri_of(f) for f in files])
        else:
            seen = self.spark.createDataFrame(
                [], "host_key STRING, identifier STRING, first_seen BIGINT, last_seen BIGINT"
            )
        seen.createOrReplaceTempView("_lk_hosts_seen")
        self.spark.sql(
            "SELECT xxhash64(host_key) AS host_id, host_key, identifier, min(first_seen) AS first_seen, "
            "max(last_seen) AS last_seen FROM _lk_hosts_seen GROUP BY host_key, identifier"
        ).localCheckpoint().createOrReplaceTempView("host_names")
        self.spark.sql(
            "SELECT host_id, first(host_key) AS host_key, min(first_seen) AS first_seen, "
            "max(last_seen) AS last_seen FROM host_names GROUP BY host_id"
        ).createOrReplaceTempView("hosts")
        # the runs of one name, from the writers' (each a batch's runs, or before them its
        # spans per name), as the store derives them batch by batch
        ends = (
            f"SELECT xxhash64(host_key) AS host_id, identifier, t FROM {_RUN_ENDS}"
            + self._inside_runs()
        )
        self.spark.sql(
            to_spark(relations.name_runs(ends))
        ).localCheckpoint().createOrReplaceTempView("host_runs")
        # (the store keeps it as a table: each as-of lookup joins it)
        self.spark.sql(
            to_spark(f"SELECT host_id, since FROM {relations.superseded()} x")
        ).localCheckpoint().createOrReplaceTempView("host_ends")

    def _inside_runs(self) -> str:
        """Where a writer's run holds another's line of another name, the run's own lines over
        it, read back from the raw observations (`relations.split_runs`: rare, it takes a
        late line amid a rename), as SQL to add to the runs' ends; or nothing."""
        splits = self.spark.sql(
            to_spark(relations.split_runs("_lk_hosts_seen", _RUN_ENDS, "host_key"))
        )
        if not splits.take(1):
            return ""
        raw = self.paths.files(self.paths.raw())  # (listed only then: the lake's largest dataset)
        if not raw:
            return ""
        splits.localCheckpoint().createOrReplaceTempView("_lk_splits")
        seen = self.spark.read.parquet(*[self.paths.uri_of(f) for f in raw])
        seen.select("host_key", "identifier", "unix_time").createOrReplaceTempView("_lk_raw_seen")
        return (
            " UNION ALL SELECT xxhash64(r.host_key), r.identifier, r.unix_time FROM _lk_raw_seen r "
            "JOIN _lk_splits s ON r.host_key = s.host_key AND r.unix_time BETWEEN s.lo AND s.hi"
        )

    # -- questions ---------------------------------------------------------------------------
    @functools.cached_property
    def investigate(self) -> Investigator:
        """The investigations (who ip/uid/mount, timeline ip/user/host, diff) on Spark."""
        from hindsight.engines.spark.investigate import investigator

        return investigator(self)

    def state(self, query: str, at: Time = None, hosts: Sequence[str] | None = None) -> Result:
        info = resolve_query(self.catalog, query)
        if info.is_event:
            raise NoState(info.name)
        ids = self.host_ids(hosts) if hosts else None
        self._ensure([info])
        return self._run(
            f"SELECT * FROM {relations.state_as_of(info, parse_time(at), ids)}", order=True
        )

    def sql(self, sql: str, at: Time = None) -> Result:
        plain = rewrite(sql, parse_time(at), self.catalog, self.settings.max_sql_bytes)
        self._ensure(self._referenced(plain))
        return self._run(plain)

    def hosts(self) -> Result:
        """As the embedded store's `hosts()` (hindsight.engines.spark.listings)."""
        return listings.hosts(self)

    def queries(self) -> Result:
        """As the embedded store's `queries()` (hindsight.engines.spark.listings)."""
        return listings.queries(self)

    def rejects(self) -> Result:
        """As the embedded store's `rejects()` (hindsight.engines.spark.listings)."""
        return listings.rejects(self)

    def quality(self) -> Result:
        """Data-quality signals, as the embedded store's `quality()` (host_key, query, at, kind,
        detail), from the build's executions: counter gaps, ambiguous resets, removed rows that
        were not open. A build older than layout 3 has only the first two."""
        from hindsight.engines.spark.investigate import lake_executions

        lake_executions(self).createOrReplaceTempView("_lk_quality_execs")
        found = self._run(
            "SELECT host_key, query, unix_time AS at, kind, detail FROM "
            f"({lake_sql.quality('_lk_quality_execs')}) q ORDER BY unix_time, host_key, query, kind"
        )
        # and the columns settled by a value their type could not hold, which build.json names
        text = [
            (m.host_key, q, m.unix_time, fit.kind(m), fit.detail(m, self.catalog.queries[q]))
            for q, b in self.build.queries.items()
            for m in b.settled
        ]
        shared = self._run(
            f"{relations.shared_identities()} UNION ALL {relations.continued_identities()}"
        ).rows
        ordered = sorted(
            [*found.rows, *text, *shared], key=lambda r: (r[2], r[0], r[1] or "", r[3])
        )
        # instants as the embedded store gives them (UTC-aware), whatever the driver's zone
        rows = [(h, q, dt.datetime.fromtimestamp(t, dt.UTC), k, d) for h, q, t, k, d in ordered]
        return dataclasses.replace(found, rows=rows)

    def host_ids(self, names: Sequence[str]) -> list[int]:
        rows = self.spark.sql(
            "SELECT DISTINCT host_id, host_key, identifier FROM host_names"
        ).collect()
        ids: list[int] = []
        for name in names:
            found = [h for h, key, ident in rows if name.lower() == key or name == ident]
            if not found:
                raise UnknownHost(name, {r[1] for r in rows} | {r[2] for r in rows if r[2]})
            ids.extend(found)
        return sorted(set(ids))

    # -- bounded execution -------------------------------------------------------------------
    def _run(self, duck_sql: str, order: bool = False, spark_sql: bool = False) -> Result:
        sql = (
            duck_sql
            if spark_sql
            else tree_to_spark(prune_closed(sqlglot.parse_one(duck_sql, read="duckdb")))
        )
        sc = self.spark.sparkContext
        group = f"hindsight-{uuid.uuid4().hex}"
        sc.setJobGroup(group, "hindsight query", interruptOnCancel=True)
        timer = threading.Timer(self.settings.query_timeout_s, sc.cancelJobGroup, [group])
        start = time.perf_counter()
        timer.start()
        try:
            df = self.spark.sql(sql)
            if order:
                # (quoted: `a.b` would read as a struct's field)
                df = df.orderBy(*[df["`" + c.replace("`", "``") + "`"] for c in df.columns])
            rows, cut = bounded.collect(
                df, self.settings.max_rows, self.settings.max_response_bytes
            )
            columns = list(df.columns)
        except Exception as exc:  # Spark raises its own exception tree (py4j, AnalysisException)
            if (
                not timer.is_alive()
                and time.perf_counter() - start >= self.settings.query_timeout_s
            ):
                raise self.settings.timed_out() from None
            raise QueryError(f"on the spark engine: {_first_line(exc)}") from None
        finally:
            timer.cancel()
            sc.setLocalProperty("spark.jobGroup.id", None)
        out = [tuple(_plain(v) for v in r) for r in rows]
        return Result(columns, out, cut is not None, (time.perf_counter() - start) * 1000, cut)


def _first_line(exc: Exception) -> str:
    """The first line of Spark's message, without a position: it is in the translated
    statement, not in the user's (misleading)."""
    return re.sub(r"\s*\(line \d+, pos \d+\)", "", first_line(exc))[:500]


def _plain(value: Any) -> Any:
    """Spark's DECIMAL(20,0) (unsigned BIGINT) as the int DuckDB gives."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value
