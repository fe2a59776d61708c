"""What a reader saw: one card read, the same shape whatever the reader family."""

from __future__ import annotations

from dataclasses import dataclass

# Reader families, named after what the bytes on the wire look like.
ASCII = "ascii"  # a line of hex or decimal digits per card (USB CDC-ACM/FTDI readers)
RDM6300 = "rdm6300"  # 125 kHz EM4100 modules: STX, 10 hex data, 2 hex checksum, ETX
PN532 = "pn532"  # NXP PN532 over its UART (HSU), polled with InListPassiveTarget
HID = "hid"  # USB readers that type the id as a keyboard (Linux evdev)
FAMILIES = (ASCII, RDM6300, PN532, HID)


@dataclass(frozen=True)
class CardRead:
    """One card seen by a reader.

    `uid` is the card's id bytes where the reader tells them (hex lines, EM4100 frames, PN532
    NFCID1); None where it gives only a decimal form, which cannot be turned back into bytes
    without knowing the reader's convention. `text` is the reader's own id text, kept for
    normalising later: the decimal digits ("0012345678"), the hex as printed ("04:A2:3B:1C"), or
    the upper-case hex of `uid` for binary protocols.
    """

    family: str
    uid: bytes | None
    text: str

    @property
    def key(self) -> bytes | str:
        """What identifies the card for repeat detection: its bytes when known, else its text."""
        return self.uid if self.uid is not None else self.text
