"""The `appliance` click group and what its commands share: settings, the core or the running
server, error handling, options."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Awaitable, Callable

import click

from appliance.build_info import version_text
from appliance.cli_output import print_result
from appliance.config import Settings, SettingsError, load_settings
from appliance.core.accounts import AccountError
from appliance.core.alarms import AlarmError
from appliance.core.billing import BillingError
from appliance.core.chargers import ChargerError
from appliance.core.circuits import PlanError
from appliance.core.commands import CommandError
from appliance.core.maintenance import MaintenanceError
from appliance.core.services import open_core
from appliance.core.tokens import TokenError
from appliance.core.users import UserGroupError
from appliance.live_client import LiveClient, LiveError
from appliance.store.database import StoreError
from appliance.store.migrations import SchemaTooNewError

USER_ERRORS = (AccountError, AlarmError, MaintenanceError, BillingError, ChargerError, PlanError, UserGroupError, CommandError, TokenError, SettingsError, SchemaTooNewError, StoreError,
               LiveError)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="APPLIANCE_DATA_DIR",
              help="Data directory (database, certificates). Env: APPLIANCE_DATA_DIR.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML settings file (default: appliance.toml in the data directory).")
@click.version_option(version_text(), prog_name="appliance", message="%(prog)s %(version)s")
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


# Exit status of a live command the charger did not carry out (refused, offline, timed out): the
# answer is printed all the same, and scripts can tell success from the exit status alone.
NOT_DONE_EXIT = 3


def print_live(result: dict[str, Any], as_json: bool) -> None:
    print_result(result, as_json)
    if not result.get("ok"):
        raise SystemExit(NOT_DONE_EXIT)
