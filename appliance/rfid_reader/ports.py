"""Which readers are plugged in: serial ports with their USB ids, and evdev keyboards.

The family guess from a VID:PID is only a guess, and usually an honest "unknown serial": RFID
modules (RDM6300, PN532 boards, ASCII readers) sit behind the same few USB-serial bridge chips as
every other gadget, so the ids name the chip, not the reader. `Reader` finds the family by talking
to the device; the guess is for lists shown to a technician.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass

from serial.tools import list_ports

UNKNOWN_SERIAL = "unknown serial"  # a USB-serial bridge: any reader family, or no reader at all
UNKNOWN = "unknown"

# USB-serial bridges RFID modules are commonly sold with: VID:PID -> chip.
BRIDGES = {
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x5523): "CH341",
    (0x1A86, 0x55D4): "CH9102",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6015): "FTDI FT231X",
    (0x10C4, 0xEA60): "CP210x",
    (0x067B, 0x2303): "PL2303",
}


@dataclass(frozen=True)
class PortInfo:
    device: str  # what to pass to Reader, e.g. /dev/ttyUSB0
    vid: int | None
    pid: int | None
    description: str
    serial_number: str | None
    chip: str | None  # the USB-serial bridge, when known
    family_guess: str  # a guess, see the module docstring

    @property
    def usb_id(self) -> str | None:
        return None if self.vid is None or self.pid is None else f"{self.vid:04x}:{self.pid:04x}"


def guess(vid: int | None, pid: int | None) -> tuple[str | None, str]:
    """The bridge chip and family guess for a USB id."""
    chip = BRIDGES.get((vid, pid)) if vid is not None and pid is not None else None
    return chip, UNKNOWN_SERIAL if chip else UNKNOWN


def list_serial_ports() -> list[PortInfo]:
    """The serial ports the system sees, USB ones with their ids, sorted by device name."""
    ports = []
    for port in list_ports.comports():
        chip, family_guess = guess(port.vid, port.pid)
        ports.append(PortInfo(port.device, port.vid, port.pid, port.description or "", port.serial_number,
                              chip, family_guess))
    return sorted(ports, key=lambda info: info.device)


def list_keyboards(by_id_dir: str = "/dev/input/by-id") -> list[str]:
    """Keyboard event devices by stable name; HID readers are among them (family "hid")."""
    return sorted(glob.glob(f"{glob.escape(by_id_dir)}/*-event-kbd"))
