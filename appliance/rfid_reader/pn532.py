"""NXP PN532 over its UART (HSU): frames, the commands an enrolment reader needs, their answers.

All pure; `pn532_driver` does the talking. References are to the PN532 User Manual UM0701-02:
§6.2.1 for the frames, §7 for the commands.

Normal information frame (§6.2.1.1): PREAMBLE 00, START CODE 00 FF, LEN, LCS, TFI, PD0..PDn, DCS,
POSTAMBLE 00. LEN counts TFI and data; LEN + LCS = 0 and TFI + PD0 + ... + PDn + DCS = 0 (mod 256).
TFI is D4 from the host, D5 from the PN532; PD0 is the command code, the answer's is code + 1.
Extended frame (§6.2.1.2): LEN and LCS are FF FF, then LENM LENL and their own LCS.
ACK 00 00 FF 00 FF 00, NACK 00 00 FF FF 00 00, error frame 00 00 FF 01 FF 7F 81 00 (§6.2.1.3-5).
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.rfid_reader.reads import PN532, CardRead

START_CODE = b"\x00\xff"
TFI_HOST, TFI_PN532, TFI_ERROR = 0xD4, 0xD5, 0x7F
ACK_FRAME = b"\x00\x00\xff\x00\xff\x00"
NACK_FRAME = b"\x00\x00\xff\xff\x00\x00"
MAX_NORMAL_DATA = 254  # LEN is one byte and counts the TFI too
MAX_EXTENDED_DATA = 264  # the firmware's limit for extended frames (§6.2.1.2)

# HSU wake-up (the manual's power-management chapter): a PN532 in power-down or after power-on
# ("LowVbat") wakes on 0x55 on its RX and needs a moment before a frame; a long preamble of zeros
# gives it that time. The first command after waking must be SAMConfiguration.
WAKE_UP = b"\x55\x55" + b"\x00" * 14

# Command codes (§7).
GET_FIRMWARE_VERSION = 0x02
SAM_CONFIGURATION = 0x14
RF_CONFIGURATION = 0x32
IN_LIST_PASSIVE_TARGET = 0x4A

SAM_NORMAL_MODE = 0x01  # the SAM is not used (§7.2.10)
RF_MAX_RETRIES = 0x05  # RFConfiguration item: MxRtyATR, MxRtyPSL, MxRtyPassiveActivation (§7.3.1)
BRTY_106_TYPE_A = 0x00  # InListPassiveTarget: 106 kbps type A, ISO/IEC 14443 A (§7.3.5)
NFCID1_LENGTHS = (4, 7, 10)  # single, double and triple size UIDs
SEL_RES_ISO14443_4 = 0x20  # SEL_RES bit: the target is ISO/IEC 14443-4 compliant and an ATS follows


@dataclass(frozen=True)
class Frame:
    """A frame received or sent: kind "ack", "nack", "error" or "info" (then with tfi and data)."""

    kind: str
    tfi: int | None = None
    data: bytes = b""  # PD0..PDn: the command code first


@dataclass(frozen=True)
class FirmwareVersion:
    """GetFirmwareVersion's answer (§7.2.2): IC 0x32 for a PN532, version, revision, supported modes."""

    ic: int
    version: int
    revision: int
    support: int

    def __str__(self) -> str:
        return f"PN5{self.ic:02X} firmware {self.version}.{self.revision}"


def _checksum(data: bytes) -> int:
    return -sum(data) & 0xFF


def build_frame(data: bytes, tfi: int = TFI_HOST) -> bytes:
    """A normal information frame for the data (PD0..PDn), or an extended one when it does not fit."""
    body = bytes([tfi]) + data
    if len(data) <= MAX_NORMAL_DATA:
        head = bytes([len(body), _checksum(bytes([len(body)]))])
    elif len(data) <= MAX_EXTENDED_DATA:
        length = len(body).to_bytes(2, "big")
        head = b"\xff\xff" + length + bytes([_checksum(length)])
    else:
        raise ValueError(f"{len(data)} bytes do not fit in one PN532 frame (at most {MAX_EXTENDED_DATA})")
    return b"\x00" + START_CODE + head + body + bytes([_checksum(body), 0x00])


def split_frames(buffer: bytes) -> tuple[list[Frame], bytes]:
    """The frames in a received byte stream, and the bytes to keep for the next call.

    Bytes that cannot begin a frame are dropped; a candidate whose checksum fails is skipped by one
    byte only, so that a real frame starting inside it is still found.
    """
    frames: list[Frame] = []
    position = 0
    while (start := buffer.find(START_CODE, position)) >= 0:
        frame, length = _frame_at(buffer, start + len(START_CODE))
        if length is None:
            return frames, buffer[start:]  # incomplete: wait for more bytes
        if frame is None:
            position = start + 1
        else:
            frames.append(frame)
            position = start + len(START_CODE) + length
    # Keep a last 00: it may be the first half of a start code.
    return frames, buffer[-1:] if buffer.endswith(b"\x00") else b""


def _frame_at(buffer: bytes, at: int) -> tuple[Frame | None, int | None]:
    """The frame whose LEN is at `at` and how many bytes it takes from there; (None, None) if
    incomplete, (None, n) if no frame starts here."""
    head = buffer[at:at + 2]
    if len(head) < 2:
        return None, None
    if head == b"\x00\xff":
        return Frame("ack"), 2
    if head == b"\xff\x00":
        return Frame("nack"), 2
    if head == b"\xff\xff":
        return _extended_frame_at(buffer, at + 2)
    if (head[0] + head[1]) & 0xFF or head[0] == 0:
        return None, 0
    frame, length = _body_at(buffer, at + 2, head[0])
    return frame, None if length is None else 2 + length


def _extended_frame_at(buffer: bytes, at: int) -> tuple[Frame | None, int | None]:
    head = buffer[at:at + 3]
    if len(head) < 3:
        return None, None
    size = int.from_bytes(head[:2], "big")
    if (head[0] + head[1] + head[2]) & 0xFF or not 0 < size <= MAX_EXTENDED_DATA + 1:
        return None, 0
    frame, length = _body_at(buffer, at + 3, size)
    return frame, None if length is None else 5 + length


def _body_at(buffer: bytes, at: int, size: int) -> tuple[Frame | None, int | None]:
    """TFI and data of `size` bytes at `at`, then DCS: the frame and the bytes taken (body and DCS)."""
    body = buffer[at:at + size + 1]
    if len(body) < size + 1:
        return None, None
    if sum(body) & 0xFF:
        return None, 0
    tfi, data = body[0], bytes(body[1:size])
    if tfi == TFI_ERROR and size == 1:
        return Frame("error"), size + 1
    if tfi in (TFI_HOST, TFI_PN532):
        return Frame("info", tfi, data), size + 1
    return None, 0


def sam_configuration() -> bytes:
    """SAMConfiguration in normal mode (§7.2.10): no SAM, the PN532 is a plain reader."""
    return bytes([SAM_CONFIGURATION, SAM_NORMAL_MODE])


def get_firmware_version() -> bytes:
    return bytes([GET_FIRMWARE_VERSION])


def rf_max_retries(passive_activation: int) -> bytes:
    """RFConfiguration MaxRetries (§7.3.1): how often InListPassiveTarget looks for a card before
    answering "none". The default 0xFF means forever, which would leave a poll unanswered."""
    return bytes([RF_CONFIGURATION, RF_MAX_RETRIES, 0xFF, 0x01, passive_activation])


def in_list_passive_target(max_targets: int = 1) -> bytes:
    """InListPassiveTarget for ISO/IEC 14443 A cards at 106 kbps (§7.3.5)."""
    return bytes([IN_LIST_PASSIVE_TARGET, max_targets, BRTY_106_TYPE_A])


def parse_firmware_version(data: bytes) -> FirmwareVersion | None:
    if len(data) != 5 or data[0] != GET_FIRMWARE_VERSION + 1:
        return None
    return FirmwareVersion(*data[1:])


def parse_in_list_passive_target(data: bytes) -> list[bytes]:
    """The NFCID1s (UIDs) in an InListPassiveTarget answer for 106 kbps type A (§7.3.5).

    Answer: 4B, NbTg, then per target Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1, and an
    ATS (its first byte its length) when SEL_RES says ISO/IEC 14443-4. A target whose fields do not
    fit is not reported, nor any after it.
    """
    if len(data) < 2 or data[0] != IN_LIST_PASSIVE_TARGET + 1 or data[1] > 2:
        return []
    uids, at = [], 2
    for _ in range(data[1]):
        if len(data) < at + 5:
            break
        sel_res, uid_length = data[at + 3], data[at + 4]
        uid = data[at + 5:at + 5 + uid_length]
        if uid_length not in NFCID1_LENGTHS or len(uid) != uid_length:
            break
        uids.append(bytes(uid))
        at += 5 + uid_length
        if sel_res & SEL_RES_ISO14443_4 and at < len(data):
            at += max(data[at], 1)  # TL, the ATS length, counts itself (ISO/IEC 14443-4 §5.2.1)
    return uids


def card_read(uid: bytes) -> CardRead:
    return CardRead(PN532, uid, uid.hex().upper())


class Pn532Parser:
    """The cards in a stream of PN532 answers: each InListPassiveTarget answer's UIDs."""

    family = PN532

    def __init__(self) -> None:
        self._rest = b""

    def drop_partial(self) -> None:
        self._rest = b""  # the start code resynchronises

    def feed(self, data: bytes) -> list[CardRead]:
        frames, self._rest = split_frames(self._rest + data)
        return [card_read(uid) for frame in frames if frame.kind == "info" and frame.tfi == TFI_PN532
                for uid in parse_in_list_passive_target(frame.data)]
