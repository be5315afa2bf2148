"""`hindsight serve` and `hindsight token create` (registered in hindsight/cli.py)."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import sys
from pathlib import Path

import click

from hindsight.cli_common import data_option, error_text, group_data_option, out, output_options
from hindsight.lake.cli import engine_options, show_spark
from hindsight.output import render
from hindsight.server import serve_dir


@click.command()
@data_option
@click.option("--listen", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8443, show_default=True, help="HTTPS port.")
@click.option(
    "--cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TLS certificate (PEM); made on first start when not given.",
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TLS private key (PEM) of --cert.",
)
@click.option(
    "--hostname",
    default=None,
    help="Name hosts use to reach this server (default: this machine's name).",
)
@click.option(
    "--lake",
    envvar="HINDSIGHT_LAKE",
    default=None,
    help="Publish the lines to this Parquet lake (dir or URI) instead of the store: one of many "
    "stateless receivers; build with `hindsight lake build`, ask with --engine spark "
    "(env HINDSIGHT_LAKE).",
)
def serve(
    data: Path,
    listen: str,
    port: int,
    cert: Path | None,
    key: Path | None,
    hostname: str | None,
    lake: str | None,
) -> None:
    """Run osquery's TLS remote API (enroll, config, logger, distributed) and the query API."""
    import uvicorn

    from hindsight.errors import HindsightError
    from hindsight.server.app import build_app
    from hindsight.server.core import Core
    from hindsight.server.listen import bind, check_tls
    from hindsight.server.osquery_api import osqueryd_flags
    from hindsight.server.tlscert import ensure_self_signed
    from hindsight.settings import Settings

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if (cert is None) != (key is None):
        raise click.UsageError(
            "give both --cert and --key, or neither (a certificate is then made)"
        )
    name = hostname or socket.getfqdn()
    if cert is None or key is None:
        cert, key = ensure_self_signed(serve_dir(data), [name])
    try:  # everything that can fail before the banner says the server is ready
        check_tls(cert, key)
        sock = bind(listen, port)
        core = Core.open(Settings.from_env(data=data, lake=lake))
    except HindsightError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    secret = core.config.get().enroll_secret
    flags = osqueryd_flags(
        f"{name}:{port}", "/etc/osquery/hindsight.pem", "/etc/osquery/hindsight.secret"
    )
    click.echo(f"hindsight serve: https://{name}:{port} (data {data.resolve()})")
    click.echo(f"config (schedule, packs, enroll secret): {core.config.path.resolve()}")
    if core.settings.lake:
        click.echo(
            f"lake mode: lines are published to {core.settings.lake} (no store here); every "
            "receiver of this lake needs the same enroll secret; build with "
            f"`hindsight lake build {core.settings.lake}`, ask with --engine spark"
        )
    click.echo("on each host: copy the certificate and the enroll secret, then run osqueryd with:")
    click.echo(f"  scp {cert.resolve()} HOST:/etc/osquery/hindsight.pem")
    click.echo(f"  echo '{secret}' > /etc/osquery/hindsight.secret")
    click.echo("  osqueryd \\\n    " + " \\\n    ".join(flags))
    click.echo(
        "query API: /api/v1 (OpenAPI at /api/v1/openapi.json), tokens: hindsight token create"
    )
    sys.stdout.flush()
    config = uvicorn.Config(
        build_app(core),
        host=listen,
        port=port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level="warning",
        access_log=False,
        timeout_keep_alive=60,
        backlog=4096,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run(sockets=[sock])


@click.group()
@group_data_option()
def token() -> None:
    """API tokens for the query API of `hindsight serve`."""


@token.command("create")
@data_option
@click.option("--name", default="api", show_default=True, help="A name to recognise the token by.")
@click.option("--live", is_flag=True, help="May also start live (distributed) queries.")
def token_create(data: Path, name: str, live: bool) -> None:
    """Make an API token (printed once; only its hash is kept)."""
    from hindsight.server.state import State

    state = State(serve_dir(data) / "state.sqlite")
    try:
        click.echo(state.create_token(name, live))
    finally:
        state.close()


@click.command("hosts")
@data_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table, json (one array of row objects) or csv.",
)
@engine_options
def hosts(data: Path, fmt: str, engine: str = "duckdb", lake: str | None = None) -> None:
    """Hosts recorded, with first and last seen; with `hindsight serve`, also enrolled hosts,
    online/offline and their last check-in (readable while the server runs). With --engine
    spark, the lake's hosts (a receiver's enrolments stay in its own --data)."""
    if engine == "spark":
        return show_spark(lake, "hosts", fmt)
    from rich.console import Console

    from hindsight.api import Hindsight, Result
    from hindsight.errors import HindsightError, StoreError
    from hindsight.output import render
    from hindsight.server.hosts import merge
    from hindsight.server.state import State
    from hindsight.settings import Settings

    out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    err = Console(stderr=True, soft_wrap=True)
    state_path = serve_dir(data) / "state.sqlite"
    result: Result | None = None
    try:
        try:
            with Hindsight(data, read_only=True) as hs:
                result = hs.hosts()
        except StoreError as exc:
            if not state_path.exists():
                raise
            err.print(
                f"[yellow]store not readable ({exc}); showing the server's records only[/yellow]"
            )
        if state_path.exists():
            settings = Settings.from_env(data=data)
            state = State(state_path)
            try:
                result = merge(
                    None if result is None else result.dicts(),
                    state,
                    settings.serve_offline_after_s,
                    settings.max_rows,
                )
            finally:
                state.close()
    except HindsightError as exc:
        err.print(error_text(exc), highlight=False)
        sys.exit(2)
    assert result is not None
    render(result.columns, result.rows, fmt, out)


@token.command("list")
@data_option
@output_options
def token_list(data: Path, fmt: str) -> None:
    """The API tokens (their ids and names; a token itself is never kept)."""
    from hindsight.server.state import State

    state = State(serve_dir(data) / "state.sqlite")
    try:
        rows = state.tokens()
    finally:
        state.close()
    columns = ["id", "name", "created", "can_live"]
    for r in rows:  # unix seconds shown as every time is: ISO 8601, UTC
        created = r["created"]
        if isinstance(created, int | float):
            r["created"] = dt.datetime.fromtimestamp(created, dt.UTC)
    render(columns, [tuple(r[c] for c in columns) for r in rows], fmt, out)


@token.command("revoke")
@data_option
@click.argument("which")
def token_revoke(data: Path, which: str) -> None:
    """Revoke the token(s) with id or name WHICH (see `hindsight token list`); a running server
    refuses them from its next request."""
    from hindsight.server.state import State

    state = State(serve_dir(data) / "state.sqlite")
    try:
        revoked = state.revoke_tokens(which)
    finally:
        state.close()
    if not revoked:
        raise click.ClickException(
            f"no token with id or name {which!r}: see `hindsight token list`"
        )
    click.echo(f"revoked {revoked} token{'s' if revoked > 1 else ''}")
