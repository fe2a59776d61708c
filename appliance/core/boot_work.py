"""Pacing of what the appliance does for a charger after it boots.

After a boot the appliance sets a new charger's offline behaviour, compares its local list (and sends
what is missing) and asks a 2.0.1 station for its device model: a handful of commands each. When the
whole depot boots at once (a power cut, a network outage, the first start with thousands of chargers)
that is tens of thousands of commands; started all at once they queue ahead of the chargers' own
messages, and a MeterValues waited seconds for its answer (PERFORMANCE.md, the held fleet). Here each
charger's boot work waits for one of a few slots: the depot is configured a few chargers at a time, in
the order they booted, and the chargers' messages keep their turn.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

# Enough to keep a few round trips in flight (a charger answers in milliseconds on a LAN), few enough
# that the chargers' own messages never queue behind more than that many commands.
DEFAULT_SLOTS = 8


class BootWork:
    def __init__(self, slots: int = DEFAULT_SLOTS) -> None:
        self._slots = asyncio.Semaphore(max(1, slots))
        self.waiting = 0
        self.running = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()

    def as_json(self) -> dict[str, int]:
        return {"waiting": self.waiting, "running": self.running}
