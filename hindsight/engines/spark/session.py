"""The SparkSession: master and resources from the usual Spark configuration.

`HINDSIGHT_SPARK_CONF` (`key=value,key=value`) adds settings; tests use a small local session.
Without any master configured (plain `python`), Spark's own default applies: local[*].
"""

from __future__ import annotations

from typing import Any

from hindsight.errors import HindsightError
from hindsight.settings import Settings

#: Settings every Hindsight session needs: times are UTC seconds, JSON paths as written, and no
#: `${env:NAME}` / `${system:name}` substitution in SQL text (it would read the environment, the
#: lake's credentials included, from a string literal of a user's query).
REQUIRED = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.variable.substitute": "false",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.parquet.compression.codec": "zstd",
}

#: A small local session for tests and one-machine use (fast start, no UI).
LOCAL_SMALL = {
    "spark.master": "local[2]",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}


def conf_from_env() -> dict[str, str]:
    raw = Settings.from_env().spark_conf
    pairs = [p.split("=", 1) for p in raw.split(",") if "=" in p]
    return {k.strip(): v.strip() for k, v in pairs}


def get_session(conf: dict[str, str] | None = None) -> Any:
    """The active SparkSession, or a new one with `conf` (then HINDSIGHT_SPARK_CONF) applied."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise HindsightError(
            "the spark engine needs pyspark: pip install 'hindsight[spark]' (and Java 17+)"
        ) from exc
    builder = SparkSession.builder.appName("hindsight")
    for key, value in {**(conf or {}), **conf_from_env(), **REQUIRED}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    for key, value in REQUIRED.items():
        session.conf.set(key, value)
    return session
