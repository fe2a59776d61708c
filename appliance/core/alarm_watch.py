"""What feeds the alarm rules: the bus's events as they happen, and a look every supervision round.

Events decide the alarms that follow one message (a connector Faulted, a session finished as stuck,
a charger that ignores its limits); the round decides those that follow time or state outside the
chargers' messages (offline for so long, head office failing, the disk, the readers, inspections,
local lists). Each look hands the rules plain values and lets the alarm service reconcile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import shutil
import time
from typing import Callable, Iterable

from appliance.config import Settings
from appliance.core import alarm_rules as rules
from appliance.core import events as ev
from appliance.core.alarms import Alarms
from appliance.core.chargers import ONLINE, ROUND_SLICE, ChargerRegistry
from appliance.core.transactions import STUCK
from appliance.store import alarms as alarm_store
from appliance.store import billing as billing_store
from appliance.store.database import Database
from appliance.store.storage_faults import FULL

log = logging.getLogger(__name__)

OFFLINE_KINDS = (rules.CHARGER_OFFLINE, rules.CHARGER_OFFLINE_LONG_TERM)
EVSE_REPORT = re.compile(r"EVSE (\d+):")
SLOW_LOOK_EVERY_S = 60.0  # inspections, local lists, disk: they change slowly; the reads are not free

# (number, device, state, detail) of each of the server's RFID readers; the server sets the source.
ReaderStates = Callable[[], Iterable[tuple[int, str, str, str]]]


class AlarmWatch:
    def __init__(self, alarms: Alarms, db: Database, bus: ev.EventBus, chargers: ChargerRegistry,
                 settings: Settings) -> None:
        self.alarms = alarms
        self.db = db
        self.bus = bus
        self.chargers = chargers
        self.settings = settings
        self.started = time.monotonic()
        self.reader_states: ReaderStates = lambda: ()
        self.unavailable_since: dict[tuple[str, int], float] = {}  # (charger, connector) -> time.monotonic()
        self._unavailable_raised: set[tuple[str, int]] = set()
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._sync_failing_since: dt.datetime | None = None
        self._last_slow_look = float("-inf")
        self.slow_look_every_s = SLOW_LOOK_EVERY_S

    def subscribe(self) -> None:
        self.bus.subscribe(ev.StatusChanged, self._on_status)
        self.bus.subscribe(ev.ConnectionStateChanged, self._on_connection)
        self.bus.subscribe(ev.SessionStopped, self._on_session_stopped)
        self.bus.subscribe(ev.SessionStarted, self._on_session_started)
        self.bus.subscribe(ev.ChargerReported, self._on_report)

    # -- events ---------------------------------------------------------------------------------

    async def _on_status(self, event: ev.StatusChanged) -> None:
        # Each event's handler runs as a task of its own: a connector's reports are taken one after the
        # other (the lock is fair), or a quick Faulted-Available could clear before it raised.
        key = (event.identity, event.connector_number)
        async with self._locks.setdefault(key, asyncio.Lock()):
            await self._take_status(key, event)

    async def _take_status(self, key: tuple[str, int], event: ev.StatusChanged) -> None:
        if event.status == "Unavailable":
            self.unavailable_since.setdefault(key, time.monotonic())
        else:
            self.unavailable_since.pop(key, None)
            self._unavailable_raised.discard(key)
            await self.alarms.clear(rules.CONNECTOR_UNAVAILABLE, *key, f"the connector reported {event.status}")
        wanted = None
        if event.status == "Faulted":
            info, vendor = await self._status_words(event.identity, event.connector_number)
            wanted = rules.faulted(event.identity, event.connector_number, event.status, event.error_code, info, vendor)
        if wanted is not None:
            await self.alarms.want(wanted)
        else:
            await self.alarms.clear(rules.CONNECTOR_FAULTED, *key, f"the connector reported {event.status}")

    async def _status_words(self, identity: str, connector: int) -> tuple[str, str]:
        """The info text and vendor error code of the connector's last report (the event has the code)."""
        try:
            found = [c for c in await self.chargers.connectors(identity) if c.connector_number == connector]
        except LookupError:
            return "", ""
        faulted = [c for c in found if c.status == "Faulted"] or found
        return (faulted[0].info, faulted[0].vendor_error_code) if faulted else ("", "")

    async def _on_connection(self, event: ev.ConnectionStateChanged) -> None:
        if event.state == ONLINE:  # back: no need to wait for the next round to say so
            for kind in OFFLINE_KINDS:
                await self.alarms.clear(kind, event.identity, 0, "the charger is back online")

    async def _on_session_stopped(self, event: ev.SessionStopped) -> None:
        if event.reason == STUCK:
            await self.alarms.want(rules.stuck(event.identity, event.connector_number, event.transaction_id,
                                               self.settings.stuck_transaction_after_s))

    async def _on_session_started(self, event: ev.SessionStarted) -> None:
        await self.alarms.clear(rules.TRANSACTION_STUCK, event.identity, event.connector_number,
                                f"session {event.transaction_id} started on the connector")

    async def _on_report(self, event: ev.ChargerReported) -> None:
        # Load management's reports name the EVSE first: "EVSE 2: drew 31.0 A on L1 against ..." (dlm/controller.py).
        found = EVSE_REPORT.match(event.summary)
        evse = int(found.group(1)) if found else 0
        if event.kind in ("load_limit_ignores", "load_limit_rejects"):
            await self.alarms.want(rules.profile_ignored(event.identity, evse, event.summary,
                                                         event.kind == "load_limit_rejects"))
        elif event.kind == "load_limit_cleared":
            await self.alarms.clear(rules.PROFILE_IGNORED, event.identity, evse, "load management trusts it again")

    # -- the supervision round --------------------------------------------------------------------

    async def look(self) -> None:
        """One look at what time changes; the supervision calls it every round."""
        now, mono = ev.utcnow(), time.monotonic()
        await self._look_offline(now, mono)
        await self._look_unavailable(mono)
        await self._look_head_office(now)
        await self.alarms.reconcile([rules.READER_UNPLUGGED], filter(None, (
            rules.reader(number, device, state, detail) for number, device, state, detail in self.reader_states())))
        if mono - self._last_slow_look >= self.slow_look_every_s:
            self._last_slow_look = mono
            await self._look_disk()
            await self._look_local_lists()
            await self._look_inspections(now)

    async def _look_offline(self, now: dt.datetime, mono: float) -> None:
        wanted = []
        for n, live in enumerate(list(self.chargers.live.values()), 1):
            if n % ROUND_SLICE == 0:
                await asyncio.sleep(0)  # answers waiting meanwhile go first
            if live.registration == "accepted":
                wanted += rules.offline(live.identity, live.state, live.last_seen_at, now, mono - self.started,
                                        self.settings.offline_after_s)
        await self.alarms.reconcile(OFFLINE_KINDS, wanted, reason="the charger is back online",
                                    still=lambda w: self._still_offline(w.identity))

    def _still_offline(self, identity: str) -> bool:
        live = self.chargers.live.get(identity)
        return live is not None and live.state != ONLINE

    async def _look_unavailable(self, mono: float) -> None:
        # Raised once, cleared by the connector's next status (not here: a restart forgets since when).
        for key, since in list(self.unavailable_since.items()):
            wanted = rules.unavailable(*key, "Unavailable", mono - since,
                                       self.settings.auto_recovery_unavailable_after_s)
            if wanted is not None and key not in self._unavailable_raised:
                self._unavailable_raised.add(key)
                await self.alarms.want(wanted)

    async def _look_head_office(self, now: dt.datetime) -> None:
        record = await self.db.read(billing_store.head_office)
        if not record.url or record.failures == 0:
            self._sync_failing_since = None
        elif self._sync_failing_since is None:
            self._sync_failing_since = now
        await self.alarms.reconcile([rules.HEAD_OFFICE_SYNC_FAILING], filter(None, [rules.head_office(
            self._sync_failing_since, now, self.settings.head_office_alarm_after_s, record.last_error)]),
            reason="head office takes the records again")

    async def _look_disk(self) -> None:
        try:
            usage = shutil.disk_usage(self.settings.data_dir)
            free, total = usage.free, usage.total
        except OSError as e:
            log.warning("cannot see the data directory's free space: %s", e)
            free, total = 0, 0
        wanted = rules.disk(self.db.storage.current.state == FULL, free, total, self.settings.disk_alarm_free_percent)
        await self.alarms.reconcile([rules.DISK_FILLING], filter(None, [wanted]), reason="there is room again")

    async def _look_local_lists(self) -> None:
        errors = await self.db.read(alarm_store.local_list_errors)
        wanted = [rules.local_list(identity, error, live is not None and live.state == ONLINE)
                  for identity, error in errors.items() for live in [self.chargers.live.get(identity)]]
        await self.alarms.reconcile([rules.LOCAL_LIST_OUT_OF_SYNC], filter(None, wanted),
                                    reason="the local list is in step again (or the charger is offline)")

    async def _look_inspections(self, now: dt.datetime) -> None:
        today = now.astimezone(self.settings.zone).date()
        wanted = []
        for m in await self.db.read(alarm_store.all_maintenance):
            due = rules.next_inspection(m.installed_on, m.last_inspection_on,
                                        m.inspection_interval_days if m.inspection_interval_days is not None
                                        else self.settings.inspection_interval_days)
            wanted.append(rules.inspection(m.identity, due, today, self.settings.inspection_lead_days))
        await self.alarms.reconcile([rules.INSPECTION_DUE], filter(None, wanted), reason="the inspection was done")
