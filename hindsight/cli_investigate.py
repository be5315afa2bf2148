"""Commands of the investigations (hindsight.investigate): who, usb, enrich, timeline, diff.
Each opens the store read-only (or, with --engine spark, the lake on Spark), calls one library
method and prints its rows."""

from __future__ import annotations

from pathlib import Path

import click

from hindsight.api import Hindsight, Result
from hindsight.cli_common import data_option, domain_errors, output_options, show
from hindsight.lake.cli import engine_options, spark_engine


def _show(
    data: Path, fmt: str, call: str, *args: object, engine: str = "duckdb", lake: str | None = None
) -> None:
    if engine == "spark":
        return show(getattr(spark_engine(lake).investigate, call)(*args), fmt)
    with Hindsight(data, read_only=True) as hs:
        result: Result = getattr(hs.investigate, call)(*args)
        show(result, fmt)


at_option = click.option("--at", "at", help="ISO 8601, unix seconds or relative like now-2h (default now).")
host_option = click.option("--host", "host", required=True, help="Host uuid or identifier.")
since_option = click.option("--from", "since", help="Start of the span (ISO 8601, unix seconds or relative like 2d ago).")
until_option = click.option("--to", "until", help="End of the span (ISO 8601, unix seconds or relative like 2d ago).")


@click.group()
def who() -> None:
    """Who had it at a moment: an IP address, a uid, a mount path."""


@who.command("ip")
@click.argument("address")
@at_option
@engine_options
@data_option
@output_options
@domain_errors
def who_ip(
    address: str, at: str | None, data: Path, fmt: str, engine: str, lake: str | None
) -> None:
    """Host(s) that had ADDRESS (or an address in a CIDR range) at --at, and who they were."""
    _show(data, fmt, "who_ip", address, at, engine=engine, lake=lake)


@who.command("uid")
@click.argument("uid", type=int)
@host_option
@at_option
@engine_options
@data_option
@output_options
@domain_errors
def who_uid(
    uid: int, host: str, at: str | None, data: Path, fmt: str, engine: str, lake: str | None
) -> None:
    """The account behind UID on --host at --at, and those that held it before and after."""
    _show(data, fmt, "who_uid", uid, host, at, engine=engine, lake=lake)


@who.command("mount")
@click.argument("path")
@host_option
@at_option
@engine_options
@data_option
@output_options
@domain_errors
def who_mount(
    path: str, host: str, at: str | None, data: Path, fmt: str, engine: str, lake: str | None
) -> None:
    """The mount behind PATH on --host at --at, its device and the USB device behind it."""
    _show(data, fmt, "who_mount", path, host, at, engine=engine, lake=lake)


@click.command()
@click.argument("serial")
@engine_options
@data_option
@output_options
@domain_errors
def usb(serial: str, data: Path, fmt: str, engine: str, lake: str | None) -> None:
    """Every host and interval USB device SERIAL was attached, its mounts and file events."""
    _show(data, fmt, "usb", serial, engine=engine, lake=lake)


@click.command()
@click.argument("event_query")
@since_option
@until_option
@click.option("--host", "host", help="Host uuid or identifier.")
@click.option(
    "--with",
    "extra",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file: a list of enrichments added to the built-in ones.",
)
@engine_options
@data_option
@output_options
@domain_errors
def enrich(
    event_query: str,
    since: str | None,
    until: str | None,
    host: str | None,
    extra: Path | None,
    data: Path,
    fmt: str,
    engine: str,
    lake: str | None,
) -> None:
    """Events of EVENT_QUERY, each joined with its host's state as of the event's own time."""
    from hindsight.investigate.enrich import BUILTIN, parse_enrichments

    added = parse_enrichments(extra.read_text(encoding="utf-8"), str(extra)) if extra else []
    _show(
        data,
        fmt,
        "enrich",
        event_query,
        since,
        until,
        host,
        [*BUILTIN, *added],
        engine=engine,
        lake=lake,
    )


@click.group()
def timeline() -> None:
    """Intervals in time order, with the gaps where nothing is known."""


@timeline.command("ip")
@click.argument("address")
@since_option
@until_option
@engine_options
@data_option
@output_options
@domain_errors
def timeline_ip(
    address: str,
    since: str | None,
    until: str | None,
    data: Path,
    fmt: str,
    engine: str,
    lake: str | None,
) -> None:
    """Every host that had ADDRESS (or an address in a CIDR range), with the gaps."""
    _show(data, fmt, "timeline_ip", address, since, until, engine=engine, lake=lake)


@timeline.command("user")
@click.argument("name")
@since_option
@until_option
@engine_options
@data_option
@output_options
@domain_errors
def timeline_user(
    name: str,
    since: str | None,
    until: str | None,
    data: Path,
    fmt: str,
    engine: str,
    lake: str | None,
) -> None:
    """The accounts named NAME on every host and their login sessions."""
    _show(data, fmt, "timeline_user", name, since, until, engine=engine, lake=lake)


@timeline.command("host")
@click.argument("host")
@click.option("--query", "query", help="Only this query.")
@since_option
@until_option
@engine_options
@data_option
@output_options
@domain_errors
def timeline_host(
    host: str,
    query: str | None,
    since: str | None,
    until: str | None,
    data: Path,
    fmt: str,
    engine: str,
    lake: str | None,
) -> None:
    """Every interval of HOST's state, with the spans the host was silent."""
    _show(data, fmt, "timeline_host", host, query, since, until, engine=engine, lake=lake)


@click.command()
@click.argument("query")
@host_option
@click.option("--from", "since", required=True, help="First instant.")
@click.option("--to", "until", required=True, help="Second instant.")
@engine_options
@data_option
@output_options
@domain_errors
def diff(
    query: str,
    host: str,
    since: str,
    until: str,
    data: Path,
    fmt: str,
    engine: str,
    lake: str | None,
) -> None:
    """Rows of QUERY on --host added (+) and removed (-) between --from and --to."""
    _show(data, fmt, "diff", query, host, since, until, engine=engine, lake=lake)


COMMANDS = (who, usb, enrich, timeline, diff)
