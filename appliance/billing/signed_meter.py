"""Signed meter readings for German calibration law (Eichrecht): taking them from OCPP exactly as
the charger sent them, reading OCMF documents, and checking their signatures.

A driver checks the readings of their session with the S.A.F.E. e.V. transparency software, and
what they check is the document the meter signed: `SignedReading.data` keeps the charger's string
byte for byte, everything else here is derived from it. Pure functions, no I/O.

Sources: the OCMF specification (SAFE-eV/OCMF-Open-Charge-Metering-Format, OCMF-en.md rev. 1.2),
the transparency software's reader (SAFE-eV/transparenzsoftware, OCMFSignature.java,
OCMFVerifier.java) and the OCA application note "Signed Meter Values in OCPP" (OCA SMV).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

VALID, INVALID, UNVERIFIABLE = "valid", "invalid", "unverifiable"
# OCMF-en.md table 8: SA may be left out, then this default applies (the transparency software does the same).
DEFAULT_SIGNATURE_ALGORITHM = "ECDSA-secp256r1-SHA256"
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp192r1": ec.SECP192R1, "prime192v1": ec.SECP192R1, "secp256k1": ec.SECP256K1,
    "secp256r1": ec.SECP256R1, "prime256v1": ec.SECP256R1, "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    # The spec writes "brainpool256r1", meters write "brainpoolP256r1": both are seen in the field.
    "brainpool256r1": ec.BrainpoolP256R1, "brainpoolp256r1": ec.BrainpoolP256R1,
    "brainpool384r1": ec.BrainpoolP384R1, "brainpoolp384r1": ec.BrainpoolP384R1,
    "brainpool512r1": ec.BrainpoolP512R1, "brainpoolp512r1": ec.BrainpoolP512R1,
}
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_CANONICAL_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_SML_START = b"\x1b\x1b\x1b\x1b\x01\x01\x01\x01"  # SML transport escape + version 1: EDL40 meters
# 2.0.1's SignedMeterValueType; has.to.be documents the 1.6 wrapper with "signedMeterValue" instead.
_FIELDS = {
    "signed_meter_data": ("signed_meter_data", "signedMeterData", "signedMeterValue"),
    "encoding_method": ("encoding_method", "encodingMethod"),
    "public_key": ("public_key", "publicKey"),
}


@dataclass(frozen=True)
class SignedReading:
    format: str            # "OCMF", "EDL", "SML", ... or "unknown": as the charger named it / as recognised
    data: str              # the signed document byte-exact as received (before any decoding we do)
    encoding: str          # "plain", "base64", "hex": how `data` is encoded on the wire
    public_key: str = ""   # as received (hex or base64 DER, PEM, OCA envelope), '' when unknown
    context: str = ""      # Transaction.Begin, Transaction.End, Sample.Periodic, ...


@dataclass(frozen=True)
class OcmfDocument:
    payload_text: str            # exactly as it appeared between the first and second '|': what was signed
    payload: dict                # numbers as Decimal, so "RV": 0.2596 stays 0.2596
    signature: dict              # {"SA": ..., "SD": ...} and whatever else the section holds
    readings: tuple[dict, ...]   # payload["RD"]


@dataclass(frozen=True)
class Verification:
    status: str                    # VALID, INVALID or UNVERIFIABLE (no key, unknown algorithm, not OCMF)
    detail: str                    # for a driver or auditor: which key, which algorithm, why not valid
    energy_wh: int | None = None   # the document's energy register (RV in kWh/Wh), whatever the status
    meter_serial: str = ""         # GS (gateway serial), else MS (meter serial)


def from_ocpp16(value: str, context: str = "", public_key: str = "") -> SignedReading:
    """A 1.6 sampled value of format SignedData. OCPP 1.5/1.6 say "hex", chargers also send plain
    OCMF or base64; and the OCA note's form, the 2.0.1 object as JSON in `value` (OCA SMV §3.2.1),
    whose own public key, when it has one, wins over `public_key` (from the configuration)."""
    wrapped = _wrapped_object(value)
    if wrapped is not None:
        reading = from_ocpp201(wrapped, context)
        return reading if reading.public_key else replace(reading, public_key=public_key)
    recognised, encoding = _classify(value, ("hex", "base64", "plain"))
    return SignedReading(recognised or "unknown", value, encoding, public_key, context)


def from_ocpp201(signed_meter_value: dict, context: str = "") -> SignedReading:
    """A 2.0.1 SignedMeterValueType (snake_case as the `ocpp` library gives it, or camelCase).
    The format is the charger's encodingMethod, except that a document that is OCMF is called so."""
    data = _field(signed_meter_value, "signed_meter_data")
    if data is None:
        raise ValueError("a signed meter value needs signedMeterData (the signed document)")
    recognised, encoding = _classify(data, ("base64", "hex", "plain"))  # 2.0.1 says base64
    named = (_field(signed_meter_value, "encoding_method") or "").strip()
    fmt = "OCMF" if recognised == "OCMF" else named or recognised or "unknown"
    return SignedReading(fmt, data, encoding, _field(signed_meter_value, "public_key") or "", context)


def decode(data: str, encoding: str) -> bytes:
    """The bytes `data` stands for in `encoding` ("plain" is UTF-8). ValueError when it is not that."""
    if encoding == "plain":
        return data.encode("utf-8", "surrogatepass")
    decoded = {"hex": _unhex, "base64": _unbase64}.get(encoding, lambda _: None)(data)
    if decoded is None:
        raise ValueError(f"the data is not valid {encoding}" if encoding in ("hex", "base64")
                         else f"unknown encoding {encoding!r}")
    return decoded


def document(reading: SignedReading) -> str:
    """The signed document as text (`OCMF|...|...`). ValueError if it does not decode to text."""
    if reading.encoding == "plain":
        return reading.data
    try:
        return decode(reading.data, reading.encoding).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"the {reading.format} data is binary, not text") from None


def parse_ocmf(text: str) -> OcmfDocument:
    """`OCMF|<payload JSON>|<signature JSON>` (OCMF-en.md, Sections). The payload text is kept
    exactly: the signature is over those bytes, so one space more and it no longer verifies."""
    text = text.strip()  # around the document, not inside the payload: not signed
    if not text.startswith("OCMF|"):
        raise ValueError(f"an OCMF document starts with 'OCMF|', this one with {text[:12]!r}")
    sections = text.split("|")  # '|' may not appear inside a section (OCMF-en.md, JSON based format)
    if len(sections) != 3:
        raise ValueError(f"an OCMF document has 3 sections, header|payload|signature, this one {len(sections)}")
    payload = _json_object(sections[1], "payload")
    signature = _json_object(sections[2], "signature")
    if not isinstance(signature.get("SD"), str) or not signature["SD"].strip():
        raise ValueError("the signature section has no signature data (SD)")
    readings = payload.get("RD")
    if not isinstance(readings, list) or not readings or not all(isinstance(r, dict) for r in readings):
        raise ValueError("the payload has no readings: RD must be a list of one or more objects")
    return OcmfDocument(sections[1], payload, signature, tuple(readings))


def verify(reading: SignedReading, public_key: str | None = None) -> Verification:
    """Checks the meter's signature over an OCMF reading; `public_key` (hex or base64 DER, PEM, the
    OCA envelope) overrides the reading's own. Never raises: bad input is an answer too."""
    if reading.format != "OCMF" and not _is_ocmf(reading):
        return Verification(UNVERIFIABLE, f"The reading is in the {reading.format} format, which this "
                            "appliance keeps exactly as received but cannot check; the S.A.F.E. "
                            "transparency software can.")
    try:
        doc = parse_ocmf(document(reading))
    except ValueError as exc:
        return Verification(INVALID, f"The reading is not a readable OCMF document: {exc}.")
    facts = {"energy_wh": _register_wh(doc.readings), "meter_serial": _serial(doc.payload)}
    source = "the key given for this check" if public_key else "the key recorded with the reading"
    try:
        return Verification(VALID, _check(doc, public_key or reading.public_key, source), **facts)
    except _Outcome as outcome:
        return Verification(outcome.status, outcome.detail, **facts)


def public_key_der(text: str, reading: SignedReading | None = None) -> bytes:
    """The key as DER SubjectPublicKeyInfo, from any form `verify` takes; a bare curve point gets
    its curve from the reading's signature algorithm. ValueError when it is no EC public key."""
    key = _load_key(text, _curve_of(reading) if reading else None)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class _Outcome(Exception):
    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _check(doc: OcmfDocument, key_text: str, source: str) -> str:
    """The detail of a valid signature; raises _Outcome for every other answer."""
    name, curve, digest = _algorithm(doc.signature)
    if not key_text.strip():
        raise _Outcome(UNVERIFIABLE, f"No public key is known for meter {_serial(doc.payload) or '(no serial)'} "
                       f"(signed with {name}); it is in the charger's configuration or on the meter's label.")
    try:
        key = _load_key(key_text, curve)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _Outcome(UNVERIFIABLE, f"The public key cannot be read: {exc}.") from None
    if key.curve.name != curve.name:
        raise _Outcome(INVALID, f"The document was signed with {name}, but {source} ({_describe(key)}) "
                       "is for another curve: it is not this meter's key.")
    try:
        signature = _signature_der(doc.signature, curve)
        key.verify(signature, doc.payload_text.encode("utf-8"), ec.ECDSA(digest()))
    except ValueError as exc:
        raise _Outcome(INVALID, f"The signature cannot be read: {exc}.") from None
    except (InvalidSignature, UnicodeEncodeError):
        raise _Outcome(INVALID, f"The signature does not match ({name}, {source}, {_describe(key)}): the "
                       "data was changed after signing, or another key signed it.") from None
    return f"The signature is valid: {name}, checked with {source} ({_describe(key)})."


def _algorithm(signature: dict) -> tuple[str, ec.EllipticCurve, type[hashes.HashAlgorithm]]:
    """SA is ECDSA-<curve>-<hash> (OCMF-en.md table 22)."""
    name = signature.get("SA") or DEFAULT_SIGNATURE_ALGORITHM
    parts = str(name).split("-")
    curve = _CURVES.get(parts[1].lower()) if len(parts) == 3 and parts[0].upper() == "ECDSA" else None
    digest = _HASHES.get(parts[2].lower()) if curve else None
    if curve is None or digest is None:
        raise _Outcome(UNVERIFIABLE, f"The signature algorithm {name!r} is not one this appliance can "
                       "check (ECDSA on secp256r1, secp384r1, brainpool and others, with SHA-256).")
    return str(name), curve(), digest


def _signature_der(signature: dict, curve: ec.EllipticCurve) -> bytes:
    """SD in SE's encoding (hex by default, OCMF-en.md table 8), as DER. Some meters send the bare
    r‖s instead of DER (Isabellenhütte records in the transparency software's tests)."""
    encoding = str(signature.get("SE") or "hex").lower()
    if encoding not in ("hex", "base64"):
        raise ValueError(f"its encoding SE={encoding!r} is neither hex nor base64")
    raw = decode(str(signature["SD"]), encoding)
    try:
        r, s = decode_dss_signature(raw)
    except ValueError:
        size = (curve.key_size + 7) // 8
        if len(raw) != 2 * size:
            raise ValueError(f"SD is neither DER nor r and s of {size} bytes each") from None
        r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
    return encode_dss_signature(r, s)


def _load_key(text: str, curve: ec.EllipticCurve | None) -> ec.EllipticCurvePublicKey:
    """A public key in the forms chargers and meters send: DER (hex or base64), PEM, a bare point
    (04‖X‖Y, compressed, or X‖Y), base64 over `oca:base16:asn1:<hex>` (OCA SMV §3.2.2) or over
    plain hex (the note's own example message)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return _elliptic(serialization.load_pem_public_key(text.encode("ascii")))
    if text.lower().startswith("oca:"):
        return _from_envelope(text, curve)
    raw = _unhex(text)
    if raw is None:
        raw = _unbase64(text)
        if raw is None:
            raise ValueError("it is neither hex, base64 nor PEM")
        inner = raw.decode("ascii", "replace").strip()
        if inner.lower().startswith("oca:") or inner.startswith("-----BEGIN") or _unhex(inner):
            return _load_key(inner, curve)
    return _from_bytes(raw, curve)


def _from_envelope(text: str, curve: ec.EllipticCurve | None) -> ec.EllipticCurvePublicKey:
    """oca:<encoding>:<asn1 or curve name>:<key as printed on the meter>; OCA SMV §3.2.2 has non-hex
    characters (the label's spaces) ignored."""
    parts = text.split(":", 3)
    if len(parts) != 4 or parts[1].lower() != "base16":
        raise ValueError("the OCA key envelope is oca:base16:<type>:<hex key>")
    digits = re.sub(r"[^0-9A-Fa-f]", "", parts[3])
    if not digits or len(digits) % 2:
        raise ValueError("the OCA key envelope holds no whole number of hex bytes")
    named = _CURVES.get(parts[2].lower())
    return _from_bytes(bytes.fromhex(digits), named() if named else curve)


def _from_bytes(raw: bytes, curve: ec.EllipticCurve | None) -> ec.EllipticCurvePublicKey:
    try:
        return _elliptic(serialization.load_der_public_key(raw))
    except (ValueError, UnsupportedAlgorithm):
        pass
    if curve is None:
        raise ValueError("it is not DER, and without the curve a bare point cannot be read")
    if len(raw) == 2 * ((curve.key_size + 7) // 8):
        raw = b"\x04" + raw  # X‖Y without the SEC1 "uncompressed" prefix
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, raw)
    except ValueError:
        raise ValueError(f"it is neither DER nor a point on {curve.name}") from None


def _elliptic(key: Any) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(f"it is a {type(key).__name__.lstrip('_')}, not an elliptic-curve key")
    return key


def _describe(key: ec.EllipticCurvePublicKey) -> str:
    """Enough of the key for a person to match it against the meter's label: the curve and the end
    of its hex, which is the end of the point (the start is the same for every key on the curve)."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"{key.curve.name} key ending {der.hex().upper()[-16:]}"


def _curve_of(reading: SignedReading) -> ec.EllipticCurve | None:
    try:
        return _algorithm(parse_ocmf(document(reading)).signature)[1]
    except (ValueError, _Outcome):
        return None


def _register_wh(readings: tuple[dict, ...]) -> int | None:
    """The last energy register value in Wh, rounded half up; the import register (OBIS x-x:1.8.x)
    when the document also has others (export, 2.8). A reading leaves out what equals the one
    before it (OCMF-en.md, Readings), so RI and RU carry over."""
    identifier = unit = ""
    found: list[tuple[bool, Decimal]] = []
    for reading in readings:
        identifier, unit = str(reading.get("RI", identifier)), str(reading.get("RU", unit))
        value = _decimal(reading.get("RV"))
        if value is not None and unit.lower() in ("wh", "kwh"):
            is_import = re.search(r":0*1\.0*8(\.|$)", identifier) is not None
            found.append((is_import, value * 1000 if unit.lower() == "kwh" else value))
    preferred = [wh for is_import, wh in found if is_import] or [wh for _, wh in found]
    return int(preferred[-1].to_integral_value(ROUND_HALF_UP)) if preferred else None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        return None
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _serial(payload: dict) -> str:
    return str(payload.get("GS") or payload.get("MS") or "")


def _json_object(section: str, name: str) -> dict:
    try:
        value = json.loads(section, parse_float=Decimal, parse_constant=_no_constant)
    except ValueError as exc:
        raise ValueError(f"the {name} section is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"the {name} section is not a JSON object")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _is_ocmf(reading: SignedReading) -> bool:
    try:
        return document(reading).lstrip().startswith("OCMF|")
    except ValueError:
        return False


def _recognise(raw: bytes) -> str:
    """The format of decoded signed data by its first bytes, "" when unknown."""
    body = raw.strip()
    if body.startswith(b"OCMF|"):
        return "OCMF"
    if body.startswith(_SML_START):
        return "SML"
    if body.startswith(b"AP;") and body.count(b";") == 5:  # Alfen: AP;type;version;key;data;signature
        return "ALFEN"
    return ""


def _classify(text: str, encodings: tuple[str, ...]) -> tuple[str, str]:
    """(format, encoding): the first encoding under which the data is a format we know, else the
    first it strictly is (base64 without blanks, padded), with format ""."""
    fallback = ""
    for encoding in encodings:
        try:
            raw = decode(text, encoding)
        except ValueError:
            continue
        if _recognise(raw):
            return _recognise(raw), encoding
        if encoding != "base64" or _CANONICAL_BASE64.fullmatch(text):
            fallback = fallback or encoding
    return "", fallback or "plain"


def _wrapped_object(value: str) -> dict | None:
    if not value.lstrip().startswith("{"):
        return None
    try:
        wrapped = json.loads(value)
    except ValueError:
        return None
    return wrapped if isinstance(wrapped, dict) and _field(wrapped, "signed_meter_data") is not None else None


def _field(obj: Any, name: str) -> str | None:
    values = [obj.get(key) for key in _FIELDS[name]] if isinstance(obj, dict) else []
    return next((value for value in values if isinstance(value, str)), None)


def _unhex(text: str) -> bytes | None:
    compact = "".join(text.split())  # "1b 1b 1b 1b ..." as meters print it
    if not compact or len(compact) % 2 or not re.fullmatch(r"[0-9A-Fa-f]+", compact):
        return None
    return bytes.fromhex(compact)


def _unbase64(text: str) -> bytes | None:
    compact = re.sub(r"[\r\n]", "", text.strip())  # MIME breaks lines; blanks are no base64
    if not compact or len(compact) % 4 == 1:
        return None
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
