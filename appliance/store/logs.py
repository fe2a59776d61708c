"""Queries on the append-only logs: communication log, action log and the event journal."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from appliance.store.dialect import raw, text_bytes
from appliance.store.models import ActionLog, CommLog, EventJournal, database
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
    return prune_commlog_within(older_than, max_rows, None, CommLogSize())[0]


@dataclass
class CommLogSize:
    """What the communication log's messages weigh, in bytes, without reading it all at every prune:
    `bytes` is the weight of the rows up to `measured_to_id` that are still there. It is measured
    once, then only new rows are added and pruned rows taken off (both cost what they touch)."""

    measured_to_id: int = 0
    bytes: int = 0

    def without(self, removed_bytes: int) -> "CommLogSize":
        return CommLogSize(self.measured_to_id, self.bytes - removed_bytes)


def _weight() -> str:
    return text_bytes(database, "message")  # bytes as stored (UTF-8), not characters


def measure_commlog(size: CommLogSize) -> CommLogSize:
    """The size after the rows logged since the last measure (a read: all rows the first time)."""
    added, last = raw(database).execute(
        f"SELECT coalesce(sum({_weight()}), 0), max(id) FROM comm_log WHERE id > ?", (size.measured_to_id,)).fetchone()
    return CommLogSize(last or size.measured_to_id, size.bytes + int(added))


def prune_commlog_within(older_than: dt.datetime, max_rows: int, max_bytes: int | None,
                         size: CommLogSize) -> tuple[int, CommLogSize]:
    """Delete rows logged before `older_than`, then the oldest beyond `max_rows`, then the oldest until
    the messages measured in `size` weigh at most `max_bytes`. Returns (rows deleted, the size now).

    Age goes by the time logged (a clock set back after a power cut must not take everything older
    with it); count and weight go by id, the order of logging, so each is one cut-off id. With ids
    contiguous `max(id) - max_rows` keeps exactly `max_rows`; holes left by age keep fewer, never more."""
    db = raw(database)
    old = (str(to_db(older_than)), size.measured_to_id)
    # `+id`: look the old rows up by the logged_at index; SQLite would otherwise take the id
    # range, which covers the whole table, and read all of it (PostgreSQL reads `+id` as `id`).
    removed_bytes = int(db.execute(f"SELECT coalesce(sum({_weight()}), 0) FROM comm_log WHERE logged_at < ? "
                                   "AND +id <= ?", old).fetchone()[0])
    removed = db.execute("DELETE FROM comm_log WHERE logged_at < ?", old[:1]).rowcount
    cut = max(0, (db.execute("SELECT max(id) FROM comm_log").fetchone()[0] or 0) - max_rows)
    removed_bytes += _weight_between(0, min(cut, size.measured_to_id))
    if max_bytes is not None and size.bytes - removed_bytes > max_bytes:
        cut, removed_bytes = _cut_for_bytes(cut, removed_bytes, size.bytes - max_bytes, size.measured_to_id)
    if cut > 0:
        removed += db.execute("DELETE FROM comm_log WHERE id <= ?", (cut,)).rowcount
    if db.execute("SELECT max(id) FROM comm_log").fetchone()[0] is None:
        # SQLite numbers an empty table's next row 1 again (a PostgreSQL sequence goes on): measure from 0
        return removed, CommLogSize()
    return removed, size.without(removed_bytes)


def _weight_between(after_id: int, up_to_id: int) -> int:
    if up_to_id <= after_id:
        return 0
    return int(raw(database).execute(
        f"SELECT coalesce(sum({_weight()}), 0) FROM comm_log WHERE id > ? AND id <= ?", (after_id, up_to_id)).fetchone()[0])


def _cut_for_bytes(cut: int, removed: int, surplus: int, up_to_id: int) -> tuple[int, int]:
    """Move the cut-off past the oldest rows until `surplus` bytes go; reads only the rows it deletes."""
    rows = raw(database).execute(
        f"SELECT id, {_weight()} FROM comm_log WHERE id > ? AND id <= ? ORDER BY id", (cut, up_to_id))
    try:
        for row_id, weight in rows:
            if removed >= surplus:
                break
            cut, removed = row_id, removed + weight
    finally:
        rows.close()  # before the delete that follows on this connection
    return cut, removed


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
