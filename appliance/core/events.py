"""Domain events and the in-process bus that the DLM, local lists, billing and the UI subscribe to.

Events are published after the data they describe is committed. Subscribers run as separate
tasks, so a slow or failing subscriber never delays or breaks the publisher.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class ChargerConnected(Event):
    identity: str
    protocol: str


@dataclass(frozen=True)
class ChargerDisconnected(Event):
    identity: str


@dataclass(frozen=True)
class ConnectionStateChanged(Event):
    """online, temporarily_unavailable, unavailable (long-term lost)."""

    identity: str
    state: str
    previous: str


@dataclass(frozen=True)
class ChargerBooted(Event):
    identity: str
    registration: str
    reason: str = ""


@dataclass(frozen=True)
class StatusChanged(Event):
    identity: str
    connector_number: int
    status: str
    error_code: str
    previous: str | None


@dataclass(frozen=True)
class SessionStarted(Event):
    transaction_id: int
    identity: str
    connector_number: int
    id_tag: str
    auth_status: str


@dataclass(frozen=True)
class SessionUpdated(Event):
    transaction_id: int | None
    identity: str
    connector_number: int
    energy_wh: int | None = None
    power_w: float | None = None
    current_a: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionStopped(Event):
    transaction_id: int
    identity: str
    connector_number: int
    energy_wh: int
    reason: str


@dataclass(frozen=True)
class ChargerChanged(Event):
    """A charger was added, accepted, rejected, edited or removed (by anyone, CLI included)."""

    identity: str
    change: str


@dataclass(frozen=True)
class TagChanged(Event):
    id_tag: str
    change: str


@dataclass(frozen=True)
class UserGroupChanged(Event):
    """A company or driver was added or changed."""

    kind: str
    name: str
    change: str


@dataclass(frozen=True)
class LoadPlanChanged(Event):
    """Load management's plan changed: a circuit, how a charger is wired, a priority, a session's
    charge-first flag (subject: circuit, member, priority, session)."""

    subject: str
    name: str
    change: str


@dataclass(frozen=True)
class ChargerReported(Event):
    """A charger sent a report kept in the store (security event, device event, charging need, ...)."""

    identity: str
    kind: str
    summary: str


@dataclass(frozen=True)
class FirmwareStatus(Event):
    identity: str
    status: str


@dataclass(frozen=True)
class DiagnosticsStatus(Event):
    identity: str
    status: str


@dataclass(frozen=True)
class AlarmChanged(Event):
    """An alarm was raised, cleared, acknowledged or updated (an auto-recovery step's result, say).

    `kind` names the rule (charger_offline, charger_offline_long_term, connector_faulted,
    transaction_stuck, profile_ignored, local_list_out_of_sync, head_office_sync_failing,
    disk_filling, reader_unplugged, inspection_due); `severity` is info, warning or critical;
    `identity` the charger it concerns, if any; `title` one line in words, `detail` the rest."""

    alarm_id: int
    kind: str
    severity: str
    identity: str | None
    title: str
    detail: str
    change: str  # raised, cleared, acknowledged, updated


Handler = Callable[[Any], Awaitable[None] | None]


class EventBus:
    """Handlers run after publish returns, each on its own: one that fails or waits does not hold up
    the publisher or the others. A coroutine handler gets a task; a plain function only a callback
    on the loop (a task costs several times as much, and SessionUpdated is published at every
    MeterValues)."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[tuple[Handler, bool]]] = defaultdict(list)
        self._tasks: set[asyncio.Task] = set()
        self._callbacks_pending = 0

    def subscribe(self, event_type: type[Event], handler: Handler) -> None:
        self._handlers[event_type].append((handler, asyncio.iscoroutinefunction(handler)))

    def unsubscribe(self, event_type: type[Event], handler: Handler) -> None:
        self._handlers[event_type] = [entry for entry in self._handlers[event_type] if entry[0] != handler]

    def publish(self, event: Event) -> None:
        loop = asyncio.get_running_loop()
        for event_type in type(event).__mro__:
            for handler, is_coroutine in list(self._handlers.get(event_type, ())):
                if is_coroutine:
                    self._start(loop, self._run(handler, event))
                else:
                    self._callbacks_pending += 1
                    loop.call_soon(self._call, handler, event)

    def _start(self, loop: asyncio.AbstractEventLoop, coroutine: Awaitable[None]) -> None:
        task = loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _call(self, handler: Handler, event: Event) -> None:
        self._callbacks_pending -= 1
        try:
            result = handler(event)
        except Exception:
            log.exception("event handler %r failed on %r", handler, event)
            return
        if asyncio.iscoroutine(result):  # a plain function that returned a coroutine
            self._start(asyncio.get_running_loop(), self._run(lambda _: result, event))

    async def _run(self, handler: Handler, event: Event) -> None:
        try:
            result = handler(event)
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            log.exception("event handler %r failed on %r", handler, event)

    async def drain(self) -> None:
        """Wait until the handlers of events published so far have finished (shutdown, tests)."""
        while self._tasks or self._callbacks_pending:
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            else:
                await asyncio.sleep(0)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
