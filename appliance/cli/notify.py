"""`appliance notify` (who is told of alarms, and how) and `appliance metrics` (the /metrics token).

What `notify set` stores wins over the config file's notify_* settings and takes effect in a
running server at once (it reads them each time it notifies).
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

import click

from appliance.cli.base import NOT_DONE_EXIT, cli, json_option, with_core
from appliance.cli_output import print_records, print_result
from appliance.config import SettingsError, parse_setting
from appliance.core.events import utcnow
from appliance.core.secrets import hash_token, new_token
from appliance.core.services import Core
from appliance.live_client import LiveClient, LiveError
from appliance.notify import rules
from appliance.notify.notifier import Notifier
from appliance.notify.settings import STORED, STORED_SOURCE
from appliance.store import notifications as store
from appliance.web.metrics import TOKEN_SETTING


@cli.group()
def notify() -> None:
    """Notifications of alarms: e-mail (SMTP) and webhooks."""


@notify.command("set")
@click.option("--smtp", help="Mail server: smtp://HOST[:PORT], smtps://HOST[:PORT] (TLS); '' : no e-mail.")
@click.option("--starttls", "security", flag_value="starttls", help="Secure the SMTP connection with STARTTLS.")
@click.option("--tls", "security", flag_value="tls", help="TLS from the start (port 465).")
@click.option("--plain", "security", flag_value="plain", help="No TLS (only on a network you trust).")
@click.option("--user", help="Login at the mail server; the password is asked for (or read from standard "
                             "input). '' : no login.")
@click.option("--from", "sender", help="The e-mails' From address.")
@click.option("--to", multiple=True, help="An e-mail recipient (repeat for more; replaces the list; '' : none). "
                                          "ADDRESS[;severity=LEVEL][;kinds=KIND+KIND].")
@click.option("--webhook", multiple=True, help="A webhook URL that gets a JSON POST (repeat for more; replaces "
                                               "the list; '' : none).")
@click.option("--severity", type=click.Choice(rules.SEVERITIES),
              help="Least severity the --to and --webhook recipients of this command get (default: warning).")
@click.option("--kinds", help="Alarm kinds (comma-separated) the --to and --webhook recipients of this command "
                              "get (default: all).")
@click.option("--batch-s", type=float, help="Alarms within this many seconds of the first go out as one message.")
@click.option("--daily-summary", help="Time of day (HH:MM, depot time) of a daily summary; 'off' : none.")
@click.option("--reset", is_flag=True, help="Forget everything stored here first (the config file applies again).")
@json_option
@with_core
async def notify_set(core: Core, smtp: str | None, security: str | None, user: str | None, sender: str | None,
                     to: tuple[str, ...], webhook: tuple[str, ...], severity: str | None, kinds: str | None,
                     batch_s: float | None, daily_summary: str | None, reset: bool, as_json: bool) -> None:
    """Configure notifications (stored in the database; a running server uses them at once)."""
    values: dict[str, str | None] = {name: None for name in STORED} if reset else {}
    kind_set = frozenset(k.strip() for k in kinds.split(",") if k.strip()) if kinds is not None else None
    if kind_set is not None and kind_set - set(rules.KINDS):
        raise click.BadParameter(f"unknown alarm kind(s) {', '.join(sorted(kind_set - set(rules.KINDS)))}; the "
                                 f"kinds are {', '.join(rules.KINDS)}", param_hint="--kinds")
    if (severity or kind_set) and not (to or webhook):
        raise click.UsageError("--severity and --kinds apply to the --to and --webhook recipients of the same "
                               "command: name them too")
    for option, name, given in (("--to", "notify_to", to), ("--webhook", "notify_webhook", webhook)):
        if given:
            channel = "email" if name == "notify_to" else "webhook"
            values[name] = _recipients(option, channel, [g for g in given if g.strip()], severity, kind_set)
    for name, value in (("notify_smtp", smtp), ("notify_smtp_security", security), ("notify_from", sender),
                        ("notify_batch_s", None if batch_s is None else str(batch_s)),
                        ("notify_daily_summary_at", "" if daily_summary == "off" else daily_summary)):
        if value is not None:
            values[name] = value
    if user is not None:
        values["notify_smtp_user"] = user
        values["notify_smtp_password"] = _read_password(user) if user else ""
    if not values:
        raise click.UsageError("nothing to set: give --smtp, --to, --webhook, ... (appliance notify set --help)")
    for name, value in values.items():
        if value:
            try:
                parse_setting(name, value, STORED_SOURCE)
            except SettingsError as e:
                raise click.BadParameter(str(e), param_hint=_option_of(name)) from None
    await core.db.write(store.store_settings, values, utcnow())
    await _show(core, as_json, brief=True)


def _recipients(option: str, channel: str, given: list[str], severity: str | None,
                kinds: frozenset[str] | None) -> str:
    try:
        parsed = [rules.parse_recipient(g.strip(), channel) for g in given]
    except rules.RuleError as e:
        raise click.BadParameter(str(e), param_hint=option) from None
    return rules.write_recipients(rules.with_filter(parsed, severity, kinds))


def _read_password(user: str) -> str:
    """Asked for on a terminal; otherwise the first line of standard input (for scripts)."""
    if sys.stdin.isatty():
        return click.prompt(f"Password of {user} at the mail server", hide_input=True)
    line = sys.stdin.readline()
    if not line:
        raise click.ClickException("no password on standard input; give it as the first line")
    return line.rstrip("\r\n")


def _option_of(name: str) -> str:
    return {"notify_smtp": "--smtp", "notify_from": "--from", "notify_to": "--to", "notify_webhook": "--webhook",
            "notify_batch_s": "--batch-s", "notify_daily_summary_at": "--daily-summary"}.get(name, name)


@notify.command("show")
@json_option
@with_core
async def notify_show(core: Core, as_json: bool) -> None:
    """The configuration in force (password masked), the queue, and the latest notifications."""
    await _show(core, as_json, brief=False)


async def _show(core: Core, as_json: bool, brief: bool) -> None:
    status = await Notifier(core.db, core.bus, core.settings).status()
    if not brief:
        status["latest"] = [{"id": n.id, "recipient": n.recipient, "purpose": n.purpose, "status": n.status,
                             "created_at": n.created_at, "attempts": n.attempts, "sent_at": n.sent_at,
                             "last_error": n.last_error} for n in await core.db.read(store.recent, 10)]
    if as_json:
        print_result(status, True)
        return
    click.echo(f"mail server: {status['mail_server'] or 'none (no e-mail)'}")
    if not status["recipients"]:
        click.echo("recipients: none (appliance notify set --to ADDRESS or --webhook URL)")
    else:
        click.echo("recipients:")
        for r in status["recipients"]:
            kinds = r["kinds"] if isinstance(r["kinds"], str) else ", ".join(r["kinds"])
            click.echo(f"  {r['recipient']} ({r['channel']}): {r['severity']}, kinds: {kinds}")
    config = status["configuration"]
    summary = config["notify_daily_summary_at"]["value"]
    click.echo(f"batched within {config['notify_batch_s']['value']:g} s; daily summary: "
               f"{summary + ' (' + core.settings.timezone + ')' if summary else 'off'}")
    if brief:
        return
    queue = status["queue"]
    click.echo(f"queue: {queue.pending} waiting ({queue.failing} failing"
               + (f", last error: {queue.last_error}" if queue.last_error else "") + f"), {queue.collecting} "
               f"collecting, {queue.sent} sent, {queue.failed} refused for good")
    click.echo("settings (from):")
    for name, entry in config.items():
        click.echo(f"  {name} = {entry['value']!r} ({entry['from']})")
    if status["latest"]:
        click.echo("latest:")
        print_records(status["latest"], False, ["id", "recipient", "purpose", "status", "attempts", "sent_at",
                                                "last_error"])


@notify.command("test")
@json_option
@with_core
async def notify_test(core: Core, as_json: bool) -> None:
    """Send a test message to every recipient now (through the running server when there is one)."""
    try:
        answer = LiveClient(core.settings).request("POST", "/api/v1/notify/test", {"on_behalf_of": _os_user()})
        results = answer["results"]
        via = "the running server"
    except LiveError:
        if core.settings.server_state_path.exists():
            raise  # a server runs but refused or failed: say so
        found = await Notifier(core.db, core.bus, core.settings).send_test(f"{_os_user()} (command line)")
        if not found:
            raise click.ClickException("no recipients are configured: appliance notify set --to ADDRESS or "
                                       "--webhook URL")
        results = [{"recipient": r.recipient, "channel": r.channel, "ok": r.ok, "detail": r.detail} for r in found]
        via = "this command (no server is running)"
    if as_json:
        print_result({"via": via, "results": results}, True)
    else:
        click.echo(f"test message sent by {via}:")
        for r in results:
            click.echo(f"  {'sent' if r['ok'] else 'NOT sent'} to {r['recipient']} ({r['channel']}): {r['detail']}")
    if not all(r["ok"] for r in results):
        raise click.exceptions.Exit(NOT_DONE_EXIT)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@cli.group()
def metrics() -> None:
    """/metrics for the depot's monitoring (Prometheus)."""


@metrics.command("token")
@with_core
async def metrics_token(core: Core) -> None:
    """Make a new token for /metrics; it is printed once, stored only as a hash, and the previous one stops working."""
    token = new_token()
    values: dict[str, Any] = {TOKEN_SETTING: hash_token(token)}
    await core.db.write(store.store_settings, values, utcnow())
    click.echo(token)
    if not core.settings.metrics:
        click.echo("note: /metrics is off; turn it on with the setting metrics (metrics = true in the config file, "
                   "or APPLIANCE_METRICS=true) and restart", err=True)
    elif core.settings.metrics_token:
        click.echo("note: the setting metrics_token is set too; both tokens work", err=True)
