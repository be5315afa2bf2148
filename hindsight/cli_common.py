"""What every command shares: the consoles, --data, --format, error handling, row output.

Kept apart from hindsight.cli so that command modules (investigations, server, console, lake)
import it without importing the command group that registers them.
"""

from __future__ import annotations

import _thread
import contextlib
import functools
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import duckdb
from rich.console import Console
from rich.text import Text

from hindsight.api import Result
from hindsight.errors import HindsightError, StoreError, first_line
from hindsight.literal import literal
from hindsight.output import FORMATS, render
from hindsight.store.ingest import interrupted
from hindsight.watchdog import WATCHDOG

F = TypeVar("F", bound=Callable[..., Any])
#: Where ctx.meta holds the --data given on groups of commands, by context (invoked_as).
_GIVEN = "hindsight.data_given"
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)

data_option = click.option(
    "--data",
    envvar="HINDSIGHT_DATA",
    default="hindsight-data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory (env HINDSIGHT_DATA).",
)


def group_data_option(whose: str = "its commands") -> Callable[[F], F]:
    """--data on a group of commands that each take --data (the root, `who`, `token`, ...): given
    there, it is every command's (`hindsight who --data D ip ...` as `who ip --data D`)."""

    def given(ctx: click.Context, _: click.Parameter, data: Path | None) -> None:
        if data is None:
            return
        ctx.meta.setdefault(_GIVEN, {})[id(ctx)] = data  # (for invoked_as)
        # (the commands' --data read HINDSIGHT_DATA: set for them, put back once they ran)
        before = os.environ.get("HINDSIGHT_DATA")
        os.environ["HINDSIGHT_DATA"] = str(data)
        ctx.call_on_close(lambda: _restore_env("HINDSIGHT_DATA", before))

    return click.option(
        "--data",
        type=click.Path(file_okay=False, path_type=Path),
        expose_value=False,
        callback=given,
        help=f"Data directory of {whose}, as each command's --data (env HINDSIGHT_DATA).",
    )


def invoked_as(ctx: click.Context) -> str:
    """The command line that reached CTX (`hindsight --data D who`), with the --data given on
    the groups along it: what a suggestion repeats so that it runs on the same store."""
    given: dict[int, Path] = ctx.meta.get(_GIVEN, {})
    words: list[str] = []
    for each in reversed(list(_chain(ctx))):
        words.append(each.info_name or "")
        if id(each) in given:
            words += ["--data", str(given[id(each)])]
    return shlex.join(words)


def _chain(ctx: click.Context | None) -> Iterator[click.Context]:
    while ctx is not None:
        yield ctx
        ctx = ctx.parent


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def output_options(func: F) -> F:
    """--format, stacked on every command that prints rows."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table, json (one array of row objects) or csv.",
    )(func)


def domain_errors(func: F) -> F:
    """Turn Hindsight's errors into a clear message and exit status 2; a Ctrl-C into
    "interrupted" and 130 (as a shell reports a command SIGINT ended)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HindsightError as exc:
            err.print(error_text(exc), highlight=False)
            sys.exit(2)
        except (KeyboardInterrupt, RuntimeError, duckdb.Error) as exc:
            if interrupted(exc):  # Ctrl-C (in a DuckDB statement: "Query interrupted")
                err.print("interrupted", highlight=False)
                sys.exit(130)
            if not isinstance(exc, duckdb.Error):
                raise
            # the store's file, not a question: damaged, or not one
            err.print(error_text(StoreError(store_problem(exc))), highlight=False)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def ctrl_c_stops_statements() -> Iterator[None]:
    """Make Ctrl-C stop the statement running at once: DuckDB notices a SIGINT only now and
    then (15-27 s after it, measured in a long join). SIGINT is blocked, and a thread that
    waits for it interrupts the statements running and then the main thread. Only in a
    process with no other thread yet (one the command starts: threads made later inherit the
    block), and where SIGINT is Python's (not ignored: a shell's background job). On the way
    out the thread ends and the mask is put back: a command run in-process (tests, a program
    calling `main`) left SIGINT blocked, and every process it started after inherited it
    (`ingest --follow` started so never saw its Ctrl-C)."""
    if threading.active_count() > 1 or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    lock, state = threading.Lock(), {"done": False, "woke": False}

    def wait() -> None:
        signal.sigwait({signal.SIGINT})
        with lock:
            state["woke"] = True
            if state["done"]:  # (the signal that ends this thread, or one as the command ended)
                return
        WATCHDOG.stop_all()
        _thread.interrupt_main()

    waiter = threading.Thread(target=wait, name="hindsight-ctrl-c", daemon=True)
    waiter.start()
    try:
        yield
    finally:
        with lock:  # (not woken yet: it is still in sigwait, alive, and takes this signal)
            state["done"] = True
            if not state["woke"]:
                signal.pthread_kill(waiter.ident or 0, signal.SIGINT)
        try:
            waiter.join()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)


def stoppable(func: F) -> F:
    """A command that runs statements, which Ctrl-C stops at once (`ctrl_c_stops_statements`)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with ctrl_c_stops_statements():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def store_problem(exc: BaseException) -> str:
    """What a DuckDB error met outside a question (which the library words itself) says of
    the store, and what to do."""
    first = first_line(exc)
    if "Corrupt database file" in first or "checksum" in first:
        return (
            f"the store's file is damaged ({first}): ingest the logs again into a new --data "
            "directory (`hindsight rebuild` cannot help: the raw lines it rebuilds from are "
            "in the same file)"
        )
    if "Table with name" in first and "does not exist" in first:
        return (
            f"the data directory's store has no Hindsight tables ({first}): it was never "
            "written to (`hindsight ingest` into it creates them), or it is another "
            "program's DuckDB file: use another --data"
        )
    return f"the store failed: {first}"


def error_text(exc: BaseException) -> Text:
    """`error: MESSAGE` in red, the message (which may quote the user's or a host's text)
    printed literally."""
    return Text.assemble(("error:", "red"), " ", literal(str(exc)))


def show(result: Result, fmt: str) -> None:
    render(result.columns, result.rows, fmt, out)
    if result.truncated:
        bound = _BOUNDS.get(result.truncated_reason or "", "HINDSIGHT_MAX_ROWS")
        err.print(f"[yellow]truncated to {len(result.rows)} rows ({bound})[/yellow]")


_BOUNDS = {"max_rows": "HINDSIGHT_MAX_ROWS", "max_bytes": "HINDSIGHT_MAX_RESPONSE_BYTES"}
