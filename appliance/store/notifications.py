"""Queries on the notification queue and on settings stored by CLI commands.

Every function runs inside the caller's `db.write` or `db.read` (the writer thread's transaction), so
a step such as "append this alarm to each recipient's open batch" is all or nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Callable

from peewee import fn

from appliance.store.models import Alarm, Notification, StoredSetting
from appliance.store.times import from_db, to_db

COLLECTING, PENDING, SENT, FAILED = "collecting", "pending", "sent", "failed"


@dataclass(frozen=True)
class NotificationRecord:
    id: int
    recipient: str
    purpose: str
    status: str
    created_at: dt.datetime
    closes_at: dt.datetime
    items: list[dict[str, Any]]
    subject: str
    body: str
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str
    sent_at: dt.datetime | None


@dataclass(frozen=True)
class QueueState:
    collecting: int
    pending: int  # waiting to be delivered
    failing: int  # ... of which an attempt already failed
    sent: int
    failed: int  # refused for good
    oldest_pending_at: dt.datetime | None
    last_error: str
    last_sent_at: dt.datetime | None


def _record(n: Notification) -> NotificationRecord:
    return NotificationRecord(n.id, n.recipient, n.purpose, n.status, from_db(n.created_at), from_db(n.closes_at),
                              json.loads(n.items or "[]"), n.subject, n.body, json.loads(n.payload or "{}"),
                              n.attempts, from_db(n.next_attempt_at), n.last_error, from_db(n.sent_at))


# -- stored settings ------------------------------------------------------------------------------

def stored_settings() -> dict[str, str]:
    return {s.name: s.value for s in StoredSetting.select()}


def store_settings(values: dict[str, str | None], now: dt.datetime) -> None:
    """Store each value; None removes the stored one (the config file's applies again)."""
    for name, value in values.items():
        StoredSetting.delete().where(StoredSetting.name == name).execute()
        if value is not None:
            StoredSetting.create(name=name, value=value, changed_at=to_db(now))


# -- the queue ---------------------------------------------------------------------------------

def collect(recipients: list[str], item: dict[str, Any], now: dt.datetime, closes_at: dt.datetime) -> list[int]:
    """Append an alarm change to each recipient's collecting notification (made, closing at
    `closes_at`, if it has none); returns the notifications' ids."""
    ids = []
    for recipient in recipients:
        open_batch = (Notification.select().where(Notification.recipient == recipient,
                                                  Notification.status == COLLECTING, Notification.purpose == "alarms")
                      .order_by(Notification.id).first())
        if open_batch is None:
            open_batch = Notification.create(recipient=recipient, purpose="alarms", status=COLLECTING,
                                             created_at=to_db(now), closes_at=to_db(closes_at),
                                             items=json.dumps([item]))
        else:
            open_batch.items = json.dumps(json.loads(open_batch.items) + [item])
            open_batch.save(only=[Notification.items])
        ids.append(open_batch.id)
    return ids


Render = Callable[[NotificationRecord], tuple[str, str, dict[str, Any]]]


def close_due(now: dt.datetime, render: Render) -> int:
    """Render every collecting notification whose window has closed and make it pending; returns how many."""
    due = Notification.select().where(Notification.status == COLLECTING, Notification.closes_at <= to_db(now))
    closed = 0
    for notification in list(due):
        subject, body, payload = render(_record(notification))
        Notification.update(status=PENDING, subject=subject, body=body, payload=json.dumps(payload)).where(
            Notification.id == notification.id).execute()
        closed += 1
    return closed


def add_once(recipient: str, purpose: str, dedupe_key: str, now: dt.datetime, render: Render) -> bool:
    """A pending notification made once per `dedupe_key` (a daily summary); False when it existed."""
    if Notification.select().where(Notification.dedupe_key == dedupe_key).exists():
        return False
    notification = Notification.create(recipient=recipient, purpose=purpose, dedupe_key=dedupe_key, status=PENDING,
                                       created_at=to_db(now), closes_at=to_db(now))
    subject, body, payload = render(_record(notification))
    Notification.update(subject=subject, body=body, payload=json.dumps(payload)).where(
        Notification.id == notification.id).execute()
    return True


def due(now: dt.datetime, limit: int) -> list[NotificationRecord]:
    """Pending notifications whose next attempt is due, oldest first."""
    query = (Notification.select()
             .where(Notification.status == PENDING,
                    Notification.next_attempt_at.is_null() | (Notification.next_attempt_at <= to_db(now)))
             .order_by(Notification.id).limit(limit))
    return [_record(n) for n in query]


def mark_sent(notification_id: int, now: dt.datetime) -> None:
    Notification.update(status=SENT, sent_at=to_db(now), attempts=Notification.attempts + 1, next_attempt_at=None,
                        last_error="").where(Notification.id == notification_id).execute()


def mark_attempt_failed(notification_id: int, error: str, next_attempt_at: dt.datetime | None) -> None:
    """One more failed attempt; `next_attempt_at` None: refused for good."""
    Notification.update(attempts=Notification.attempts + 1, last_error=error[:1000],
                        next_attempt_at=to_db(next_attempt_at),
                        status=PENDING if next_attempt_at else FAILED).where(
        Notification.id == notification_id).execute()


def defer(notification_ids: list[int], until: dt.datetime, error: str) -> None:
    """Put off notifications that go through a server found down (no attempt of their own was made)."""
    if notification_ids:
        Notification.update(next_attempt_at=to_db(until), last_error=error[:1000]).where(
            Notification.id.in_(notification_ids), Notification.status == PENDING).execute()


def next_wake(now: dt.datetime) -> dt.datetime | None:
    """The earliest moment something in the queue becomes due (a window closes, a retry comes)."""
    closes = (Notification.select(fn.MIN(Notification.closes_at))
              .where(Notification.status == COLLECTING).scalar())
    retry = (Notification.select(fn.MIN(Notification.next_attempt_at))
             .where(Notification.status == PENDING).scalar())
    waiting_now = Notification.select().where(Notification.status == PENDING,
                                              Notification.next_attempt_at.is_null()).exists()
    times = [from_db(t) for t in (closes, retry) if t is not None] + ([now] if waiting_now else [])
    return min(times) if times else None


def queue_state() -> QueueState:
    counts = dict(Notification.select(Notification.status, fn.COUNT(Notification.id))
                  .group_by(Notification.status).tuples())
    pending = Notification.select().where(Notification.status == PENDING)
    oldest = pending.order_by(Notification.id).first()
    failing = pending.where(Notification.attempts > 0).order_by(Notification.id.desc()).first()
    last_sent = Notification.select(fn.MAX(Notification.sent_at)).scalar()
    return QueueState(counts.get(COLLECTING, 0), counts.get(PENDING, 0),
                      pending.where(Notification.attempts > 0).count(), counts.get(SENT, 0), counts.get(FAILED, 0),
                      from_db(oldest.created_at) if oldest else None, failing.last_error if failing else "",
                      from_db(last_sent))


def recent(limit: int) -> list[NotificationRecord]:
    return [_record(n) for n in Notification.select().order_by(Notification.id.desc()).limit(limit)]


def prune(before: dt.datetime) -> int:
    """Delivered and refused notifications older than `before` (the queue is no archive)."""
    return Notification.delete().where(Notification.status.in_([SENT, FAILED]),
                                       Notification.created_at < to_db(before)).execute()


# -- what the daily summary reads ----------------------------------------------------------------

@dataclass(frozen=True)
class AlarmRow:
    id: int
    kind: str
    severity: str
    identity: str | None
    title: str
    raised_at: dt.datetime
    cleared_at: dt.datetime | None
    acknowledged_by: str


def alarms_for_summary(since: dt.datetime) -> list[AlarmRow]:
    """Alarms open now, or raised or cleared since `since`."""
    query = Alarm.select().where(Alarm.cleared_at.is_null() | (Alarm.raised_at >= to_db(since))
                                 | (Alarm.cleared_at >= to_db(since))).order_by(Alarm.id)
    return [AlarmRow(a.id, a.kind, a.severity, a.charger_identity or None, a.title, from_db(a.raised_at),
                     from_db(a.cleared_at), a.acknowledged_by) for a in query]
