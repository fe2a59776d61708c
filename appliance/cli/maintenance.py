"""The maintenance log from the command line: a charger's dates, its interventions, its inspection
interval, and whether auto-recovery may restart it (commands of the `charger` group)."""

from __future__ import annotations

import click

from appliance.cli.alarms import os_user
from appliance.cli.base import json_option, with_core
from appliance.cli.chargers import charger
from appliance.cli_output import print_records, print_result
from appliance.core.maintenance import MaintenanceError, parse_date
from appliance.core.services import Core


@charger.command("note")
@click.argument("identity")
@click.argument("text")
@click.option("--inspection", is_flag=True, help="This was the periodic inspection (the next is due an interval "
                                                 "from today).")
@click.option("--by", default=None, help="Who did it (default: the user running the command).")
@json_option
@with_core
async def charger_note(core: Core, identity: str, text: str, inspection: bool, by: str | None, as_json: bool) -> None:
    """Record an intervention on a charger in its maintenance log."""
    note = await core.maintenance.add_note(identity, by or os_user(), text, inspection)
    print_result(note, as_json, f"note {note.id} recorded on {identity} by {note.author}"
                                + (" (the periodic inspection)" if inspection else ""))


@charger.command("notes")
@click.argument("identity")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@json_option
@with_core
async def charger_notes(core: Core, identity: str, limit: int, as_json: bool) -> None:
    """A charger's maintenance log, most recent first."""
    print_records(await core.maintenance.notes(identity, limit), as_json, ["id", "at", "author", "inspection", "text"])


@charger.command("maintenance")
@click.argument("identity")
@click.option("--manufactured", help="Manufacture date, YYYY-MM-DD ('none' clears it).")
@click.option("--installed", help="Installation date, YYYY-MM-DD ('none' clears it).")
@click.option("--last-inspection", help="Date of the last periodic inspection, YYYY-MM-DD.")
@click.option("--inspection-interval", help="Days between inspections for this charger, or 'default' for the "
                                            "setting inspection_interval_days.")
@json_option
@with_core
async def charger_maintenance(core: Core, identity: str, manufactured: str | None, installed: str | None,
                              last_inspection: str | None, inspection_interval: str | None, as_json: bool) -> None:
    """Show a charger's maintenance data, or set some of it."""
    fields = {}
    if manufactured is not None:
        fields["manufactured_on"] = parse_date(manufactured, "--manufactured")
    if installed is not None:
        fields["installed_on"] = parse_date(installed, "--installed")
    if last_inspection is not None:
        fields["last_inspection_on"] = parse_date(last_inspection, "--last-inspection")
    if inspection_interval is not None:
        fields["inspection_interval_days"] = _interval(inspection_interval)
    record = await (core.maintenance.update(identity, **fields) if fields else core.maintenance.get(identity))
    print_result({**record.__dict__, "inspection_interval_in_force_days": core.maintenance.interval_days(record),
                  "next_inspection_on": core.maintenance.next_inspection(record)}, as_json)


def _interval(text: str) -> int | None:
    if text.strip().lower() == "default":
        return None
    try:
        return int(text)
    except ValueError:
        raise MaintenanceError(f"--inspection-interval: {text!r} is not a number of days (or 'default')") from None


@charger.command("auto-recovery")
@click.argument("identity")
@click.argument("state", type=click.Choice(["on", "off"]))
@json_option
@with_core
async def charger_auto_recovery(core: Core, identity: str, state: str, as_json: bool) -> None:
    """Let the appliance restart a faulted charger by itself (status trigger, soft reset, hard reset), or not."""
    record = await core.maintenance.update(identity, auto_recovery=state == "on")
    print_result(record, as_json, f"auto-recovery {state} for {identity}")
