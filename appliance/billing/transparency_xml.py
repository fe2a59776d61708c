"""The S.A.F.E. transparency software's input file: a session's signed readings and the key to check
them, so that a driver can verify the energy on their bill themselves.

Format: SAFE-eV/transparenzsoftware XML_Format.md and its reader (verification/xml/Value.java,
SignedData.java, PublicKey.java). What that reader does decides two things here:
- its OCMF parser reads the text of <signedData> as the document and ignores the `encoding`
  attribute, so an OCMF reading that came hex or base64 is written decoded, as "plain": the same
  bytes the meter signed. Other formats (EDL, SML, ...) its parsers decode themselves: as stored.
- it reads a key as hex or base64 DER only, so a key we hold in another form (PEM, the OCA
  envelope, a bare point) is written as hex DER; hex or base64 DER stays as stored.
"""

from __future__ import annotations

import re

from appliance.billing.signed_meter import SignedReading, decode, document, public_key_der

# XML 1.0 has no way to write these, not even escaped (XML 1.0 §2.2).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# A parser turns CR LF into LF in text, and tabs and line breaks into spaces in attributes (XML 1.0
# §2.11, §3.3.3): escaped, they arrive as they were, and the signed bytes with them.
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTRIBUTE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;",
                            "\t": "&#9;", "\n": "&#10;", "\r": "&#13;"})


def transparency_xml(readings: list[SignedReading], transaction_id: str | int,
                     public_key: str | None = None) -> str:
    """The readings, in the order given, as <values><value ...>...</value></values>. `public_key`,
    when given, is written for every reading instead of its own. The software reads transactionId
    as an integer: give it a number (our own id for a 2.0.1 transaction, whose id is a string).
    ValueError when a reading holds characters XML cannot carry."""
    values = [_value(r, transaction_id, public_key or r.public_key) for r in readings]
    return "\n".join(['<?xml version="1.0" encoding="UTF-8"?>', "<values>", *values, "</values>"]) + "\n"


def _value(reading: SignedReading, transaction_id: str | int, key: str) -> str:
    encoding, data = _signed_data(reading)
    lines = [f"  <value{_attributes(transactionId=str(transaction_id), context=reading.context)}>",
             f"    <signedData{_attributes(format=reading.format, encoding=encoding)}>{_text(data)}</signedData>"]
    if key.strip():
        key_encoding, key_text = _public_key(key, reading)
        lines.append(f'    <publicKey encoding="{key_encoding}">{_text(key_text)}</publicKey>')
    return "\n".join([*lines, "  </value>"])


def _signed_data(reading: SignedReading) -> tuple[str, str]:
    if reading.format == "OCMF" and reading.encoding != "plain":
        try:
            return "plain", document(reading)
        except ValueError:
            pass  # not decodable: the software gets it as we have it, and says so itself
    return reading.encoding, reading.data


def _public_key(key: str, reading: SignedReading) -> tuple[str, str]:
    try:
        der = public_key_der(key, reading)
    except ValueError:
        return _encoding_of(key), key
    for encoding in ("hex", "base64"):
        if _decodes_to(key, encoding, der):
            return encoding, key
    return "hex", der.hex().upper()


def _decodes_to(text: str, encoding: str, expected: bytes) -> bool:
    try:
        return decode(text, encoding) == expected
    except ValueError:
        return False


def _encoding_of(key: str) -> str:
    """A key we cannot read ourselves goes as stored, labelled as best we can tell."""
    for encoding in ("hex", "base64"):
        try:
            decode(key, encoding)
        except ValueError:
            continue
        return encoding
    return "plain"


def _attributes(**attributes: str) -> str:
    """name="value" for each attribute that has a value."""
    return "".join(f' {name}="{_checked(value).translate(_ATTRIBUTE)}"'
                   for name, value in attributes.items() if value)


def _text(value: str) -> str:
    return _checked(value).translate(_TEXT)


def _checked(value: str) -> str:
    bad = _NOT_XML.search(value)
    if bad:
        raise ValueError(f"character U+{ord(bad.group()):04X} at {bad.start()} cannot be written in XML")
    return value
