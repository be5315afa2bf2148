"""Commands of the investigations (hindsight.investigate): who, usb, enrich, timeline, diff.
Each opens the store read-only (or, with --engine spark, the lake on Spark), calls one library
method and prints its rows."""

from __future__ import annotations

import difflib
import functools
import shlex
from collections.abc import Callable
from pathlib import Path

import click

from hindsight.api import Hindsight, Result
from hindsight.cli_common import (
    data_option,
    domain_errors,
    group_data_option,
    invoked_as,
    output_options,
    show,
    stoppable,
)
from hindsight.console.recognise import is_path, is_uid, recognise
from hindsight.errors import InputError
from hindsight.lake.cli import engine_options, spark_engine

#: What an investigation command returns: the library method to call and its arguments.
Call = tuple[str, tuple[object, ...]]


def investigation(func: Callable[..., Call]) -> Callable[..., None]:
    """The options every investigation takes (--engine, --lake, --data, --format), and the call
    FUNC names, made on the store read-only or on the lake with Spark, its rows printed."""

    @functools.wraps(func)
    def command(
        *args: object, data: Path, fmt: str, engine: str, lake: str | None, **kwargs: object
    ) -> None:
        method, params = func(*args, **kwargs)
        if engine == "spark":
            return show(getattr(spark_engine(lake).investigate, method)(*params), fmt)
        with Hindsight(data, read_only=True) as hs:
            result: Result = getattr(hs.investigate, method)(*params)
            show(result, fmt)

    return domain_errors(stoppable(output_options(data_option(engine_options(command)))))


at_option = click.option(
    "--at", "at", help="ISO 8601, unix seconds or relative like now-2h (default now)."
)
host_option = click.option("--host", "host", required=True, help="Host uuid or identifier.")
since_option = click.option(
    "--from", "since", help="Start of the span (ISO 8601, unix seconds or relative like 2d ago)."
)
until_option = click.option(
    "--to", "until", help="End of the span (ISO 8601, unix seconds or relative like 2d ago)."
)


class _Meant(click.Group):
    """A group of commands each asking about one kind of thing: given the thing without the
    command (`who 10.1.2.3`), it names the command meant rather than only "No such command"."""

    def __init__(self, *args: object, meant: Callable[[str], list[str]], **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.meant = meant

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        word = args[0] if args else ""
        known = self.list_commands(ctx)
        # (a misspelt command, `timeline hots`, keeps click's own "Did you mean 'host'?")
        if word and word not in known and not difflib.get_close_matches(word, known):
            rest = f" {shlex.join(args[1:])}" if args[1:] else ""
            meant = [f"`{invoked_as(ctx)} {m}{rest}`" for m in self.meant(word)]
            if meant:
                ctx.fail(f"No such command {word!r}: did you mean {' or '.join(meant)}?")
        return super().resolve_command(ctx, args)


def _who_meant(word: str) -> list[str]:
    """The `who` command asking about WORD (an IP, 1001@host, /path@host, 1001, /path)."""
    if "@" not in word and (kind := "uid" if is_uid(word) else "mount" if is_path(word) else ""):
        return [f"{kind} {shlex.quote(word)} --host HOST"]  # (without a host)
    try:
        question = recognise(word)
    except InputError:
        return []
    if question.kind == "ip":
        return [f"ip {shlex.quote(word)}"]
    if question.kind in ("uid", "mount") and question.host is not None:
        return [f"{question.kind} {shlex.quote(question.subject)} --host {shlex.quote(question.host)}"]
    return []


def _timeline_meant(word: str) -> list[str]:
    """The `timeline` commands asking about WORD: an IP's, else a host's or a user's."""
    if word.startswith("-"):
        return []
    try:
        kind = recognise(word).kind
    except InputError:
        return []
    if kind == "ip":
        return [f"ip {shlex.quote(word)}"]
    return [f"host {shlex.quote(word)}", f"user {shlex.quote(word)}"] if kind == "word" else []


@click.group(cls=_Meant, meant=_who_meant)
@group_data_option()
def who() -> None:
    """Who had it at a moment: an IP address, a uid, a mount path."""


@who.command("ip")
@click.argument("address")
@at_option
@investigation
def who_ip(address: str, at: str | None) -> Call:
    """Host(s) that had ADDRESS (or an address in a CIDR range) at --at, and who they were."""
    return "who_ip", (address, at)


@who.command("uid")
@click.argument("uid", type=int)
@host_option
@at_option
@investigation
def who_uid(uid: int, host: str, at: str | None) -> Call:
    """The account behind UID on --host at --at, and those that held it before and after."""
    return "who_uid", (uid, host, at)


@who.command("mount")
@click.argument("path")
@host_option
@at_option
@investigation
def who_mount(path: str, host: str, at: str | None) -> Call:
    """The mount behind PATH on --host at --at, its device and the USB device behind it."""
    return "who_mount", (path, host, at)


@click.command()
@click.argument("serial")
@investigation
def usb(serial: str) -> Call:
    """Every host and interval USB device SERIAL was attached, its mounts and file events."""
    return "usb", (serial,)


@click.command()
@click.argument("event_query")
@since_option
@until_option
@click.option("--host", "host", help="Host uuid or identifier.")
@click.option(
    "--with",
    "extra",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    help="JSON file: a list of enrichments added to the built-in ones.",
)
@investigation
def enrich(
    event_query: str, since: str | None, until: str | None, host: str | None, extra: Path | None
) -> Call:
    """Events of EVENT_QUERY, each joined with its host's state as of the event's own time."""
    from hindsight.investigate.enrich import BUILTIN, parse_enrichments

    added = parse_enrichments(extra.read_text(encoding="utf-8"), str(extra)) if extra else []
    return "enrich", (event_query, since, until, host, [*BUILTIN, *added])


@click.group(cls=_Meant, meant=_timeline_meant)
@group_data_option()
def timeline() -> None:
    """Intervals in time order, with the gaps where nothing is known."""


@timeline.command("ip")
@click.argument("address")
@since_option
@until_option
@investigation
def timeline_ip(address: str, since: str | None, until: str | None) -> Call:
    """Every host that had ADDRESS (or an address in a CIDR range), with the gaps."""
    return "timeline_ip", (address, since, until)


@timeline.command("user")
@click.argument("name")
@since_option
@until_option
@investigation
def timeline_user(name: str, since: str | None, until: str | None) -> Call:
    """The accounts named NAME on every host and their login sessions."""
    return "timeline_user", (name, since, until)


@timeline.command("host")
@click.argument("host")
@click.option("--query", "query", help="Only this query.")
@since_option
@until_option
@investigation
def timeline_host(host: str, query: str | None, since: str | None, until: str | None) -> Call:
    """Every interval of HOST's state, with the spans the host was silent."""
    return "timeline_host", (host, query, since, until)


@click.command()
@click.argument("query")
@host_option
@click.option("--from", "since", required=True, help="First instant.")
@click.option("--to", "until", required=True, help="Second instant.")
@investigation
def diff(query: str, host: str, since: str, until: str) -> Call:
    """Rows of QUERY on --host added (+) and removed (-) between --from and --to."""
    return "diff", (query, host, since, until)


COMMANDS = (who, usb, enrich, timeline, diff)
