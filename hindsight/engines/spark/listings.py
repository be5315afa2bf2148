"""The listings on Spark (`hosts`, `queries`, `rejects`), column for column, in the order and
with the Python types of the embedded store's (`hindsight.api.Hindsight`): instants are UTC-aware
datetimes whatever the driver's zone, counts and sizes ints.

- hosts: the lake's `hosts/` files (every writer's batches, also status lines), as the
  `host_names` view the engine registers: read live, like the store's, not from a build;
- queries: the published build's queries (kind, osquery table resolved by the store's own
  catalog) and its `query_hosts/` (hosts, first and last seen; NULL on a build older than
  layout 4, until the next `hindsight lake build`);
- rejects: the lake's `rejects/` files (lines kept aside by the writers), read live.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from hindsight.api import Result
from hindsight.engines.spark import query_hosts

if TYPE_CHECKING:
    from hindsight.engines.spark.engine import SparkEngine

HOSTS_COLUMNS = ["host", "host_key", "first_seen", "last_seen", "identifiers"]
QUERIES_COLUMNS = ["query", "kind", "osquery_table", "hosts", "first_seen", "last_seen"]
REJECTS_COLUMNS = ["source", "line", "reason", "size"]
REJECTS_DDL = "source STRING, line BIGINT, reason STRING, raw BINARY"


def instant(unix: int | None) -> dt.datetime | None:
    """A unixTime as the embedded store gives it (`to_timestamp`: UTC-aware)."""
    return None if unix is None else dt.datetime.fromtimestamp(unix, dt.UTC)


def hosts(engine: SparkEngine) -> Result:
    found = engine._run(
        "SELECT coalesce(max_by(identifier, IF(identifier IS NULL, NULL, struct(last_seen, identifier))), "
        "first(host_key)) AS host, "
        "first(host_key) AS host_key, min(first_seen) AS first_seen, max(last_seen) AS last_seen, "
        "CASE WHEN size(collect_set(identifier)) > 0 "
        "THEN array_join(array_sort(collect_set(identifier)), ', ') END AS identifiers "
        "FROM host_names GROUP BY host_id ORDER BY host NULLS LAST, host_key NULLS LAST",
        spark_sql=True,
    )
    rows = [(h, k, instant(f), instant(last), i) for h, k, f, last, i in found.rows]
    return dataclasses.replace(found, columns=HOSTS_COLUMNS, rows=rows)


def queries(engine: SparkEngine) -> Result:
    query_hosts.read(engine.spark, engine.paths, engine.build).createOrReplaceTempView(
        "_lk_query_hosts"
    )
    found = engine._run(
        "SELECT query, count(DISTINCT host_key) AS hosts, min(first_seen) AS first_seen, "
        "max(last_seen) AS last_seen FROM _lk_query_hosts GROUP BY query",
        spark_sql=True,
    )
    seen = {q: (n, instant(lo), instant(hi)) for q, n, lo, hi in found.rows}
    unknown = (None, None, None)
    infos = sorted(engine.catalog.queries.values(), key=lambda i: i.name)
    rows = [(i.name, i.kind, i.os_table, *seen.get(i.name, unknown)) for i in infos]
    limit = engine.settings.max_rows
    cut = found.truncated_reason or ("max_rows" if len(rows) > limit else None)
    return Result(QUERIES_COLUMNS, rows[:limit], cut is not None, found.elapsed_ms, cut)


def rejects(engine: SparkEngine) -> Result:
    paths = engine.paths
    files = paths.files(paths.dataset("rejects"))
    if not files:
        return Result(REJECTS_COLUMNS, [])
    spark: Any = engine.spark
    spark.read.schema(REJECTS_DDL).parquet(
        *[paths.uri_of(f) for f in files]
    ).createOrReplaceTempView("_lk_rejects")
    return engine._run(
        # a line kept aside again (its file ingested again) is listed once, as by the store
        "SELECT DISTINCT source, line, reason, CAST(length(raw) AS BIGINT) AS size FROM _lk_rejects "
        "ORDER BY source NULLS LAST, line NULLS LAST",
        spark_sql=True,
    )
