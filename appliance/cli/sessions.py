"""Charging sessions (transactions)."""

from __future__ import annotations

import click

from appliance.cli.base import cli, json_option, with_core
from appliance.cli_output import print_records, print_result
from appliance.core.chargers import ChargerError
from appliance.core.services import Core


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
