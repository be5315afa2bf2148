"""`hindsight user add|remove|list`: accounts of the web console (registered in hindsight/cli.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hindsight.cli_common import data_option, group_data_option
from hindsight.server import serve_dir


@click.group()
@group_data_option()
def user() -> None:
    """Accounts of the web console served by `hindsight serve` at /console."""


@user.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["viewer", "admin"]),
    default="viewer",
    show_default=True,
    help="viewer: every page; admin: also users and API tokens.",
)
@click.password_option(help="Prompted for (twice) when not given.")
@data_option
def user_add(name: str, role: str, password: str, data: Path) -> None:
    """Add console user NAME (the password is hashed with argon2id)."""
    from hindsight.console.auth import Accounts
    from hindsight.errors import HindsightError

    accounts = Accounts(serve_dir(data))
    try:
        accounts.add_user(name, role, password)
    except HindsightError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    finally:
        accounts.close()
    click.echo(f"user {name} ({role}) added: sign in at https://<server>:<port>/console/")


@user.command("remove")
@click.argument("name")
@data_option
def user_remove(name: str, data: Path) -> None:
    """Remove console user NAME and end their sessions."""
    from hindsight.console.auth import Accounts

    accounts = Accounts(serve_dir(data))
    try:
        found = accounts.remove_user(name)
    finally:
        accounts.close()
    if not found:
        click.echo(f"error: no user {name!r}", err=True)
        sys.exit(2)
    click.echo(f"user {name} removed")


@user.command("list")
@data_option
def user_list(data: Path) -> None:
    """Console users and their roles."""
    from hindsight.console.auth import Accounts

    accounts = Accounts(serve_dir(data))
    try:
        for name, role, _ in accounts.users():
            click.echo(f"{name}\t{role}")
    finally:
        accounts.close()
