"""The investigations (`hindsight.investigate`: who, usb, enrich, timeline, diff) on Spark.

They are the embedded engine's own code and SQL: the SQL is DuckDB's, translated by sqlglot like
every other statement of the Spark engine, over the same table names (`cur_N`, `hist_N`, `ev_N`,
`hosts`, `host_names`) plus `executions`, every classified execution of the lake's build.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hindsight.engines.spark.build import EXEC_DDL
from hindsight.engines.spark.catalog import executions_root
from hindsight.lake.layout import LakeError
from hindsight.settings import Settings

if TYPE_CHECKING:
    from hindsight.api import Result
    from hindsight.engines.spark.engine import SparkEngine
    from hindsight.investigate import Investigator


class SparkTables:
    """The engine as investigations see it: SQL run on Spark (each referenced query's tables
    registered first), host ids as the lake's."""

    def __init__(self, engine: SparkEngine) -> None:
        self.engine = engine
        if engine.build.layout < 2:
            raise LakeError(
                f"the lake at {engine.paths.uri} was built with layout {engine.build.layout}, which has "
                "no executions: run `hindsight lake build` again (it rebuilds the intervals)"
            )
        register_executions(engine)

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    def _run(self, sql: str) -> Result:
        self.engine._ensure(self.engine._referenced(sql))
        return self.engine._run(sql)

    def host_ids(self, names: Sequence[str]) -> list[int]:
        return self.engine.host_ids(names)


def register_executions(engine: SparkEngine) -> None:
    """View `executions` (host_id, query_id and the columns of `EXEC_DDL`: unix_time, epoch,
    counter, full_set, added, removed, counter_gap, prev_counter, reset_with_removed,
    removed_not_open, reset_closed_rows) over every state query's latest data."""
    from pyspark.sql import functions as F

    ids = {i.name: i.query_id for i in engine.catalog.queries.values() if not i.is_event}
    mapping = engine.spark.createDataFrame(
        sorted(ids.items()) or [("", 0)], "query STRING, query_id INT"
    )
    named = lake_executions(engine)
    out = named.join(F.broadcast(mapping), "query").select(
        F.xxhash64("host_key").alias("host_id"),
        "query_id",
        *[c for c in named.columns if c not in ("query", "host_key")],
    )
    out.localCheckpoint().createOrReplaceTempView("executions")


def lake_executions(engine: SparkEngine) -> Any:
    """Every state query's executions as the build's files hold them (query, host_key, then the
    columns of `EXEC_DDL`); a column an older build did not write reads NULL."""
    from pyspark.sql import functions as F

    spark, paths, build = engine.spark, engine.paths, engine.build
    names = sorted(i.name for i in engine.catalog.queries.values() if not i.is_event)
    by_root: dict[str, list[str]] = {}
    for name in names:
        by_root.setdefault(executions_root(paths, build.queries[name]), []).append(name)
    out = spark.createDataFrame([], EXEC_DDL)
    for root, queries in by_root.items():
        if paths.files(root):
            df = (
                spark.read.schema(EXEC_DDL)
                .option("basePath", paths.uri_of(root))
                .parquet(paths.uri_of(root))
            )
            out = out.unionByName(df.where(F.col("query").isin(queries)))
    return out


def investigator(engine: SparkEngine) -> Investigator:
    from hindsight.investigate import Investigator

    return Investigator(SparkTables(engine), engine.catalog)
