"""RFID readers on the box: list them, test one, and enrol cards by tapping them."""

from __future__ import annotations

import asyncio

import click
import serial

from appliance.cli.base import cli, json_option, with_core
from appliance.cli.users import tag
from appliance.cli_output import print_records, print_result
from appliance.core.services import Core
from appliance.core.users import UserGroupError
from appliance.rfid_reader.id_format import FORM_SYNTAX, IdFormatError, all_forms, format_id, parse_form, \
    uid_from_decimal
from appliance.rfid_reader.ports import list_keyboards, list_serial_ports
from appliance.rfid_reader.reader import Reader
from appliance.rfid_reader.reads import FAMILIES, CardRead

family_option = click.option("--family", type=click.Choice(FAMILIES),
                             help="The reader's family; found by itself when not given.")
form_option = click.option("--form", "form_text", default="hex", show_default=True,
                           help=f"How the depot's chargers write a card's id: {FORM_SYNTAX}.")


@cli.group()
def reader() -> None:
    """USB RFID readers: list, test, and the id forms a card gets."""


@reader.command("list")
@json_option
def reader_list(as_json: bool) -> None:
    """Serial ports (with USB ids and a guess of the reader family) and keyboard-like readers."""
    rows = [dict(device=p.device, usb_id=p.usb_id, chip=p.chip, family_guess=p.family_guess,
                 description=p.description, serial_number=p.serial_number) for p in list_serial_ports()]
    rows += [dict(device=device, usb_id=None, chip=None, family_guess="hid", description="input device",
                  serial_number=None) for device in list_keyboards()]
    print_records(rows, as_json, ["device", "usb_id", "chip", "family_guess", "description"])


@reader.command("test")
@click.argument("device")
@family_option
@form_option
@click.option("--count", type=click.IntRange(1), default=None, help="Stop after this many taps.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1), default=None, help="Stop after this long (s).")
@json_option
@with_core
async def reader_test(core: Core, device: str, family: str | None, form_text: str, count: int | None,
                      timeout_s: float | None, as_json: bool) -> None:
    """Print each tap: the id in every common form, and where a charger last sent each of them."""
    form = _form(form_text)
    taps = 0
    async for read in _taps(device, family, timeout_s):
        forms = all_forms(_uid(read)) if _uid(read) else {}
        sightings = {s.id_tag: s for s in await core.users.sightings(list(forms.values()))}
        print_result({"family": read.family, "reader_text": read.text, "id": _id(read, form),
                      "forms": {name: {"id": text, "last_sent_by_a_charger": _seen(sightings[text])}
                                for name, text in forms.items()}}, as_json)
        taps += 1
        if count is not None and taps >= count:
            return


@tag.command("enrol")
@click.option("--reader", "device", required=True, help="The reader's device, e.g. /dev/rfid/ch340-...")
@click.option("--user", "user_name", help="Enrol one card for this user.")
@click.option("--company", help="With --batch: enrol a stack of cards to this company.")
@click.option("--batch", is_flag=True, help="Keep enrolling, card after card, until Ctrl-C.")
@click.option("--yes", is_flag=True, help="Do not ask to confirm each card.")
@family_option
@form_option
@click.option("--timeout", "timeout_s", type=click.FloatRange(0.1), default=None, help="Stop after this long (s).")
@with_core
async def tag_enrol(core: Core, device: str, user_name: str | None, company: str | None, batch: bool, yes: bool,
                    family: str | None, form_text: str, timeout_s: float | None) -> None:
    """Tap a card on the reader, confirm, and it is a tag: for a user, or (--batch) a company's stack."""
    if bool(user_name) == bool(company) or (company and not batch) or (user_name and batch):
        raise click.UsageError("give --user NAME (one card) or --company NAME --batch (a stack of cards)")
    form = _form(form_text)
    enrolled = 0
    click.echo("tap a card on the reader" + (" (Ctrl-C when done)" if batch else ""))
    async for read in _taps(device, family, timeout_s):
        id_tag = _id(read, form)
        known = await core.users.tag(id_tag)
        if known is not None:
            owner = known.driver or (f"vehicle {known.vehicle}" if known.vehicle else known.company or "nobody")
            click.echo(f"{id_tag}: already enrolled, for {owner} ({known.status})")
            continue
        if not yes and not await asyncio.to_thread(click.confirm, f"enrol {id_tag}?", default=True):
            continue
        try:
            await core.users.add_tag(id_tag, user_name, company=company if batch else None)
        except UserGroupError as e:
            click.echo(f"{id_tag}: not enrolled: {e}")
            continue
        enrolled += 1
        click.echo(f"{id_tag}: enrolled for {user_name or company}" + (f" ({enrolled} so far)" if batch else ""))
        if not batch:
            return
    if not batch:
        raise click.ClickException("no card was tapped")
    click.echo(f"{enrolled} card(s) enrolled for {company}")


async def _taps(device: str, family: str | None, timeout_s: float | None):
    """Cards tapped on the reader, one per tap, until `timeout_s` (None: until interrupted)."""
    if "://" in device:  # a URL that can never open is an error now, not a reader waited for
        try:
            serial.serial_for_url(device, do_not_open=True)
        except ValueError as e:
            raise click.ClickException(f"{device}: {e}") from None
    states: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    with Reader(device, family, on_state=lambda state, detail: states.append(f"reader {state}: {detail}")) as source:
        while deadline is None or loop.time() < deadline:
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - loop.time()))
            read = await asyncio.to_thread(source.next_read, wait)
            while states:  # unplugged and back: say so, and carry on
                click.echo(states.pop(0), err=True)
            if read is not None:
                yield read


def _form(text: str):
    try:
        return parse_form(text)
    except IdFormatError as e:
        raise click.BadParameter(str(e), param_hint="--form") from None


def _uid(read: CardRead) -> bytes | None:
    return read.uid if read.uid is not None else uid_from_decimal(read.text)


def _id(read: CardRead, form) -> str:
    """The tag id for the card: its UID in the chargers' form (a decimal-only reader's number taken as
    the UID's last bytes; its digits as they are when they are no number)."""
    uid = _uid(read)
    if uid is None:
        return read.text.strip().upper()
    try:
        return format_id(uid, form)
    except IdFormatError as e:
        raise click.ClickException(f"card {read.text}: {e}") from None


def _seen(sighting) -> str:
    if sighting.last_sent_at is None:
        return "enrolled, never seen" if sighting.enrolled else "never"
    return f"{sighting.last_sent_at.isoformat()} at {sighting.charger_identity}" + (
        " (enrolled)" if sighting.enrolled else "")
