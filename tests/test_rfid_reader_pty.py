"""The Reader end to end on pseudo-terminals: each reader family emulated byte for byte, detection of
the family, debouncing, and unplugging and replugging the device under the same path."""

from __future__ import annotations

import os
import threading
import time

import pytest
import serial

from appliance.rfid_reader import pn532
from appliance.rfid_reader.evdev_keyboard import open_keyboard
from appliance.rfid_reader.pn532_driver import Pn532Driver
from appliance.rfid_reader.reader import Reader
from appliance.rfid_reader.reads import CardRead
from tests.test_rfid_parsers import FakeClock
from tests.virtual_readers import AsciiReader, HidKeyboard, Pn532, Rdm6300

H = bytes.fromhex
FAST = {"pn532_timeout_s": 0.2, "backoff_s": (0.02, 0.1), "pn532_poll_interval_s": 0.02}


@pytest.fixture
def plug():
    """Makes emulators and unplugs, at the end, those the test left plugged in."""
    made = []

    def make(kind):
        made.append(kind())
        return made[-1]

    yield make
    for emulator in made:
        emulator.unplug()


def present_until_read(emulator, reader: Reader, data: bytes, timeout_s: float = 3.0) -> CardRead | None:
    """Hold a card on a reader that speaks unasked until the Reader reads it (it may still be connecting)."""
    emulator.hold(data)
    try:
        return reader.next_read(timeout_s)
    finally:
        emulator.release()


def test_ascii_reader_reads_a_line(plug):
    emulator = plug(AsciiReader)
    with Reader(emulator.path, family="ascii", **FAST) as reader:
        assert present_until_read(emulator, reader, b"UID: 04 A2 3B 1C\r\n") == CardRead(
            "ascii", H("04a23b1c"), "04 A2 3B 1C")


def test_a_card_held_on_the_reader_is_read_once(plug):
    emulator = plug(AsciiReader)
    clock = FakeClock()
    with Reader(emulator.path, family="ascii", hold_s=1.0, clock=clock, **FAST) as reader:
        emulator.hold(b"0012345678\r\n", every_s=0.02)
        assert reader.next_read(3).text == "0012345678"
        assert reader.next_read(0.3) is None  # the same line again and again, the clock standing still
        emulator.release()
        assert reader.next_read(0.1) is None  # whatever was still on its way
        clock.now += 1.0  # the card taken away for hold_s
        emulator.present("0012345678")
        assert reader.next_read(2).text == "0012345678"


class NeverQuietPort:
    """A reader repeating one line back to back, every read 5 bytes into the line: never a pause to
    start at, and each first piece ("678901234567890") looks like an id of its own."""

    LINE = b"12345678901234567890\r\n"
    in_waiting = len(LINE)

    def read(self, size: int = 1) -> bytes:
        time.sleep(0.001)
        return self.LINE[5:] + self.LINE[:5]

    def close(self) -> None:
        pass


def test_a_reader_that_never_pauses_is_joined_at_a_line_start():
    with Reader("never-quiet", family="ascii", port_factory=lambda url, **options: NeverQuietPort()) as reader:
        assert reader.next_read(3) == CardRead("ascii", None, "12345678901234567890")


def test_rdm6300_garbage_and_bad_checksums_give_only_the_good_card(plug):
    emulator = plug(Rdm6300)
    with Reader(emulator.path, family="rdm6300", **FAST) as reader:
        bad = Rdm6300.frame(H("62e3086ced"), checksum=0x09)
        good = Rdm6300.frame(H("0100bc614e"))
        assert present_until_read(emulator, reader, b"\xff\x00\x02\x31\x32" + bad + b"noise" + good) == CardRead(
            "rdm6300", H("0100bc614e"), "0100BC614E")
        assert reader.next_read(0.2) is None


@pytest.mark.parametrize("kind, data, family", [
    (AsciiReader, b"\x020012345678\x03", "ascii"),
    (Rdm6300, Rdm6300.frame(H("62e3086ced")), "rdm6300"),
])
def test_reader_without_a_family_finds_it_from_the_first_card(plug, kind, data, family):
    emulator = plug(kind)
    with Reader(emulator.path, **FAST) as reader:
        read = present_until_read(emulator, reader, data)
        assert read is not None and read.family == family and reader.family == family
    assert pn532.WAKE_UP in emulator.received  # it was asked whether it is a PN532 first


def test_pn532_is_found_configured_and_polled(plug):
    emulator = plug(Pn532)
    states = []
    with Reader(emulator.path, on_state=lambda *state: states.append(state), **FAST) as reader:
        emulator.present(H("04112233445566"), sens_res=b"\x00\x44", sel_res=0x00)
        assert reader.next_read(3) == CardRead("pn532", H("04112233445566"), "04112233445566")
        assert reader.family == "pn532"
    assert states == [("connected", f"{emulator.path}: pn532 (PN532 firmware 1.6)")]
    assert emulator.sam_mode == 0x01 and emulator.passive_retries != 0xFF  # normal mode; polls answer promptly
    assert H("4a0100") in emulator.commands  # InListPassiveTarget, one target, 106 kbps type A


def test_pn532_that_stops_answering_is_woken_again(plug):
    emulator = plug(Pn532)
    states = []
    with Reader(emulator.path, family="pn532", on_state=lambda state, _: states.append(state), **FAST) as reader:
        emulator.present(H("a1a2a3a4"))
        assert reader.next_read(3).uid == H("a1a2a3a4")
        emulator.power_cycle()  # asleep again: ignores frames until woken
        emulator.present(H("b1b2b3b4"))
        assert reader.next_read(5).uid == H("b1b2b3b4")
    assert states == ["connected", "unplugged", "connected"]


def test_pn532_driver_aborts_a_poll_that_gets_no_answer(plug):
    emulator = plug(Pn532)
    with serial.serial_for_url(emulator.path, baudrate=115200, timeout=0.02) as port:
        driver = Pn532Driver(port, response_timeout_s=0.2)
        assert driver.command(pn532.sam_configuration(), preamble=pn532.WAKE_UP) == b"\x15"
        assert driver.poll() is None  # retries left at "forever" and no card: the PN532 keeps looking
        assert emulator.aborted.wait(2)  # so the driver aborted it with an ACK
        emulator.present(H("c1c2c3c4"))
        assert driver.poll() == [CardRead("pn532", H("c1c2c3c4"), "C1C2C3C4")]


@pytest.mark.parametrize("kind, card", [
    (AsciiReader, lambda n: b"04A23B1%d\r\n" % n),
    (Rdm6300, lambda n: Rdm6300.frame(bytes([1, 2, 3, 4, n]))),
    (Pn532, lambda n: bytes([0xD1, 0xD2, 0xD3, n])),
])
def test_unplugged_reader_is_reopened_when_plugged_back(plug, tmp_path, kind, card):
    link = tmp_path / "ttyRFID"
    first = plug(kind)
    os.symlink(first.path, link)
    states = []
    with Reader(str(link), on_state=lambda state, _: states.append(state), **FAST) as reader:
        assert read_card(first, reader, card(1)) is not None
        first.unplug()
        link.unlink()  # as udev removes /dev/serial/by-id links; the pty's number is free for others to reuse
        assert reader.next_read(0.3) is None
        assert states == ["connected", "unplugged"]
        second = plug(kind)
        os.symlink(second.path, link)
        read = read_card(second, reader, card(2))
        assert read is not None and read.family == reader.family
        assert states == ["connected", "unplugged", "connected"]


def read_card(emulator, reader: Reader, card: bytes) -> CardRead | None:
    if isinstance(emulator, Pn532):
        emulator.present(card)
        return reader.next_read(3)
    return present_until_read(emulator, reader, card)


def test_device_missing_at_start_is_waited_for(plug, tmp_path):
    link = tmp_path / "ttyRFID"
    states = []
    with Reader(str(link), family="ascii", on_state=lambda *state: states.append(state), **FAST) as reader:
        assert reader.next_read(0.1) is None
        assert states[0][0] == "unplugged" and "No such file" in states[0][1]
        emulator = plug(AsciiReader)
        os.symlink(emulator.path, link)
        assert present_until_read(emulator, reader, b"04A23B1C\n").uid == H("04a23b1c")
        assert [state for state, _ in states] == ["unplugged", "connected"]


def test_keyboard_reader_through_evdev_events(plug):
    emulator = plug(HidKeyboard)  # a pty carries the events: no grab, which only evdev devices have

    def keyboard(device, timeout):
        return open_keyboard(device, timeout, grab=False)

    with Reader(emulator.path, family="hid", keyboard_factory=keyboard, **FAST) as reader:
        assert present_until_read(emulator, reader, HidKeyboard.events("0012345678")) == CardRead(
            "hid", None, "0012345678")


def test_a_path_linking_to_an_input_device_is_a_keyboard_reader(plug, tmp_path):
    emulator = plug(HidKeyboard)
    link = tmp_path / "hid-usb-0_1_1_0"  # as udev names one under /dev/rfid/
    os.symlink("/dev/input/event-of-a-reader", link)
    opened = []

    def keyboard(device, timeout):
        opened.append(device)
        return open_keyboard(emulator.path, timeout, grab=False)

    with Reader(str(link), keyboard_factory=keyboard, **FAST) as reader:
        assert present_until_read(emulator, reader, HidKeyboard.events("04A23B1C")).uid == H("04a23b1c")
        assert reader.family == "hid" and opened == [str(link)]


def test_reader_on_a_loop_url():
    port = serial.serial_for_url("loop://", timeout=0.05)
    with Reader("loop://", family="rdm6300", port_factory=lambda url, **options: port) as reader:
        threading.Timer(0.1, port.write, [Rdm6300.frame(H("62e3086ced"))]).start()
        assert reader.next_read(1) == CardRead("rdm6300", H("62e3086ced"), "62E3086CED")


def test_close_from_another_thread_ends_a_waiting_next_read(plug):
    emulator = plug(AsciiReader)
    reader = Reader(emulator.path, family="ascii", **FAST)
    threading.Timer(0.2, reader.close).start()
    started = time.monotonic()
    assert reader.next_read(5) is None
    assert time.monotonic() - started < 1


def test_a_line_already_under_way_at_opening_is_not_read():
    port = serial.serial_for_url("loop://", timeout=0.05)
    port.write(b"3B1C228000\r\n")  # the tail of "04A23B1C228000": by itself it looks like a 5-byte id
    with Reader("loop://", family="ascii", port_factory=lambda url, **options: port) as reader:
        threading.Timer(0.2, port.write, [b"04A23B1C228000\r\n"]).start()
        assert reader.next_read(1) == CardRead("ascii", H("04a23b1c228000"), "04A23B1C228000")
