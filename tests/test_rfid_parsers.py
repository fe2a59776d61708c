"""Reader frame parsing: a table per family from the datasheets, and properties (hypothesis) over every
parser: any bytes in any chunks never raise, and no id comes out that was not sent."""

from __future__ import annotations

import struct
from functools import reduce
from operator import xor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.rfid_reader.ascii_lines import AsciiLineParser, read_from_line
from appliance.rfid_reader.debounce import Debouncer
from appliance.rfid_reader.detection import FamilySniffer
from appliance.rfid_reader.em4100 import Em4100Parser, build_frame
from appliance.rfid_reader.evdev_keyboard import EVENT, EvdevKeyboardParser, pack_event
from appliance.rfid_reader.pn532 import (
    FirmwareVersion,
    Frame,
    Pn532Parser,
    parse_firmware_version,
    parse_in_list_passive_target,
    split_frames,
)
from appliance.rfid_reader.reads import CardRead
from tests.virtual_readers import HidKeyboard, Rdm6300, pn532_frame

H = bytes.fromhex
RDM6300_EXAMPLE = b"\x0262E3086CED08\x03"  # the RDM6300 datasheet's frame: XOR of 62 E3 08 6C ED is 08


def feed_in_chunks(parser, data: bytes, sizes: list[int]) -> list[CardRead]:
    reads, at, turn = [], 0, 0
    while at < len(data):
        size = sizes[turn % len(sizes)] if sizes else len(data)
        reads += parser.feed(data[at:at + size])
        at, turn = at + size, turn + 1
    return reads


chunk_sizes = st.lists(st.integers(1, 16), max_size=8)


# ---- ASCII lines -------------------------------------------------------------------------------

@pytest.mark.parametrize("line, uid, text", [
    ("04A23B1C", "04a23b1c", "04A23B1C"),
    ("04:A2:3B:1C", "04a23b1c", "04:A2:3B:1C"),
    ("04 a2 3b 1c", "04a23b1c", "04 a2 3b 1c"),
    ("04-A2-3B-1C-22-80-00", "04a23b1c228000", "04-A2-3B-1C-22-80-00"),  # a 7-byte UID
    ("UID: 04 A2 3B 1C", "04a23b1c", "04 A2 3B 1C"),
    ("Card UID: 04:A2:3B:1C", "04a23b1c", "04:A2:3B:1C"),
    ("ID=62E3086CED", "62e3086ced", "62E3086CED"),  # EM4100: version byte and 4 id bytes
    ("AB:CD:EF:01", "abcdef01", "AB:CD:EF:01"),  # an id, not the label "AB"
    ("0x12345678", "12345678", "0x12345678"),  # "0x" says hex although all digits
    ("  0012345678 ", None, "0012345678"),  # EM 10-digit decimal: no bytes without the reader's convention
    ("ID=0012345678", None, "0012345678"),
    ("12345678", None, "12345678"),  # digits only: decimal (Wiegand 8-digit form)
    ("123,45678", None, "123,45678"),  # Wiegand 26 facility,card
])
def test_a_line_gives_its_id(line, uid, text):
    assert read_from_line(line) == CardRead("ascii", None if uid is None else H(uid), text)


@pytest.mark.parametrize("line", [
    "", "OK", "RFID reader v1.2 ready", "UID:", "1234", "04A23B1", "G4A23B1C", "04 A2 3B",  # 3 bytes: too short
    "04A23B1C04A23B1C04A23B1C",  # 12 bytes: no card has that many
    "123456789012345678901",  # 21 digits
])
def test_a_line_without_an_id_gives_nothing(line):
    assert read_from_line(line) is None


@pytest.mark.parametrize("stream, count", [
    (b"04A23B1C\r\n", 1),
    (b"04A23B1C\r", 1),
    (b"04A23B1C\n", 1),
    (b"\x0204A23B1C\x03", 1),
    (b"\x0204A23B1C\r\n\x03", 1),  # CRLF inside STX/ETX: the empty line after it is nothing
    (b"04A23B1C", 0),  # no line end yet
    (b"noise\xff04A23B1C\n", 0),  # a line with a byte outside ASCII is noise as a whole
    (b"04A2\x0204A23B1C\n", 1),  # STX starts over: the partial line before it is dropped
    (b"04A23B1C\x03", 0),  # the tail of a wrapped line whose STX was missed
    (b"\r\n62E3086CED08\x03", 0),  # nor an RDM6300 frame cut after its STX
    (b"\x00\x0004A23B1C\n", 1),  # NUL padding after power-up
    (b"0012345678\r\n0012345678\r\n", 2),  # the parser does not debounce
    (b"04" * 60 + b"\n", 0),  # longer than any id line
])
def test_ascii_stream(stream, count):
    reads = AsciiLineParser().feed(stream)
    assert len(reads) == count and all(read.text in ("04A23B1C", "0012345678") for read in reads)


def test_ascii_joined_mid_line_drops_that_line_only():
    parser = AsciiLineParser()
    parser.drop_partial()
    assert [read.text for read in parser.feed(b"3B1C228000\r\n04A23B1C228000\r\n")] == ["04A23B1C228000"]


@st.composite
def ascii_line(draw):
    """A line as some reader prints it, and the (uid, text) it stands for."""
    if draw(st.booleans()):
        uid = draw(st.binary(min_size=4, max_size=10))
        separator = draw(st.sampled_from(["", ":", " ", "-"]))
        case = draw(st.sampled_from([str.upper, str.lower]))
        body = separator.join(case(f"{byte:02x}") for byte in uid)
        expected = (None, body) if body.isdigit() else (uid, body)  # digits only read as decimal
    else:
        body = draw(st.text("0123456789", min_size=8, max_size=20))
        expected = (None, body)
    line = (draw(st.sampled_from(["", "UID:", "ID=", "Card UID: ", "  "])) + body
            + draw(st.sampled_from(["", " ", "\t"]))).encode("ascii")
    if draw(st.booleans()):
        return b"\x02" + line + b"\x03", expected
    return line + draw(st.sampled_from([b"\r", b"\n", b"\r\n"])), expected


# Noise lines: banners, or bytes that are no id line (one byte outside ASCII makes sure).
noise_line = st.one_of(
    st.sampled_from([b"OK\r\n", b"RFID reader v1.2\r\n", b"\r\n", b"ERR 3\n"]),
    st.tuples(st.binary(max_size=30), st.binary(max_size=30)).map(
        lambda parts: bytes(b for b in parts[0] + b"\xff" + parts[1] if b not in b"\r\n\x02\x03") + b"\n"),
)


@given(st.lists(st.one_of(ascii_line(), noise_line.map(lambda line: (line, None))), max_size=12), chunk_sizes)
def test_ascii_reads_are_exactly_the_lines_sent(segments, sizes):
    reads = feed_in_chunks(AsciiLineParser(), b"".join(data for data, _ in segments), sizes)
    assert [(read.uid, read.text) for read in reads] == [expected for _, expected in segments if expected]


@given(st.binary(max_size=400), chunk_sizes)
def test_ascii_any_bytes_give_only_ids_printed_in_them(data, sizes):
    for read in feed_in_chunks(AsciiLineParser(), data, sizes):
        assert read.text.encode("ascii") in data


# ---- EM4100 / RDM6300 ---------------------------------------------------------------------------

@pytest.mark.parametrize("stream, uids", [
    (RDM6300_EXAMPLE, ["62e3086ced"]),
    (RDM6300_EXAMPLE.lower(), ["62e3086ced"]),  # lower-case hex from a clone module
    (b"\x0262E3086CED09\x03", []),  # checksum off by one
    (b"\x0262E3086CED08\r", []),  # no ETX
    (b"\x0262E3086CZD08\x03", []),  # not hex
    (b"\xff\x00junk\x03" + RDM6300_EXAMPLE, ["62e3086ced"]),
    (b"\x0262E30" + RDM6300_EXAMPLE, ["62e3086ced"]),  # a cut-off frame, then a whole one
    (RDM6300_EXAMPLE + b"\r\n" + RDM6300_EXAMPLE, ["62e3086ced", "62e3086ced"]),
    (RDM6300_EXAMPLE[:9], []),  # half a frame: kept for later
])
def test_em4100_stream(stream, uids):
    assert [read.uid.hex() for read in Em4100Parser().feed(stream)] == uids


def test_em4100_read_keeps_the_version_byte_and_the_hex_text():
    assert Em4100Parser().feed(RDM6300_EXAMPLE) == [CardRead("rdm6300", H("62e3086ced"), "62E3086CED")]


def test_em4100_frame_built_is_the_datasheet_one():
    assert build_frame(H("62e3086ced")) == RDM6300_EXAMPLE


em4100_garbage = st.one_of(
    st.binary(max_size=30).map(lambda data: data.replace(b"\x03", b"")),  # no ETX: cannot end a frame
    st.binary(min_size=5, max_size=5).map(lambda data: Rdm6300.frame(data, checksum=reduce(xor, data, 1))),  # wrong
)


@given(st.lists(st.one_of(st.binary(min_size=5, max_size=5).map(lambda uid: (Rdm6300.frame(uid), uid)),
                          em4100_garbage.map(lambda data: (data, None))), max_size=12), chunk_sizes)
def test_em4100_reads_are_exactly_the_frames_sent(segments, sizes):
    reads = feed_in_chunks(Em4100Parser(), b"".join(data for data, _ in segments), sizes)
    assert [read.uid for read in reads] == [uid for _, uid in segments if uid]


@given(st.binary(max_size=400), chunk_sizes)
def test_em4100_any_bytes_give_only_checksummed_frames_in_them(data, sizes):
    for read in feed_in_chunks(Em4100Parser(), data, sizes):
        assert build_frame(read.uid) in data.upper()


# ---- PN532 --------------------------------------------------------------------------------------

EXTENDED = bytes([0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x01, 0x05, 0xFA]) + b"\xd5\x41" + bytes(259) + bytes(
    [-(0xD5 + 0x41) & 0xFF, 0x00])  # 261 bytes of TFI and data: LENM 01, LENL 05, LCS FA


@pytest.mark.parametrize("stream, frames", [
    (H("0000ff00ff00"), [Frame("ack")]),
    (H("0000ffff0000"), [Frame("nack")]),
    (H("0000ff01ff7f8100"), [Frame("error")]),  # application-level error (§6.2.1.5)
    (H("0000ff06fad50332010607e800"), [Frame("info", 0xD5, H("0332010607"))]),  # GetFirmwareVersion: PN532 v1.6
    (H("0000ff02fed4022a00"), [Frame("info", 0xD4, H("02"))]),  # the host's GetFirmwareVersion
    (H("0000ff00ff00" "0000ff02fed51516" "00"), [Frame("ack"), Frame("info", 0xD5, H("15"))]),
    (H("0000ff06fbd50332010607e800"), []),  # LEN + LCS is not 0
    (H("0000ff06fad50332010607e900"), []),  # data checksum wrong
    (H("0000ff02fe4102bd00"), []),  # checksums right, but 41 is no frame identifier
    (H("ff1200ff7700") + H("0000ff00ff00"), [Frame("ack")]),  # garbage with a false start code first
    (EXTENDED, [Frame("info", 0xD5, b"\x41" + bytes(259))]),
])
def test_pn532_frames(stream, frames):
    assert split_frames(stream)[0] == frames


def test_pn532_partial_frame_is_kept_until_complete():
    frame = H("0000ff06fad50332010607e800")
    frames, rest = split_frames(frame[:7])
    assert frames == [] and split_frames(rest + frame[7:])[0] == [Frame("info", 0xD5, H("0332010607"))]


@pytest.mark.parametrize("answer, uids", [
    ("4b01010004080412345678", ["12345678"]),  # MIFARE Classic 1K: SENS_RES 0004, SEL_RES 08
    ("4b0101004400070411223344556f", ["0411223344556f"]),  # MIFARE Ultralight: 7-byte UID
    (("4b0101034420070411223344556f" "0675778102" "80"), ["0411223344556f"]),  # DESFire: ISO 14443-4, ATS follows
    ("4b01010044000a0102030405060708090a", ["0102030405060708090a"]),  # triple size UID
    (("4b02" "01000408" "04" "a1a2a3a4" "02004400" "07" "b1b2b3b4b5b6b7"), ["a1a2a3a4", "b1b2b3b4b5b6b7"]),
    (("4b02" "01034420" "04" "a1a2a3a4" "0575778102" "02004400" "04" "b1b2b3b4"), ["a1a2a3a4", "b1b2b3b4"]),
    ("4b00", []),  # no card in the field
    ("4b0101000408051234567890", []),  # NFCIDLength 5: no ISO 14443 A UID has that
    ("4b010100040804123456", []),  # UID cut short
    ("4b03", []),  # the PN532 lists at most two targets
    ("4b", []),
    ("0332010607", []),  # not an InListPassiveTarget answer
])
def test_in_list_passive_target_answer(answer, uids):
    assert [uid.hex() for uid in parse_in_list_passive_target(H(answer))] == uids


def test_firmware_version_answer():
    assert parse_firmware_version(H("0332010607")) == FirmwareVersion(0x32, 1, 6, 7)
    assert str(FirmwareVersion(0x32, 1, 6, 7)) == "PN532 firmware 1.6"
    assert parse_firmware_version(H("03320106")) is None


def test_pn532_parser_reads_a_card_from_ack_and_answer():
    stream = H("0000ff00ff00") + pn532_frame(H("4b01010004080412345678"))
    assert Pn532Parser().feed(stream) == [CardRead("pn532", H("12345678"), "12345678")]


@st.composite
def pn532_frames(draw):
    """A frame a PN532 sends, and the UID it carries, if any."""
    kind = draw(st.sampled_from(["card", "none", "ack", "firmware", "error"]))
    if kind == "card":
        uid = draw(st.sampled_from([4, 7, 10]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
        return pn532_frame(b"\x4b\x01\x01\x00\x04\x08" + bytes([len(uid)]) + uid), uid
    return {"none": pn532_frame(b"\x4b\x00"), "ack": H("0000ff00ff00"), "firmware": pn532_frame(H("0332010607")),
            "error": H("0000ff01ff7f8100")}[kind], None


@given(st.lists(st.one_of(pn532_frames(), st.binary(max_size=30).map(lambda data: (data.replace(b"\xff", b""), None))),
                max_size=10), chunk_sizes)
def test_pn532_reads_are_exactly_the_cards_answered(segments, sizes):
    # Garbage without 0xFF cannot hold a start code, so every frame after it is found.
    reads = feed_in_chunks(Pn532Parser(), b"".join(data for data, _ in segments), sizes)
    assert [read.uid for read in reads] == [uid for _, uid in segments if uid]


@given(st.lists(st.one_of(pn532_frames(), st.binary(max_size=30).map(lambda data: (data, None))), max_size=10),
       chunk_sizes)
def test_pn532_any_garbage_between_frames_gives_no_false_card(segments, sizes):
    reads = feed_in_chunks(Pn532Parser(), b"".join(data for data, _ in segments), sizes)
    assert {read.uid for read in reads} <= {uid for _, uid in segments if uid}


@given(st.binary(max_size=400), chunk_sizes)
def test_pn532_any_bytes_give_only_uids_in_them(data, sizes):
    for read in feed_in_chunks(Pn532Parser(), data, sizes):
        assert read.uid in data and len(read.uid) in (4, 7, 10)


# ---- HID keyboards (evdev) ----------------------------------------------------------------------

KEY_LEFTSHIFT, KEY_Q, KEY_ENTER = 42, 16, 28


@pytest.mark.parametrize("events, reads", [
    (HidKeyboard.events("0012345678"), [CardRead("hid", None, "0012345678")]),
    (HidKeyboard.events("04A23B1C"), [CardRead("hid", H("04a23b1c"), "04A23B1C")]),
    (pack_event(KEY_LEFTSHIFT) + HidKeyboard.events("04A23B1C"), [CardRead("hid", H("04a23b1c"), "04A23B1C")]),
    (pack_event(KEY_Q) + HidKeyboard.events("0012345678"), []),  # a key no id has: the line is noise
    (pack_event(2, value=2) * 3 + pack_event(KEY_ENTER), []),  # autorepeat is no typing
    (HidKeyboard.events("0012345678")[:EVENT.size * 12] + pack_event(3, 0, event_type=0)  # SYN_DROPPED:
     + HidKeyboard.events("0012345678")[EVENT.size * 12:], []),  # keys were lost, the line is unreliable
    (HidKeyboard.events("0012345678")[:-EVENT.size * 4], []),  # Enter not yet pressed
])
def test_keyboard_events(events, reads):
    assert EvdevKeyboardParser().feed(events) == reads


def test_keyboard_joined_mid_typing_drops_that_line_only():
    parser = EvdevKeyboardParser()
    parser.drop_partial()
    assert parser.feed(HidKeyboard.events("12345678") + HidKeyboard.events("0012345678")) == [
        CardRead("hid", None, "0012345678")]


def test_input_event_is_24_bytes_on_64_bit():
    assert EVENT.size == struct.calcsize("llHHi") and (EVENT.size == 24 or struct.calcsize("l") == 4)


@st.composite
def typed_line(draw):
    if draw(st.booleans()):
        uid = draw(st.binary(min_size=4, max_size=10))
        text = uid.hex().upper()
        return HidKeyboard.events(text), ((None, text) if text.isdigit() else (uid, text))
    text = draw(st.text("0123456789", min_size=8, max_size=20))
    return HidKeyboard.events(text), (None, text)


noise_events = st.lists(st.sampled_from([
    pack_event(0, 0, event_type=0), pack_event(4, 0x70004, event_type=4),  # EV_SYN, EV_MSC
    pack_event(KEY_LEFTSHIFT), pack_event(30, 0), pack_event(2, 2),  # shift, a release, an autorepeat
]), max_size=6).map(b"".join)


@given(st.lists(st.one_of(typed_line(), noise_events.map(lambda data: (data, None))), max_size=8), chunk_sizes)
def test_keyboard_reads_are_exactly_the_lines_typed(segments, sizes):
    reads = feed_in_chunks(EvdevKeyboardParser(), b"".join(data for data, _ in segments), sizes)
    assert [(read.uid, read.text) for read in reads] == [expected for _, expected in segments if expected]


@given(st.binary(max_size=600), chunk_sizes)
def test_keyboard_any_bytes_never_raise(data, sizes):
    for read in feed_in_chunks(EvdevKeyboardParser(), data, sizes):
        assert read.family == "hid" and read_from_line(read.text, "hid") == read


# ---- telling RDM6300 from ASCII -----------------------------------------------------------------

@pytest.mark.parametrize("stream, family", [
    (RDM6300_EXAMPLE, "rdm6300"),  # also an STX/ETX line of hex to the line parser: the checksum decides
    (b"\x0204A23B1C\x03", "ascii"),
    (b"UID: 04A23B1C\r\n", "ascii"),
    (b"\x00\xff garbage \r\n", None),
])
def test_first_card_tells_the_family(stream, family):
    sniffer = FamilySniffer()
    reads = sniffer.feed(stream)
    assert sniffer.family == family and [read.family for read in reads] == ([family] if family else [])


def test_sniffer_joined_mid_line_drops_that_line_only():
    sniffer = FamilySniffer()
    sniffer.drop_partial()
    assert sniffer.feed(b"0B1C\r\n") == [] and sniffer.feed(b"04A23B1C\r\n")[0].text == "04A23B1C"


def test_once_told_only_that_family_is_read():
    sniffer = FamilySniffer()
    sniffer.feed(RDM6300_EXAMPLE)
    assert sniffer.feed(b"04A23B1C\r\n") == [] and sniffer.feed(RDM6300_EXAMPLE)[0].family == "rdm6300"


# ---- debouncing ---------------------------------------------------------------------------------

CARDS = [CardRead("pn532", bytes([n]) * 4, f"{n:02X}" * 4) for n in (1, 2, 3)] + [CardRead("ascii", None, "0012345678")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(st.lists(st.tuples(st.floats(0, 3), st.sampled_from(CARDS)), max_size=40))
def test_a_card_passes_only_after_hold_s_unseen(sightings):
    clock, last_seen = FakeClock(), {}
    debouncer = Debouncer(hold_s=1.0, clock=clock)
    for gap, card in sightings:
        clock.now += gap
        expected = card.key not in last_seen or clock.now - last_seen[card.key] >= 1.0
        last_seen[card.key] = clock.now
        assert debouncer.accept(card) == expected


@given(st.lists(st.floats(0, 0.99), max_size=50))
def test_a_held_card_is_read_once(gaps):
    clock = FakeClock()
    debouncer = Debouncer(hold_s=1.0, clock=clock)
    passed = []
    for gap in [0.0] + gaps:
        clock.now += gap
        passed.append(debouncer.accept(CARDS[0]))
    assert passed.count(True) == 1 and passed[0]


def test_another_card_passes_at_once():
    debouncer = Debouncer(hold_s=1.0, clock=FakeClock())
    assert [debouncer.accept(card) for card in (CARDS[0], CARDS[1], CARDS[0], CARDS[3], CARDS[3])] == [
        True, True, False, True, False]
