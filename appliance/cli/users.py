"""The closed user group: companies, users (drivers) and their tags."""

from __future__ import annotations

import datetime as dt

import click

from appliance.cli.base import cli, json_option, with_core
from appliance.cli_output import print_records, print_result
from appliance.core.services import Core
from appliance.core.users import TOKEN_TYPES, UserGroupError, expiry_from_text

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


@user.command("move")
@click.argument("name")
@click.option("--company", help="The company the user now works for.")
@click.option("--no-company", is_flag=True, help="The user belongs to no company now.")
@json_option
@with_core
async def user_move(core: Core, name: str, company: str | None, no_company: bool, as_json: bool) -> None:
    """Move a user (and their tags) to another company; chargers' local lists follow."""
    if bool(company) == no_company:
        raise click.UsageError("give --company C or --no-company")
    record = await core.users.move_driver(name, company)
    print_result(record, as_json, f"user {name!r} now belongs to {company!r}" if company
                 else f"user {name!r} now belongs to no company")


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


@cli.group()
def vehicle() -> None:
    """Vehicles: a tag may belong to a vehicle instead of a driver."""


@vehicle.command("add")
@click.argument("name")
@click.option("--company", help="The company the vehicle belongs to.")
@json_option
@with_core
async def vehicle_add(core: Core, name: str, company: str | None, as_json: bool) -> None:
    """Add a vehicle (fleet number or plate)."""
    record = await core.users.add_vehicle(name, company)
    print_result(record, as_json, f"vehicle {record.name!r} added" + (f" to {company!r}" if company else ""))


@vehicle.command("list")
@click.option("--company")
@json_option
@with_core
async def vehicle_list(core: Core, company: str | None, as_json: bool) -> None:
    """List vehicles."""
    print_records(await core.users.vehicles(company), as_json, ["name", "company"])


@tag.command("add")
@click.argument("id_tag")
@click.option("--user", "user_name", help="The user (driver) who owns the tag.")
@click.option("--vehicle", "vehicle_name", help="The vehicle the tag stays with (instead of a user).")
@click.option("--type", "token_type", type=click.Choice(TOKEN_TYPES), default="ISO14443", show_default=True,
              help="The kind of id token (OCPP 2.0.1 IdTokenType).")
@click.option("--expires", help="Last day the tag is valid (YYYY-MM-DD), or an ISO date-time.")
@click.option("--parent", default="", help="Parent (group) id tag.")
@click.option("--max-concurrent", type=click.IntRange(0), default=1, show_default=True,
              help="Transactions the tag may run at once (0: no limit).")
@json_option
@with_core
async def tag_add(core: Core, id_tag: str, user_name: str | None, vehicle_name: str | None, token_type: str,
                  expires: str | None, parent: str, max_concurrent: int, as_json: bool) -> None:
    """Add a tag for a user or a vehicle."""
    if bool(user_name) == bool(vehicle_name):
        raise click.UsageError("give the tag's owner: --user NAME or --vehicle NAME")
    record = await core.users.add_tag(id_tag, user_name, parse_expiry(expires, core.settings.zone), parent,
                                      token_type=token_type, max_concurrent_tx=max_concurrent, vehicle=vehicle_name)
    owner = f"user {user_name!r}" if user_name else f"vehicle {vehicle_name!r}"
    print_result(record, as_json, f"tag {record.id_tag} added for {owner}")


@tag.command("list")
@click.option("--user", "user_name")
@click.option("--status", type=click.Choice(["active", "blocked"]))
@json_option
@with_core
async def tag_list(core: Core, user_name: str | None, status: str | None, as_json: bool) -> None:
    """List tags."""
    print_records(await core.users.tags(user_name, status), as_json,
                  ["id_tag", "driver", "vehicle", "company", "status", "expires_at", "parent_id_tag"])


@tag.command("unknown")
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@json_option
@with_core
async def tag_unknown(core: Core, limit: int, as_json: bool) -> None:
    """Tags tapped at a charger that nobody enrolled, most recent first; enrol one with 'tag add TAG --user NAME'."""
    print_records(await core.transactions.unknown_tags(limit), as_json,
                  ["id_tag", "last_seen_at", "charger_identity", "seen_count", "first_seen_at"])


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


def parse_expiry(text: str | None, zone: dt.tzinfo) -> dt.datetime | None:
    if not text:
        return None
    try:
        return expiry_from_text(text, zone)
    except UserGroupError as e:
        raise click.BadParameter(str(e), param_hint="--expires") from None
