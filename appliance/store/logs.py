"""Queries on the append-only logs: communication log, action log and the event journal."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from appliance.store.models import ActionLog, CommLog, EventJournal
from appliance.store.times import from_db, to_db

INSERT_COMMLOG = "INSERT INTO comm_log (charger_identity, direction, logged_at, message) VALUES (?, ?, ?, ?)"


@dataclass(frozen=True)
class CommLogEntry:
    id: int
    charger_identity: str
    direction: str
    logged_at: dt.datetime
    message: str


@dataclass(frozen=True)
class ActionLogEntry:
    id: int
    at: dt.datetime
    actor: str
    charger_identity: str
    action: str
    arguments: dict
    reason: str
    result_status: str
    result_detail: str


@dataclass(frozen=True)
class JournalEntry:
    id: int
    origin: str
    kind: str
    payload: dict


def commlog_row(identity: str, direction: str, at: dt.datetime, message: str) -> tuple:
    return (identity, direction, str(to_db(at)), message)


def commlog(identity: str | None = None, limit: int = 200) -> list[CommLogEntry]:
    query = CommLog.select().order_by(CommLog.id.desc()).limit(limit)
    if identity:
        query = query.where(CommLog.charger_identity == identity)
    return [CommLogEntry(c.id, c.charger_identity, c.direction, from_db(c.logged_at), c.message) for c in query]


def prune_commlog(older_than: dt.datetime, max_rows: int) -> int:
    removed = CommLog.delete().where(CommLog.logged_at < to_db(older_than)).execute()
    newest_kept = CommLog.select(CommLog.id).order_by(CommLog.id.desc()).offset(max_rows).limit(1).scalar()
    if newest_kept is not None:
        removed += CommLog.delete().where(CommLog.id <= newest_kept).execute()
    return removed


def add_action(at: dt.datetime, actor: str, identity: str, action: str, arguments: dict, reason: str,
               result_status: str, result_detail: str) -> int:
    return ActionLog.insert(at=to_db(at), actor=actor, charger_identity=identity, action=action,
                            arguments=json.dumps(arguments, default=str), reason=reason,
                            result_status=result_status, result_detail=result_detail).execute()


def actions(identity: str | None = None, limit: int = 100) -> list[ActionLogEntry]:
    query = ActionLog.select().order_by(ActionLog.id.desc()).limit(limit)
    if identity:
        query = query.where(ActionLog.charger_identity == identity)
    return [ActionLogEntry(a.id, from_db(a.at), a.actor, a.charger_identity, a.action, json.loads(a.arguments),
                           a.reason, a.result_status, a.result_detail) for a in query]


def journal(at: dt.datetime, origin: str, kind: str, payload: dict) -> int:
    return EventJournal.insert(at=to_db(at), origin=origin, kind=kind, payload=json.dumps(payload)).execute()


def journal_since(last_id: int, limit: int = 1000) -> list[JournalEntry]:
    query = EventJournal.select().where(EventJournal.id > last_id).order_by(EventJournal.id).limit(limit)
    return [JournalEntry(e.id, e.origin, e.kind, json.loads(e.payload)) for e in query]


def journal_head() -> int:
    return EventJournal.select(EventJournal.id).order_by(EventJournal.id.desc()).limit(1).scalar() or 0


def prune_journal(older_than: dt.datetime) -> int:
    return EventJournal.delete().where(EventJournal.at < to_db(older_than)).execute()
