"""The transparency software's input file: well-formed, in order, and carrying every signed byte."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.billing.signed_meter import SignedReading, from_ocpp16, verify
from appliance.billing.transparency_xml import transparency_xml

KEY = ec.generate_private_key(ec.SECP256R1())
KEY_HEX = KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex().upper()
KEY_PEM = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
KEY_B64 = base64.b64encode(bytes.fromhex(KEY_HEX)).decode()


def ocmf(tx: str, rv: str) -> str:
    # Blanks, a tab, CR LF and the characters XML must escape, all inside the signed payload.
    payload = ('{"FV":"1.0", "GS":"G-1","PG":"T1",\r\n\t"TT":"<5 ct> & \'off-peak\' \\"night\\"",'
               f'"RD":[{{"TM":"2024-01-01T10:00:00,000+0000 S","TX":"{tx}","RV":{rv},"RU":"kWh","ST":"G"}}]}}')
    signature = KEY.sign(payload.encode(), ec.ECDSA(hashes.SHA256())).hex().upper()
    return f'OCMF|{payload}|{{"SA":"ECDSA-secp256r1-SHA256","SD":"{signature}"}}'


BEGIN, END = ocmf("B", "12.34"), ocmf("E", "20.5")
READINGS = [from_ocpp16(BEGIN, "Transaction.Begin", KEY_HEX), from_ocpp16(END, "Transaction.End", KEY_HEX)]


def values(xml: str) -> list[ET.Element]:
    root = ET.fromstring(xml.encode("utf-8"))
    assert root.tag == "values" and not root.attrib
    return list(root)


def test_declares_utf8_and_parses_back():
    xml = transparency_xml(READINGS, 42)
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<values>')
    assert [v.tag for v in values(xml)] == ["value", "value"]


def test_values_keep_their_order_attributes_and_exact_text():
    parsed = values(transparency_xml(READINGS, 42))
    assert [(v.attrib, [c.tag for c in v]) for v in parsed] == [
        ({"transactionId": "42", "context": "Transaction.Begin"}, ["signedData", "publicKey"]),
        ({"transactionId": "42", "context": "Transaction.End"}, ["signedData", "publicKey"])]
    assert [v.find("signedData").text for v in parsed] == [BEGIN, END]  # CR LF, tab, <, &, quotes intact
    assert parsed[0].find("signedData").attrib == {"format": "OCMF", "encoding": "plain"}
    assert parsed[0].find("publicKey").attrib == {"encoding": "hex"}


def test_what_comes_back_out_still_verifies():
    for value in values(transparency_xml(READINGS, "7")):
        reading = from_ocpp16(value.find("signedData").text, public_key=value.find("publicKey").text)
        assert verify(reading).status == "valid"


def test_attribute_values_are_escaped():
    odd = SignedReading("OCMF", BEGIN, "plain", KEY_HEX, context='a"b\'<c>&d\te\nf')
    value = values(transparency_xml([odd], 'x"&<y'))[0]
    assert value.attrib == {"transactionId": 'x"&<y', "context": 'a"b\'<c>&d\te\nf'}


@pytest.mark.parametrize("key, encoding, text", [
    (KEY_HEX, "hex", KEY_HEX),
    (KEY_HEX.lower(), "hex", KEY_HEX.lower()),  # as stored
    (KEY_B64, "base64", KEY_B64),
    # Forms the software cannot read go as hex DER, the same key.
    (KEY_PEM, "hex", KEY_HEX),
    (base64.b64encode(f"oca:base16:asn1:{KEY_HEX}".encode()).decode(), "hex", KEY_HEX),
    (KEY.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
     [1:].hex(), "hex", KEY_HEX),  # bare X‖Y: the curve from the reading's SA
    ("not a key", "plain", "not a key"),  # unreadable: as stored, the software will say so
])
def test_the_public_key_is_written_so_the_software_can_read_it(key, encoding, text):
    element = values(transparency_xml([SignedReading("OCMF", BEGIN, "plain")], 1, key))[0].find("publicKey")
    assert (element.attrib, element.text) == ({"encoding": encoding}, text)


def test_a_given_key_replaces_the_readings_own_and_no_key_means_no_element():
    own = SignedReading("OCMF", BEGIN, "plain", "OWN-KEY")
    assert values(transparency_xml([own], 1, KEY_HEX))[0].find("publicKey").text == KEY_HEX
    assert values(transparency_xml([SignedReading("OCMF", BEGIN, "plain")], 1))[0].find("publicKey") is None


def test_encoded_ocmf_is_written_as_the_signed_text():
    # The software's OCMF parser reads the element's text as the document, whatever `encoding` says.
    reading = from_ocpp16(base64.b64encode(BEGIN.encode()).decode(), "Transaction.Begin", KEY_HEX)
    element = values(transparency_xml([reading], 1))[0].find("signedData")
    assert (element.attrib["encoding"], element.text) == ("plain", BEGIN)


def test_other_formats_are_written_as_stored():
    edl = SignedReading("EDL", "1b 1b 1b 1b 01 01 01 01 76", "hex", "0D 4D BF A3")
    value = values(transparency_xml([edl], 3))[0]
    assert (value.find("signedData").attrib, value.find("signedData").text) == (
        {"format": "EDL", "encoding": "hex"}, edl.data)
    assert (value.find("publicKey").attrib, value.find("publicKey").text) == ({"encoding": "hex"}, "0D 4D BF A3")


def test_an_empty_context_is_left_out():
    assert values(transparency_xml([SignedReading("OCMF", BEGIN, "plain")], 5))[0].attrib == {"transactionId": "5"}


def test_no_readings_make_an_empty_list():
    assert values(transparency_xml([], 1)) == []


def test_characters_xml_cannot_carry_are_refused():
    with pytest.raises(ValueError, match="U\\+0001"):
        transparency_xml([SignedReading("unknown", "a\x01b", "plain")], 1)


def test_the_format_matches_the_softwares_own_example():
    # XML_Format.md (SAFE-eV/transparenzsoftware): <value transactionId context><signedData format
    # encoding>…</signedData><publicKey encoding>…</publicKey></value>.
    xml = transparency_xml([READINGS[0]], 1)
    assert '<value transactionId="1" context="Transaction.Begin">' in xml
    assert '<signedData format="OCMF" encoding="plain">OCMF|' in xml
    assert f'<publicKey encoding="hex">{KEY_HEX}</publicKey>' in xml
