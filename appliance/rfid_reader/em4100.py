"""125 kHz EM4100 reader modules of the RDM6300 kind: one 14-byte ASCII frame per card sighting.

Frame (RDM6300 datasheet): STX 0x02, 10 hex characters of data (a version/customer byte, then the
4 id bytes), 2 hex characters of checksum (the XOR of the 5 data bytes), ETX 0x03. Example:
02 "62E3086CED" "08" 03. The module repeats the frame while the card stays in the field.
"""

from __future__ import annotations

import string
from functools import reduce
from operator import xor

from appliance.rfid_reader.reads import RDM6300, CardRead

STX, ETX = 0x02, 0x03
DATA_CHARS, CHECKSUM_CHARS = 10, 2
FRAME_LENGTH = 1 + DATA_CHARS + CHECKSUM_CHARS + 1
_HEX = frozenset(string.hexdigits.encode())


def checksum(data: bytes) -> int:
    """XOR of the data bytes, as the module sends it after them."""
    return reduce(xor, data, 0)


def build_frame(data: bytes) -> bytes:
    """The frame a module sends for 5 data bytes (for emulators and tests)."""
    text = data.hex().upper() + f"{checksum(data):02X}"
    return bytes([STX]) + text.encode("ascii") + bytes([ETX])


def parse_frame(frame: bytes) -> CardRead | None:
    """The card in one complete 14-byte frame, or None when the frame is malformed or its checksum wrong."""
    if len(frame) != FRAME_LENGTH or not _could_start_frame(frame):
        return None
    text = frame[1:1 + DATA_CHARS].decode("ascii").upper()
    data = bytes.fromhex(text)
    if checksum(data) != int(frame[1 + DATA_CHARS:-1], 16):
        return None
    return CardRead(RDM6300, data, text)


def _could_start_frame(head: bytes) -> bool:
    """Whether these first bytes (up to a whole frame) can still be the start of a frame."""
    for position, byte in enumerate(head):
        if position == 0:
            expected = byte == STX
        elif position < FRAME_LENGTH - 1:
            expected = byte in _HEX
        else:
            expected = byte == ETX
        if not expected:
            return False
    return True


class Em4100Parser:
    """Finds frames in the module's byte stream; skips garbage and bad frames, keeps a partial one."""

    family = RDM6300

    def __init__(self) -> None:
        self._buffer = bytearray()  # never longer than one frame: garbage is dropped as soon as seen

    def feed(self, data: bytes) -> list[CardRead]:
        self._buffer += data
        reads = []
        while (start := self._buffer.find(STX)) >= 0:
            del self._buffer[:start]
            head = bytes(self._buffer[:FRAME_LENGTH])
            if not _could_start_frame(head):
                del self._buffer[:1]  # resynchronise on the next STX
            elif len(head) < FRAME_LENGTH:
                return reads  # a partial frame: wait for the rest
            elif (read := parse_frame(head)) is None:
                del self._buffer[:1]  # a bad checksum: the frame may have begun later
            else:
                reads.append(read)
                del self._buffer[:FRAME_LENGTH]
        self._buffer.clear()
        return reads

    def drop_partial(self) -> None:
        """The stream was joined in the middle: forget any frame under way (STX resynchronises)."""
        self._buffer.clear()
