"""The maintenance log: a charger's manufacture and installation dates, its inspection interval, the
interventions technicians record (who, when, what) and whether auto-recovery may restart it.

The next inspection is due an interval after the last one (a note marked as the inspection) or
after installation; the watch raises inspection_due when it is near (core/alarm_rules.py).
"""

from __future__ import annotations

import datetime as dt

from appliance.config import Settings
from appliance.core import events as ev
from appliance.core.alarm_rules import next_inspection
from appliance.core.chargers import ChargerNotFound
from appliance.store import alarms as store
from appliance.store.alarms import MaintenanceRecord, NoteRecord
from appliance.store.database import Database

MAX_NOTE = 4000


class MaintenanceError(ValueError):
    """A maintenance entry that cannot be recorded; the message says why."""


def parse_date(text: str, what: str) -> dt.date | None:
    """A date as people type it (YYYY-MM-DD); '' or 'none' clears it."""
    text = (text or "").strip()
    if text.lower() in ("", "none", "-"):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise MaintenanceError(f"{what}: {text!r} is not a date; write it as YYYY-MM-DD (e.g. 2024-03-31)") from None


class Maintenance:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def get(self, identity: str) -> MaintenanceRecord:
        record = await self.db.read(store.maintenance, identity)
        if record is None:
            raise ChargerNotFound(f"no charger {identity}")
        return record

    async def update(self, identity: str, **fields) -> MaintenanceRecord:
        """Set some of manufactured_on, installed_on, inspection_interval_days (None: the setting),
        last_inspection_on, auto_recovery."""
        unknown = set(fields) - {"manufactured_on", "installed_on", "inspection_interval_days",
                                 "last_inspection_on", "auto_recovery"}
        if unknown:
            raise MaintenanceError(f"unknown maintenance field(s): {', '.join(sorted(unknown))}")
        interval = fields.get("inspection_interval_days")
        if interval is not None and not 1 <= interval <= 3650:
            raise MaintenanceError("an inspection interval is 1 to 3650 days")
        today = ev.utcnow().date()
        for name in ("manufactured_on", "installed_on", "last_inspection_on"):
            if fields.get(name) and fields[name] > today + dt.timedelta(days=1):
                raise MaintenanceError(f"{name.replace('_', ' ')} {fields[name]} is in the future")
        current = await self.get(identity)
        made, installed = (fields.get("manufactured_on", current.manufactured_on),
                           fields.get("installed_on", current.installed_on))
        if made and installed and installed < made:
            raise MaintenanceError(f"installed on {installed} is before manufactured on {made}")
        record = await self.db.write(store.save_maintenance, identity, **fields)
        if record is None:
            raise ChargerNotFound(f"no charger {identity}")
        return record

    async def add_note(self, identity: str, author: str, text: str, inspection: bool = False) -> NoteRecord:
        text, author = (text or "").strip(), (author or "").strip()
        if not text:
            raise MaintenanceError("a note needs some text: what was done, what was found")
        if len(text) > MAX_NOTE:
            raise MaintenanceError(f"a note may be at most {MAX_NOTE} characters long")
        if not author:
            raise MaintenanceError("say who recorded the note")
        note = await self.db.write(store.add_note, identity, author, text, inspection, ev.utcnow())
        if note is None:
            raise ChargerNotFound(f"no charger {identity}")
        return note

    async def notes(self, identity: str, limit: int = 100) -> list[NoteRecord]:
        await self.get(identity)
        return await self.db.read(store.notes, identity, limit)

    def interval_days(self, record: MaintenanceRecord) -> int:
        return (record.inspection_interval_days if record.inspection_interval_days is not None
                else self.settings.inspection_interval_days)

    def next_inspection(self, record: MaintenanceRecord) -> dt.date | None:
        return next_inspection(record.installed_on, record.last_inspection_on, self.interval_days(record))
