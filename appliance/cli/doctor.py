"""Diagnostics for technicians: `appliance doctor` (is the box fit to run the appliance, and what to do if
not) and `appliance logs CHARGER` (a charger's OCPP messages, followed live). Both only read: they work
with the server running or not, and never create or migrate the database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import sys

import click

from appliance.cli.base import cli, settings_of
from appliance.diagnostics import FAIL, run_checks, worst
from appliance.diagnostics import comm_log
from appliance.store import diagnostics as store
from appliance.store.dialect import DRIVER_ERRORS, DatabaseUrlError, redact

LABELS = {"ok": "OK", "warning": "WARN", "fail": "FAIL", "skipped": "SKIP"}
DEFAULT_LINES = 20


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1), default=5.0, show_default=True,
              help="How long the server, head office and timedatectl each have to answer (s).")
@click.option("--full", is_flag=True, help="Check the database with integrity_check (slower) instead of quick_check.")
@click.pass_context
def doctor(ctx: click.Context, as_json: bool, timeout_s: float, full: bool) -> None:
    """Check database, disk, clock, ports, readers, certificates, head office and chargers: one line each,
    with what to do. Exit status 1 if a check failed, else 0 (warnings alone: 0)."""
    verdicts = run_checks(settings_of(ctx), timeout_s, full)
    overall = worst(verdicts)
    if as_json:
        click.echo(json.dumps({"status": overall, "checks": [dataclasses.asdict(v) for v in verdicts]}, indent=2))
    else:
        width = max(len(v.name) for v in verdicts)
        for v in verdicts:
            action = f" — {v.action}" if v.action else ""
            click.echo(f"{LABELS[v.status]:<4}  {v.name:<{width}}  {v.summary}{action}")
    ctx.exit(1 if overall == FAIL else 0)


@cli.command()
@click.argument("charger_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new messages until Ctrl-C.")
@click.option("--lines", "-n", type=click.IntRange(0), default=None,
              help=f"How many of the last messages to print [default: {DEFAULT_LINES}; with --since: all].")
@click.option("--since", help="Only messages since then: 10m, 2h, 1d, or a date/time in the depot's time zone.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per message and line.")
@click.pass_context
def logs(ctx: click.Context, charger_id: str, follow: bool, lines: int | None, since: str | None,
         as_json: bool) -> None:
    """A charger's communication log: every OCPP message in and out, oldest first, times in the depot's zone."""
    settings = settings_of(ctx)
    start = None
    if since:
        try:
            start = comm_log.parse_since(since, settings.zone, dt.datetime.now(dt.timezone.utc))
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--since") from None
    conn = _open(settings)
    try:
        if not store.charger_known(conn, charger_id):
            raise click.ClickException(f"no charger {charger_id!r} here (appliance charger list shows them)")
        shown = comm_log.tail(conn, charger_id, DEFAULT_LINES if lines is None and start is None else lines, start)
        _print(shown, charger_id, settings.zone, as_json)
        if follow:
            # Ctrl-C is the way out: a caller that left SIGINT ignored (a parent that ignores it
            # passes that on to what it starts) must not make it a follower nothing ends but a kill.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            after = shown[-1].id if shown else None
            for batch in comm_log.follow(conn, charger_id, after):
                _print(batch, charger_id, settings.zone, as_json)
    except KeyboardInterrupt:  # Ctrl-C is how a technician ends --follow: no traceback, no "Aborted!"
        pass
    except BrokenPipeError:  # `appliance logs CP | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except DRIVER_ERRORS as e:
        raise click.ClickException(f"cannot read the communication log: {e}") from None
    finally:
        conn.close()


def _open(settings):
    where = redact(settings.database_url) if settings.database_url else settings.database_path
    try:
        if settings.database_url:
            return store.open_readonly_url(settings.database_url)
        return store.open_readonly(where)
    except store.DatabaseMissing:
        raise click.ClickException(f"no database at {where}: has the appliance run here? (check --data-dir)") from None
    except (DatabaseUrlError, *DRIVER_ERRORS) as e:
        message = " ".join(str(e).split())
        raise click.ClickException(f"cannot read the database {where}: {message} (appliance doctor says more)") from None


def _print(messages: list[comm_log.LoggedMessage], charger_id: str, zone, as_json: bool) -> None:
    for m in messages:
        if as_json:
            click.echo(json.dumps({"id": m.id, "charger": charger_id, "at": m.logged_at.isoformat(),
                                   "direction": m.direction, "message": m.message}))
        else:
            local = m.logged_at.astimezone(zone)
            click.echo(f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} {local:%Z}  {m.direction:<3}  "
                       f"{m.message}")
