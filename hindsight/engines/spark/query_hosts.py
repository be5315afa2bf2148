"""Which hosts reported each query, first and last seen: the lake's side of `hindsight queries`.

    LAKE/built/v<N>/query_hosts/*.parquet   query, host_key, first_seen, last_seen (unixTime)

One row per (query, host) that has result lines, any kind of query: the embedded store's
`queries()` counts a query's hosts from the raw lines it keeps and its first and last seen from
the lines' unixTime, so repeated lines change nothing here either (min, max, distinct). Each build
(layout 4) rewrites the dataset whole: the previous build's rows merged with those of the new raw
files. A layout-3 build has none: the next build reads every raw file once (3 columns) instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hindsight.engines.spark.catalog import Build, version_dir
from hindsight.lake.layout import LakePaths

if TYPE_CHECKING:
    from hindsight.engines.spark.build import SparkBuilder

#: The first build layout with query_hosts/.
SINCE_LAYOUT = 4
DDL = "query STRING, host_key STRING, first_seen BIGINT, last_seen BIGINT"


def root(paths: LakePaths, version: int) -> str:
    return f"{version_dir(paths, version)}/query_hosts"


def carried(build: Build | None) -> bool:
    """Whether this build wrote query_hosts/ (an older one reads as unknown: NULL counts)."""
    return build is not None and build.layout >= SINCE_LAYOUT


def read(spark: Any, paths: LakePaths, build: Build | None) -> Any:
    """The build's rows (none for a build without them)."""
    files = paths.files(root(paths, build.version)) if carried(build) and build else []
    if not files:
        return spark.createDataFrame([], DDL)
    return spark.read.schema(DDL).parquet(*[paths.uri_of(f) for f in files])


def write(
    builder: SparkBuilder,
    version: int,
    files: dict[str, list[str]],
    new: dict[str, list[str]],
    prev: Build | None,
) -> None:
    """The new build's query_hosts/: the previous build's merged with the new raw files' (or
    every raw file's, when the previous build has none)."""
    from pyspark.sql import functions as F

    spark, paths = builder.spark, builder.paths
    raw = builder._read(new if carried(prev) else files)
    seen = raw.groupBy("query", "host_key").agg(
        F.min("unix_time").alias("first_seen"), F.max("unix_time").alias("last_seen")
    )
    merged = (
        read(spark, paths, prev)
        .unionByName(seen)
        .groupBy("query", "host_key")
        .agg(F.min("first_seen").alias("first_seen"), F.max("last_seen").alias("last_seen"))
    )
    (
        merged.coalesce(1)
        .sortWithinPartitions("query", "host_key")
        .write.parquet(paths.uri_of(root(paths, version)))
    )
