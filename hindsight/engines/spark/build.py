"""Build and extend the validity intervals of the lake on Spark.

A build reads the raw files the published build has not consumed, and for every query at once:
- state queries: extends each touched stream (query, host) from its open intervals when all its
  new executions come after its last one, and rebuilds it from all its raw lines otherwise (late
  backlogs, out-of-order files, repeated lines), with the embedded engine's interval SQL
  (`hindsight.intervals.build_sql`) and the lake's input SQL (`hindsight.lake.build_sql`), both
  translated by sqlglot, never rewritten for Spark;
- event queries: the added rows of every line, deduplicated.
Each touched query is written under a new version directory, then the build is published by
pointing built/CURRENT at it: readers see the previous build or the new one, never a mix.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from hindsight.engines.spark import query_hosts
from hindsight.engines.spark.catalog import (
    REBUILD_BELOW,
    Build,
    QueryBuild,
    current,
    data_root,
    executions_root,
    lake_catalog,
    publish,
    version_dir,
)
from hindsight.engines.spark.translate import to_spark, tree_to_spark
from hindsight.intervals.build_sql import interval_statements
from hindsight.lake import build_sql as lake_sql
from hindsight.lake.layout import OPEN_DAY, OPEN_END, LakePaths
from hindsight.settings import Settings
from hindsight.store.catalog import QueryInfo
from hindsight.store.columns import bad_columns
from hindsight.store.fit import SHOWN, Misfit, fits
from hindsight.store.layout import SORT_KEYS

#: per (query, column), per DuckDB type: whether a value fits, and the first value it cannot
#: hold, (unix_time, host, value)
Fits = dict[tuple[str, str], dict[str, tuple[bool, tuple[int, str, str] | None]]]
#: whether a value fits a type, as the embedded store decides (hindsight.store.fit)
_FIT_TYPES = {
    typ: tree_to_spark(sqlglot.parse_one(fits("v", typ), read="duckdb"))
    for typ in ("BIGINT", "UBIGINT", "DOUBLE")
}
_FITS = (
    "SELECT query, k, "
    + ", ".join(
        f"bool_or(v <> '' AND {fits}) AS {typ.lower()}, "
        f"min(CASE WHEN v <> '' AND NOT ({fits}) THEN struct(unix_time, host_key, left(v, {SHOWN})) "
        f"END) AS not_{typ.lower()}"
        for typ, fits in _FIT_TYPES.items()
    )
    + " FROM (SELECT query, host_key, unix_time, explode(from_json(`row`, 'map<string,string>')) "
    "AS (k, v) FROM _lk_cols_raw WHERE `row` IS NOT NULL) GROUP BY query, k"
)

RAW_DDL = (
    "host_key STRING, identifier STRING, unix_time BIGINT, epoch BIGINT, counter BIGINT, "
    "shape STRING, line_key BIGINT, batch STRING, line INT, op TINYINT, rh BIGINT, `row` STRING"
)
IV_DDL = "host_key STRING, _from BIGINT, _to BIGINT, _n SMALLINT, _rh BIGINT, _row STRING"
MAX_ROWS_PER_FILE = 4_000_000  # a large (query, day) partition is split into several files
EXEC_DDL = (
    "query STRING, host_key STRING, unix_time BIGINT, epoch BIGINT, counter BIGINT, full_set BOOLEAN, "
    "added INT, removed INT, counter_gap BOOLEAN, prev_counter BIGINT, reset_with_removed BOOLEAN, "
    "removed_not_open INT, reset_closed_rows INT"
)
POS_DDL = (
    "query STRING, host_key STRING, last_time BIGINT, last_epoch BIGINT, last_ckey BIGINT, "
    "last_snapshot BOOLEAN"
)


@dataclass
class BuildReport:
    version: int = 0
    queries: int = 0
    raw_files: int = 0
    extended_streams: int = 0
    replayed_streams: int = 0
    intervals: int = 0
    events: int = 0


class SparkBuilder:
    def __init__(self, spark: Any, lake: str | LakePaths, settings: Settings | None = None) -> None:
        self.spark = spark
        self.paths = lake if isinstance(lake, LakePaths) else LakePaths.open(lake)
        self.settings = settings or Settings.from_env()

    def build(self) -> BuildReport:
        """Consume the new raw files; publish a new build when there were any."""
        prev = current(self.paths)
        version = (prev.version if prev else 0) + 1
        if prev is not None and prev.layout < REBUILD_BELOW:
            prev = None  # built by an older layout: rebuilt whole
        consumed = set(prev.consumed) if prev else set()
        files = {q: self.paths.files(self.paths.raw(q)) for q in self.paths.queries()}
        new = {q: self._unseen(fs, consumed) for q, fs in files.items()}
        new = {q: fs for q, fs in new.items() if fs}
        report = BuildReport(version=version - 1)
        if not new:
            if current(self.paths) is None:
                # a lake of status lines or rejected lines alone: a build of no query, so that
                # its hosts and rejects can be listed (every engine opens a build)
                self.paths.fs.create_dir(version_dir(self.paths, version), recursive=True)
                publish(self.paths, Build(version))
                report.version = version
            return report
        queries = dict(prev.queries) if prev else {}
        found, fits = self._columns(new)
        for q in new:
            kind = "event" if self._is_event(q) else "state"
            before = queries.get(q)
            known = set(before.columns if before else ())
            # (a column no store can hold, published by a writer that had not met the other
            # spelling: left out, never a build that fails for good; store/columns.py)
            columns = known | (found.get(q, set()) - set(bad_columns(known, found.get(q, ()))))
            queries[q] = QueryBuild(
                kind,
                tuple(sorted(columns)),
                version,
                before.settled if before else (),
                before.held if before else (),
            )
        catalog = lake_catalog(queries, self.settings.event_queries)
        if _settle(queries, catalog.queries, fits):
            catalog = lake_catalog(queries, self.settings.event_queries)
        self.base = version_dir(self.paths, version)
        states = [q for q in new if queries[q].kind == "state"]
        events = [q for q in new if queries[q].kind == "event"]
        if events:
            self._events({q: files[q] for q in events}, catalog.queries, report)
        if states:
            self._states(states, new, files, prev, catalog.queries, report)
        query_hosts.write(self, version, files, new, prev)
        everything = tuple(sorted(f for fs in files.values() for f in fs))
        publish(self.paths, Build(version, queries, everything))
        report.version, report.queries, report.raw_files = (
            version,
            len(new),
            sum(map(len, new.values())),
        )
        self.spark.catalog.clearCache()
        return report

    # -- helpers -----------------------------------------------------------------------------
    def _unseen(self, files: list[str], consumed: set[str]) -> list[str]:
        """Files not consumed yet; a compacted file of consumed files only counts as consumed."""
        from hindsight.lake.compact import compacted_from

        names = {f.rpartition("/")[2] for f in consumed}
        out = []
        for f in files:
            if f in consumed:
                continue
            sources = compacted_from(self.paths, f)
            if not sources or not set(sources) <= names:
                out.append(f)
        return out

    def _is_event(self, query: str) -> bool:
        return any(fnmatch.fnmatchcase(query, p) for p in self.settings.event_queries)

    def _read(self, by_query: dict[str, list[str]]) -> Any:
        """Raw observations of these files, with their query."""
        from pyspark.sql import functions as F

        frames = [
            self.spark.read.schema(RAW_DDL)
            .parquet(*[self.paths.uri_of(f) for f in fs])
            .withColumn("query", F.lit(q))
            for q, fs in sorted(by_query.items())
            if fs
        ]
        if not frames:
            return self.spark.createDataFrame([], RAW_DDL + ", query STRING")
        out = frames[0]
        for f in frames[1:]:
            out = out.unionByName(f)
        return out

    def _sql(self, duck_sql: str) -> Any:
        return self.spark.sql(to_spark(duck_sql))

    def _view(self, name: str, df: Any, materialise: bool = True) -> Any:
        if materialise:
            df = df.localCheckpoint()  # computed now, lineage cut: small plans for the next step
        df.createOrReplaceTempView(name)
        return df

    def _columns(self, new: dict[str, list[str]]) -> tuple[dict[str, set[str]], Fits]:
        """Column names of the rows in the new files, per query, and per (query, column) and
        typed column type, whether a value fits and the first value (by instant, host, value)
        that does not (one pass)."""
        self._view("_lk_cols_raw", self._read(new), materialise=False)
        # (a repeated key: the last one's value, where the store reads the first)
        self.spark.conf.set("spark.sql.mapKeyDedupPolicy", "LAST_WIN")
        rows = self.spark.sql(_FITS).collect()
        out: dict[str, set[str]] = {}
        fits: Fits = {}
        for q, k, *found in rows:
            out.setdefault(q, set()).add(k)
            for n, typ in enumerate(_FIT_TYPES):
                held, first = found[2 * n], found[2 * n + 1]
                misfit = (first[0], first[1], first[2]) if first is not None else None
                fits.setdefault((q, k), {})[typ] = (bool(held), misfit)
        return out, fits

    def _run_statement(self, duck_sql: str) -> None:
        """A `CREATE OR REPLACE TEMP TABLE x AS SELECT ...` statement as a materialised view."""
        tree = sqlglot.parse_one(duck_sql, read="duckdb")
        assert isinstance(tree, exp.Create)
        self._view(tree.this.name, self.spark.sql(to_spark(tree.expression.sql(dialect="duckdb"))))

    # -- events ------------------------------------------------------------------------------
    def _events(
        self, files: dict[str, list[str]], infos: dict[str, QueryInfo], report: BuildReport
    ) -> None:
        """Every event query's rows in one job (they are all rewritten: repeats may span files)."""
        from pyspark.sql import functions as F

        self._view("_lk_ev_raw", self._read(files), materialise=False)
        self._view("_lk_ev_obs", self._sql(lake_sql.dedupe("_lk_ev_raw")), materialise=False)
        timed = [q for q in files if "time" in infos[q].columns]
        df = self._sql(lake_sql.events("_lk_ev_obs", timed)).withColumn(
            "_host", F.xxhash64("host_key")
        )
        df = df.withColumn(
            "day", F.date_format(F.from_unixtime("_unix"), "yyyy-MM-dd")
        ).localCheckpoint()
        report.events += df.count()
        (
            df.repartition("query", "day")
            .sortWithinPartitions("host_key", "_time")
            .write.option("maxRecordsPerFile", MAX_ROWS_PER_FILE)
            .partitionBy("query", "day")
            .parquet(self.paths.uri_of(f"{self.base}/events"))
        )

    # -- state -------------------------------------------------------------------------------
    def _states(
        self,
        states: list[str],
        new: dict[str, list[str]],
        files: dict[str, list[str]],
        prev: Build | None,
        infos: dict[str, QueryInfo],
        report: BuildReport,
    ) -> None:
        spark = self.spark
        self._view("_lk_new_raw", self._read({q: new[q] for q in states}), materialise=False)
        self._view("_lk_new", self._sql(lake_sql.dedupe("_lk_new_raw")))
        self._view("_lk_prev_iv", self._previous_intervals(states, prev), materialise=False)
        self._view("_lk_prev_pos", self._previous_positions(prev), materialise=False)
        self._view("_lk_first", self._sql(lake_sql.first_new("_lk_new")))
        self._view("_lk_replay", self._sql(lake_sql.replayed("_lk_first", "_lk_prev_pos")))
        replay = [(r[0], r[1]) for r in spark.table("_lk_replay").collect()]
        touched = spark.table("_lk_first").count()
        report.replayed_streams += len(replay)
        report.extended_streams += touched - len(replay)
        self._inputs(files, replay)
        for statement in interval_statements("_lk_changes", "_lk_execs", "_lk_open"):
            self._run_statement(statement)
        merged = self._sql(
            lake_sql.merge(
                "_lk_prev_iv", "_lk_replay", "iv_closed_existing", "iv_new_closed", "iv_new_open"
            )
        )
        report.intervals += self._view("_lk_iv", merged).count()
        self._write_intervals({q: infos[q] for q in states})
        self._write_executions(states, prev)
        self._write_positions()

    def _previous_intervals(self, states: list[str], prev: Build | None) -> Any:
        from pyspark.sql import functions as F

        out = self.spark.createDataFrame([], "query STRING, " + IV_DDL)
        by_version: dict[int, list[str]] = {}
        for q in states:
            if prev is not None and q in prev.queries:
                by_version.setdefault(prev.queries[q].version, []).append(q)
        for queries in by_version.values():
            root = data_root(self.paths, prev.queries[queries[0]]) if prev else ""
            if self.paths.files(root):
                df = (
                    self.spark.read.schema(f"query STRING, to_day STRING, {IV_DDL}")
                    .option("basePath", self.paths.uri_of(root))
                    .parquet(self.paths.uri_of(root))
                )
                out = out.unionByName(df.where(F.col("query").isin(queries)).drop("to_day"))
        return out

    def _previous_positions(self, prev: Build | None) -> Any:
        fs = self.paths.files(f"{version_dir(self.paths, prev.version)}/streams") if prev else []
        if not fs:
            return self.spark.createDataFrame([], POS_DDL)
        return self.spark.read.schema(POS_DDL).parquet(*[self.paths.uri_of(f) for f in fs])

    def _inputs(self, files: dict[str, list[str]], replay: list[tuple[str, str]]) -> None:
        """Observations of the batch: new lines of extended streams, all lines of replayed ones."""
        spark = self.spark
        not_replayed = (
            "NOT EXISTS (SELECT 1 FROM _lk_replay r WHERE r.query = t.query "
            "AND r.host_key = t.host_key)"
        )
        obs = spark.sql(f"SELECT * FROM _lk_new t WHERE {not_replayed}")
        if replay:
            queries = sorted({q for q, _ in replay})
            self._view(
                "_lk_old_raw",
                self._read({q: files[q] for q in queries}).join(
                    spark.table("_lk_replay"), ["query", "host_key"], "left_semi"
                ),
                materialise=False,
            )
            obs = obs.unionByName(self._sql(lake_sql.dedupe("_lk_old_raw")))
        self._view("_lk_obs", obs)
        self._view(
            "_lk_pos",
            spark.sql(f"SELECT * FROM _lk_prev_pos t WHERE {not_replayed}"),
            materialise=False,
        )
        self._view("_lk_execs", self._sql(lake_sql.executions("_lk_obs", "_lk_pos")))
        self._view("_lk_changes", self._sql(lake_sql.changes("_lk_obs", "_lk_execs")))
        self._view(
            "_lk_open",
            spark.sql(
                f"SELECT host_key AS host_id, query AS query_id, _rh AS rh, _from, _n FROM _lk_prev_iv t "
                f"WHERE _to = {OPEN_END} AND {not_replayed} AND EXISTS (SELECT 1 FROM _lk_first f "
                "WHERE f.query = t.query AND f.host_key = t.host_key)"
            ),
            materialise=False,
        )

    def _write_intervals(self, infos: dict[str, QueryInfo]) -> None:
        """Every touched state query's intervals in one job, partitioned by query and end day,
        sorted by the query's lookup key (`_key`), host and start within each file."""
        from pyspark.sql import functions as F

        keys = {
            q: k[0]
            for q, i in infos.items()
            if (k := [c for c in SORT_KEYS.get(i.os_table or "", ()) if c in i.columns])
        }
        df = self._sql(f"SELECT *, {lake_sql.lookup_key(keys)} AS _key FROM _lk_iv")
        df = df.withColumn("_host", F.xxhash64("host_key")).withColumn(
            "to_day",
            F.when(F.col("_to") == OPEN_END, F.lit(OPEN_DAY)).otherwise(
                F.date_format(F.from_unixtime("_to"), "yyyy-MM-dd")
            ),
        )
        (
            df.repartition("query", "to_day")
            .sortWithinPartitions("_key", "host_key", "_from")
            .write.option("maxRecordsPerFile", MAX_ROWS_PER_FILE)
            .partitionBy("query", "to_day")
            .parquet(self.paths.uri_of(f"{self.base}/intervals"))
        )

    def _write_executions(self, states: list[str], prev: Build | None) -> None:
        """Every execution of the touched state queries (the investigations' freshness and edge
        windows) with its data-quality signals (the interval builder's `iv_signals` counted in):
        the previous build's, but those of replayed streams, and the batch's."""
        new = self._sql(lake_sql.execution_rows("_lk_execs", "iv_signals"))
        old = self._previous(states, prev, executions_root, EXEC_DDL).join(
            self.spark.table("_lk_replay"), ["query", "host_key"], "left_anti"
        )
        (
            old.unionByName(new)
            .repartition("query")
            .sortWithinPartitions("host_key", "unix_time")
            .write.partitionBy("query")
            .parquet(self.paths.uri_of(f"{self.base}/executions"))
        )

    def _previous(self, states: list[str], prev: Build | None, root_of: Any, ddl: str) -> Any:
        """The previous build's rows of these queries in the datasets `root_of` names."""
        from pyspark.sql import functions as F

        out = self.spark.createDataFrame([], ddl)
        if prev is None:
            return out
        by_version: dict[int, list[str]] = {}
        for q in states:
            if q in prev.queries:
                by_version.setdefault(prev.queries[q].version, []).append(q)
        for queries in by_version.values():
            root = root_of(self.paths, prev.queries[queries[0]])
            if self.paths.files(root):
                df = (
                    self.spark.read.schema(ddl)
                    .option("basePath", self.paths.uri_of(root))
                    .parquet(self.paths.uri_of(root))
                )
                out = out.unionByName(df.where(F.col("query").isin(queries)))
        return out

    def _write_positions(self) -> None:
        self._view("_lk_new_pos", self._sql(lake_sql.positions("_lk_execs")))
        pos = self.spark.sql(
            "SELECT * FROM _lk_prev_pos t WHERE NOT EXISTS (SELECT 1 FROM _lk_new_pos n "
            "WHERE n.query = t.query AND n.host_key = t.host_key) UNION ALL SELECT * FROM _lk_new_pos"
        )
        pos.coalesce(1).write.parquet(self.paths.uri_of(f"{self.base}/streams"))


def _settle(queries: dict[str, QueryBuild], infos: dict[str, QueryInfo], fits: Fits) -> bool:
    """Settle in QUERIES the typed columns (as INFOS type them) holding a value their type
    cannot, as the embedded store does (store.fit): loose when the column held a value that
    fits (in an earlier build or this one), else text; and note the columns that held one.
    Returns whether a column was settled."""
    found = False
    for (q, column), per_type in sorted(fits.items()):
        typ = infos[q].columns.get(column, "VARCHAR")
        if typ not in per_type:
            continue
        b = queries[q]
        fitted, first = per_type[typ]
        held = column in b.held or fitted
        if first is not None and not b.settles(column):
            t, host, value = first
            misfit = Misfit(q, column, typ, host, int(t), value, loose=held)
            b = dataclasses.replace(b, settled=(*b.settled, misfit))
            found = True
        if held and column not in b.held:
            b = dataclasses.replace(b, held=(*b.held, column))
        queries[q] = b
    return found
