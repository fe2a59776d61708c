"""Watching chargers' clocks: a "clock_skew" report (and a ChargerReported event for the live view)
each time a charger's clock goes off by more than charger_time.SKEW_LIMIT, or back in step.

It reads what is stored already (every message keeps the charger's time and the receipt time), so
no adapter has to do anything, and a round costs only the rows since the last one. The charger
learns the right time from the appliance's BootNotification and Heartbeat answers (currentTime);
this is for staff, to find the charger whose clock does not take it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict

from appliance.core import charger_time as ct
from appliance.core import events as ev
from appliance.store import charger_clocks as store
from appliance.store import device_model as report_store
from appliance.store.database import Database

log = logging.getLogger(__name__)

KIND = "clock_skew"


class ClockWatch:
    def __init__(self, db: Database, bus: ev.EventBus) -> None:
        self.db = db
        self.bus = bus
        self.skewed: dict[str, str] = {}  # charger id -> summary, for /healthz and the dashboard
        self._readings: dict[int, ct.RecentReadings] = defaultdict(ct.RecentReadings)  # by charger pk
        self._verdicts: dict[int, ct.Verdict] = {}
        self._last_ids: dict[str, int] | None = None

    async def check(self) -> list[tuple[str, str]]:
        """One round; returns the changes reported, as (charger id, summary)."""
        if self._last_ids is None:
            self._last_ids = await self.db.read(store.start_ids)
        readings, self._last_ids = await self.db.read(store.readings_since, self._last_ids)
        names = {}
        for r in readings:
            self._readings[r.charger_pk].add(r.charger_at, r.received_at)
            names[r.charger_pk] = r.identity
        changes = []
        for pk, identity in names.items():
            verdict = self._judge(pk)
            if verdict is None:
                continue
            if await self._changed(pk, verdict):
                changes.append((identity, await self._report(pk, identity, verdict)))
            if self._verdicts[pk].in_step:
                self.skewed.pop(identity, None)
            else:
                self.skewed[identity] = self._verdicts[pk].summary()
        return changes

    def _judge(self, pk: int) -> ct.Verdict | None:
        return self._readings[pk].verdict()

    async def _changed(self, pk: int, verdict: ct.Verdict) -> bool:
        before = self._verdicts.get(pk)
        if before is None:  # first look since the start: as the last report left it, else in step
            last = await self.db.read(store.last_skew_report, pk)
            offset = (last or {}).get("offset_s")
            before = ct.Verdict(dt.timedelta(seconds=offset) if offset is not None else None)
        self._verdicts[pk] = verdict if verdict.differs_from(before) else before
        return verdict.differs_from(before)

    async def _report(self, pk: int, identity: str, verdict: ct.Verdict) -> str:
        summary = verdict.summary()
        now = ev.utcnow()
        payload = {"offset_s": round(verdict.offset.total_seconds()) if verdict.offset is not None else None}
        await self.db.write(report_store.add_report, pk, KIND, now, now, summary, payload)
        log.warning("%s: %s", identity, summary)
        self.bus.publish(ev.ChargerReported(identity, KIND, summary))
        return summary

    async def watch_forever(self, interval_s: float = 60.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.check()
            except Exception:
                log.exception("clock watch round failed")
