"""Telling an RDM6300 from an ASCII line reader by what it sends: the first parser to find a card wins.

Both send ASCII at 9600 baud, so only a card read tells them apart. Every byte goes to both parsers
until one yields a read; from then on only that one is used. An RDM6300 frame is also an STX/ETX
line of 12 hex characters to the line parser, so the EM4100 parser, which checks the checksum, is
asked first: an ASCII reader that prints 12 hex characters between STX and ETX whose last byte
happens to be the XOR of the others (1 in 256) would be taken for an RDM6300.
(A PN532 speaks only when spoken to; it is found by asking it, see `reader`.)
"""

from __future__ import annotations

from typing import Protocol

from appliance.rfid_reader.ascii_lines import AsciiLineParser
from appliance.rfid_reader.em4100 import Em4100Parser
from appliance.rfid_reader.reads import CardRead


class Parser(Protocol):
    family: str

    def feed(self, data: bytes) -> list[CardRead]: ...

    def drop_partial(self) -> None: ...


class FamilySniffer:
    """A parser for a stream of unknown family; `family` is None until a card has told it."""

    def __init__(self) -> None:
        self._candidates: list[Parser] = [Em4100Parser(), AsciiLineParser()]

    @property
    def family(self) -> str | None:
        return self._candidates[0].family if len(self._candidates) == 1 else None

    @property
    def parser(self) -> Parser | None:
        """The parser of the detected family, with whatever partial frame it holds."""
        return self._candidates[0] if len(self._candidates) == 1 else None

    def drop_partial(self) -> None:
        for parser in self._candidates:
            parser.drop_partial()

    def feed(self, data: bytes) -> list[CardRead]:
        results = [(parser, parser.feed(data)) for parser in self._candidates]
        for parser, reads in results:
            if reads:
                self._candidates = [parser]
                return reads
        return []
