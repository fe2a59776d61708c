"""Signed meter readings: taking them from OCPP byte-exact, reading OCMF, checking signatures.

Documents are signed here with keys made by `cryptography`, so every valid/invalid row is a real
signature; three records from real meters (tests/data/signed/) check we agree with the field."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.billing.signed_meter import (
    OcmfDocument, SignedReading, document, from_ocpp16, from_ocpp201, parse_ocmf, public_key_der, verify)

KEYS = {curve.name: ec.generate_private_key(curve) for curve in
        (ec.SECP256R1(), ec.SECP384R1(), ec.BrainpoolP256R1(), ec.SECP256K1())}
P256, P384, BRAINPOOL = KEYS["secp256r1"], KEYS["secp384r1"], KEYS["brainpoolP256r1"]
OTHER_P256 = ec.generate_private_key(ec.SECP256R1())
# Whitespace inside the JSON on purpose: it is part of what was signed, and must survive every step.
PAYLOAD = ('{"FV":"1.0","GI":"ABL SBC-301","GS":"808829900001","PG":"T12345","MV":"Phoenix Contact",\n'
           '  "MS":"BQ27400330016","IS":true,"IT":"ISO14443","ID":"1F2D3A4F5506C7",\t"RD":[\n'
           '  {"TM":"2018-07-24T13:22:04,000+0200 S","TX":"B","RV":2935.6,"RI":"1-b:1.8.0","RU":"kWh","ST":"G"},\n'
           '  {"TM":"2018-07-24T13:26:04,000+0200 S","TX":"E","RV":2965.1,"ST":"G"}]}')
VECTORS = json.loads((Path(__file__).parent / "data/signed/safe_ev_vectors.json").read_text("utf-8"))


def der_hex(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex().upper()


def point(key: ec.EllipticCurvePrivateKey, fmt=serialization.PublicFormat.UncompressedPoint) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962, fmt)


def ocmf(key=P256, payload=PAYLOAD, sa="ECDSA-secp256r1-SHA256", se="hex", raw_rs=False) -> str:
    """An OCMF document signed by `key`; `sa=None` leaves SA out (the default applies)."""
    der = key.sign(payload.encode(), ec.ECDSA(hashes.SHA256()))
    if raw_rs:  # r‖s, as some meters send instead of DER
        size = (key.curve.key_size + 7) // 8
        der = b"".join(n.to_bytes(size, "big") for n in decode_dss_signature(der))
    signature = {"SA": sa} if sa else {}
    signature["SD"] = der.hex().upper() if se == "hex" else base64.b64encode(der).decode()
    if se != "hex":
        signature["SE"] = se
    return f"OCMF|{payload}|{json.dumps(signature)}"


def signed(text: str, key: str | None = None) -> SignedReading:
    return SignedReading("OCMF", text, "plain", der_hex(P256) if key is None else key)


@pytest.mark.parametrize("reading, status, words", [
    (signed(ocmf()), "valid", "ECDSA-secp256r1-SHA256"),
    (signed(ocmf(P384, sa="ECDSA-secp384r1-SHA256"), der_hex(P384)), "valid", "secp384r1"),
    # The spec spells brainpool256r1, meters brainpoolP256r1: both mean the same curve.
    (signed(ocmf(BRAINPOOL, sa="ECDSA-brainpool256r1-SHA256"), der_hex(BRAINPOOL)), "valid", "brainpool"),
    (signed(ocmf(BRAINPOOL, sa="ECDSA-brainpoolP256r1-SHA256"), der_hex(BRAINPOOL)), "valid", "brainpool"),
    (signed(ocmf(sa=None)), "valid", "ECDSA-secp256r1-SHA256"),  # no SA: the OCMF default
    (signed(ocmf(se="base64")), "valid", "secp256r1"),
    (signed(ocmf(raw_rs=True)), "valid", "secp256r1"),
    (signed(ocmf().replace("2965.1", "2965.2")), "invalid", "changed after signing"),
    (signed(ocmf().replace(',\t"RD"', ', "RD"')), "invalid", "changed after signing"),  # one blank
    (signed(ocmf(OTHER_P256)), "invalid", "another key"),
    (signed(ocmf(), der_hex(P384)), "invalid", "another curve"),
    (signed(ocmf(), ""), "unverifiable", "No public key is known for meter 808829900001"),
    (signed(ocmf(sa="RSA-2048-SHA256")), "unverifiable", "'RSA-2048-SHA256'"),
    (signed(ocmf(sa="ECDSA-secp192k1-SHA256")), "unverifiable", "secp192k1"),  # in the spec, not in OpenSSL
    (signed(ocmf(), "not a key"), "unverifiable", "cannot be read"),
    (signed(ocmf().replace('"SD": "', '"SD": "XY')), "invalid", "not valid hex"),
    (signed(ocmf().replace('"SD": "', '"SD": "00')), "invalid", "neither DER nor r and s"),
    (signed("OCMF|{broken|{}"), "invalid", "not a readable OCMF document"),
    (SignedReading("OCMF", "!!not base64!!", "base64", der_hex(P256)), "invalid", "not valid base64"),
    (SignedReading("EDL", "1b1b1b1b01010101", "hex", der_hex(P256)), "unverifiable", "EDL format"),
], ids=lambda v: v if isinstance(v, str) and " " not in v else None)
def test_verify_answers_with_status_and_reason(reading, status, words):
    result = verify(reading)
    assert (result.status, words in result.detail) == (status, True), result.detail


def test_a_valid_reading_tells_the_energy_and_the_serial():
    result = verify(signed(ocmf()))
    assert (result.energy_wh, result.meter_serial) == (2965100, "808829900001")


def test_energy_and_serial_are_told_even_without_a_key():
    assert verify(signed(ocmf(), "")).energy_wh == 2965100


def test_a_key_given_for_the_check_overrides_the_readings_own():
    reading = signed(ocmf(), der_hex(OTHER_P256))
    assert (verify(reading).status, verify(reading, der_hex(P256)).status) == ("invalid", "valid")
    assert "the key given for this check" in verify(reading, der_hex(P256)).detail


def oca_envelope(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("key", [
    der_hex(P256),
    " ".join(der_hex(P256)[i:i + 2] for i in range(0, len(der_hex(P256)), 2)).lower(),  # as on a label
    base64.b64encode(bytes.fromhex(der_hex(P256))).decode(),
    P256.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
    oca_envelope(f"oca:base16:asn1:{der_hex(P256)}"),  # OCA Signed Meter Values §3.2.2
    oca_envelope(f"oca:base16:secp256r1:{point(P256).hex(' ')}"),
    oca_envelope(der_hex(P256)),  # base64 over plain hex: the OCA note's own example message
    point(P256).hex(),  # SEC1 uncompressed, 04‖X‖Y
    point(P256, serialization.PublicFormat.CompressedPoint).hex(),
    point(P256)[1:].hex(),  # bare X‖Y, the curve from SA
], ids=["hex-der", "label", "base64-der", "pem", "oca-asn1", "oca-curve", "oca-example", "point",
        "compressed", "bare-xy"])
def test_every_form_of_public_key_checks(key):
    assert verify(signed(ocmf()), key).status == "valid"
    assert public_key_der(key, signed(ocmf())) == bytes.fromhex(der_hex(P256))


def test_an_rsa_key_is_named_as_such():
    from cryptography.hazmat.primitives.asymmetric import rsa
    pem = rsa.generate_private_key(65537, 1024).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert "RSAPublicKey, not an elliptic-curve key" in verify(signed(ocmf()), pem).detail


@pytest.mark.parametrize("name", ["keba_kcp30", "nzr_brainpool", "nzr_p384"])
def test_records_from_real_meters_verify(name):
    vector = VECTORS[name]
    result = verify(from_ocpp16(vector["data"], "Transaction.Begin", vector["public_key"]))
    assert (result.status, result.energy_wh, result.meter_serial) == (
        "valid", vector["energy_wh"], vector["meter_serial"]), result.detail


@pytest.mark.parametrize("text, message", [
    ("", "starts with 'OCMF|'"),
    ('EDL|{"RD":[{}]}|{"SD":"00"}', "starts with 'OCMF|'"),
    ('OCMF|{"RD":[{}]}', "3 sections, header|payload|signature, this one 2"),
    ('OCMF|{"RD":[{}]}|{"SD":"00"}|3059', "this one 4"),
    ('OCMF|{"RD":[{"TT":"a|b"}]}|{"SD":"00"}', "this one 4"),  # '|' is not allowed inside a section
    ('OCMF|{"RD":[{}],}|{"SD":"00"}', "the payload section is not valid JSON"),
    ('OCMF|["RD"]|{"SD":"00"}', "the payload section is not a JSON object"),
    ('OCMF|{"RD":[{"RV":NaN}]}|{"SD":"00"}', "the payload section is not valid JSON"),
    ('OCMF|{"RD":[{}]}|SD=00', "the signature section is not valid JSON"),
    ('OCMF|{"RD":[{}]}|{"SA":"ECDSA-secp256r1-SHA256"}', "no signature data (SD)"),
    ('OCMF|{"RD":[{}]}|{"SD":""}', "no signature data (SD)"),
    ('OCMF|{"FV":"1.0"}|{"SD":"00"}', "RD must be a list of one or more objects"),
    ('OCMF|{"RD":[]}|{"SD":"00"}', "RD must be a list"),
    ('OCMF|{"RD":{"RV":1}}|{"SD":"00"}', "RD must be a list"),
    ('OCMF|{"RD":[1]}|{"SD":"00"}', "RD must be a list of one or more objects"),
])
def test_a_malformed_document_is_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message.replace("|", r"\|").replace("(", r"\(").replace(")", r"\)")):
        parse_ocmf(text)


def test_parse_keeps_the_payload_exactly_and_the_numbers_as_written():
    doc = parse_ocmf(ocmf() + "\r\n")  # a line end after the document is not part of it
    assert isinstance(doc, OcmfDocument) and doc.payload_text == PAYLOAD
    assert (doc.readings[0]["RV"], doc.payload["GS"], doc.signature["SA"]) == (
        Decimal("2935.6"), "808829900001", "ECDSA-secp256r1-SHA256")


def reading_values(*readings: dict) -> str:
    return ocmf(payload=json.dumps({"GS": "1", "RD": list(readings)}))


@pytest.mark.parametrize("text, energy_wh", [
    (reading_values({"RV": 0.2596, "RU": "kWh"}), 260),  # 259.6 Wh, rounded half up
    (reading_values({"RV": 0.0005, "RU": "kWh"}), 1),
    (reading_values({"RV": 1833, "RU": "Wh"}), 1833),
    (reading_values({"RV": 1, "RU": "kWh"}, {"RV": 2}), 2000),  # RU carries over from the reading before
    (reading_values({"RV": "00000012.500", "RU": "kWh"}), 12500),  # a number in a string (seen in the field)
    # Import and export in one document: the import register (1.8) is the one billed.
    (reading_values({"RV": 5, "RI": "1-b:1.8.0", "RU": "kWh"}, {"RV": 1, "RI": "1-b:2.8.0", "RU": "kWh"}), 5000),
    (reading_values({"RV": 3, "RU": "mOhm"}), None),
    (reading_values({"TM": "2018-07-24T13:22:04,000+0200 S", "ST": "E"}), None),  # an event, no value
])
def test_energy_is_the_last_register_value_in_wh(text, energy_wh):
    assert verify(signed(text)).energy_wh == energy_wh


DOC = ocmf()


@pytest.mark.parametrize("value, fmt, encoding", [
    (DOC, "OCMF", "plain"),
    (DOC.encode().hex().upper(), "OCMF", "hex"),  # OCPP 1.5/1.6: "SignedData ... encoded as hex"
    (DOC.encode().hex(), "OCMF", "hex"),
    (base64.b64encode(DOC.encode()).decode(), "OCMF", "base64"),
    ("1b 1b 1b 1b 01 01 01 01 76 05", "SML", "hex"),  # EDL40 meters: SML, hex as printed
    (base64.b64encode(bytes.fromhex("1b1b1b1b01010101")).decode(), "SML", "base64"),
    ("AP;0;3;KEY;DATA;SIG", "ALFEN", "plain"),
    ("0a0b0c", "unknown", "hex"),
    ("some text", "unknown", "plain"),
])
def test_from_ocpp16_recognises_and_keeps_the_value_as_sent(value, fmt, encoding):
    reading = from_ocpp16(value, "Transaction.End", "KEY")
    assert reading == SignedReading(fmt, value, encoding, "KEY", "Transaction.End")


@pytest.mark.parametrize("encode", [
    lambda d: d, lambda d: d.encode().hex(), lambda d: base64.b64encode(d.encode()).decode()],
    ids=["plain", "hex", "base64"])
def test_document_gives_back_the_signed_text_byte_exact(encode):
    assert document(from_ocpp16(encode(DOC))) == DOC


def test_the_oca_form_of_a_16_value_is_unwrapped():
    # OCA Signed Meter Values §3.2.1: the 2.0.1 object as JSON in the 1.6 value.
    data = base64.b64encode(DOC.encode()).decode()
    value = json.dumps({"signedMeterData": data, "signingMethod": "", "encodingMethod": "OCMF",
                        "publicKey": oca_envelope(f"oca:base16:asn1:{der_hex(P256)}")})
    reading = from_ocpp16(value, "Transaction.Begin", "CONFIGURED")
    assert (reading.format, reading.data, reading.encoding) == ("OCMF", data, "base64")
    assert verify(reading).status == "valid"


def test_the_16_wrapper_without_a_key_takes_the_configured_one():
    # has.to.be documents the wrapper with "signedMeterValue" as the key of the data.
    value = json.dumps({"signedMeterValue": base64.b64encode(DOC.encode()).decode(), "publicKey": ""})
    assert from_ocpp16(value, public_key=der_hex(P256)).public_key == der_hex(P256)


@pytest.mark.parametrize("smv, expected", [
    ({"signed_meter_data": base64.b64encode(DOC.encode()).decode(), "signing_method": "",
      "encoding_method": "OCMF", "public_key": "PK"}, ("OCMF", "base64", "PK")),
    ({"signedMeterData": base64.b64encode(DOC.encode()).decode(), "signingMethod": "",
      "encodingMethod": "Other", "publicKey": "PK"}, ("OCMF", "base64", "PK")),  # recognised: it is OCMF
    ({"signed_meter_data": DOC, "encoding_method": "OCMF"}, ("OCMF", "plain", "")),  # not base64, as seen
    ({"signed_meter_data": "GxsbGwEBAQE=", "encoding_method": "EDL"}, ("EDL", "base64", "")),  # the name stays
    ({"signed_meter_data": "AAEC", "encoding_method": ""}, ("unknown", "base64", "")),
])
def test_from_ocpp201_keeps_the_data_and_names_the_format(smv, expected):
    reading = from_ocpp201(smv, "Sample.Periodic")
    data = smv.get("signed_meter_data", smv.get("signedMeterData"))
    assert (reading.format, reading.encoding, reading.public_key, reading.data, reading.context) == (
        *expected, data, "Sample.Periodic")


def test_from_ocpp201_verifies_with_its_own_key():
    smv = {"signed_meter_data": base64.b64encode(DOC.encode()).decode(), "encoding_method": "OCMF",
           "public_key": base64.b64encode(bytes.fromhex(der_hex(P256))).decode()}
    assert verify(from_ocpp201(smv)).status == "valid"


def test_from_ocpp201_without_data_is_refused():
    with pytest.raises(ValueError, match="needs signedMeterData"):
        from_ocpp201({"encoding_method": "OCMF"})


@pytest.mark.parametrize("reading", [
    SignedReading("SML", base64.b64encode(b"\x1b\x1b\x1b\x1b\xff").decode(), "base64"),
    SignedReading("OCMF", "abc", "hex"),
    SignedReading("OCMF", "abc", "rot13"),
])
def test_document_refuses_what_is_not_text(reading):
    with pytest.raises(ValueError):
        document(reading)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="0123456789abcdefOCMF|{}\"SD:,RD[] ")), st.text(max_size=40))
def test_any_16_value_is_kept_as_sent_and_verify_never_raises(value, key):
    reading = from_ocpp16(value, public_key=key)
    assert reading.data == value
    assert verify(reading).status in ("valid", "invalid", "unverifiable")
