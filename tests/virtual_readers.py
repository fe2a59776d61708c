"""Virtual RFID readers on pseudo-terminals: the appliance opens `path`, the emulator plays the device.

Each emulator owns a pty pair and a thread that writes its output byte for byte and reads what the
appliance writes. Frames are built here from the datasheets, not with the appliance's own code, so a
mistake in one is not mirrored in the other. `unplug()` closes the device side for good, as pulling
the USB plug does; a replugged reader is a new emulator on a new pty.
"""

from __future__ import annotations

import os
import queue
import select
import struct
import threading
import time
import tty
from functools import reduce
from operator import xor
from typing import ClassVar

STX, ETX = b"\x02", b"\x03"


class VirtualReader:
    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        # The appliance's side in raw mode from the start: no echo of our own bytes back to us, no line
        # editing of binary frames before the appliance has opened it (pyserial sets raw again).
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)  # kept open by us too: a pty master reads EIO without a slave
        self.received = bytearray()
        self._outbox: queue.Queue[bytes] = queue.Queue()
        self._stop = threading.Event()
        self._repeat: tuple[bytes, float] | None = None
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()

    def send(self, data: bytes) -> None:
        self._outbox.put(data)

    def hold(self, data: bytes, every_s: float = 0.05) -> None:
        """Send `data` again and again, as readers do while a card stays on them, until `release()`."""
        self._repeat = (data, every_s)

    def release(self) -> None:
        self._repeat = None

    def unplug(self) -> None:
        if self._stop.is_set():
            return  # unplugged already
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self._master)
        os.close(self._slave)

    def on_input(self, data: bytes) -> None:
        """What the appliance wrote; emulators that answer override this."""

    def _run(self) -> None:
        next_repeat_at = 0.0
        while not self._stop.is_set():
            if self._repeat is not None and time.monotonic() >= next_repeat_at:
                self._outbox.put(self._repeat[0])
                next_repeat_at = time.monotonic() + self._repeat[1]
            while not self._outbox.empty():
                for byte in self._outbox.get():
                    os.write(self._master, bytes([byte]))
            readable, _, _ = select.select([self._master], [], [], 0.005)
            if readable:
                data = os.read(self._master, 1024)
                self.received += data
                self.on_input(data)


class AsciiReader(VirtualReader):
    """A USB serial reader printing one line per card."""

    def present(self, text: str, end: bytes = b"\r\n") -> None:
        self.send(text.encode("ascii") + end)


class Rdm6300(VirtualReader):
    """An RDM6300 125 kHz module: STX, 10 hex data, 2 hex XOR checksum, ETX (its datasheet)."""

    @staticmethod
    def frame(data: bytes, checksum: int | None = None) -> bytes:
        if checksum is None:
            checksum = reduce(xor, data, 0)
        return STX + (data.hex().upper() + f"{checksum:02X}").encode("ascii") + ETX

    def present(self, data: bytes) -> None:
        self.send(self.frame(data))


class HidKeyboard(VirtualReader):
    """A keyboard reader seen through evdev: input_event structs ("llHHi") for each key press and release."""

    KEYS: ClassVar[dict[str, int]] = {"1": 2, "2": 3, "3": 4, "4": 5, "5": 6, "6": 7, "7": 8, "8": 9, "9": 10, "0": 11,
            "A": 30, "B": 48, "C": 46, "D": 32, "E": 18, "F": 33, "\n": 28}

    @classmethod
    def events(cls, text: str) -> bytes:
        out = b""
        for char in text + "\n":
            code = cls.KEYS[char.upper()]
            out += struct.pack("llHHi", 0, 0, 4, 4, 0x70000 + code)  # EV_MSC MSC_SCAN, as real keyboards send
            out += struct.pack("llHHi", 0, 0, 1, code, 1) + struct.pack("llHHi", 0, 0, 0, 0, 0)  # press, EV_SYN
            out += struct.pack("llHHi", 0, 0, 1, code, 0) + struct.pack("llHHi", 0, 0, 0, 0, 0)  # release, EV_SYN
        return out

    def present(self, text: str) -> None:
        self.send(self.events(text))


def pn532_frame(data: bytes, tfi: int = 0xD5) -> bytes:
    """A PN532 normal information frame (user manual UM0701-02 §6.2.1.1)."""
    body = bytes([tfi]) + data
    return bytes([0x00, 0x00, 0xFF, len(body), -len(body) & 0xFF]) + body + bytes([-sum(body) & 0xFF, 0x00])


PN532_ACK = bytes.fromhex("0000ff00ff00")
PN532_ERROR = bytes.fromhex("0000ff01ff7f8100")


class Pn532(VirtualReader):
    """A PN532 on its HSU: asleep until 0x55 and a SAMConfiguration, then answering commands.

    Answers GetFirmwareVersion, SAMConfiguration, RFConfiguration (MaxRetries) and
    InListPassiveTarget; a poll without a card answers "no target" if the retries were limited,
    else waits for a card or for the host's ACK (the abort). Anything else gets the error frame.
    """

    def __init__(self, firmware: bytes = bytes([0x32, 0x01, 0x06, 0x07])) -> None:
        self.firmware = firmware
        self.awake = False
        self.sam_mode: int | None = None
        self.passive_retries = 0xFF  # the power-on default: look for a card forever
        self.commands: list[bytes] = []  # every command received, PD0 first
        self.aborted = threading.Event()  # the host sent an ACK to abort a command
        self._card: tuple[bytes, bytes, int] | None = None
        self._poll_waiting = False
        self._buffer = b""
        self._lock = threading.Lock()
        super().__init__()

    def present(self, uid: bytes, sens_res: bytes = b"\x00\x04", sel_res: int = 0x08) -> None:
        with self._lock:
            self._card = (uid, sens_res, sel_res)
            if self._poll_waiting:
                self._poll_waiting = False
                self._answer(self._target_answer())

    def remove(self) -> None:
        with self._lock:
            self._card = None

    def power_cycle(self) -> None:
        """Back to the power-on state: asleep until woken, all configuration forgotten."""
        with self._lock:
            self.awake, self.sam_mode, self.passive_retries, self._buffer = False, None, 0xFF, b""

    def on_input(self, data: bytes) -> None:
        with self._lock:
            if not self.awake and b"\x55" in data:
                self.awake = True
                data = data[data.index(b"\x55"):]
            if self.awake:
                self._buffer += data
                self._handle_frames()

    def _handle_frames(self) -> None:
        while (start := self._buffer.find(b"\x00\xff")) >= 0 and len(self._buffer) >= start + 4:
            length, lcs = self._buffer[start + 2], self._buffer[start + 3]
            if (length, lcs) == (0x00, 0xFF):  # the host's ACK: abort the command in progress
                self.aborted.set()
                self._poll_waiting = False
                self._buffer = self._buffer[start + 4:]
                continue
            end = start + 4 + length + 1
            if (length + lcs) & 0xFF or length == 0:
                self._buffer = self._buffer[start + 1:]
                continue
            if len(self._buffer) < end:
                return
            body, self._buffer = self._buffer[start + 4:end], self._buffer[end:]
            if sum(body) & 0xFF == 0 and body[0] == 0xD4:
                self._command(body[1:-1])

    def _command(self, data: bytes) -> None:
        self.commands.append(data)
        code = data[0]
        if self.sam_mode is None and code != 0x14:
            return  # a PN532 fresh from power-on takes SAMConfiguration first
        self.send(PN532_ACK)
        if code == 0x14:
            self.sam_mode = data[1]
            self._answer(b"\x15")
        elif code == 0x02:
            self._answer(b"\x03" + self.firmware)
        elif code == 0x32 and data[1:2] == b"\x05":
            self.passive_retries = data[4]
            self._answer(b"\x33")
        elif code == 0x4A and data[1:3] == b"\x01\x00":
            if self._card is not None:
                self._answer(self._target_answer())
            elif self.passive_retries != 0xFF:
                self._answer(b"\x4b\x00")
            else:
                self._poll_waiting = True
        else:
            self.send(PN532_ERROR)

    def _target_answer(self) -> bytes:
        assert self._card is not None
        uid, sens_res, sel_res = self._card
        return b"\x4b\x01\x01" + sens_res + bytes([sel_res, len(uid)]) + uid

    def _answer(self, data: bytes) -> None:
        self.send(pn532_frame(data))
