"""Chargers: records kept here, and live commands sent through the running server."""

from __future__ import annotations

import click

from appliance.cli.base import (
    cli,
    json_option,
    print_live,
    reason_option,
    with_core,
    with_live,
)
from appliance.cli_output import print_records, print_result
from appliance.core.chargers import PROTOCOLS, command_reach
from appliance.core.local_list_plan import MOST_RECENTLY_USED_FIRST
from appliance.core.services import Core
from appliance.live_client import LiveClient

# -- chargers -----------------------------------------------------------------------------------

@cli.group()
def charger() -> None:
    """Chargers: add, list, accept or reject, and live commands."""


@charger.command("add")
@click.argument("identity")
@click.option("--protocol", required=True, type=click.Choice(PROTOCOLS))
@click.option("--password", help="The charger's password (HTTP Basic auth, security profile 1/2).")
@click.option("--description", default="")
@click.option("--endpoint", default="", help="SOAP chargers: the address they are commanded at, when they do not "
                                              "give it themselves (WS-Addressing From/ReplyTo).")
@json_option
@with_core
async def charger_add(core: Core, identity: str, protocol: str, password: str | None, description: str,
                      endpoint: str, as_json: bool) -> None:
    """Add a charger (accepted)."""
    record = await core.chargers.add(identity, protocol, password, description, endpoint_url=endpoint)
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
    access = await core.chargers.access(identity)
    print_result({"charger": record, "commands": command_reach(record),
                  "open_to": access or "the whole depot", "connectors": connectors}, as_json)


@charger.command("access")
@click.argument("identity")
@click.option("--company", "companies", multiple=True, help="Open the charger only to this company (repeatable).")
@click.option("--open", "open_to_all", is_flag=True, help="Open the charger to the whole depot again.")
@json_option
@with_core
async def charger_access(core: Core, identity: str, companies: tuple[str, ...], open_to_all: bool,
                         as_json: bool) -> None:
    """Who may charge at a charger: the whole depot, or only named companies. Without options: show it."""
    if companies and open_to_all:
        raise click.UsageError("give --company or --open, not both")
    if companies or open_to_all:
        names = await core.chargers.set_access(identity, list(companies))
    else:
        names = await core.chargers.access(identity)
    print_result({"charger": identity, "open_to": names or "the whole depot"}, as_json,
                 None if as_json else f"{identity} is open to {', '.join(names) if names else 'the whole depot'}")


@charger.command("variables")
@click.argument("identity")
@click.option("--component", "components", multiple=True, help="Only this component (repeatable), e.g. TxCtrlr.")
@json_option
@with_core
async def charger_variables(core: Core, identity: str, components: tuple[str, ...], as_json: bool) -> None:
    """The charger's device model (OCPP 2.0.1) as it last reported it. Live values: 'charger config get'."""
    print_records(await core.device_model.variables(identity, components), as_json,
                  ["component", "component_instance", "evse_number", "evse_connector_id", "variable",
                   "variable_instance", "attribute_type", "value", "mutability", "unit", "updated_at"])


@charger.command("reports")
@click.argument("identity")
@click.option("--kind", type=click.Choice(["event", "security_event", "charging_limit", "charging_limit_cleared",
                                           "charging_profiles", "ev_charging_needs", "ev_charging_schedule",
                                           "reservation", "offline_configuration"]))
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@json_option
@with_core
async def charger_reports(core: Core, identity: str, kind: str | None, limit: int, as_json: bool) -> None:
    """What the charger reported: device and security events, charging limits and needs, reservations."""
    print_records(await core.reports.list(identity, kind, limit), as_json,
                  ["received_at", "reported_at", "kind", "summary"])


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


@charger.group("local-list")
def local_list() -> None:
    """A charger's local authorization list: what it holds, and syncing it."""


@local_list.command("show")
@click.argument("identity")
@json_option
@with_core
async def local_list_show(core: Core, identity: str, as_json: bool) -> None:
    """The list version the charger accepted, its entries, last sync and error, what did not fit."""
    state = await core.local_lists.state(identity)
    desired = await core.local_lists.desired(identity)
    offline = await core.local_lists.offline_configuration(identity)
    if state is None:
        print_result({"charger": identity, "synced": False, "entries_by_the_rules": len(desired)}, as_json,
                     None if as_json else f"{identity}: no local list sent yet ({len(desired)} tags by the rules)")
        return
    held = {e["id_tag"]: e["status"] for e in state.entries}
    pending = sum(1 for e in desired if held.get(e.id_tag) != e.status) + len(set(held) - {e.id_tag for e in desired})
    print_result({"charger": identity, "version": state.version, "entries": len(state.entries),
                  "entries_by_the_rules": len(desired), "pending_changes": max(0, pending - len(state.left_out)),
                  "synced_at": state.synced_at, "error": state.error,
                  "attempted_at": state.attempted_at, "left_out": state.left_out,
                  "left_out_rule": MOST_RECENTLY_USED_FIRST if state.left_out else "",
                  "offline_configuration": offline["answers"] if offline else None,
                  "list": state.entries if as_json else [f"{e['id_tag']} {e['status']}" for e in state.entries]},
                 as_json)


@local_list.command("sync")
@click.argument("identity")
@click.option("--full", is_flag=True, help="Send the whole list, whatever the charger holds.")
@reason_option
@json_option
@with_live
def local_list_sync(live: LiveClient, identity: str, full: bool, reason: str, as_json: bool) -> None:
    """Bring the charger's list in step now (through the running server)."""
    result = live.request("POST", f"/api/v1/chargers/{identity}/local-list/sync", {"full": full, "reason": reason})
    print_live(dict(result, ok=result.get("ok", False)), as_json)


@charger.group("group")
def charger_group() -> None:
    """Groups of chargers, open to the whole depot or only to named companies."""


@charger_group.command("add")
@click.argument("name")
@with_core
async def group_add(core: Core, name: str) -> None:
    """Add a group."""
    await core.chargers.add_group(name)
    click.echo(f"group {name} added")


@charger_group.command("list")
@json_option
@with_core
async def group_list(core: Core, as_json: bool) -> None:
    """List groups with their chargers and the companies they are open to."""
    print_records(await core.chargers.groups(), as_json, ["name", "chargers", "open_to"])


@charger_group.command("join")
@click.argument("identity")
@click.argument("group")
@with_core
async def group_join(core: Core, identity: str, group: str) -> None:
    """Put a charger in a group."""
    await core.chargers.set_group(identity, group)
    click.echo(f"{identity} is in group {group}")


@charger_group.command("leave")
@click.argument("identity")
@with_core
async def group_leave(core: Core, identity: str) -> None:
    """Take a charger out of its group."""
    await core.chargers.set_group(identity, None)
    click.echo(f"{identity} is in no group")


@charger_group.command("access")
@click.argument("group")
@click.option("--company", "companies", multiple=True, help="Open the group only to this company (repeatable).")
@click.option("--open", "open_to_all", is_flag=True, help="Open the group to the whole depot again.")
@with_core
async def group_access(core: Core, group: str, companies: tuple[str, ...], open_to_all: bool) -> None:
    """Who may charge at a group's chargers (those without access of their own)."""
    if bool(companies) == open_to_all:
        raise click.UsageError("give --company (repeatable) or --open")
    members = await core.chargers.set_group_access(group, list(companies))
    who = ", ".join(companies) if companies else "the whole depot"
    click.echo(f"group {group} ({len(members)} chargers) is open to {who}")
