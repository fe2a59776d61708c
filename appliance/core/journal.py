"""The event journal: how a running server learns what another process (the CLI) changed.

Every change to shared data (chargers, tags, companies, drivers) writes a journal row in the
same transaction as the change. The process that made it publishes the event itself; a server
tails the journal and publishes the events of rows that other processes wrote.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any, Callable

from appliance.core import events as ev
from appliance.store import logs as log_store
from appliance.store.database import Database, is_constraint_error

log = logging.getLogger(__name__)

_KINDS = {"charger": ev.ChargerChanged, "tag": ev.TagChanged, "user_group": ev.UserGroupChanged,
          "load_plan": ev.LoadPlanChanged, "alarm": ev.AlarmChanged}


class Journal:
    def __init__(self, db: Database, bus: ev.EventBus) -> None:
        self.db = db
        self.bus = bus
        self.origin = uuid.uuid4().hex
        self._last_id = 0
        self._reading = asyncio.Lock()  # the tail and a catch-up must not publish the same rows twice

    def record_sync(self, event: ev.Event) -> None:
        """Write the event to the journal; call inside the write that made the change."""
        kind = next(k for k, cls in _KINDS.items() if isinstance(event, cls))
        log_store.journal(ev.utcnow(), self.origin, kind, event.__dict__)

    async def change(self, fn: Callable[[], Any], event: ev.Event, conflict: Callable[[], Exception]) -> Any:
        """Make a change (`fn`, in the writer thread) and journal its event in the same transaction, then
        publish it; a uniqueness conflict raises `conflict()` (what already exists, in words)."""
        def change_sync():
            result = fn()
            self.record_sync(event)
            return result

        try:
            result = await self.db.write(change_sync)
        except Exception as e:
            if is_constraint_error(e):
                raise conflict() from None
            raise
        self.bus.publish(event)
        return result

    async def start_tail(self) -> None:
        self._last_id = await self.db.read(log_store.journal_head)

    async def tail_once(self) -> int:
        """Publish events other processes journaled since the last look; returns how many."""
        async with self._reading:
            entries = await self.db.read(log_store.journal_since, self._last_id)
            published = 0
            for entry in entries:
                self._last_id = entry.id
                if entry.origin != self.origin and entry.kind in _KINDS:
                    self.bus.publish(_KINDS[entry.kind](**entry.payload))
                    published += 1
            return published

    async def catch_up(self) -> None:
        """See now, rather than at the next tail, what other processes changed, and let every
        subscriber act on it (a charger the CLI added this instant gets its link)."""
        if await self.tail_once():
            await self.bus.drain()

    async def tail_forever(self, interval_s: float = 0.5) -> None:
        while True:
            try:
                await self.tail_once()
            except Exception:
                log.exception("reading the event journal failed")
            await asyncio.sleep(interval_s)

    async def prune(self, keep: dt.timedelta = dt.timedelta(days=7)) -> int:
        return await self.db.write(log_store.prune_journal, ev.utcnow() - keep)
