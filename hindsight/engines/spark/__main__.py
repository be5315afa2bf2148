"""Spark jobs, runnable with spark-submit (the master and resources come from spark-submit):

JOB=$(python -c 'import hindsight.engines.spark.__main__ as m; print(m.__file__)')
spark-submit --master yarn $JOB build s3a://bucket/lake
spark-submit $JOB state /data/lake users --at 2026-11-01T14:00:00Z
spark-submit $JOB sql /data/lake "SELECT ..."
spark-submit $JOB quality /data/lake                 (data-quality signals, as `hindsight quality`)
spark-submit $JOB queries /data/lake                 (also hosts, rejects: as the commands list them)
spark-submit $JOB investigate /data/lake who_ip 10.20.0.120 2026-11-01T14:00:00Z
spark-submit $JOB investigate /data/lake diff users web-0003 T1 T2     ("-" for none)
python -m hindsight.engines.spark build /data/lake     (local, without spark-submit)
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from dataclasses import asdict

from hindsight.errors import HindsightError, InputError

INVESTIGATIONS = (
    "who_ip",
    "who_uid",
    "who_mount",
    "usb",
    "enrich",
    "timeline_ip",
    "timeline_user",
    "timeline_host",
    "diff",
)


#: The listings, as the commands of the same names (`hindsight quality`, ...) print them.
LISTINGS = {
    "quality": "data-quality signals",
    "hosts": "hosts seen",
    "queries": "queries, their hosts, first and last seen",
    "rejects": "lines kept aside",
}


def _arguments(name: str, given: list[str]) -> list[object]:
    """Command-line words as the investigation's arguments: "-" is None, who_uid's uid a number."""
    out: list[object] = [None if a == "-" else a for a in given]
    if name == "who_uid" and out and out[0] is not None:
        try:
            out[0] = int(str(out[0]))
        except ValueError:
            raise InputError(f"who_uid: the uid must be a number, not {out[0]!r}") from None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hindsight-spark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    for listing, what in LISTINGS.items():
        sub.add_parser(listing, help=what).add_argument("lake")
    inv = sub.add_parser(
        "investigate",
        help="an investigation: who_ip, who_uid, who_mount, usb, enrich, "
        "timeline_ip, timeline_user, timeline_host, diff, with its arguments in order",
    )
    inv.add_argument("lake")
    inv.add_argument("name", choices=INVESTIGATIONS)
    inv.add_argument("arguments", nargs="*")
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
        if args.job == "investigate":
            call = getattr(engine.investigate, args.name)
            try:
                inspect.signature(call).bind(*_arguments(args.name, args.arguments))
            except TypeError as exc:
                raise InputError(f"{args.name}: {exc}") from None
            result = call(*_arguments(args.name, args.arguments))
        elif args.job in LISTINGS:
            result = getattr(engine, args.job)()
        elif args.job == "state":
            result = engine.state(args.query, args.at)
        else:
            result = engine.sql(args.statement, args.at)
        for row in result.dicts():
            print(json.dumps(row, default=str))
        return 0
    except HindsightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
