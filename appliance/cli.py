"""The `appliance` command: one click group; each command parses, calls the core, prints.

Data commands work on the data directory directly (SQLite WAL lets the CLI and a running server
share it; the server sees CLI changes through the event journal). Live commands, which need a
connected charger, go through the running server's API.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import sys
from typing import Any, Awaitable, Callable

import click

from appliance import __version__, tls
from appliance.cli_output import print_records, print_result
from appliance.config import Settings, SettingsError, describe, load_settings
from appliance.core.chargers import PROTOCOLS, ChargerError
from appliance.core.commands import CommandError
from appliance.core.services import Core, open_core
from appliance.core.tokens import TokenError
from appliance.core.users import UserGroupError, expiry_from_text
from appliance.live_client import LiveClient, LiveError
from appliance.store.database import StoreError
from appliance.store.migrations import SchemaTooNewError

USER_ERRORS = (ChargerError, UserGroupError, CommandError, TokenError, SettingsError, SchemaTooNewError, StoreError,
               LiveError)


def main() -> None:
    cli(prog_name="appliance")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="APPLIANCE_DATA_DIR",
              help="Data directory (database, certificates). Env: APPLIANCE_DATA_DIR.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML settings file (default: appliance.toml in the data directory).")
@click.version_option(__version__, prog_name="appliance")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, config_file: str | None) -> None:
    """The depot charging appliance: CSMS for the depot's chargers, drivers and tags."""
    ctx.obj = {"data_dir": data_dir, "config_file": config_file}


def settings_of(ctx: click.Context, **overrides: Any) -> Settings:
    from pathlib import Path

    try:
        config = ctx.obj["config_file"]
        return load_settings({"data_dir": ctx.obj["data_dir"], **overrides},
                             config_file=Path(config) if config else None)
    except SettingsError as e:
        raise click.ClickException(str(e)) from None


def with_core(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Run an async command body with the core open on the data directory; errors become one line."""

    @functools.wraps(fn)
    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        settings = settings_of(ctx)

        async def run() -> Any:
            core = open_core(settings)
            try:
                return await fn(core, *args, **kwargs)
            finally:
                await core.close()

        try:
            return asyncio.run(run())
        except USER_ERRORS as e:
            raise click.ClickException(str(e)) from None

    return wrapper


def with_live(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Give a live command a client of the running server's API."""

    @functools.wraps(fn)
    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(LiveClient(settings_of(ctx)), *args, **kwargs)
        except USER_ERRORS as e:
            raise click.ClickException(str(e)) from None

    return wrapper


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
reason_option = click.option("--reason", default="", help="Why; kept in the charger's action log.")


# -- serve --------------------------------------------------------------------------------------

@cli.command()
@click.option("--host", help="Address to listen on (default 0.0.0.0). Env: APPLIANCE_HOST.")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default 8180). Env: APPLIANCE_PORT.")
@click.option("--unknown-chargers", type=click.Choice(["reject", "pending", "accept"]),
              help="What to do with chargers nobody added. Env: APPLIANCE_UNKNOWN_CHARGERS.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, unknown_chargers: str | None) -> None:
    """Run the server: web UI, JSON API, OCPP-J and SOAP on one port."""
    from appliance.server import serve as run_server

    settings = settings_of(ctx, host=host, port=port, unknown_chargers=unknown_chargers)
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run_server(settings))
    except (SchemaTooNewError, StoreError, tls.TlsError, OSError) as e:
        raise click.ClickException(str(e)) from None


@cli.command("settings")
@json_option
@click.pass_context
def show_settings(ctx: click.Context, as_json: bool) -> None:
    """Show the effective settings and where each can be set."""
    settings = settings_of(ctx)
    rows = [{"setting": name, "value": str(getattr(settings, name)), "environment": env, "unit": unit,
             "help": help_} for name, env, _, unit, help_ in describe()]
    print_records(rows, as_json, ["setting", "value", "environment", "help"])


# -- chargers -----------------------------------------------------------------------------------

@cli.group()
def charger() -> None:
    """Chargers: add, list, accept or reject, and live commands."""


@charger.command("add")
@click.argument("identity")
@click.option("--protocol", required=True, type=click.Choice(PROTOCOLS))
@click.option("--password", help="The charger's password (HTTP Basic auth, security profile 1/2).")
@click.option("--description", default="")
@json_option
@with_core
async def charger_add(core: Core, identity: str, protocol: str, password: str | None, description: str,
                      as_json: bool) -> None:
    """Add a charger (accepted)."""
    record = await core.chargers.add(identity, protocol, password, description)
    print_result(record, as_json, f"charger {record.identity} added ({record.protocol}, accepted)")


@charger.command("list")
@click.option("--registration", type=click.Choice(["accepted", "pending", "rejected"]))
@json_option
@with_core
async def charger_list(core: Core, registration: str | None, as_json: bool) -> None:
    """List chargers."""
    print_records(await core.chargers.list(registration), as_json,
                  ["identity", "protocol", "registration", "connection_state", "vendor", "model",
                   "firmware_version", "last_contact_at"])


@charger.command("show")
@click.argument("identity")
@json_option
@with_core
async def charger_show(core: Core, identity: str, as_json: bool) -> None:
    """Show one charger with its connectors."""
    record = await core.chargers.require(identity)
    connectors = await core.chargers.connectors(identity)
    print_result({"charger": record, "connectors": connectors}, as_json)


@charger.command("accept")
@click.argument("identity")
@with_core
async def charger_accept(core: Core, identity: str) -> None:
    """Accept a (pending or rejected) charger."""
    await core.chargers.set_registration(identity, "accepted")
    click.echo(f"charger {identity} accepted")


@charger.command("reject")
@click.argument("identity")
@with_core
async def charger_reject(core: Core, identity: str) -> None:
    """Reject a charger: its boot is answered Rejected."""
    await core.chargers.set_registration(identity, "rejected")
    click.echo(f"charger {identity} rejected")


@charger.command("reset")
@click.argument("identity")
@click.option("--hard", is_flag=True, help="Hard reset (reboot) instead of soft.")
@reason_option
@json_option
@with_live
def charger_reset(live: LiveClient, identity: str, hard: bool, reason: str, as_json: bool) -> None:
    """Reset a connected charger."""
    print_live(live.command(identity, "reset", {"hard": hard}, reason), as_json)


@charger.command("unlock")
@click.argument("identity")
@click.option("--connector", type=click.IntRange(1), required=True)
@reason_option
@json_option
@with_live
def charger_unlock(live: LiveClient, identity: str, connector: int, reason: str, as_json: bool) -> None:
    """Unlock a connector (release a stuck cable)."""
    print_live(live.command(identity, "unlock", {"connector_number": connector}, reason), as_json)


@charger.command("trigger")
@click.argument("identity")
@click.argument("message")
@click.option("--connector", type=click.IntRange(0))
@reason_option
@json_option
@with_live
def charger_trigger(live: LiveClient, identity: str, message: str, connector: int | None, reason: str,
                    as_json: bool) -> None:
    """Ask a charger to send MESSAGE now (BootNotification, Heartbeat, MeterValues, StatusNotification, ...)."""
    print_live(live.command(identity, "trigger_message", {"message": message, "connector_number": connector},
                              reason), as_json)


@charger.command("remote-start")
@click.argument("identity")
@click.option("--connector", type=click.IntRange(1), required=True)
@click.option("--tag", required=True, help="The tag to charge on.")
@reason_option
@json_option
@with_live
def charger_remote_start(live: LiveClient, identity: str, connector: int, tag: str, reason: str,
                         as_json: bool) -> None:
    """Start charging remotely."""
    print_live(live.command(identity, "remote_start", {"connector_number": connector, "id_tag": tag}, reason),
                 as_json)


@charger.command("remote-stop")
@click.argument("identity")
@click.option("--transaction", type=click.IntRange(1), required=True)
@reason_option
@json_option
@with_live
def charger_remote_stop(live: LiveClient, identity: str, transaction: int, reason: str, as_json: bool) -> None:
    """Stop a transaction remotely."""
    print_live(live.command(identity, "remote_stop", {"transaction_id": transaction}, reason), as_json)


@charger.group("config")
def charger_config() -> None:
    """Read or change a charger's configuration keys."""


@charger_config.command("get")
@click.argument("identity")
@click.argument("key", required=False)
@json_option
@with_live
def charger_config_get(live: LiveClient, identity: str, key: str | None, as_json: bool) -> None:
    """Print a charger's configuration (all keys, or KEY)."""
    print_live(live.command(identity, "get_configuration", {"keys": [key] if key else None}, ""), as_json)


@charger_config.command("set")
@click.argument("identity")
@click.argument("key")
@click.argument("value")
@reason_option
@json_option
@with_live
def charger_config_set(live: LiveClient, identity: str, key: str, value: str, reason: str, as_json: bool) -> None:
    """Change a configuration key on a charger."""
    print_live(live.command(identity, "change_configuration", {"key": key, "value": value}, reason), as_json)


# -- the user group -----------------------------------------------------------------------------

@cli.group()
def company() -> None:
    """Companies: the closed user groups."""


@company.command("add")
@click.argument("name")
@json_option
@with_core
async def company_add(core: Core, name: str, as_json: bool) -> None:
    """Add a company."""
    print_result(await core.users.add_company(name), as_json, f"company {name!r} added")


@company.command("list")
@json_option
@with_core
async def company_list(core: Core, as_json: bool) -> None:
    """List companies."""
    print_records(await core.users.companies(), as_json, ["name", "drivers"])


@cli.group()
def user() -> None:
    """Users (drivers)."""


@user.command("add")
@click.argument("name")
@click.option("--company", help="The company the driver belongs to.")
@click.option("--email", default="")
@json_option
@with_core
async def user_add(core: Core, name: str, company: str | None, email: str, as_json: bool) -> None:
    """Add a user (driver)."""
    print_result(await core.users.add_driver(name, company, email), as_json, f"user {name!r} added")


@user.command("list")
@click.option("--company")
@json_option
@with_core
async def user_list(core: Core, company: str | None, as_json: bool) -> None:
    """List users."""
    print_records(await core.users.drivers(company), as_json, ["name", "company", "email"])


@cli.group()
def tag() -> None:
    """RFID tags (id tokens)."""


@tag.command("add")
@click.argument("id_tag")
@click.option("--user", "user_name", required=True, help="The user (driver) who owns the tag.")
@click.option("--expires", help="Last day the tag is valid (YYYY-MM-DD), or an ISO date-time.")
@click.option("--parent", default="", help="Parent (group) id tag.")
@click.option("--max-concurrent", type=click.IntRange(0), default=1, show_default=True,
              help="Transactions the tag may run at once (0: no limit).")
@json_option
@with_core
async def tag_add(core: Core, id_tag: str, user_name: str, expires: str | None, parent: str, max_concurrent: int,
                  as_json: bool) -> None:
    """Add a tag for a user."""
    record = await core.users.add_tag(id_tag, user_name, parse_expiry(expires, core.settings.zone), parent,
                                      max_concurrent_tx=max_concurrent)
    print_result(record, as_json, f"tag {record.id_tag} added for {user_name!r}")


@tag.command("list")
@click.option("--user", "user_name")
@click.option("--status", type=click.Choice(["active", "blocked"]))
@json_option
@with_core
async def tag_list(core: Core, user_name: str | None, status: str | None, as_json: bool) -> None:
    """List tags."""
    print_records(await core.users.tags(user_name, status), as_json,
                  ["id_tag", "driver", "company", "status", "expires_at", "parent_id_tag"])


@tag.command("show")
@click.argument("id_tag")
@json_option
@with_core
async def tag_show(core: Core, id_tag: str, as_json: bool) -> None:
    """Show one tag."""
    record = await core.users.tag(id_tag)
    if record is None:
        raise UserGroupError(f"no tag {id_tag}")
    print_result(record, as_json)


@tag.command("block")
@click.argument("id_tag")
@with_core
async def tag_block(core: Core, id_tag: str) -> None:
    """Block a tag: refused from the next authorization on."""
    record = await core.users.set_tag_status(id_tag, "blocked")
    click.echo(f"tag {record.id_tag} blocked")


@tag.command("unblock")
@click.argument("id_tag")
@with_core
async def tag_unblock(core: Core, id_tag: str) -> None:
    """Unblock a tag."""
    record = await core.users.set_tag_status(id_tag, "active")
    click.echo(f"tag {record.id_tag} unblocked")


# -- sessions -----------------------------------------------------------------------------------

@cli.group()
def session() -> None:
    """Charging sessions (transactions)."""


@session.command("list")
@click.option("--charger", "identity")
@click.option("--active", is_flag=True, default=None, help="Only sessions still charging.")
@click.option("--tag", "id_tag")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@json_option
@with_core
async def session_list(core: Core, identity: str | None, active: bool | None, id_tag: str | None, limit: int,
                       as_json: bool) -> None:
    """List sessions, newest first."""
    print_records(await core.transactions.list(identity, active, id_tag, limit), as_json,
                  ["id", "charger_identity", "connector_number", "id_tag", "started_at", "stopped_at",
                   "energy_wh", "stop_reason"])


@session.command("show")
@click.argument("transaction_id", type=int)
@json_option
@with_core
async def session_show(core: Core, transaction_id: int, as_json: bool) -> None:
    """Show one session with its meter values."""
    record = await core.transactions.get(transaction_id)
    if record is None:
        raise ChargerError(f"no session {transaction_id}")
    print_result({"session": record, "samples": await core.transactions.samples(transaction_id)}, as_json)


# -- TLS ------------------------------------------------------------------------------------------

@cli.group("tls")
def tls_group() -> None:
    """The server's TLS certificate (OCPP security profile 2)."""


@tls_group.command("show")
@json_option
@click.pass_context
def tls_show(ctx: click.Context, as_json: bool) -> None:
    """Show the certificate and its SHA-256 fingerprint, making the appliance's own if there is none."""
    settings = settings_of(ctx)
    cert_file, _ = tls.paths(settings)
    existed = cert_file.exists()
    try:
        info = tls.ensure_certificate(settings)
    except tls.TlsError as e:
        raise click.ClickException(str(e)) from None
    print_result(info, as_json)
    if not existed and not as_json:
        click.echo("(made now; chargers should pin this fingerprint or trust this certificate)")


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


# Exit status of a live command the charger did not carry out (refused, offline, timed out): the
# answer is printed all the same, and scripts can tell success from the exit status alone.
NOT_DONE_EXIT = 3


def print_live(result: dict[str, Any], as_json: bool) -> None:
    print_result(result, as_json)
    if not result.get("ok"):
        raise SystemExit(NOT_DONE_EXIT)


def parse_expiry(text: str | None, zone: dt.tzinfo) -> dt.datetime | None:
    if not text:
        return None
    try:
        return expiry_from_text(text, zone)
    except UserGroupError as e:
        raise click.BadParameter(str(e), param_hint="--expires") from None
