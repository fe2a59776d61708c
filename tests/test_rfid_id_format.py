"""How a card's UID is written as a tag id: table-driven cases and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.rfid_reader.id_format import (
    IdFormat,
    IdFormatError,
    all_forms,
    format_id,
    parse_form,
    uid_from_decimal,
)

UID4 = bytes.fromhex("04A1B2C3")
UID7 = bytes.fromhex("04A1B2C3D4E5F6")
EM = bytes.fromhex("0B00AB12CD")  # EM4100: version byte 0B, id 00AB12CD


@pytest.mark.parametrize("uid, form, expected", [
    (UID4, "hex", "04A1B2C3"),
    (UID4, "hex-reversed", "C3B2A104"),
    (UID4, "decimal", str(0x04A1B2C3)),
    (UID4, "decimal-reversed", str(0xC3B2A104)),
    (UID4, "decimal:10", "0077705923"),
    (UID7, "hex", "04A1B2C3D4E5F6"),
    (UID7, "hex-reversed", "F6E5D4C3B2A104"),
    (EM, "hex", "0B00AB12CD"),
    (EM, "hex/last4", "00AB12CD"),
    (EM, "decimal:10/last4", "0011211469"),  # what EM readers print under the card
    (bytes([1]), "hex:8", "00000001"),
])
def test_forms(uid, form, expected):
    assert format_id(uid, parse_form(form)) == expected


@pytest.mark.parametrize("text", ["", "hexx", "decimal:", "octal", "hex:0", "hex-reversed:abc", "decimal/last5"])
def test_bad_forms_are_refused_with_the_syntax(text):
    with pytest.raises(IdFormatError, match="hex|width"):
        parse_form(text)


def test_an_id_too_long_for_the_width_is_refused_not_cut():
    with pytest.raises(IdFormatError, match="longer than the 4"):
        format_id(UID4, parse_form("hex:4"))


def test_decimal_ids_back_to_bytes():
    assert uid_from_decimal("0011211469") == bytes.fromhex("00AB12CD")
    assert uid_from_decimal("12ab") is None


uids = st.binary(min_size=1, max_size=10)


@given(uids)
def test_hex_round_trips(uid):
    assert bytes.fromhex(format_id(uid, IdFormat())) == uid
    assert bytes.fromhex(format_id(uid, IdFormat(reversed=True))) == uid[::-1]


@given(uids)
def test_decimal_is_the_number(uid):
    assert int(format_id(uid, IdFormat("decimal"))) == int.from_bytes(uid, "big")


@given(uids)
def test_every_form_is_upper_case_text_and_parses_back(uid):
    for name, text in all_forms(uid).items():
        assert text == text.upper() and text.isalnum()
        assert str(parse_form(name)) == name
