"""Talking to a PN532 over a serial port: wake it, configure it, poll it for a card.

The port is anything with pyserial's `read(n)`, `write(b)` and `in_waiting`, opened with a short
read timeout (the driver keeps its own deadlines on top). Port errors (OSError, which includes
pyserial's SerialException) are left to the caller, who knows whether to reopen; a PN532 that does
not answer is not an error here, only a None.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from appliance.rfid_reader import pn532
from appliance.rfid_reader.pn532 import ACK_FRAME, TFI_PN532, FirmwareVersion, Frame
from appliance.rfid_reader.reads import CardRead

# The PN532 answers a command with an ACK within a few ms and SAMConfiguration or
# GetFirmwareVersion within tens of ms; InListPassiveTarget with few retries within ~100 ms.
DEFAULT_RESPONSE_TIMEOUT_S = 0.5
PASSIVE_ACTIVATION_RETRIES = 0x02  # a poll looks for a card a few times, then answers "none"


class Port(Protocol):
    in_waiting: int

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...


class Pn532Driver:
    """One PN532 on one open port. `start()` after every (re)open, then `poll()` as often as wanted."""

    def __init__(self, port: Port, response_timeout_s: float = DEFAULT_RESPONSE_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._port = port
        self._timeout_s = response_timeout_s
        self._clock = clock
        self._rest = b""

    def start(self) -> FirmwareVersion | None:
        """Wake the PN532, put it in normal mode and make polls answer promptly; its firmware
        version, or None when nothing that speaks PN532 answered."""
        if self.command(pn532.sam_configuration(), preamble=pn532.WAKE_UP) is None:
            return None
        version = pn532.parse_firmware_version(self.command(pn532.get_firmware_version()) or b"")
        if version is None or self.command(pn532.rf_max_retries(PASSIVE_ACTIVATION_RETRIES)) is None:
            return None
        return version

    def poll(self) -> list[CardRead] | None:
        """Look once for a type A card in the field: its read, or none; None if the PN532 did not answer."""
        answer = self.command(pn532.in_list_passive_target())
        if answer is None:
            return None
        return [pn532.card_read(uid) for uid in pn532.parse_in_list_passive_target(answer)]

    def command(self, data: bytes, preamble: bytes = b"") -> bytes | None:
        """Send one command (PD0..PDn); the answer's PD0..PDn, or None on an error frame or silence.

        A PN532 left without an answer is aborted with an ACK (§6.2.1.3), so that it listens to the
        next command instead of finishing this one.
        """
        self._rest = b""
        self._port.write(preamble + pn532.build_frame(data))
        deadline = self._clock() + self._timeout_s
        while self._clock() < deadline:
            for frame in self._receive():
                if frame.kind == "error":
                    return None
                if _answers(frame, data[0]):
                    return frame.data
        self._port.write(ACK_FRAME)
        return None

    def _receive(self) -> list[Frame]:
        chunk = self._port.read(max(1, self._port.in_waiting))
        frames, self._rest = pn532.split_frames(self._rest + chunk)
        return frames


def _answers(frame: Frame, command_code: int) -> bool:
    return frame.kind == "info" and frame.tfi == TFI_PN532 and frame.data[:1] == bytes([command_code + 1])
