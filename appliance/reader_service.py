"""The server's own RFID readers: each read in a thread of its own, taps and state changes handed to
the event loop, where any number of listeners (the enrolment page, the API's event stream) get them.

The readers survive unplugging (the Reader reopens the device); what happens is told to listeners
as state events, so the page can show "reader unplugged" and carry on when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from appliance.rfid_reader.id_format import IdFormat, IdFormatError, format_id, parse_form, uid_from_decimal
from appliance.rfid_reader.reader import Reader
from appliance.rfid_reader.reads import CardRead

log = logging.getLogger(__name__)


@dataclass
class ReaderStatus:
    device: str
    family: str | None = None
    state: str = "starting"
    detail: str = ""


@dataclass(frozen=True)
class ReaderConfig:
    device: str
    family: str | None = None
    form: IdFormat | None = None  # None: the setting rfid_id_form


def parse_readers(text: str) -> list[ReaderConfig]:
    """`DEVICE[=FAMILY][@FORM],...` as the setting `rfid_readers` gives them (a reader whose cards the
    chargers write in another form than the others gets its own)."""
    configs = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            item, _, form = item.partition("@")
            device, _, family = item.partition("=")
            configs.append(ReaderConfig(device.strip(), family.strip() or None,
                                        parse_form(form) if form.strip() else None))
    return configs


@dataclass
class ReaderService:
    configs: list[ReaderConfig]
    form: IdFormat
    statuses: dict[str, ReaderStatus] = field(default_factory=dict)
    _listeners: set[asyncio.Queue] = field(default_factory=set)
    _readers: list[Reader] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for config in self.configs:
            status = self.statuses[config.device] = ReaderStatus(config.device, config.family)
            reader = Reader(config.device, config.family,
                            on_state=lambda state, detail, s=status: self._state(s, state, detail))
            self._readers.append(reader)
            thread = threading.Thread(target=self._run, args=(reader, status, config.form), name=f"rfid {config.device}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()

    async def stop(self) -> None:
        self._stop.set()
        for reader in self._readers:
            reader.close()
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 5)

    def listen(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=100)
        self._listeners.add(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue) -> None:
        self._listeners.discard(queue)

    def end_listeners(self) -> None:
        """Tell every listener the stream is over (server shutdown), so none holds the shutdown up."""
        self._deliver({"type": "end"})

    def tag_id(self, read: CardRead, form: IdFormat | None = None) -> str:
        """The tag id of a card as the depot's chargers write it (the reader's form, else rfid_id_form)."""
        uid = read.uid if read.uid is not None else uid_from_decimal(read.text)
        if uid is None:
            return read.text.strip().upper()
        try:
            return format_id(uid, form or self.form)
        except IdFormatError:
            return uid.hex().upper()

    # -- in the readers' threads ----------------------------------------------------------------

    def _run(self, reader: Reader, status: ReaderStatus, form: IdFormat | None) -> None:
        while not self._stop.is_set():
            try:
                read = reader.next_read(0.5)
            except Exception:  # a reader's failure must not end enrolment for good
                log.exception("reader %s failed", reader.device)
                self._stop.wait(1.0)
                continue
            if read is not None:
                status.family = read.family
                self._emit({"type": "tap", "reader": reader.device, "family": read.family, "reader_text": read.text,
                            "id": self.tag_id(read, form)})

    def _state(self, status: ReaderStatus, state: str, detail: str) -> None:
        status.state, status.detail = state, detail
        self._emit({"type": "state", "reader": status.device, "state": state, "detail": detail})

    def _emit(self, event: dict[str, Any]) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: dict[str, Any]) -> None:
        for queue in list(self._listeners):
            if queue.full():  # a listener that does not read loses its oldest events, not the others theirs
                queue.get_nowait()
            queue.put_nowait(event)
