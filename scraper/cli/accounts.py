"""`scraper create-user`, `reset-password` and `create-token`: accounts from the terminal."""

from __future__ import annotations

import click

from scraper.accounts import create_token, create_user, reset_password
from scraper.cli.base import database_url_option, main, runtime_for


@main.command("create-user")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Give the user the admin role.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The password (asked twice, hidden, when not given).",
)
@database_url_option
def create_user_cmd(name: str, admin: bool, password: str, database_url: str | None) -> None:
    """Create a user called NAME (with the admin role if --admin)."""
    account = create_user(
        runtime_for(database_url, existing=True).Session, name, password, admin=admin
    )
    roles = ", ".join(sorted(account.roles))
    click.echo(f"created user {account.username} ({roles})", err=True)


@main.command("reset-password")
@click.argument("name")
@click.option("--password", default=None, help="The new password (default: a random one).")
@database_url_option
def reset_password_cmd(name: str, password: str | None, database_url: str | None) -> None:
    """Set a new password for user NAME and sign them out everywhere.

    Without --password a random one is made and printed alone on stdout (shown once).
    """
    new = reset_password(runtime_for(database_url, existing=True).Session, name, password)
    if password is None:
        click.echo(new)
    click.echo(f"password of {name} reset; their browser sessions are signed out", err=True)


@main.command("create-token")
@click.argument("name")
@click.option("--label", default="cli", show_default=True, help="What the token is for.")
@database_url_option
def create_token_cmd(name: str, label: str, database_url: str | None) -> None:
    """Create an API token for user NAME and print it alone on stdout (shown once)."""
    click.echo(create_token(runtime_for(database_url, existing=True).Session, name, label))
