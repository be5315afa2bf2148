"""Command-line pieces of the lake and the Spark engine, registered by hindsight.cli."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

import click

from hindsight.cli_common import domain_errors

F = TypeVar("F", bound=Callable[..., Any])

ENGINES = ("duckdb", "spark")


def engine_options(func: F) -> F:
    """--engine and --lake, stacked on the commands that answer questions."""
    func = click.option(
        "--lake",
        envvar="HINDSIGHT_LAKE",
        default=None,
        help="Lake directory or URI (with --engine spark; env HINDSIGHT_LAKE).",
    )(func)
    return click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default="duckdb",
        show_default=True,
        help="duckdb: the embedded store (--data); spark: the lake on Apache Spark (--lake).",
    )(func)


def spark_engine(lake: str | None) -> Any:
    from hindsight.engines.spark.engine import SparkEngine
    from hindsight.errors import InputError

    if not lake:
        raise InputError("--engine spark needs --lake (or HINDSIGHT_LAKE)")
    return SparkEngine(lake)


@domain_errors
def show_spark(lake: str | None, method: str, fmt: str) -> None:
    """A listing (`hosts`, `queries`, ...) of the lake on Spark, printed as --format asks."""
    from hindsight.cli_common import show

    show(getattr(spark_engine(lake), method)(), fmt)


@click.group()
def lake() -> None:
    """The Parquet lake: build its intervals on Spark, compact its files."""


@lake.command()
@click.argument("uri")
def build(uri: str) -> None:
    """Build and extend the intervals of the lake at URI on Spark (master from Spark's config)."""

    @domain_errors
    def run() -> None:
        from hindsight.engines.spark.build import SparkBuilder
        from hindsight.engines.spark.session import get_session

        report = SparkBuilder(get_session(), uri).build()
        click.echo("  ".join(f"{k.replace('_', ' ')}: {v}" for k, v in asdict(report).items()))

    run()


@lake.command()
@click.argument("uri")
@click.option(
    "--min-files", default=4, show_default=True, help="Compact a partition from this many files."
)
@click.option(
    "--keep", default=2, show_default=True, help="Published builds kept (older ones removed)."
)
def compact(uri: str, min_files: int, keep: int) -> None:
    """Merge small raw files per (query, day) and remove old builds."""

    @domain_errors
    def run() -> None:
        from hindsight.lake.compact import compact_lake

        click.echo(
            "  ".join(
                f"{k.replace('_', ' ')}: {v}" for k, v in compact_lake(uri, min_files, keep).items()
            )
        )

    run()


def register(main: click.Group) -> None:
    main.add_command(lake)
