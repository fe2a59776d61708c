"""The id a card gets, written the way the depot's chargers write it.

A reader gives the card's UID as bytes (or, some, as decimal digits); chargers report it as text in
one of a few forms: hex in the byte order read, hex reversed, the UID as one decimal number (either
byte order), often zero-padded to a fixed width. The enrolled id must be exactly what the chargers
will send, so the form is configurable per reader, and `all_forms` lets a technician see which form
matches what a charger sent for the same card. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ENCODINGS = ("hex", "decimal")
FORM_SYNTAX = "hex|decimal[-reversed][:WIDTH][/last4]"
_FORM = re.compile(r"^(?P<enc>hex|decimal)(?P<rev>-reversed)?(?::(?P<width>\d{1,2}))?(?P<last4>/last4)?$")


class IdFormatError(ValueError):
    pass


@dataclass(frozen=True)
class IdFormat:
    encoding: str = "hex"  # hex or decimal
    reversed: bool = False  # byte order reversed (little-endian readers and chargers)
    width: int | None = None  # zero-padded to this many characters; longer ids are refused, not cut
    last4: bool = False  # only the last four bytes (EM4100: without the version byte; Wiegand-style ids)

    def __str__(self) -> str:
        text = self.encoding + ("-reversed" if self.reversed else "")
        if self.width:
            text += f":{self.width}"
        return text + ("/last4" if self.last4 else "")


def parse_form(text: str) -> IdFormat:
    match = _FORM.match(text.strip().lower())
    if match is None:
        raise IdFormatError(f"{text!r} is not an id form; write {FORM_SYNTAX}, e.g. hex, hex-reversed, decimal:10")
    width = int(match["width"]) if match["width"] else None
    if width == 0:
        raise IdFormatError("an id width must be at least 1")
    return IdFormat(match["enc"], bool(match["rev"]), width, bool(match["last4"]))


def format_id(uid: bytes, form: IdFormat) -> str:
    """The card's id in the given form, upper case (the form tags are stored and compared in)."""
    if not uid:
        raise IdFormatError("an empty UID has no id")
    data = uid[-4:] if form.last4 else uid
    if form.reversed:
        data = data[::-1]
    text = data.hex().upper() if form.encoding == "hex" else str(int.from_bytes(data, "big"))
    if form.width:
        if len(text) > form.width:
            raise IdFormatError(f"the id {text} is longer than the {form.width} characters of the form {form}")
        text = text.rjust(form.width, "0")
    return text


def uid_from_decimal(text: str, size: int = 4) -> bytes | None:
    """The UID bytes behind a reader's decimal id (e.g. the 10 digits EM readers print), when it fits."""
    digits = text.strip()
    if not digits.isdigit():
        return None
    value = int(digits)
    length = max(size, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


# The forms worth showing a technician who is matching a reader to a charger.
COMMON_FORMS = ("hex", "hex-reversed", "decimal", "decimal-reversed", "decimal:10", "hex/last4", "decimal:10/last4")


def all_forms(uid: bytes) -> dict[str, str]:
    """The card's id in every common form (those it fits)."""
    out = {}
    for name in COMMON_FORMS:
        try:
            out[name] = format_id(uid, parse_form(name))
        except IdFormatError:
            continue
    return out
