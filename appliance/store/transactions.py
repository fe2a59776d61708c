"""Queries on transactions and their meter samples.

Meter samples are the firehose: they are written with one `executemany` on the raw connection
(peewee's query building costs more than the insert itself on this path), with INSERT OR IGNORE
against the replay key so that a replayed MeterValues adds nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from appliance.store.models import Charger, MeterSample, Transaction, database
from appliance.store.times import from_db, to_db


@dataclass(frozen=True)
class TransactionRecord:
    id: int
    charger_identity: str
    connector_number: int
    evse_number: int | None
    remote_tx_id: str
    id_tag: str
    driver_id: int | None
    auth_status: str
    started_at: dt.datetime
    meter_start_wh: int
    last_meter_wh: int | None
    last_meter_at: dt.datetime | None
    stopped_at: dt.datetime | None
    meter_stop_wh: int | None
    energy_wh: int | None
    stop_reason: str
    stop_id_tag: str
    stop_auth_status: str

    @property
    def active(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True)
class SampleRow:
    """One sampled value as stored; `value` is None where it is not a plain number (signed data)."""

    sampled_at: dt.datetime
    measurand: str
    phase: str
    location: str
    context: str
    unit: str
    format: str
    value: float | None
    raw_value: str


def _record(t: Transaction, identity: str | None = None) -> TransactionRecord:
    return TransactionRecord(
        id=t.id, charger_identity=identity or t.charger.identity, connector_number=t.connector_number,
        evse_number=t.evse_number, remote_tx_id=t.remote_tx_id, id_tag=t.id_tag, driver_id=t.driver_id,
        auth_status=t.auth_status, started_at=from_db(t.started_at), meter_start_wh=t.meter_start_wh,
        last_meter_wh=t.last_meter_wh, last_meter_at=from_db(t.last_meter_at),
        stopped_at=from_db(t.stopped_at), meter_stop_wh=t.meter_stop_wh, energy_wh=t.energy_wh,
        stop_reason=t.stop_reason, stop_id_tag=t.stop_id_tag, stop_auth_status=t.stop_auth_status)


def _with_charger():
    return Transaction.select(Transaction, Charger).join(Charger)


def get(transaction_id: int) -> TransactionRecord | None:
    t = _with_charger().where(Transaction.id == transaction_id).first()
    return _record(t) if t else None


def get_for_charger(charger_id: int, transaction_id: int) -> TransactionRecord | None:
    t = _with_charger().where((Transaction.id == transaction_id) & (Transaction.charger == charger_id)).first()
    return _record(t) if t else None


def find_start(charger_id: int, connector_number: int, started_at: dt.datetime, id_tag: str,
               meter_start_wh: int) -> tuple[int, str] | None:
    """(id, auth status) of the transaction a replayed StartTransaction would be."""
    return database.connection().execute(
        'SELECT id, auth_status FROM "transaction" WHERE charger_id = ? AND connector_number = ? '
        "AND started_at = ? AND id_tag = ? AND meter_start_wh = ?",
        (charger_id, connector_number, _db_time(started_at), id_tag, meter_start_wh)).fetchone()


def count_active_for_tag(id_tag: str) -> int:
    """Running transactions the tag was accepted for; a refused start does not hold the tag's place."""
    return Transaction.select().where((Transaction.id_tag == id_tag) & Transaction.stopped_at.is_null()
                                      & (Transaction.auth_status == "Accepted")).count()


def insert(charger_id: int, connector_number: int, evse_number: int | None, id_tag: str,
           tag_id: int | None, driver_id: int | None, auth_status: str, started_at: dt.datetime,
           meter_start_wh: int, reservation_id: int | None, remote_tx_id: str, now: dt.datetime) -> int:
    # Plain SQL: every StartTransaction of a reconnect storm comes through here.
    return database.connection().execute(
        'INSERT INTO "transaction" (charger_id, connector_number, evse_number, remote_tx_id, id_tag, tag_id, '
        "driver_id, auth_status, reservation_id, started_at, meter_start_wh, stop_reason, stop_id_tag, "
        "stop_auth_status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', ?)",
        (charger_id, connector_number, evse_number, remote_tx_id, id_tag, tag_id, driver_id, auth_status,
         reservation_id, _db_time(started_at), meter_start_wh, _db_time(now))).lastrowid


def finish(transaction_id: int, stopped_at: dt.datetime, meter_stop_wh: int, energy_wh: int, reason: str,
           stop_id_tag: str, stop_auth_status: str) -> None:
    Transaction.update(stopped_at=to_db(stopped_at), meter_stop_wh=meter_stop_wh, energy_wh=energy_wh,
                       stop_reason=reason, stop_id_tag=stop_id_tag, stop_auth_status=stop_auth_status
                       ).where(Transaction.id == transaction_id).execute()


def list_transactions(charger_id: int | None = None, active: bool | None = None, id_tag: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[TransactionRecord]:
    query = _with_charger().order_by(Transaction.started_at.desc(), Transaction.id.desc())
    if charger_id is not None:
        query = query.where(Transaction.charger == charger_id)
    if active is not None:
        query = query.where(Transaction.stopped_at.is_null(active))
    if id_tag:
        query = query.where(Transaction.id_tag == id_tag)
    return [_record(t) for t in query.limit(limit).offset(offset)]


def stale_active(silent_since: dt.datetime) -> list[TransactionRecord]:
    """Active transactions with no meter value (nor start) since the given time."""
    cutoff = to_db(silent_since)
    query = _with_charger().where(
        Transaction.stopped_at.is_null()
        & (((Transaction.last_meter_at.is_null()) & (Transaction.started_at < cutoff))
           | (Transaction.last_meter_at < cutoff)))
    return [_record(t) for t in query]


_INSERT_SAMPLE = (
    'INSERT OR IGNORE INTO meter_sample (charger_id, connector_number, transaction_id, sampled_at, '
    'measurand, phase, location, context, unit, format, value, raw_value) VALUES (?, ?, '
    # A transaction id the charger invents (or that a lost database no longer has) is stored as
    # NULL, so the samples are kept and the foreign key holds.
    '(SELECT id FROM "transaction" WHERE id = ? AND charger_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?)'
)

_ADVANCE_METER = (
    'UPDATE "transaction" SET last_meter_wh = ?, last_meter_at = ? '
    'WHERE id = ? AND charger_id = ? AND stopped_at IS NULL AND (last_meter_at IS NULL OR last_meter_at <= ?)'
)


def insert_samples(charger_id: int, connector_number: int, transaction_id: int | None,
                   samples: list[SampleRow]) -> int:
    """Store samples, ignoring ones already stored; returns how many were new."""
    conn = database.connection()
    before = conn.total_changes
    conn.executemany(_INSERT_SAMPLE, [
        (charger_id, connector_number, transaction_id, charger_id, _db_time(s.sampled_at), s.measurand,
         s.phase, s.location, s.context, s.unit, s.format, s.value, s.raw_value) for s in samples])
    return conn.total_changes - before


def advance_meter(charger_id: int, transaction_id: int, energy_wh: int, at: dt.datetime) -> None:
    t = _db_time(at)
    database.connection().execute(_ADVANCE_METER, (energy_wh, t, transaction_id, charger_id, t))


def samples(transaction_id: int, limit: int = 10000) -> list[SampleRow]:
    query = (MeterSample.select().where(MeterSample.transaction == transaction_id)
             .order_by(MeterSample.sampled_at, MeterSample.id).limit(limit))
    return [SampleRow(from_db(s.sampled_at), s.measurand, s.phase, s.location, s.context, s.unit, s.format,
                      s.value, s.raw_value) for s in query]


def _db_time(value: dt.datetime) -> str:
    # The same text form peewee writes for a DateTimeField, so raw and peewee rows compare equal.
    return str(to_db(value))
