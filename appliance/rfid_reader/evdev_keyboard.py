"""USB readers that are HID keyboards: they type the id and press Enter. Read through Linux evdev.

Each key arrives as a `struct input_event` (linux/input.h): a timeval, type, code and value, packed
natively ("llHHi", 24 bytes on 64-bit). A key press is type EV_KEY with value 1 (0 is the release,
2 an autorepeat). The parser turns digit, hex-letter, space and minus presses into a line and ends
it at Enter (or Tab, which some readers are set to send); a line with any other key is dropped.
Shift is ignored: hex is the same in either case. After SYN_DROPPED (events lost to a full buffer)
the line under way is dropped too: a key missing from it could leave a shorter id that looks valid. The device opener grabs the keyboard, so the
typed digits reach only us and not a console or a login prompt.
"""

from __future__ import annotations

import os
import select
import struct
import sys

from appliance.rfid_reader.ascii_lines import read_from_line
from appliance.rfid_reader.reads import HID, CardRead

EVENT = struct.Struct("llHHi")  # struct input_event: tv_sec, tv_usec, type, code, value
EV_SYN, EV_KEY = 0x00, 0x01
SYN_DROPPED = 3  # the kernel's buffer overflowed and events were lost
KEY_PRESS = 1
EVIOCGRAB = 0x40044590  # _IOW('E', 0x90, int): exclusive access to the device

# Key codes from linux/input-event-codes.h.
_CHARACTERS = {
    2: "1", 3: "2", 4: "3", 5: "4", 6: "5", 7: "6", 8: "7", 9: "8", 10: "9", 11: "0",
    79: "1", 80: "2", 81: "3", 75: "4", 76: "5", 77: "6", 71: "7", 72: "8", 73: "9", 82: "0",  # keypad
    30: "A", 48: "B", 46: "C", 32: "D", 18: "E", 33: "F",
    57: " ", 12: "-", 74: "-",  # space, minus, keypad minus
}
_LINE_ENDS = {28, 96, 15}  # KEY_ENTER, KEY_KPENTER, KEY_TAB
_IGNORED = {42, 54}  # KEY_LEFTSHIFT, KEY_RIGHTSHIFT
MAX_LINE_LENGTH = 40


def pack_event(key_code: int, value: int = KEY_PRESS, event_type: int = EV_KEY) -> bytes:
    """One input_event as the kernel writes it (for emulators and tests)."""
    return EVENT.pack(0, 0, event_type, key_code, value)


class EvdevKeyboardParser:
    """Turns a keyboard's input_event stream into card reads; keeps a partial event and line."""

    family = HID

    def __init__(self) -> None:
        self._rest = b""
        self._line: list[str] = []
        self._spoilt = False

    def feed(self, data: bytes) -> list[CardRead]:
        data = self._rest + data
        whole = len(data) - len(data) % EVENT.size
        self._rest = data[whole:]
        reads = []
        for _sec, _usec, event_type, code, value in EVENT.iter_unpack(data[:whole]):
            if event_type == EV_KEY and value == KEY_PRESS:
                read = self._press(code)
                if read is not None:
                    reads.append(read)
            elif event_type == EV_SYN and code == SYN_DROPPED:
                self.drop_partial()
        return reads

    def drop_partial(self) -> None:
        """Joined in the middle of typing: the keys so far are no whole line. (Reads of an evdev
        device hold whole events, so the event bytes stay in step.)"""
        self._line, self._spoilt = [], True

    def _press(self, code: int) -> CardRead | None:
        if code in _LINE_ENDS:
            line, spoilt = "".join(self._line), self._spoilt
            self._line, self._spoilt = [], False
            return None if spoilt else read_from_line(line, HID)
        if code in _CHARACTERS and len(self._line) < MAX_LINE_LENGTH:
            self._line.append(_CHARACTERS[code])
        elif code not in _IGNORED:
            self._line, self._spoilt = [], True  # an unknown key, or too long a line: no id in it
        return None


class KeyboardDevice:
    """An evdev device opened for reading, with the part of pyserial's port interface a reader uses."""

    in_waiting = 0  # evdev cannot tell; `read` returns whatever whole events are there

    def __init__(self, fd: int, timeout: float | None) -> None:
        self._fd = fd
        self.timeout = timeout

    def read(self, size: int = 1) -> bytes:
        """Up to `size` bytes, at least a batch of whole events, or b"" after `timeout` seconds."""
        ready, _, _ = select.select([self._fd], [], [], self.timeout)
        if not ready:
            return b""
        try:
            return os.read(self._fd, max(size, EVENT.size * 64))  # evdev refuses reads shorter than an event
        except BlockingIOError:
            return b""

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing also releases the grab
            self._fd = -1


def is_input_device(path: str) -> bool:
    """Whether the path is (or links to, like udev's /dev/rfid/hid-* names) a Linux input device."""
    return os.path.realpath(path).startswith("/dev/input/")


def open_keyboard(path: str, timeout: float | None = None, grab: bool = True) -> KeyboardDevice:
    """Open an evdev keyboard (e.g. /dev/input/by-id/usb-...-event-kbd), grabbed for us alone.

    `grab=False` is for tests that play events through a pseudo-terminal, which has no grab.
    """
    if grab and not sys.platform.startswith("linux"):
        raise OSError(f"cannot grab {path}: keyboard readers need Linux evdev")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        if grab:
            import fcntl  # Linux only, hence here: the parser above works anywhere

            fcntl.ioctl(fd, EVIOCGRAB, 1)
    except OSError:
        os.close(fd)
        raise
    return KeyboardDevice(fd, timeout)
