"""Alarms: what is wrong or was wrong, and acknowledging that someone takes care of it."""

from __future__ import annotations

import getpass

import click

from appliance.cli.base import cli, json_option, with_core
from appliance.cli_output import print_records, print_result
from appliance.core.alarm_rules import KINDS
from appliance.core.services import Core


def os_user() -> str:
    """Who runs the command, for the records that say who did something (ack, notes)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@cli.group()
def alarm() -> None:
    """Alarms: list, show, acknowledge."""


@alarm.command("list")
@click.option("--all", "show_all", is_flag=True, help="Cleared alarms too (default: open ones only).")
@click.option("--kind", type=click.Choice(KINDS))
@click.option("--charger", "identity", help="Only this charger's alarms.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
@json_option
@with_core
async def alarm_list(core: Core, show_all: bool, kind: str | None, identity: str | None, limit: int,
                     as_json: bool) -> None:
    """List alarms, most recent first."""
    records = await core.alarms.list(not show_all, kind, identity, limit)
    if as_json:
        print_records([r.as_json() for r in records], True, [])
        return
    print_records([{**r.as_json(), "acknowledged": _ack(r.acknowledged_by),
                    "raised_at": f"{r.raised_at:%Y-%m-%d %H:%M}", "state": "open" if r.is_open else "cleared"}
                   for r in records], False,
                  ["id", "severity", "state", "acknowledged", "raised_at", "title"])


def _ack(by: str) -> str:
    return f"by {by}" if by else "no"


@alarm.command("show")
@click.argument("alarm_id", type=int)
@json_option
@with_core
async def alarm_show(core: Core, alarm_id: int, as_json: bool) -> None:
    """Show one alarm: what, since when, what was done, who acknowledged it."""
    print_result((await core.alarms.get(alarm_id)).as_json(), as_json)


@alarm.command("ack")
@click.argument("alarm_id", type=int)
@click.option("--note", default="", help="What you are doing about it.")
@click.option("--by", default=None, help="Who acknowledges it (default: the user running the command).")
@json_option
@with_core
async def alarm_ack(core: Core, alarm_id: int, note: str, by: str | None, as_json: bool) -> None:
    """Acknowledge an alarm: someone takes care of it (it stays open until its cause is gone)."""
    record = await core.alarms.acknowledge(alarm_id, by or os_user(), note)
    print_result(record.as_json(), as_json,
                 f"alarm {record.id} acknowledged by {record.acknowledged_by}: {record.title}")
