"""ASCII line readers: one line of hex or decimal digits per card, as USB serial readers print them.

Lines end with CR, LF or CRLF; some readers wrap a line in STX (0x02) ... ETX (0x03) instead, or
as well. An ETX ends only a line an STX began: the tail of a wrapped line whose start was missed
(or of an RDM6300 frame, which looks the same) is not a line. A line may carry a prefix ("UID:",
"ID=", "Card UID: ") and spaces. What counts as an id:

- hex with separators between byte pairs ("04:A2:3B:1C", "04 a2 3b 1c"): the bytes;
- hex without separators that has a letter or a "0x" ("04A23B1C", "0x12345678"): the bytes;
- digits only ("0012345678", 8 to 20 of them): a decimal form (EM/Wiegand 8- and 10-digit forms,
  or a 4-to-7-byte UID in decimal), kept as text because its bytes depend on the reader's
  convention. Eight digits could also be hex without a letter; the text is kept so that the
  normalising code may decide;
- "123,45678": the Wiegand 26 facility,card form printed on many EM cards, kept as text.

Anything else (banners, "OK", partial lines, bytes outside ASCII) yields nothing.
"""

from __future__ import annotations

import re

from appliance.rfid_reader.reads import ASCII, CardRead

STX, ETX = 0x02, 0x03
LINE_ENDS = (0x0A, 0x0D)
MAX_LINE_LENGTH = 80  # longer than any id line; a longer run without a line end is noise

# Byte counts of the UIDs readers print: 4/7/10 (ISO 14443 A), 5 (EM4100), 8 (ISO 15693).
_MIN_BYTES, _MAX_BYTES = 4, 10
_HEX_SEPARATED = re.compile(rf"[0-9A-Fa-f]{{2}}(?:[ :-][0-9A-Fa-f]{{2}}){{{_MIN_BYTES - 1},{_MAX_BYTES - 1}}}")
_HEX_PLAIN = re.compile(rf"(?:0[xX])?((?:[0-9A-Fa-f]{{2}}){{{_MIN_BYTES},{_MAX_BYTES}}})")
_DECIMAL = re.compile(r"[0-9]{8,20}")
_WIEGAND26 = re.compile(r"[0-9]{3},[0-9]{5}")
# A label before the id: a word (letters first, then letters, digits, spaces), then ":" or "=".
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9 _-]{0,19}?\s*[:=]\s*")


def read_from_line(line: str, family: str = ASCII) -> CardRead | None:
    """The card id in one line of text, or None when the line holds none."""
    line = line.strip()
    read = _read_from_body(line, family)
    if read is None:
        prefix = _PREFIX.match(line)
        # The whole line is tried first: "AB:CD:EF:01" is an id, not the label "AB" and "CD:EF:01".
        if prefix is not None:
            read = _read_from_body(line[prefix.end():], family)
    return read


def _read_from_body(body: str, family: str) -> CardRead | None:
    if _HEX_SEPARATED.fullmatch(body):
        return CardRead(family, bytes.fromhex(re.sub(r"[ :-]", "", body)), body)
    if _DECIMAL.fullmatch(body) or _WIEGAND26.fullmatch(body):
        return CardRead(family, None, body)
    plain = _HEX_PLAIN.fullmatch(body)
    # Digits only without "0x" were taken as decimal above; here a letter or "0x" says hex.
    if plain is not None:
        return CardRead(family, bytes.fromhex(plain.group(1)), body)
    return None


class AsciiLineParser:
    """Splits a reader's byte stream into lines and yields the ids in them; keeps partial lines."""

    family = ASCII

    def __init__(self) -> None:
        self._line = bytearray()
        self._spoilt = False  # the current line had a byte no id line has, or grew too long
        self._wrapped = False  # the current line began with STX

    def feed(self, data: bytes) -> list[CardRead]:
        reads = []
        for byte in data:
            if byte == STX:
                self._start_line(wrapped=True)  # STX starts a line whatever came before it
            elif byte in LINE_ENDS or (byte == ETX and self._wrapped):
                read = self._end_line()
                if read is not None:
                    reads.append(read)
            elif byte == ETX:
                self._start_line()  # the tail of a wrapped line whose STX was missed: dropped
            elif byte == 0x00:
                continue  # some readers pad with NULs, before the first line in particular
            elif (byte == 0x09 or 0x20 <= byte < 0x7F) and len(self._line) < MAX_LINE_LENGTH:
                self._line.append(byte)
            else:
                self._spoil()
        return reads

    def drop_partial(self) -> None:
        """The stream was joined in the middle: the line under way is no whole line, drop it."""
        self._spoil()

    def _start_line(self, wrapped: bool = False) -> None:
        self._line.clear()
        self._spoilt, self._wrapped = False, wrapped

    def _spoil(self) -> None:
        self._line.clear()  # nothing of a spoilt line is used: keep no more of it
        self._spoilt = True

    def _end_line(self) -> CardRead | None:
        line, spoilt = self._line.decode("ascii"), self._spoilt
        self._start_line()
        return None if spoilt else read_from_line(line, self.family)
