"""Running the server, and what it is configured with: settings and its TLS certificate."""

from __future__ import annotations

import logging
import os
import sys

import click

from appliance import event_loop, tls
from appliance.cli.base import cli, json_option, settings_of
from appliance.cli_output import print_records, print_result
from appliance.config import describe
from appliance.store.database import StoreError
from appliance.store.migrations import SchemaTooNewError

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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter() if os.environ.get("JOURNAL_STREAM") else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
    try:
        event_loop.run(run_server(settings), settings.event_loop)
    except (SchemaTooNewError, StoreError, tls.TlsError, OSError) as e:
        raise click.ClickException(str(e)) from None


class JournalFormatter(logging.Formatter):
    """Under systemd (JOURNAL_STREAM set): the journal stamps the time itself, and a <N> prefix gives
    each line its syslog priority, so `journalctl -u appliance -p warning` shows what matters."""

    PRIORITIES = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = self.PRIORITIES.get(record.levelno, 6)
        # Every line of a multi-line record (a traceback) gets the prefix, or the journal would file
        # the rest at the default priority.
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


@cli.command("settings")
@json_option
@click.pass_context
def show_settings(ctx: click.Context, as_json: bool) -> None:
    """Show the effective settings and where each can be set."""
    settings = settings_of(ctx)
    rows = [{"setting": name, "value": _shown(name, getattr(settings, name)), "environment": env, "unit": unit,
             "help": help_} for name, env, _, unit, help_ in describe()]
    print_records(rows, as_json, ["setting", "value", "environment", "help"])


def _shown(name: str, value) -> str:
    if name == "database_url" and value:  # its password is never printed
        from appliance.store.dialect import redact

        return redact(value)
    if name in ("notify_smtp_password", "metrics_token"):  # secrets: only whether they are set
        return "******** (set)" if value else ""
    return str(value)


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
