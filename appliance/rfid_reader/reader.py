"""A blocking reader on one device: opens it, finds its family, hands out one read per card presented,
and outlives the device being unplugged.

Serial devices are opened with a port factory (pyserial's `serial_for_url` by default, so a pty path
or `loop://` serves in tests); keyboard readers (family "hid", or any path that is or links to
/dev/input/) with the evdev opener. Without a family the reader asks for a PN532 first (the only
family that must be spoken to, and it answers within half a second), then listens at 9600 baud and
lets the first card tell an RDM6300 from an ASCII line reader. A port that fails (unplugged, or a PN532 that stops
answering) is closed and reopened with backoff until the device is back; `on_state` hears of each
change, so a user can be told to plug the reader back in. `next_read` is meant for a worker thread:
it blocks, up to its timeout (more by at most one PN532 exchange, 0.5 s).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Self

import serial

from appliance.rfid_reader.ascii_lines import AsciiLineParser
from appliance.rfid_reader.debounce import Debouncer
from appliance.rfid_reader.detection import FamilySniffer, Parser
from appliance.rfid_reader.em4100 import Em4100Parser
from appliance.rfid_reader.evdev_keyboard import (
    EvdevKeyboardParser,
    is_input_device,
    open_keyboard,
)
from appliance.rfid_reader.pn532_driver import DEFAULT_RESPONSE_TIMEOUT_S, Pn532Driver
from appliance.rfid_reader.reads import ASCII, FAMILIES, HID, PN532, RDM6300, CardRead

CONNECTED, UNPLUGGED = "connected", "unplugged"
DEFAULT_BAUDRATES = {ASCII: 9600, RDM6300: 9600, PN532: 115200}  # the modules' factory settings
READ_TIMEOUT_S = 0.05  # one blocking read on the port; bounds how late close() takes effect
SETTLE_MAX_S = 0.5  # the longest a stream source waits for a quiet line before it listens anyway
PN532_POLL_INTERVAL_S = 0.1
PN532_SILENCES_BEFORE_RESTART = 3  # unanswered polls before the PN532 is taken for reset or gone


class NoAnswer(OSError):
    """The port is open but the reader behind it does not answer: handled like an unplugged one."""


class _StreamSource:
    """A reader that speaks unasked: every byte goes to the parser, once the line has been quiet.

    A port opened (or flushed) while the reader is sending starts in the middle of a line, and the
    tail of a line can look like a shorter id ("A23B1C228000" of "04A23B1C228000"). So what arrives
    before the first read timeout without a byte is dropped. A reader that never pauses is listened
    to after SETTLE_MAX_S all the same, with the parser told that it joins in the middle.
    """

    def __init__(self, port: Any, parser: Parser) -> None:
        self.port, self.parser = port, parser
        self._settled = False
        self._settle_deadline = time.monotonic() + SETTLE_MAX_S

    @property
    def family(self) -> str | None:
        return self.parser.family

    def step(self, max_wait_s: float) -> list[CardRead]:
        data = self.port.read(max(1, self.port.in_waiting))
        if not self._settled:
            if data and time.monotonic() < self._settle_deadline:
                return []  # still the middle of whatever was being sent when the port was opened
            self._settled = True
            if data:
                self.parser.drop_partial()
        return self.parser.feed(data)


class _Pn532Source:
    """A PN532, polled every `interval_s`."""

    family = PN532

    def __init__(self, driver: Pn532Driver, interval_s: float, sleep: Callable[[float], Any]) -> None:
        self._driver, self._interval_s, self._sleep = driver, interval_s, sleep
        self._next_poll_at = 0.0
        self._silences = 0

    def step(self, max_wait_s: float) -> list[CardRead]:
        wait = self._next_poll_at - time.monotonic()
        if wait > 0:
            self._sleep(min(wait, max_wait_s))
            return []
        self._next_poll_at = time.monotonic() + self._interval_s
        reads = self._driver.poll()
        self._silences = 0 if reads is not None else self._silences + 1
        if self._silences >= PN532_SILENCES_BEFORE_RESTART:
            raise NoAnswer("the PN532 stopped answering")
        return reads or []


class Reader:
    """One RFID reader device. `next_read(timeout_s)` until done, then `close()` (any thread).

    `on_state(state, detail)` is called from the thread in `next_read`, with CONNECTED or UNPLUGGED
    and a sentence for a person; `hold_s` and `clock` are the debouncing's.
    """

    def __init__(self, device: str, family: str | None = None, baudrate: int | None = None,
                 port_factory: Callable[..., Any] = serial.serial_for_url, *,
                 on_state: Callable[[str, str], Any] | None = None, hold_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 keyboard_factory: Callable[..., Any] = open_keyboard,
                 backoff_s: tuple[float, float] = (0.2, 5.0),
                 pn532_poll_interval_s: float = PN532_POLL_INTERVAL_S,
                 pn532_timeout_s: float = DEFAULT_RESPONSE_TIMEOUT_S) -> None:
        if family is not None and family not in FAMILIES:
            raise ValueError(f"unknown reader family {family!r}; known: {', '.join(FAMILIES)}")
        self.device = device
        self._family = family
        self._baudrate = baudrate
        self._port_factory, self._keyboard_factory = port_factory, keyboard_factory
        self._on_state = on_state
        self._debouncer = Debouncer(hold_s, clock)
        self._backoff_range = backoff_s
        self._backoff = backoff_s[0]
        self._retry_at = 0.0
        self._pn532_poll_interval_s, self._pn532_timeout_s = pn532_poll_interval_s, pn532_timeout_s
        self._port: Any = None
        self._source: _StreamSource | _Pn532Source | None = None
        self._pending: deque[CardRead] = deque()
        self._state: str | None = None
        self._closed = threading.Event()
        self._busy = threading.Lock()

    @property
    def family(self) -> str | None:
        """The family given, or the one found; None until found."""
        return self._family

    @property
    def state(self) -> str | None:
        return self._state

    def next_read(self, timeout_s: float) -> CardRead | None:
        """The next card presented, or None after `timeout_s` seconds or once closed."""
        deadline = time.monotonic() + timeout_s
        with self._busy:
            try:
                while not self._closed.is_set():
                    if self._pending:
                        return self._pending.popleft()
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    if self._source is None:
                        self._try_connect(remaining)
                    else:
                        self._step(remaining)
                return None
            finally:
                if self._closed.is_set():
                    self._release_port()

    def close(self) -> None:
        """Stop reading and let go of the device; a `next_read` running in another thread returns None."""
        self._closed.set()
        if self._busy.acquire(blocking=False):  # else the thread in next_read releases the port
            try:
                self._release_port()
            finally:
                self._busy.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _step(self, remaining_s: float) -> None:
        assert self._source is not None
        try:
            reads = self._source.step(remaining_s)
        except OSError as error:  # pyserial's SerialException is one; so is a vanished evdev device
            self._release_port()
            self._retry_at, self._backoff = time.monotonic(), self._backoff_range[0]
            self._set_state(UNPLUGGED, f"{self.device}: {error}")
            return
        self._family = self._family or self._source.family  # a listening source learns it from a card
        self._pending.extend(read for read in reads if self._debouncer.accept(read))

    def _try_connect(self, remaining_s: float) -> None:
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            self._closed.wait(min(wait, remaining_s))
            return
        try:
            detail = self._connect()
        except OSError as error:
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, self._backoff_range[1])
            self._set_state(UNPLUGGED, f"{self.device}: {error}")
            return
        self._backoff = self._backoff_range[0]
        self._set_state(CONNECTED, f"{self.device}: {detail}")

    def _connect(self) -> str:
        """Open the device and set up its source; what was found, in words."""
        family = self._family or (HID if is_input_device(self.device) else None)
        if family == HID:
            self._port = self._keyboard_factory(self.device, timeout=READ_TIMEOUT_S)
            self._family, self._source = HID, _StreamSource(self._port, EvdevKeyboardParser())
            return "hid keyboard reader"
        baudrate = self._baudrate or DEFAULT_BAUDRATES[family or PN532]
        try:
            self._port = self._port_factory(self.device, baudrate=baudrate, timeout=READ_TIMEOUT_S)
        except ValueError as e:  # pyserial: a URL scheme it does not know ("foo://")
            raise OSError(str(e)) from None
        try:
            return self._identify(family)
        except BaseException:
            self._release_port()
            raise

    def _identify(self, family: str | None) -> str:
        if family in (None, PN532):
            driver = Pn532Driver(self._port, self._pn532_timeout_s)
            version = driver.start()
            if version is not None:
                source = _Pn532Source(driver, self._pn532_poll_interval_s, self._closed.wait)
                self._family, self._source = PN532, source
                return f"pn532 ({version})"
            if family == PN532:
                raise NoAnswer("no PN532 answers")
            # Not a PN532: listen at the ASCII readers' speed, without what the probe left behind.
            self._port.baudrate = self._baudrate or DEFAULT_BAUDRATES[ASCII]
            self._port.reset_input_buffer()
        if family is None:
            self._source = _StreamSource(self._port, FamilySniffer())
            return "listening: the first card will tell whether it is an rdm6300 or an ascii reader"
        parser = Em4100Parser() if family == RDM6300 else AsciiLineParser()
        self._source = _StreamSource(self._port, parser)
        return f"{family} reader"

    def _release_port(self) -> None:
        port, self._port, self._source = self._port, None, None
        if port is not None:
            try:
                port.close()
            except OSError:
                pass  # a vanished device may refuse even this; it is let go of all the same

    def _set_state(self, state: str, detail: str) -> None:
        if state != self._state:
            self._state = state
            if self._on_state is not None:
                self._on_state(state, detail)
