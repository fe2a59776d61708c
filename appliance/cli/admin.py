"""Web UI accounts and the audit log, for the technician who sets the box up."""

from __future__ import annotations

import getpass
import os
import sys

import click

from appliance.cli.base import cli, json_option, with_core
from appliance.cli_output import print_records, print_result
from appliance.core.accounts import ROLES, AccountError
from appliance.core.services import Core


def _actor() -> str:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = str(os.getuid()) if hasattr(os, "getuid") else "?"
    return f"cli:{who}"


def _read_password() -> str:
    """Prompted twice on a terminal; otherwise the first line of standard input (for scripts)."""
    if sys.stdin.isatty():
        first = click.prompt("Password", hide_input=True)
        if click.prompt("Again", hide_input=True) != first:
            raise click.ClickException("the two passwords differ; nothing was changed")
        return first
    line = sys.stdin.readline()
    if not line:
        raise click.ClickException("no password on standard input; give it as the first line")
    return line.rstrip("\r\n")


@cli.group()
def admin() -> None:
    """Web UI accounts: admin (everything), operator (all but accounts), viewer (read only)."""


@admin.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the account may do.")
@json_option
@with_core
async def admin_add(core: Core, name: str, role: str, as_json: bool) -> None:
    """Add an account; the password is prompted for, or read from standard input when it is not a terminal."""
    record = await core.accounts.add(name, role, _read_password(), _actor())
    print_result(record, as_json, f"account {name!r} added as {role}")


@admin.command("list")
@json_option
@with_core
async def admin_list(core: Core, as_json: bool) -> None:
    """List accounts."""
    print_records(await core.accounts.list(), as_json,
                  ["name", "role", "disabled", "locked_until", "last_login_at"])


@admin.command("password")
@click.argument("name")
@with_core
async def admin_password(core: Core, name: str) -> None:
    """Set an account's password (prompted, or from standard input); its browsers are logged out."""
    await core.accounts.set_password(name, _read_password(), _actor())
    click.echo(f"password of {name!r} changed; its logins elsewhere are ended")


@admin.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@with_core
async def admin_role(core: Core, name: str, role: str) -> None:
    """Change an account's role."""
    await core.accounts.set_role(name, role, _actor())
    click.echo(f"{name!r} is now {role}")


@admin.command("unlock")
@click.argument("name")
@with_core
async def admin_unlock(core: Core, name: str) -> None:
    """Unlock an account locked after wrong passwords."""
    await core.accounts.unlock(name, _actor())
    click.echo(f"{name!r} unlocked")


@admin.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable it again instead.")
@with_core
async def admin_disable(core: Core, name: str, enable: bool) -> None:
    """Disable an account (its browsers are logged out), or enable it again."""
    await core.accounts.set_disabled(name, not enable, _actor())
    click.echo(f"{name!r} {'enabled' if enable else 'disabled'}")


@admin.command("remove")
@click.argument("name")
@with_core
async def admin_remove(core: Core, name: str) -> None:
    """Remove an account (the audit log keeps its name)."""
    await core.accounts.remove(name, _actor())
    click.echo(f"account {name!r} removed")


@cli.command("audit")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@click.option("--actor", help="Only what this account (or api:TOKEN, cli:USER) did.")
@click.option("--search", help="Only entries whose action, target or detail contains this.")
@json_option
@with_core
async def audit(core: Core, limit: int, actor: str | None, search: str | None, as_json: bool) -> None:
    """The audit log: every change made through the web UI and the API, and to accounts; newest first."""
    print_records(await core.accounts.audit_log(limit, 0, actor, search), as_json,
                  ["at", "actor", "action", "target", "detail", "outcome"])


__all__ = ["AccountError"]
