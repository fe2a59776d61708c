"""Reading the site meters of the circuits that have one, each in its own task, so a slow or dead
meter never holds up load management; a reading that changes, or one that goes stale, asks for a run."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from appliance.dlm.site_meter import MeterError, MeterSource
from appliance.store.circuits import CircuitRecord

log = logging.getLogger(__name__)

CHANGE_A = 0.5  # a reading that moves less on every phase does not call for a new allocation


@dataclass
class MeterWatch:
    source: MeterSource | None
    url: str
    measures: str  # other: the loads besides the chargers; total: everything, chargers included
    current_a: dict[str, float] = field(default_factory=dict)
    read_at: float = -math.inf  # monotonic
    error: str = ""
    stale: bool = False
    task: asyncio.Task | None = None


class SiteMeters:
    def __init__(self, open_meter: Callable[[str], MeterSource], interval_s: float, stale_s: float,
                 on_change: Callable[[], None]) -> None:
        self.open_meter = open_meter
        self.interval_s = interval_s
        self.stale_s = stale_s
        self.on_change = on_change
        self.watches: dict[str, MeterWatch] = {}

    def get(self, circuit: str) -> MeterWatch | None:
        return self.watches.get(circuit)

    def fresh(self, circuit: str) -> MeterWatch | None:
        """The circuit's meter if its last reading is recent enough to trust."""
        watch = self.watches.get(circuit)
        return watch if watch is not None and watch.read_at >= time.monotonic() - self.stale_s else None

    async def watch(self, circuits: Iterable[CircuitRecord]) -> None:
        """Read the meters these circuits name now; stop reading the ones they no longer name."""
        wanted = {c.name: (c.meter_url, c.meter_measures) for c in circuits if c.meter_url}
        for name in list(self.watches):
            if wanted.get(name, (None,))[0] != self.watches[name].url:
                await self._stop(self.watches.pop(name))
        for name, (url, measures) in wanted.items():
            if name in self.watches:
                self.watches[name].measures = measures
                continue
            try:
                watch = MeterWatch(self.open_meter(url), url, measures)
            except ValueError as e:
                self.watches[name] = MeterWatch(None, url, measures, error=f"cannot use this meter: {e}")
                continue
            watch.task = asyncio.create_task(self._read_forever(name, watch), name=f"site-meter-{name}")
            self.watches[name] = watch

    async def close(self) -> None:
        for watch in self.watches.values():
            await self._stop(watch)
        self.watches.clear()

    @staticmethod
    async def _stop(watch: MeterWatch) -> None:
        if watch.task is not None:
            watch.task.cancel()
            await asyncio.gather(watch.task, return_exceptions=True)
        if watch.source is not None:
            await watch.source.close()

    async def _read_forever(self, circuit: str, watch: MeterWatch) -> None:
        while True:
            try:
                reading = await watch.source.read()
                changed = any(abs(reading.current_a.get(p, 0.0) - watch.current_a.get(p, 0.0)) >= CHANGE_A
                              for p in set(reading.current_a) | set(watch.current_a))
                watch.current_a, watch.read_at, watch.error = dict(reading.current_a), time.monotonic(), ""
                if changed or watch.stale:
                    self.on_change()
                watch.stale = False
            except MeterError as e:
                if watch.error != str(e):
                    log.warning("site meter of circuit %s: %s", circuit, e)
                watch.error = str(e)
                if not watch.stale and time.monotonic() - watch.read_at > self.stale_s:
                    watch.stale = True
                    self.on_change()  # the static reserve applies again
            except Exception as e:  # a meter must never stop load management
                log.exception("site meter of circuit %s failed", circuit)
                watch.error = f"unexpected: {e}"
            await asyncio.sleep(self.interval_s)
