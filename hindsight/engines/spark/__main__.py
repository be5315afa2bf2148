"""Spark jobs, runnable with spark-submit (the master and resources come from spark-submit):

    JOB=$(python -c 'import hindsight.engines.spark.__main__ as m; print(m.__file__)')
    spark-submit --master yarn $JOB build s3a://bucket/lake
    spark-submit $JOB state /data/lake users --at 2026-11-01T14:00:00Z
    spark-submit $JOB sql /data/lake "SELECT ..."
    python -m hindsight.engines.spark build /data/lake     (local, without spark-submit)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from hindsight.errors import HindsightError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hindsight-spark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="job", required=True)
    sub.add_parser("build", help="build and extend the intervals").add_argument("lake")
    state = sub.add_parser("state", help="a query's state as of --at")
    state.add_argument("lake")
    state.add_argument("query")
    state.add_argument("--at")
    sql = sub.add_parser("sql", help="time-travel SQL")
    sql.add_argument("lake")
    sql.add_argument("statement")
    sql.add_argument("--at")
    args = parser.parse_args(argv)
    from hindsight.engines.spark.session import get_session

    try:
        spark = get_session()
        if args.job == "build":
            from hindsight.engines.spark.build import SparkBuilder

            print(json.dumps(asdict(SparkBuilder(spark, args.lake).build())))
            return 0
        from hindsight.engines.spark.engine import SparkEngine

        engine = SparkEngine(args.lake, spark)
        result = engine.state(args.query, args.at) if args.job == "state" else engine.sql(args.statement, args.at)
        for row in result.dicts():
            print(json.dumps(row, default=str))
        return 0
    except HindsightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
