"""Listing reader devices: serial ports with their USB ids and a (modest) family guess, keyboards."""

from __future__ import annotations

import pytest
from serial.tools.list_ports_common import ListPortInfo

from appliance.rfid_reader import ports


@pytest.mark.parametrize("vid, pid, chip, family_guess", [
    (0x1A86, 0x7523, "CH340", "unknown serial"),  # the chip says nothing of the reader behind it
    (0x0403, 0x6001, "FTDI FT232R", "unknown serial"),
    (0x10C4, 0xEA60, "CP210x", "unknown serial"),
    (0x1234, 0x5678, None, "unknown"),
    (None, None, None, "unknown"),  # not a USB port
])
def test_usb_id_guess(vid, pid, chip, family_guess):
    assert ports.guess(vid, pid) == (chip, family_guess)


def test_serial_ports_are_listed_with_usb_ids(monkeypatch):
    usb = ListPortInfo("/dev/ttyUSB0", skip_link_detection=True)
    usb.vid, usb.pid, usb.description, usb.serial_number = 0x1A86, 0x7523, "USB Serial", None
    onboard = ListPortInfo("/dev/ttyS0", skip_link_detection=True)
    monkeypatch.setattr(ports.list_ports, "comports", lambda: [usb, onboard])
    assert ports.list_serial_ports() == [
        ports.PortInfo("/dev/ttyS0", None, None, "n/a", None, None, "unknown"),
        ports.PortInfo("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial", None, "CH340", "unknown serial"),
    ]
    assert ports.list_serial_ports()[1].usb_id == "1a86:7523"


def test_keyboards_are_listed_by_id(tmp_path):
    for name in ("usb-RFID_Reader-event-kbd", "usb-Mouse-event-mouse", "usb-Keyboard-event-kbd"):
        (tmp_path / name).touch()
    assert ports.list_keyboards(str(tmp_path)) == [
        str(tmp_path / "usb-Keyboard-event-kbd"), str(tmp_path / "usb-RFID_Reader-event-kbd")]
