"""Pacing of what the appliance does for a charger after it boots.

After a boot the appliance sets a new charger's offline behaviour, compares its local list (and sends
what is missing) and asks a 2.0.1 station for its device model: a handful of commands each. When the
whole depot boots at once (a power cut, a network outage, the first start with thousands of chargers)
that is tens of thousands of commands; started all at once they queue ahead of the chargers' own
messages, and a MeterValues waited seconds for its answer (PERFORMANCE.md, the held fleet). Here each
charger's boot work waits for one of a few slots: the depot is configured a few chargers at a time, in
the order they booted, and the chargers' messages keep their turn.

The queue holds at most one piece of each kind of work per charger: a charger that boots again while
its work still waits replaces it (the later boot is the one to answer), and one that disconnects
leaves the queue. Chargers that come and go faster than they can be served therefore cannot grow it.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

# Enough to keep a few round trips in flight (a charger answers in milliseconds on a LAN), few enough
# that the chargers' own messages never queue behind more than that many commands.
DEFAULT_SLOTS = 8


class BootWork:
    def __init__(self, slots: int = DEFAULT_SLOTS) -> None:
        self._slots = asyncio.Semaphore(max(1, slots))
        # by charger, then kind: a disconnect finds its charger's work at once (a storm of 5,000
        # reconnects is 5,000 disconnects while thousands of pieces wait)
        self._waiting: dict[str, dict[str, asyncio.Future]] = {}
        self.waiting = 0
        self.running = 0

    async def run(self, identity: str, kind: str, work: Callable[[], Awaitable[None]]) -> bool:
        """Run `work` when a slot is free; False if it never ran: the charger booted again (that
        boot's work replaced it) or disconnected while it waited."""
        previous = self._drop(identity, kind)
        if previous is not None:
            previous.cancel()
        acquire = asyncio.ensure_future(self._slots.acquire())
        self._waiting.setdefault(identity, {})[kind] = acquire
        self.waiting += 1
        try:
            await acquire
        except asyncio.CancelledError:
            if acquire.done() and not acquire.cancelled():  # we were cancelled just as the slot came
                self._slots.release()
            if acquire.cancelled() and self._waiting_for(identity, kind) is not acquire:  # replaced or forgotten
                return False
            raise
        finally:
            if self._waiting_for(identity, kind) is acquire:
                self._drop(identity, kind)
        self.running += 1
        try:
            await work()
        finally:
            self.running -= 1
            self._slots.release()
        return True

    def forget(self, identity: str) -> None:
        """The charger is gone: what it still waits for is dropped."""
        for acquire in self._waiting.pop(identity, {}).values():
            self.waiting -= 1
            acquire.cancel()

    def _waiting_for(self, identity: str, kind: str) -> asyncio.Future | None:
        return self._waiting.get(identity, {}).get(kind)

    def _drop(self, identity: str, kind: str) -> asyncio.Future | None:
        kinds = self._waiting.get(identity)
        acquire = kinds.pop(kind, None) if kinds is not None else None
        if acquire is not None:
            self.waiting -= 1
            if not kinds:
                del self._waiting[identity]
        return acquire

    def as_json(self) -> dict[str, int]:
        return {"waiting": self.waiting, "running": self.running}
