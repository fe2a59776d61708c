"""Billing: tariffs, the groups that price each charger, charge detail records, a session's price and
its signed meter data for the transparency software."""

from __future__ import annotations

import click

from appliance.cli.base import cli, json_option, with_core
from appliance.cli.sessions import session
from appliance.cli_output import print_records, print_result
from appliance.core.services import Core
from appliance.live_client import LiveClient, LiveError
from appliance.sync.head_office import HeadOfficeSync


@cli.group()
def tariff() -> None:
    """Tariffs (prices include VAT) and tariff groups."""


def _band(text: str) -> dict:
    """START-END:PRICE_PER_KWH:PRICE_PER_MINUTE[:NAME], e.g. 22:00-06:00:0.30:0:night."""
    start, _, rest = text.partition("-")
    parts = rest[6:].split(":") if len(rest) > 6 and rest[5] == ":" else []
    if len(start) != 5 or len(parts) not in (2, 3):
        raise click.BadParameter(f"{text!r}: expected START-END:PRICE_PER_KWH:PRICE_PER_MINUTE[:NAME], "
                                 "e.g. 22:00-06:00:0.30:0:night", param_hint="--band")
    return {"start": start, "end": rest[:5], "price_per_kwh": parts[0], "price_per_minute": parts[1],
            "name": parts[2] if len(parts) == 3 else ""}


def _power_band(text: str) -> dict:
    kw, sep, minute = text.partition(":")
    if not sep:
        raise click.BadParameter(f"{text!r}: expected MAX_KW:PRICE_PER_MINUTE, e.g. 11:0.12", param_hint="--power-band")
    return {"max_power_kw": kw, "price_per_minute": minute}


@tariff.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(["free", "flat", "duration_energy", "time_of_day",
                                                          "power_levels"]))
@click.option("--currency", default="EUR", show_default=True)
@click.option("--vat", "vat_rate", default="0.19", show_default=True, help="VAT rate, e.g. 0.19 for 19 %.")
@click.option("--flat", "flat_price", help="Price per session (flat).")
@click.option("--fee", "connection_fee", help="Connection fee per session.")
@click.option("--per-kwh", "price_per_kwh", help="Price per kWh (duration_energy).")
@click.option("--per-minute", "price_per_minute", help="Price per minute (duration_energy).")
@click.option("--band", "bands", multiple=True, help="time_of_day: START-END:PER_KWH:PER_MINUTE[:NAME].")
@click.option("--power-band", "power_bands", multiple=True, help="power_levels: MAX_KW:PER_MINUTE.")
@click.option("--max-minutes", type=click.IntRange(1), help="Stop a session after this long.")
@click.option("--max-kwh", type=click.FloatRange(0, min_open=True), help="Stop a session after this energy.")
@json_option
@with_core
async def tariff_add(core: Core, name: str, kind: str, as_json: bool, bands: tuple[str, ...],
                     power_bands: tuple[str, ...], max_minutes: int | None, max_kwh: float | None, **prices) -> None:
    """Add a tariff; prices are entered including VAT."""
    data = {"kind": kind, **{k: v for k, v in prices.items() if v is not None},
            "bands": [_band(b) for b in bands], "power_bands": [_power_band(b) for b in power_bands],
            "max_duration_s": max_minutes * 60 if max_minutes else None,
            "max_energy_wh": int(max_kwh * 1000) if max_kwh else None}
    record = await core.billing.add_tariff(name, data)
    print_result(record, as_json, f"tariff {name!r} added ({kind})")


@tariff.command("list")
@json_option
@with_core
async def tariff_list(core: Core, as_json: bool) -> None:
    """List tariffs."""
    print_records(await core.billing.tariffs(), as_json, ["name", "kind", "currency"])


@tariff.command("show")
@click.argument("name")
@json_option
@with_core
async def tariff_show(core: Core, name: str, as_json: bool) -> None:
    """A tariff with its prices."""
    print_result(await core.billing.tariff(name), as_json)


@tariff.command("group-add")
@click.argument("name")
@click.option("--base", "base_tariff", required=True, help="The tariff for everyone the group's rules do not name.")
@with_core
async def tariff_group_add(core: Core, name: str, base_tariff: str) -> None:
    """Add a tariff group (a base tariff, and tariffs for named companies or users)."""
    await core.billing.add_group(name, base_tariff)
    click.echo(f"tariff group {name!r} added, base tariff {base_tariff!r}")


@tariff.command("group-rule")
@click.argument("group")
@click.argument("tariff_name")
@click.option("--company")
@click.option("--user")
@with_core
async def tariff_group_rule(core: Core, group: str, tariff_name: str, company: str | None, user: str | None) -> None:
    """In a group, a tariff for one company's or one user's sessions (a user's is more specific)."""
    await core.billing.add_rule(group, tariff_name, company, user)
    click.echo(f"tariff group {group!r}: {tariff_name!r} for {'company ' + repr(company) if company else 'user ' + repr(user)}")


@tariff.command("group-assign")
@click.argument("group")
@click.argument("charger_id")
@click.option("--evse", type=click.IntRange(0), default=0, help="Only this EVSE (default: all of the charger's).")
@with_core
async def tariff_group_assign(core: Core, group: str, charger_id: str, evse: int) -> None:
    """Price a charger's sessions with a tariff group."""
    await core.billing.assign(charger_id, group, evse)
    click.echo(f"charger {charger_id}{f' EVSE {evse}' if evse else ''} priced by tariff group {group!r}")


@tariff.command("groups")
@json_option
@with_core
async def tariff_groups(core: Core, as_json: bool) -> None:
    """List tariff groups with their rules."""
    print_records(await core.billing.groups(), as_json, ["name", "base_tariff", "rules"])


@cli.group()
def cdr() -> None:
    """Charge detail records: one per finished session, for head office."""


@cdr.command("list")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@json_option
@with_core
async def cdr_list(core: Core, limit: int, as_json: bool) -> None:
    """The latest charge detail records, newest first."""
    print_records(await core.billing.cdrs(limit), as_json,
                  ["cdr_id", "transaction_id", "kind", "total_incl_vat", "currency", "created_at", "sent_at"])


@session.command("price")
@click.argument("transaction_id", type=int)
@json_option
@with_core
async def session_price(core: Core, transaction_id: int, as_json: bool) -> None:
    """A session's price: a live estimate while it charges, its final price once finished."""
    price = await core.billing.estimate(transaction_id)
    print_result(price, as_json, f"session {transaction_id}: {price.total_incl_vat} {price.currency} incl. VAT "
                 f"({price.total_excl_vat} + {price.vat} VAT), {price.energy_wh / 1000:g} kWh"
                 + ("" if price.final else " (estimate, still charging)"))


@cli.group()
def sync() -> None:
    """Charge detail records to head office."""


@sync.command("set")
@click.option("--url", required=True, help="Head office's base URL (it receives POST URL/cdrs); '' turns sync off.")
@click.option("--token", help="The token head office gave this depot (sent as Authorization: Token ...).")
@with_core
async def sync_set(core: Core, url: str, token: str | None) -> None:
    """Where charge detail records go."""
    try:
        await HeadOfficeSync(core.db).configure(url, token)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--url") from None
    click.echo(f"charge detail records go to {url}" if url else "sync with head office is off")


@sync.command("status")
@json_option
@with_core
async def sync_status(core: Core, as_json: bool) -> None:
    """Queue length, oldest unsent, last success, last error."""
    status = await HeadOfficeSync(core.db).status()
    print_result(status, as_json)


@sync.command("now")
@json_option
@with_core
async def sync_now(core: Core, as_json: bool) -> None:
    """Send what is waiting now (through the running server when there is one)."""
    try:
        result = LiveClient(core.settings).request("POST", "/api/v1/sync/now")
    except LiveError:
        if core.settings.server_state_path.exists():
            raise  # a server runs but failed: say so, rather than drain beside it
        sync = HeadOfficeSync(core.db, core.settings.sync_timeout_s)
        result = {"sent": await sync.drain(), "status": await sync.status()}
    if as_json:
        print_result(result, True)
        return
    status = result["status"]
    status = status if isinstance(status, dict) else {k: getattr(status, k) for k in status.__dataclass_fields__}
    click.echo(f"sent {result['sent']}; {status['queue_length']} waiting"
               + (f"; last error: {status['last_error']}" if status["queue_length"] and status["last_error"] else ""))


@sync.command("pull-tokens")
@json_option
@with_core
async def sync_pull_tokens(core: Core, as_json: bool) -> None:
    """Take the user group's tokens from head office now (GET URL/tokens)."""
    try:
        result = await HeadOfficeSync(core.db, core.settings.sync_timeout_s).pull_tokens(core.users)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    print_result(result, as_json, f"tokens from head office: {result.added} added, {result.blocked} blocked, "
                                  f"{result.unblocked} unblocked" + (f", {len(result.skipped)} not taken: "
                                                                      + "; ".join(result.skipped[:5])
                                                                      if result.skipped else ""))


@cli.command("statement")
@click.option("--month", required=True, help="YYYY-MM, in the depot's time zone.")
@click.option("--company")
@click.option("--user")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, writable=True), help="Write a PDF here.")
@with_core
async def statement(core: Core, month: str, company: str | None, user: str | None, pdf_path: str | None) -> None:
    """A month's sessions and totals for a company, a user or the whole depot (CSV on stdout, or --pdf FILE)."""
    if company and user:
        raise click.UsageError("give --company or --user, not both")
    title, content = await core.billing.statement(month, company, user, "pdf" if pdf_path else "csv")
    if pdf_path:
        with open(pdf_path, "wb") as f:
            f.write(content)
        click.echo(f"{title}, {month}: written to {pdf_path}")
    else:
        click.echo(content, nl=False)


@session.command("export")
@click.option("--from", "since", required=True, help="YYYY-MM-DD (depot time), the first day.")
@click.option("--to", "until", required=True, help="YYYY-MM-DD (depot time), the day after the last.")
@with_core
async def session_export(core: Core, since: str, until: str) -> None:
    """Finished sessions as CSV for the accountant (on stdout)."""
    import datetime as dt

    try:
        start, end = (dt.datetime.strptime(d, "%Y-%m-%d").replace(tzinfo=core.settings.zone) for d in (since, until))
    except ValueError:
        raise click.BadParameter("dates are YYYY-MM-DD") from None
    click.echo(await core.billing.sessions_export(start, end), nl=False)
