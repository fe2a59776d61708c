"""Queries on alarms, chargers' maintenance data and notes, and auto-recovery's attempts.

One alarm per (kind, charger, connector) may be open: the unique `open_key` enforces it, so a
condition seen again updates its open alarm and never makes a second one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import JOIN

from appliance.store.models import (Alarm, Charger, ChargerMaintenance, LocalListState, MaintenanceNote,
                                    RecoveryAttempt)
from appliance.store.times import from_db, to_db


@dataclass(frozen=True)
class AlarmRecord:
    id: int
    kind: str
    severity: str
    charger_identity: str  # '' : the appliance itself
    connector_number: int
    title: str
    detail: str
    actions: str  # what was done about it, a line each
    raised_at: dt.datetime
    updated_at: dt.datetime
    cleared_at: dt.datetime | None
    cleared_reason: str
    acknowledged_by: str
    acknowledged_at: dt.datetime | None
    acknowledged_note: str

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None

    def as_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "severity": self.severity,
                "charger": self.charger_identity or None, "connector": self.connector_number,
                "title": self.title, "detail": self.detail, "actions": self.actions.splitlines(),
                "open": self.is_open,
                "raised_at": self.raised_at.isoformat(), "updated_at": self.updated_at.isoformat(),
                "cleared_at": _iso(self.cleared_at), "cleared_reason": self.cleared_reason,
                "acknowledged": None if self.acknowledged_at is None else {
                    "by": self.acknowledged_by, "at": self.acknowledged_at.isoformat(),
                    "note": self.acknowledged_note}}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _record(a: Alarm) -> AlarmRecord:
    return AlarmRecord(a.id, a.kind, a.severity, a.charger_identity, a.connector_number, a.title, a.detail,
                       a.actions, from_db(a.raised_at), from_db(a.updated_at), from_db(a.cleared_at), a.cleared_reason,
                       a.acknowledged_by, from_db(a.acknowledged_at), a.acknowledged_note)


def open_key(kind: str, identity: str, connector_number: int) -> str:
    return f"{kind}|{identity}|{connector_number}"


def find_open(kind: str, identity: str, connector_number: int) -> AlarmRecord | None:
    found = Alarm.get_or_none(Alarm.open_key == open_key(kind, identity, connector_number))
    return _record(found) if found else None


def raise_or_update(kind: str, severity: str, identity: str, connector_number: int, title: str, detail: str,
                    now: dt.datetime) -> tuple[AlarmRecord, str | None]:
    """The open alarm for this condition, raised if there was none ('raised'), else updated where its
    severity, title or detail changed ('updated'), else left alone (None)."""
    key = open_key(kind, identity, connector_number)
    found = Alarm.get_or_none(Alarm.open_key == key)
    if found is None:
        alarm = Alarm.create(kind=kind, severity=severity, charger_identity=identity, connector_number=connector_number,
                             title=title[:200], detail=detail, raised_at=to_db(now), updated_at=to_db(now),
                             open_key=key)
        return _record(alarm), "raised"
    if (found.severity, found.title, found.detail) == (severity, title[:200], detail):
        return _record(found), None
    found.severity, found.title, found.detail, found.updated_at = severity, title[:200], detail, to_db(now)
    found.save()
    return _record(found), "updated"


def clear(kind: str, identity: str, connector_number: int, reason: str, now: dt.datetime) -> AlarmRecord | None:
    """End the open alarm for this condition; None when none was open."""
    found = Alarm.get_or_none(Alarm.open_key == open_key(kind, identity, connector_number))
    if found is None:
        return None
    found.cleared_at = found.updated_at = to_db(now)
    found.cleared_reason, found.open_key = reason[:200], None
    found.save()
    return _record(found)


def acknowledge(alarm_id: int, by: str, note: str, now: dt.datetime) -> AlarmRecord | None:
    found = Alarm.get_or_none(Alarm.id == alarm_id)
    if found is None:
        return None
    found.acknowledged_by, found.acknowledged_at, found.acknowledged_note = by[:100], to_db(now), note
    found.updated_at = to_db(now)
    found.save()
    return _record(found)


def add_action(alarm_id: int, line: str, now: dt.datetime) -> AlarmRecord | None:
    """Add a line to what was done about an alarm (an auto-recovery step and its answer)."""
    found = Alarm.get_or_none(Alarm.id == alarm_id)
    if found is None:
        return None
    found.actions = f"{found.actions}\n{line}".strip()
    found.updated_at = to_db(now)
    found.save()
    return _record(found)


def get(alarm_id: int) -> AlarmRecord | None:
    found = Alarm.get_or_none(Alarm.id == alarm_id)
    return _record(found) if found else None


def list_alarms(open_only: bool = False, kind: str | None = None, identity: str | None = None,
                limit: int = 100) -> list[AlarmRecord]:
    """Most recent first; open ones when `open_only`."""
    query = Alarm.select().order_by(Alarm.raised_at.desc(), Alarm.id.desc()).limit(limit)
    if open_only:
        query = query.where(Alarm.cleared_at.is_null())
    if kind:
        query = query.where(Alarm.kind == kind)
    if identity:
        query = query.where(Alarm.charger_identity == identity)
    return [_record(a) for a in query]


def open_alarms() -> list[AlarmRecord]:
    return [_record(a) for a in Alarm.select().where(Alarm.cleared_at.is_null()).order_by(Alarm.id)]


def local_list_errors() -> dict[str, str]:
    """Charger id -> why its local list's last sync failed, for those whose last sync failed."""
    query = (LocalListState.select(LocalListState.error, Charger.identity).join(Charger)
             .where(LocalListState.error != ""))
    return {row.charger.identity: row.error for row in query}


# -- maintenance --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaintenanceRecord:
    identity: str
    manufactured_on: dt.date | None = None
    installed_on: dt.date | None = None
    inspection_interval_days: int | None = None  # None: the setting
    last_inspection_on: dt.date | None = None
    auto_recovery: bool = False


@dataclass(frozen=True)
class NoteRecord:
    id: int
    identity: str
    at: dt.datetime
    author: str
    text: str
    inspection: bool


def maintenance(identity: str) -> MaintenanceRecord | None:
    """None when there is no such charger; defaults when nothing was recorded for it."""
    charger = Charger.get_or_none(Charger.identity == identity)
    if charger is None:
        return None
    m = ChargerMaintenance.get_or_none(ChargerMaintenance.charger == charger.id)
    return _maintenance(identity, m)


def _maintenance(identity: str, m: ChargerMaintenance | None) -> MaintenanceRecord:
    if m is None:
        return MaintenanceRecord(identity)
    return MaintenanceRecord(identity, m.manufactured_on, m.installed_on, m.inspection_interval_days,
                             m.last_inspection_on, m.auto_recovery)


def all_maintenance() -> list[MaintenanceRecord]:
    """Every accepted charger's maintenance data (defaults for those with none recorded)."""
    query = (Charger.select(Charger.identity, ChargerMaintenance)
             .join(ChargerMaintenance, JOIN.LEFT_OUTER, on=(ChargerMaintenance.charger == Charger.id), attr="care")
             .where(Charger.registration == "accepted").order_by(Charger.identity))
    out = []
    for c in query:
        m = getattr(c, "care", None)
        out.append(_maintenance(c.identity, m if m is not None and m.id is not None else None))
    return out


def save_maintenance(identity: str, **fields) -> MaintenanceRecord | None:
    """Set some of a charger's maintenance fields; None when there is no such charger."""
    charger = Charger.get_or_none(Charger.identity == identity)
    if charger is None:
        return None
    m = ChargerMaintenance.get_or_none(ChargerMaintenance.charger == charger.id)
    if m is None:
        m = ChargerMaintenance(charger=charger.id)
    for name, value in fields.items():
        setattr(m, name, value)
    m.save()
    return _maintenance(identity, m)


def add_note(identity: str, author: str, text: str, inspection: bool, now: dt.datetime) -> NoteRecord | None:
    charger = Charger.get_or_none(Charger.identity == identity)
    if charger is None:
        return None
    note = MaintenanceNote.create(charger=charger.id, at=to_db(now), author=author[:100], text=text,
                                  inspection=inspection)
    if inspection:
        save_maintenance(identity, last_inspection_on=now.date())
    return NoteRecord(note.id, identity, now, note.author, text, inspection)


def notes(identity: str, limit: int = 100) -> list[NoteRecord]:
    query = (MaintenanceNote.select(MaintenanceNote, Charger.identity).join(Charger)
             .where(Charger.identity == identity).order_by(MaintenanceNote.at.desc(), MaintenanceNote.id.desc())
             .limit(limit))
    return [NoteRecord(n.id, n.charger.identity, from_db(n.at), n.author, n.text, n.inspection) for n in query]


# -- auto-recovery -------------------------------------------------------------------------------


def add_attempt(identity: str, connector_number: int, alarm_id: int | None, step: str, result: str,
                now: dt.datetime) -> None:
    RecoveryAttempt.create(charger_identity=identity, connector_number=connector_number, alarm=alarm_id, step=step,
                           at=to_db(now), result=result[:200])


def runs_since(identity: str, since: dt.datetime) -> int:
    """Auto-recovery runs (each begins with its first step, the status trigger) on a charger since then."""
    return (RecoveryAttempt.select().where(RecoveryAttempt.charger_identity == identity,
                                           RecoveryAttempt.step == "trigger", RecoveryAttempt.at >= to_db(since))
            .count())
