"""Hindsight on Apache Spark over the lake: build intervals, answer state and time-travel SQL.

Needs the `spark` extra (pyspark) and Java 17+. The master comes from the usual Spark
configuration (spark-submit `--master`, spark-defaults.conf, `PYSPARK_SUBMIT_ARGS`), local
otherwise.
"""

from hindsight.engines.spark.errors import Unsupported

__all__ = ["Unsupported"]
