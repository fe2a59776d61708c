"""API tokens for scripts using /api/v1/."""

from __future__ import annotations

import click

from appliance.cli.base import cli, json_option, with_core
from appliance.cli_output import print_records
from appliance.core.services import Core
from appliance.core.tokens import TokenError

# -- API tokens ---------------------------------------------------------------------------------

@cli.group()
def token() -> None:
    """API tokens for scripts using /api/v1/."""


@token.command("add")
@click.argument("name")
@with_core
async def token_add(core: Core, name: str) -> None:
    """Create a token; it is printed once and stored only as a hash."""
    click.echo(await core.tokens.create(name))


@token.command("list")
@json_option
@with_core
async def token_list(core: Core, as_json: bool) -> None:
    """List token names."""
    print_records(await core.tokens.list(), as_json, ["name", "created_at", "last_used_at"])


@token.command("revoke")
@click.argument("name")
@with_core
async def token_revoke(core: Core, name: str) -> None:
    """Revoke a token."""
    if not await core.tokens.revoke(name):
        raise TokenError(f"no token named {name!r}")
    click.echo(f"token {name!r} revoked")
