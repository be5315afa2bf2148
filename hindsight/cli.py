"""The command line: thin commands over the library (hindsight.api)."""

from __future__ import annotations

import contextlib
import faulthandler
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
import duckdb
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeRemainingColumn,
)

from hindsight.api import Hindsight
from hindsight.cli_common import (
    data_option,
    domain_errors,
    err,
    group_data_option,
    out,
    output_options,
    show,
    stoppable,
)
from hindsight.errors import InputError, NoState
from hindsight.lake.cli import engine_options, spark_engine
from hindsight.lake.cli import register as register_lake
from hindsight.literal import literal
from hindsight.settings import describe
from hindsight.store import native
from hindsight.store.ingest import IngestFailed, IngestInterrupted, IngestSummary, interrupted
from hindsight.store.rebuild import RebuildInterrupted


@click.group(
    "hindsight",
    epilog="Settings (environment): " + "; ".join(f"{e}: {h}" for _, e, _, h in describe())
)
@click.version_option(package_name="hindsight")
@group_data_option("every command")
def main() -> None:
    """Hindsight keeps every osquery result row as validity intervals and answers "as of T"."""
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 PID` prints every thread's stack to stderr
        with contextlib.suppress(OSError, ValueError):  # (a stderr without a file: tests)
            faulthandler.register(signal.SIGUSR1, all_threads=True)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@data_option
@click.option(
    "--lake", default=None, help="Write raw observations to this lake (dir or URI) instead."
)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep reading what osqueryd appends (across rotations and restarts) until Ctrl-C.",
)
@domain_errors
def ingest(paths: tuple[str, ...], data: Path, lake: str | None, follow: bool) -> None:
    """Read osquery result logs (files, directories, gzip/zstd, TLS bodies, or - for stdin)."""
    if follow:
        if lake:
            raise InputError("--follow writes to the store: it does not take --lake")
        return _follow(paths, data)
    if lake:
        from hindsight.lake.ingest import ingest_files

        skipped: list[Path] = []
        written = ingest_files(lake, paths, skipped=skipped)
        _report_skipped([str(path) for path in skipped])
        _report_rejections(written.rejections, written.rejected)
        out.print("  ".join(f"{k.replace('_', ' ')}: {v}" for k, v in written.as_dict().items()))
        sys.exit(1 if written.rejected else 0)
    try:
        with Hindsight(data) as hs, _progress() as bar:
            task = bar.add_task("ingest", total=None)
            summary = hs.ingest(
                paths, lambda done, total: bar.update(task, completed=done, total=total)
            )
    except IngestInterrupted as stopped:
        _report(stopped.summary)
        err.print(
            "interrupted: the lines above are stored, the batch in progress was rolled back; "
            "ingest the same files again to go on (what is stored is skipped)"
        )
        sys.exit(130)
    except IngestFailed as failed:
        _report(failed.summary)
        raise
    _report(summary)
    if hs.settings.native == "auto" and not native.available():
        err.print(f"note: ingest ran on its SQL path, {native.SLOWER}", highlight=False)
    sys.exit(1 if summary.rejected else 0)


def _report_skipped(skipped: list[str], shown: int = 10) -> None:
    """Files of the directories read that are not osquery output, named (the first SHOWN)."""
    if not skipped:
        return
    more = len(skipped) - shown
    names = ", ".join(skipped[:shown]) + (f" and {more} more" if more > 0 else "")
    what = "1 file that is" if len(skipped) == 1 else f"{len(skipped)} files that are"
    err.print(
        literal(
            f"skipped {what} not osquery output, found in a directory (name a file to read it "
            f"anyway): {names}"
        ),
        highlight=False,
    )


def _report(summary: IngestSummary, prefix: str = "", name_skipped: bool = True) -> None:
    if name_skipped:
        _report_skipped(summary.skipped)
    _report_rejections(summary.rejections, summary.rejected)
    stats = summary.as_dict()
    out.print(
        prefix + "  ".join(f"{k.replace('_', ' ')}: {v}" for k, v in stats.items()),
        highlight=False,
    )


def _report_rejections(rejections: list[tuple[str, str]], rejected: int) -> None:
    """Each rejected line as `file:line: reason` (those kept: the rest are counted)."""
    for where, reason in rejections:
        err.print(literal(f"{where}: {reason}"), highlight=False)
    if rejected > len(rejections):
        err.print(f"... and {rejected - len(rejections)} more (hindsight rejects)")


def _follow(paths: tuple[str, ...], data: Path) -> None:
    """Each read that found new lines, reported as it ends; Ctrl-C or SIGTERM (a service
    manager's stop) stops after rolling back the batch in progress (exit 1 if any line was
    rejected). Both are taken even if the process started with SIGINT ignored (a shell's
    background job): this command's only way to end is to be told to."""
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    rejected, skipped = 0, set()
    with Hindsight(data) as hs:
        err.print(literal(f"following {', '.join(paths)} (Ctrl-C to stop)"), highlight=False)
        try:
            for summary in hs.follow(paths):
                _report_skipped([path for path in summary.skipped if path not in skipped])
                skipped.update(summary.skipped)
                if summary.lines:
                    _report(summary, time.strftime("%H:%M:%S  "), name_skipped=False)
                    rejected += summary.rejected
        except (KeyboardInterrupt, RuntimeError, duckdb.Error) as exc:
            if not interrupted(exc):  # (DuckDB's form of a Ctrl-C: "Query interrupted")
                raise
            err.print("stopped")
    sys.exit(1 if rejected else 0)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


@main.command()
@click.argument("query")
@click.option("--at", "at", help="ISO 8601, unix seconds or relative like now-2h (default now).")
@click.option("--host", "hosts", multiple=True, help="Host uuid or identifier (repeatable).")
@data_option
@engine_options
@output_options
@domain_errors
@stoppable
def state(
    query: str,
    at: str | None,
    hosts: tuple[str, ...],
    data: Path,
    fmt: str,
    engine: str,
    lake: str | None,
) -> None:
    """The result set of QUERY on each host as of --at."""
    try:
        if engine == "spark":
            return show(spark_engine(lake).state(query, at, list(hosts) or None), fmt)
        with Hindsight(data, read_only=True) as hs:
            show(hs.state(query, at, list(hosts) or None), fmt)
    except NoState as exc:  # told in the command line's terms
        raise NoState(exc.query, "`hindsight sql`") from None


@main.command()
@click.argument("statement")
@click.option("--at", "at", help="Instant of tables without FOR SYSTEM_TIME (default now).")
@data_option
@engine_options
@output_options
@domain_errors
@stoppable
def sql(
    statement: str, at: str | None, data: Path, fmt: str, engine: str, lake: str | None
) -> None:
    """Time-travel SQL: each recorded query is a table (FOR SYSTEM_TIME AS OF / ALL / BETWEEN)."""
    if engine == "spark":
        return show(spark_engine(lake).sql(statement, at), fmt)
    with Hindsight(data, read_only=True) as hs:
        show(hs.sql(statement, at), fmt)


def _listing(name: str, method: str, help: str, engines: bool = False) -> None:
    @data_option
    @output_options
    @domain_errors
    @stoppable
    def command(data: Path, fmt: str, engine: str = "duckdb", lake: str | None = None) -> None:
        if engine == "spark":
            return show(getattr(spark_engine(lake), method)(), fmt)
        with Hindsight(data, read_only=True) as hs:
            show(getattr(hs, method)(), fmt)

    command.__doc__ = help
    main.command(name)(engine_options(command) if engines else command)


register_lake(main)


class _Days(click.FloatRange):
    """Days of simulated history: more than 0, at most ten years, a number (not nan)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        days = super().convert(value, param, ctx)
        if math.isnan(days):
            self.fail("nan is not a number of days", param, ctx)
        return days


_DAYS = _Days(min=0, min_open=True, max=3650)
_listing(
    "queries",
    "queries",
    "Queries recorded, with their kind, hosts, first and last seen.",
    engines=True,
)
_listing("quality", "quality", "Data-quality signals: counter gaps, ambiguous resets.", engines=True)
_listing("rejects", "rejects", "Lines kept aside, with their reason.", engines=True)


@main.command()
@data_option
@domain_errors
def rebuild(data: Path) -> None:
    """Recompute every interval and event from the raw lines kept in the store."""
    try:
        with Hindsight(data) as hs, _progress() as bar:
            task = bar.add_task("rebuild", total=None)
            n = hs.rebuild(lambda done, total: bar.update(task, completed=done, total=total))
    except RebuildInterrupted as stopped:
        err.print(str(stopped))
        sys.exit(130)
    out.print(f"rebuilt {n} streams")


@main.command()
@click.option("--hosts", default=20, show_default=True, type=click.IntRange(min=1), help="Hosts in the fleet.")
@click.option("--days", default=1.0, show_default=True, type=_DAYS, help="Days of history (fractions allowed).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output directory.",
)
@click.option("--seed", default=1, show_default=True, help="Same seed, same fleet.")
@click.option("--start", default=None, help="First instant (ISO 8601, unix seconds or relative like 2d ago).")
@domain_errors
def simulate(hosts: int, days: float, out: Path, seed: int, start: str | None) -> None:
    """Write osquery logs of a simulated fleet (OUT/hosts, OUT/late) and its truth (OUT/truth)."""
    from hindsight.sim import SimConfig
    from hindsight.sim import simulate as run
    from hindsight.timeparse import parse_time

    extra = {"start": parse_time(start)} if start else {}
    with _progress() as bar:
        task = bar.add_task("simulate", total=hosts)
        summary = run(
            SimConfig(hosts=hosts, days=days, out=out, seed=seed, workers=0, **extra),
            lambda i, n: bar.update(task, completed=i, description=f"host {i}/{n}"),
        )
    out.joinpath("README.txt").write_text(
        f"hindsight ingest {out / 'hosts'} {out / 'late'}\n", encoding="utf-8"
    )
    stats = {
        "hosts": summary.hosts,
        "lines": summary.lines,
        "rows": summary.rows,
        "files": summary.files,
        "seconds": round(summary.seconds, 1),
    }
    out_console = Console(soft_wrap=True)
    out_console.print("  ".join(f"{k}: {v}" for k, v in stats.items()), highlight=False)
    out_console.print(
        literal(f"ingest with: hindsight ingest {out / 'hosts'} {out / 'late'}"), highlight=False
    )


@main.command()
@click.option("--hosts", default=50, show_default=True, type=click.IntRange(min=1), help="Hosts in the simulated fleet.")
@click.option("--days", default=2.0, show_default=True, type=_DAYS, help="Days of history.")
@click.option("--seed", default=1, show_default=True)
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("hindsight-demo"),
    show_default=True,
    help="Made afresh for the demo.",
)
@domain_errors
def demo(hosts: int, days: float, seed: int, workdir: Path) -> None:
    """Simulate a fleet, ingest it, and answer the three questions Hindsight exists for."""
    import shutil

    from hindsight.demo import run_demo

    shutil.rmtree(workdir, ignore_errors=True)
    ok = run_demo(workdir, hosts, days, seed, out)
    sys.exit(0 if ok else 1)


def _register_commands() -> None:
    """Commands defined next to what they drive: investigations, the server, the console."""
    from hindsight.cli_investigate import COMMANDS
    from hindsight.console.cli import user
    from hindsight.server.cli import hosts, serve, token

    for command in (*COMMANDS, hosts, serve, token, user):
        main.add_command(command)


_register_commands()
