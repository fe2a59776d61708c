"""Load management: circuits, how chargers are wired to them, priorities and charge-first.

Changes go to the data directory (a running server applies them within a second, through the event
journal); `circuit show` adds the running server's live figures when there is one.
"""

from __future__ import annotations

from typing import Any

import click

from appliance.cli.base import cli, json_option, with_core, with_live
from appliance.cli.sessions import session
from appliance.cli_output import print_records, print_result
from appliance.core.circuits import PRIORITY_KINDS, ROTATIONS, SITE_PHASES
from appliance.core.services import Core
from appliance.dlm.site_meter import MeterError, mask_url, parse_source
from appliance.live_client import LiveClient, LiveError


@cli.group()
def circuit() -> None:
    """Circuits of the site (main breaker, sub-boards) that load management keeps within their limits."""


def _meter(url: str | None) -> str | None:
    if url:
        try:
            parse_source(url)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--meter") from None
    return url


def _circuit_options(fn):
    for option in reversed([
        click.option("--reserve", "reserve_a", type=click.FloatRange(0), help="A per phase kept for loads "
                     "the appliance cannot control (workshop, lights)."),
        click.option("--min-current", "min_current_a", type=click.FloatRange(0, 100),
                     help="Least current an EVSE charges with; one that cannot get it waits (default 6 A)."),
        click.option("--phase", type=click.Choice(SITE_PHASES), help="The site phase of a 1-phase circuit."),
        click.option("--voltage", "voltage_v", type=click.FloatRange(100, 1000), help="Phase voltage (230 V)."),
        click.option("--meter", "meter_url", help="A site meter whose reading replaces the reserve: "
                     "modbus-tcp://HOST[:PORT]?..., modbus-rtu://..., http(s)://...#L1=...; '' removes it."),
        click.option("--meter-measures", type=click.Choice(["other", "total"]),
                     help="What the meter measures: the other loads, or everything (chargers included)."),
    ]):
        fn = option(fn)
    return fn


def _given(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


@circuit.command("add")
@click.argument("name")
@click.option("--max-current", "max_current_a", type=click.FloatRange(0, 10000, min_open=True), required=True,
              help="The breaker's limit in A per phase.")
@click.option("--phases", type=click.Choice(["1", "3"]), default="3", show_default=True)
@click.option("--parent", help="The circuit it hangs from (none: a main breaker).")
@_circuit_options
@json_option
@with_core
async def circuit_add(core: Core, name: str, max_current_a: float, phases: str, parent: str | None,
                      as_json: bool, **options: Any) -> None:
    """Add a circuit."""
    _meter(options.get("meter_url"))
    record = await core.circuits.add(name, max_current_a, int(phases), parent, **_given(**options))
    print_result(record, as_json, f"circuit {name!r} added: {max_current_a:g} A on {phases} phase(s)"
                 + (f", under {parent!r}" if parent else ""))


@circuit.command("edit")
@click.argument("name")
@click.option("--max-current", "max_current_a", type=click.FloatRange(0, 10000, min_open=True))
@click.option("--phases", type=click.Choice(["1", "3"]))
@click.option("--parent", help="Hang it from another circuit.")
@click.option("--no-parent", is_flag=True, help="Make it a main breaker.")
@_circuit_options
@json_option
@with_core
async def circuit_edit(core: Core, name: str, max_current_a: float | None, phases: str | None, parent: str | None,
                       no_parent: bool, as_json: bool, **options: Any) -> None:
    """Change a circuit."""
    if parent and no_parent:
        raise click.UsageError("give --parent P or --no-parent, not both")
    _meter(options.get("meter_url"))
    record = await core.circuits.edit(name, parent, no_parent, **_given(
        max_current_a=max_current_a, phases=int(phases) if phases else None, **options))
    print_result(record, as_json, f"circuit {name!r} changed")


@circuit.command("remove")
@click.argument("name")
@with_core
async def circuit_remove(core: Core, name: str) -> None:
    """Remove a circuit that feeds nothing any more."""
    await core.circuits.remove(name)
    click.echo(f"circuit {name!r} removed")


@circuit.command("assign")
@click.argument("name")
@click.argument("charger_id")
@click.option("--evse", type=click.IntRange(0), default=0, help="Only this EVSE (default: all of the charger's).")
@click.option("--phases", type=click.Choice(["1", "3"]), help="How many phases it is wired with (default: 3, or "
              "1 on a 1-phase circuit).")
@click.option("--phase", type=click.Choice(SITE_PHASES),
              help="1-phase: the site phase it is wired to (default: the circuit's, or L1).")
@click.option("--rotation", type=click.Choice(ROTATIONS), default="RST", show_default=True,
              help="3-phase: which site phases feed its L1, L2, L3 (RST: L1, L2, L3).")
@click.option("--max-current", "max_current_a", type=click.FloatRange(0, 1000, min_open=True),
              help="Its maximum in A per phase (default: from the power it reports, else 32 A).")
@click.option("--voltage", "voltage_v", type=click.FloatRange(100, 1000), default=230.0, show_default=True)
@click.option("--throttle-key", default="", help="A vendor configuration key that takes a current limit in A, for "
              "chargers without smart charging (OCPP 1.5).")
@json_option
@with_core
async def circuit_assign(core: Core, name: str, charger_id: str, evse: int, phases: str | None, phase: str | None,
                         rotation: str, max_current_a: float | None, voltage_v: float, throttle_key: str,
                         as_json: bool) -> None:
    """Wire a charger (or one of its EVSEs) to a circuit."""
    members = await core.circuits.assign(name, charger_id, evse, phases=int(phases) if phases else None,
                                         phase=phase, rotation=rotation, max_current_a=max_current_a,
                                         voltage_v=voltage_v, throttle_key=throttle_key)
    if as_json:
        print_result(members, True)
        return
    click.echo(f"charger {charger_id}{f' EVSE {evse}' if evse else ''} wired to circuit {name!r}")


@circuit.command("unassign")
@click.argument("charger_id")
@click.option("--evse", type=click.IntRange(0), help="Only this EVSE's own wiring.")
@with_core
async def circuit_unassign(core: Core, charger_id: str, evse: int | None) -> None:
    """Take a charger out of load management."""
    await core.circuits.unassign(charger_id, evse)
    click.echo(f"charger {charger_id} no longer wired to a circuit")


@circuit.command("list")
@json_option
@with_core
async def circuit_list(core: Core, as_json: bool) -> None:
    """List circuits."""
    records = await core.circuits.list()
    print_records([{**_plain(r), "meter_url": mask_url(r.meter_url)} for r in records], as_json,
                  ["name", "parent", "max_current_a", "phases", "reserve_a", "min_current_a", "meter_url"])


@circuit.command("show")
@click.argument("name")
@json_option
@with_core
async def circuit_show(core: Core, name: str, as_json: bool) -> None:
    """A circuit, what is wired to it, and (with a server running) its live load per phase."""
    record = await core.circuits.get(name)
    members = await core.circuits.members(circuit=name)
    try:
        live = LiveClient(core.settings).request("GET", f"/api/v1/circuits/{name}").get("status")
        live_note = "" if live else "load management is off in the running server"
    except LiveError as e:
        live, live_note = None, str(e)
    if as_json:
        print_result({**_plain(record), "meter_url": mask_url(record.meter_url), "members": members,
                      "status": live}, True)
        return
    click.echo(f"circuit {record.name}: {record.max_current_a:g} A per phase on "
               f"{'3 phases' if record.phases == 3 else record.phase}"
               + (f", under {record.parent}" if record.parent else " (main)")
               + f"; reserve {record.reserve_a:g} A; minimum per EVSE {record.min_current_a:g} A")
    if record.meter_url:
        click.echo(f"site meter: {mask_url(record.meter_url)} (measures {record.meter_measures})")
    click.echo("wired:")
    print_records(members, False, ["identity", "evse_number", "phases", "phase", "rotation", "max_current_a",
                                   "throttle_key"])
    if live is None:
        click.echo(f"live figures: unavailable ({live_note})")
        return
    _print_live(live)


def _print_live(live: dict[str, Any]) -> None:
    click.echo("per phase (A):")
    print_records([{"phase": p, "available": live["available_a"].get(p), "allocated": live["allocated_a"].get(p),
                    "measured": live["measured_a"].get(p), "reserve_now": live["reserve_now_a"].get(p)}
                   for p in live["phases"]], False, ["phase", "available", "allocated", "measured", "reserve_now"])
    if live.get("meter"):
        meter = live["meter"]
        click.echo(f"site meter: {meter['current_a']} ({'fresh' if meter['fresh'] else 'stale'})"
                   + (f"; error: {meter['error']}" if meter["error"] else ""))
    if live.get("overloaded"):
        click.echo("OVERLOADED: what cannot be limited already exceeds the limit")
    click.echo("EVSEs:")
    print_records([{**e, "measured": ", ".join(f"{p} {a:g}" for p, a in e["measured_a"].items()) or None,
                    "why": e["flag_detail"] or e["held_because"] or None} for e in live["evses"]], False,
                  ["charger", "evse", "mode", "limit_a", "in_force_a", "measured", "priority", "flag", "why"])
    click.echo(f"waiting: {', '.join(live['waiting']) if live['waiting'] else '(none)'}")


@circuit.command("load")
@click.argument("name")
@click.option("--hours", type=click.FloatRange(0, min_open=True), default=24.0, show_default=True)
@json_option
@with_core
async def circuit_load(core: Core, name: str, hours: float, as_json: bool) -> None:
    """The circuit's recorded load per phase over the last hours."""
    import datetime as dt

    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=hours)
    rows = await core.circuits.load_history(name, since)
    print_records([{"at": r.at.astimezone(core.settings.zone).isoformat(timespec="seconds"),
                    **{f"allocated_{p}": a for p, a in r.allocated_a.items()},
                    **{f"measured_{p}": a for p, a in r.measured_a.items()}, "sessions": r.sessions,
                    "waiting": r.waiting} for r in rows] if not as_json else rows, as_json,
                  ["at", "allocated_L1", "allocated_L2", "allocated_L3", "measured_L1", "measured_L2", "measured_L3",
                   "sessions", "waiting"])


@circuit.command("meter-test")
@click.argument("url")
def circuit_meter_test(url: str) -> None:
    """Read a site meter once and print what it says (to check an address before using it)."""
    import asyncio

    try:
        source = parse_source(url)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="URL") from None

    async def read() -> Any:
        try:
            return await source.read()
        finally:
            await source.close()

    try:
        reading = asyncio.run(read())
    except MeterError as e:
        raise click.ClickException(f"{source.url}: {e}") from None
    click.echo(f"{source.url}: " + ", ".join(f"{p} {a:g} A" for p, a in sorted(reading.current_a.items())))


@circuit.command("clear-flag")
@click.argument("charger_id")
@click.option("--evse", type=click.IntRange(1))
@with_live
def circuit_clear_flag(live: LiveClient, charger_id: str, evse: int | None) -> None:
    """Trust a charger's limits again after it was flagged for rejecting or ignoring them (running server)."""
    result = live.request("POST", f"/api/v1/chargers/{charger_id}/load-flag/clear" + (f"?evse={evse}" if evse else ""))
    click.echo(f"charger {charger_id}: {result['cleared']} flag(s) cleared")


# -- priorities and charge-first ---------------------------------------------------------------

@cli.group()
def priority() -> None:
    """Who load management serves first: companies, users (drivers), vehicles."""


@priority.command("set")
@click.argument("kind", type=click.Choice(PRIORITY_KINDS))
@click.argument("name")
@click.argument("value", type=click.IntRange(-100, 100))
@with_core
async def priority_set(core: Core, kind: str, name: str, value: int) -> None:
    """Give a company, user or vehicle a priority (higher goes first; 0 is the default)."""
    await core.circuits.set_priority(kind, name, value)
    click.echo(f"{kind} {name!r} now has priority {value}")


@priority.command("list")
@json_option
@with_core
async def priority_list(core: Core, as_json: bool) -> None:
    """Everything with a priority other than 0."""
    print_records([{"kind": k, "name": n, "priority": p} for k, n, p in await core.circuits.priorities()], as_json,
                  ["kind", "name", "priority"])


@session.command("charge-first")
@click.argument("transaction_id", type=int)
@click.option("--off", is_flag=True, help="Put the session back in turn.")
@with_core
async def session_charge_first(core: Core, transaction_id: int, off: bool) -> None:
    """Let a session charge before every other (a taxi that must leave soon)."""
    await core.circuits.set_charge_first(transaction_id, not off)
    click.echo(f"session {transaction_id} " + ("back in turn" if off else "charges first"))


def _plain(record: Any) -> dict[str, Any]:
    return {k: getattr(record, k) for k in record.__dataclass_fields__}

