"""Alarms: raised, updated, cleared and acknowledged, each change stored and then told on the bus.

Which alarms should be open is decided by the rules (core/alarm_rules.py) from what the core
already knows; the watch (core/alarm_watch.py) feeds them. Every change publishes AlarmChanged,
which notifications, the web UI's live view and /metrics listen to. An acknowledgement made by the
CLI (another process) is journaled, so a running server publishes it too.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

from appliance.core import events as ev
from appliance.core.alarm_rules import KINDS, Wanted
from appliance.core.journal import Journal
from appliance.store import alarms as store
from appliance.store.alarms import AlarmRecord
from appliance.store.database import Database

log = logging.getLogger(__name__)

RAISED, CLEARED, ACKNOWLEDGED, UPDATED = "raised", "cleared", "acknowledged", "updated"


class AlarmError(ValueError):
    """A request about an alarm that cannot be carried out; the message says why."""


class AlarmNotFound(AlarmError, LookupError):
    pass


def event_of(record: AlarmRecord, change: str) -> ev.AlarmChanged:
    """The event for a change; its detail carries what was done about the alarm too (auto-recovery's
    steps), so that a notification tells it."""
    detail = f"{record.detail}\n{record.actions}" if record.actions else record.detail
    return ev.AlarmChanged(record.id, record.kind, record.severity, record.charger_identity or None, record.title,
                           detail, change)


class Alarms:
    def __init__(self, db: Database, bus: ev.EventBus, journal: Journal) -> None:
        self.db = db
        self.bus = bus
        self.journal = journal
        # (kind, charger, connector) of the open alarms, so that the clear every status report asks for
        # costs no write when nothing is open (only this process raises and clears; the CLI acknowledges).
        self._open_keys: set[tuple[str, str, int]] | None = None

    async def _open_key_set(self) -> set[tuple[str, str, int]]:
        if self._open_keys is None:
            loaded = {(r.kind, r.charger_identity, r.connector_number) for r in await self.open()}
            if self._open_keys is None:  # another task may have loaded (and added to) it meanwhile
                self._open_keys = loaded
        return self._open_keys

    async def want(self, wanted: Wanted) -> AlarmRecord:
        """Raise the alarm, or update the open one where its severity or words changed."""
        # The key is noted before the write is queued, and a clear takes it away before its own: the
        # writer runs jobs in the order queued, so the set follows the store even when the two race.
        (await self._open_key_set()).add(wanted.key)
        record, change = await self.db.write(store.raise_or_update, wanted.kind, wanted.severity, wanted.identity,
                                             wanted.connector, wanted.title, wanted.detail, ev.utcnow())
        if change:
            if change == RAISED:
                log.warning("alarm %d raised: %s", record.id, record.title)
            self.bus.publish(event_of(record, change))
        return record

    async def clear(self, kind: str, identity: str, connector: int, reason: str) -> AlarmRecord | None:
        keys = await self._open_key_set()
        if (kind, identity, connector) not in keys:
            return None
        keys.discard((kind, identity, connector))
        record = await self.db.write(store.clear, kind, identity, connector, reason, ev.utcnow())
        if record is not None:
            log.info("alarm %d cleared: %s (%s)", record.id, record.title, reason)
            self.bus.publish(event_of(record, CLEARED))
        return record

    async def reconcile(self, kinds: Iterable[str], wanted: Iterable[Wanted], identity: str | None = None,
                        reason: str = "the condition is gone", still: Callable[[Wanted], bool] | None = None) -> None:
        """Make the open alarms of these kinds (of this charger, when given) exactly the wanted ones.
        Writes only what differs: a look that finds everything as it was costs one read. `still` is
        asked again just before an alarm is raised: what was wanted when the look began may have
        ended while it read (a charger back online), and an event has then cleared it already."""
        kinds, wanted = set(kinds), list(wanted)
        current = {(r.kind, r.charger_identity, r.connector_number): r for r in await self.open(identity)
                   if r.kind in kinds}
        for w in wanted:
            found = current.get(w.key)
            if found is None or (found.severity, found.title, found.detail) != (w.severity, w.title[:200], w.detail):
                if still is None or still(w):
                    await self.want(w)
        keys = {w.key for w in wanted}
        for key in current:
            if key not in keys:
                await self.clear(*key, reason)

    async def acknowledge(self, alarm_id: int, by: str, note: str = "") -> AlarmRecord:
        """Someone has seen the alarm and takes care of it; it stays open until its condition is gone."""
        by, note = (by or "").strip(), (note or "").strip()
        if not by:
            raise AlarmError("say who acknowledges the alarm")
        if len(note) > 2000:
            raise AlarmError("a note may be at most 2000 characters long")

        def ack_sync() -> AlarmRecord:
            record = store.acknowledge(alarm_id, by, note, ev.utcnow())
            if record is None:
                raise AlarmNotFound(f"no alarm {alarm_id}")
            self.journal.record_sync(event_of(record, ACKNOWLEDGED))
            return record

        record = await self.db.write(ack_sync)
        self.bus.publish(event_of(record, ACKNOWLEDGED))
        return record

    async def add_action(self, alarm_id: int, line: str) -> AlarmRecord | None:
        """Record what was done about the alarm (an auto-recovery step and its answer), told as an update."""
        record = await self.db.write(store.add_action, alarm_id, line, ev.utcnow())
        if record is not None:
            self.bus.publish(event_of(record, UPDATED))
        return record

    async def get(self, alarm_id: int) -> AlarmRecord:
        record = await self.db.read(store.get, alarm_id)
        if record is None:
            raise AlarmNotFound(f"no alarm {alarm_id}")
        return record

    async def list(self, open_only: bool = False, kind: str | None = None, identity: str | None = None,
                   limit: int = 100) -> list[AlarmRecord]:
        if kind is not None and kind not in KINDS:
            raise AlarmError(f"unknown alarm kind {kind!r}; one of: {', '.join(KINDS)}")
        return await self.db.read(store.list_alarms, open_only, kind, identity, limit)

    async def open(self, identity: str | None = None) -> list[AlarmRecord]:
        records = await self.db.read(store.open_alarms)
        return [r for r in records if identity is None or r.charger_identity == identity]
