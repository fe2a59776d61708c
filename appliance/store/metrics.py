"""The figures /metrics reads from the database, in one snapshot."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from peewee import fn

from appliance.store.models import Alarm, ChargeDetailRecord, Charger, Notification, Transaction


@dataclass(frozen=True)
class Figures:
    chargers: list[tuple[str, str, str]]  # identity, registration, connection state as last stored
    sessions_active: int
    energy_wh: int  # finished sessions' energy plus what running ones have delivered so far
    sync_unsent: int
    alarms_open: Counter  # (kind, severity) -> open alarms
    notifications: dict[str, int]  # status -> notifications


def figures() -> Figures:
    active = Transaction.select().where(Transaction.stopped_at.is_null())
    finished_wh = (Transaction.select(fn.COALESCE(fn.SUM(Transaction.energy_wh), 0))
                   .where(Transaction.stopped_at.is_null(False)).scalar())
    running_wh = (Transaction.select(fn.COALESCE(fn.SUM(Transaction.last_meter_wh - Transaction.meter_start_wh), 0))
                  .where(Transaction.stopped_at.is_null(), Transaction.last_meter_wh.is_null(False)).scalar())
    alarms = Counter({(kind, severity): count for kind, severity, count in
                      Alarm.select(Alarm.kind, Alarm.severity, fn.COUNT(Alarm.id))
                      .where(Alarm.cleared_at.is_null()).group_by(Alarm.kind, Alarm.severity).tuples()})
    notifications = dict(Notification.select(Notification.status, fn.COUNT(Notification.id))
                         .group_by(Notification.status).tuples())
    unsent = ChargeDetailRecord.select().where(ChargeDetailRecord.sent_at.is_null()).count()
    chargers = list(Charger.select(Charger.identity, Charger.registration, Charger.connection_state).tuples())
    return Figures(chargers, active.count(), int(finished_wh or 0) + max(0, int(running_wh or 0)), unsent, alarms,
                   notifications)
