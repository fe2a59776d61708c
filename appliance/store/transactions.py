"""Queries on transactions and their meter samples.

Meter samples are the firehose: they are written with one `executemany` on the raw connection
(peewee's query building costs more than the insert itself on this path), with ON CONFLICT DO
NOTHING against the replay key so that a replayed MeterValues adds nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from appliance.store.database import Statement
from appliance.store.dialect import insert_rows, raw
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
    charging_state: str = ""
    offline: bool = False
    remote_start_id: int | None = None
    # OCPP 2.0.1 only: the TransactionEvent sequence numbers that never arrived, and whether the
    # Started event did; a session with either is incomplete and shows it.
    seq_gaps: tuple[int, ...] = ()
    started_event_missing: bool = False

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


def _record(t: Transaction, identity: str | None = None,
            events: list[tuple[int, str]] | None = None) -> TransactionRecord:
    gaps, started_missing = event_gaps(events) if events else ((), False)
    return TransactionRecord(
        id=t.id, charger_identity=identity or t.charger.identity, connector_number=t.connector_number,
        evse_number=t.evse_number, remote_tx_id=t.remote_tx_id, id_tag=t.id_tag, driver_id=t.driver_id,
        auth_status=t.auth_status, started_at=from_db(t.started_at), meter_start_wh=t.meter_start_wh,
        last_meter_wh=t.last_meter_wh, last_meter_at=from_db(t.last_meter_at),
        stopped_at=from_db(t.stopped_at), meter_stop_wh=t.meter_stop_wh, energy_wh=t.energy_wh,
        stop_reason=t.stop_reason, stop_id_tag=t.stop_id_tag, stop_auth_status=t.stop_auth_status,
        charging_state=t.charging_state, offline=bool(t.offline), remote_start_id=t.remote_start_id,
        seq_gaps=gaps, started_event_missing=started_missing)


def event_gaps(events: list[tuple[int, str]]) -> tuple[tuple[int, ...], bool]:
    """(missing sequence numbers, Started missing) from a transaction's (seq_no, event_type) pairs.

    Numbering starts at the Started event's seqNo (0 by the specification; some chargers count on
    from their previous transaction), or at the lowest number seen when the Started never came.
    """
    seen = {seq for seq, _ in events}
    started = [seq for seq, kind in events if kind == "Started"]
    low = min(started) if started else min(seen)
    return tuple(n for n in range(low, max(seen) + 1) if n not in seen), not started


def _events_of(transaction_ids: list[int]) -> dict[int, list[tuple[int, str]]]:
    out: dict[int, list[tuple[int, str]]] = {}
    if not transaction_ids:
        return out
    marks = ", ".join("?" * len(transaction_ids))
    for tx_id, seq, kind in raw(database).execute(
            f"SELECT transaction_id, seq_no, event_type FROM transaction_event WHERE transaction_id IN ({marks})",
            transaction_ids):
        out.setdefault(tx_id, []).append((seq, kind))
    return out


def _with_charger():
    return Transaction.select(Transaction, Charger).join(Charger)


def get(transaction_id: int) -> TransactionRecord | None:
    t = _with_charger().where(Transaction.id == transaction_id).first()
    return _record(t, events=_events_of([t.id]).get(t.id)) if t else None


def get_for_charger(charger_id: int, identity: str, transaction_id: int) -> TransactionRecord | None:
    """The charger's transaction (no sequence gaps), in plain SQL: every StopTransaction asks it."""
    row = raw(database).execute(_PLAIN + "WHERE id = ? AND charger_id = ?",
                                        (transaction_id, charger_id)).fetchone()
    return _plain_record(row, identity) if row else None


def find_remote(charger_id: int, remote_tx_id: str) -> TransactionRecord | None:
    """The transaction a charger-minted (2.0.1) transactionId stands for."""
    t = _with_charger().where((Transaction.charger == charger_id) & (Transaction.remote_tx_id == remote_tx_id)
                              ).order_by(Transaction.id.desc()).first()
    return _record(t, events=_events_of([t.id]).get(t.id)) if t else None


# The columns of a TransactionRecord, for plain SQL reads on the hot paths (no events: no gaps).
_PLAIN = ('SELECT id, connector_number, evse_number, remote_tx_id, id_tag, driver_id, auth_status, started_at, '
          "meter_start_wh, last_meter_wh, last_meter_at, stopped_at, meter_stop_wh, energy_wh, stop_reason, "
          'stop_id_tag, stop_auth_status, charging_state, offline, remote_start_id FROM "transaction" ')


def _plain_record(row: tuple, identity: str) -> TransactionRecord:
    (tx_id, connector, evse, remote, id_tag, driver, auth, started, meter_start, last_meter, last_at, stopped,
     meter_stop, energy, reason, stop_tag, stop_auth, state, offline, remote_start) = row
    return TransactionRecord(
        id=tx_id, charger_identity=identity, connector_number=connector, evse_number=evse, remote_tx_id=remote,
        id_tag=id_tag, driver_id=driver, auth_status=auth, started_at=from_db(started), meter_start_wh=meter_start,
        last_meter_wh=last_meter, last_meter_at=from_db(last_at), stopped_at=from_db(stopped),
        meter_stop_wh=meter_stop, energy_wh=energy, stop_reason=reason, stop_id_tag=stop_tag,
        stop_auth_status=stop_auth, charging_state=state, offline=bool(offline), remote_start_id=remote_start)


def find_remote_plain(charger_id: int, identity: str, remote_tx_id: str) -> TransactionRecord | None:
    """find_remote without the sequence gaps, in plain SQL: every TransactionEvent asks it, and the gaps
    (a walk over all the transaction's events) are for people reading a session, not for the next event."""
    row = raw(database).execute(
        _PLAIN + "WHERE charger_id = ? AND remote_tx_id = ? ORDER BY id DESC LIMIT 1",
        (charger_id, remote_tx_id)).fetchone()
    return _plain_record(row, identity) if row else None


def get_plain(transaction_id: int, identity: str) -> TransactionRecord | None:
    """get without the sequence gaps, in plain SQL, for a transaction of a charger already known."""
    row = raw(database).execute(_PLAIN + "WHERE id = ?", (transaction_id,)).fetchone()
    return _plain_record(row, identity) if row else None


def record_event(transaction_id: int, seq_no: int, event_type: str, timestamp: dt.datetime, trigger_reason: str,
                 offline: bool, charging_state: str, id_tag: str, stopped_reason: str, now: dt.datetime) -> bool:
    """Store a TransactionEvent; False when it is a replay of one stored already."""
    return raw(database).execute(
        "INSERT INTO transaction_event (transaction_id, seq_no, event_type, timestamp, trigger_reason, offline, "
        "charging_state, id_tag, stopped_reason, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (transaction_id, seq_no, event_type, _db_time(timestamp), trigger_reason, offline, charging_state,
         id_tag, stopped_reason, _db_time(now))).rowcount > 0


_ENERGY_READING = (
    "SELECT value * CASE lower(unit) WHEN 'kwh' THEN 1000 ELSE 1 END, sampled_at FROM meter_sample "
    "WHERE transaction_id = ? AND measurand = 'Energy.Active.Import.Register' AND phase = '' "
    "AND location IN ('', 'Outlet') AND value IS NOT NULL AND lower(unit) IN ('wh', 'kwh', '') "
    # by value, not time: the register only grows, while the charger's clock may jump back mid-session
    "ORDER BY value * CASE lower(unit) WHEN 'kwh' THEN 1000 ELSE 1 END {order}, sampled_at {order} LIMIT 1"
)


def rebuild_from_events(transaction_id: int) -> None:
    """Derive a 2.0.1 transaction's times, meter and state from everything received so far, so the
    result does not depend on the order the events came in."""
    conn = raw(database)
    started, first_seen, latest, ended, ended_received, stop_reason, offline = conn.execute(
        "SELECT min(CASE WHEN event_type = 'Started' THEN timestamp END), min(timestamp), max(timestamp), "
        "max(CASE WHEN event_type = 'Ended' THEN timestamp END), max(CASE WHEN event_type = 'Ended' THEN received_at END), "
        "max(CASE WHEN event_type = 'Ended' THEN stopped_reason END), max(CASE WHEN offline THEN 1 ELSE 0 END) "
        "FROM transaction_event WHERE transaction_id = ?", (transaction_id,)).fetchone()
    started = started or first_seen
    if ended is not None and ended < started:  # the clock jumped back: never a negative duration
        ended = ended_received if ended_received >= started else started
    state = conn.execute("SELECT charging_state FROM transaction_event WHERE transaction_id = ? AND charging_state != '' "
                         "ORDER BY timestamp DESC, seq_no DESC LIMIT 1", (transaction_id,)).fetchone()
    first = conn.execute(_ENERGY_READING.format(order="ASC"), (transaction_id,)).fetchone()
    last = conn.execute(_ENERGY_READING.format(order="DESC"), (transaction_id,)).fetchone()
    meter_start = round(first[0]) if first else 0
    meter_last = round(last[0]) if last else None
    energy = max(0, meter_last - meter_start) if last else None
    conn.execute(
        'UPDATE "transaction" SET started_at = ?, meter_start_wh = ?, last_meter_wh = ?, last_meter_at = ?, '
        "stopped_at = ?, meter_stop_wh = ?, energy_wh = ?, stop_reason = ?, offline = ?, "
        "charging_state = coalesce(?, charging_state), last_event_at = ? WHERE id = ?",
        (started, meter_start, meter_last, last[1] if last else None, ended,
         meter_last if ended else None, energy if ended else None,
         (stop_reason or "Local") if ended else "", bool(offline), state[0] if state else None, latest,
         transaction_id))


def extend_with_event(before: TransactionRecord, timestamp: dt.datetime, charging_state: str, offline: bool,
                      samples: Sequence[SampleRow]) -> bool:
    """What rebuild_from_events would make of one more Updated event later than every event before it,
    on a transaction not ended, without reading the others: the usual event of a running session, where
    the rebuild's reads grow with the session (an 8-hour one, metered each minute: ~500 events and
    ~1,500 samples read again for each new one). False, changing nothing, when the event is not that
    case: the caller then rebuilds. `before` must have been read in the same write transaction."""
    start, last, last_at = before.meter_start_wh, before.last_meter_wh, before.last_meter_at
    readings = _picked_energy_readings(samples)
    if readings:
        low = round(min(value for value, _ in readings))
        top_value, top_at = max(readings)
        if last is None or last_at is None:
            start, last, last_at = low, round(top_value), top_at
        else:
            start = min(start, low)
            # Rounded, as stored: two readings within half a Wh may name the later one's time.
            if (round(top_value), top_at) > (last, last_at):
                last, last_at = round(top_value), top_at
    t = _db_time(timestamp)
    return raw(database).execute(
        'UPDATE "transaction" SET last_event_at = ?, charging_state = ?, offline = ?, meter_start_wh = ?, '
        "last_meter_wh = ?, last_meter_at = ? WHERE id = ? AND stopped_at IS NULL AND last_event_at < ?",
        (t, charging_state or before.charging_state, before.offline or offline, start, last,
         _db_time(last_at) if last_at else None, before.id, t)).rowcount > 0


def _picked_energy_readings(samples: Sequence[SampleRow]) -> list[tuple[float, dt.datetime]]:
    """The samples _ENERGY_READING picks, in Wh with their times: the same rule, for samples in hand."""
    return [(s.value * (1000 if s.unit.lower() == "kwh" else 1), s.sampled_at) for s in samples
            if s.measurand == "Energy.Active.Import.Register" and s.phase == "" and s.location in ("", "Outlet")
            and s.value is not None and s.unit.lower() in ("wh", "kwh", "")]


def set_token(transaction_id: int, id_tag: str, tag_id: int | None, driver_id: int | None, auth_status: str) -> None:
    """A 2.0.1 transaction may start before anyone is identified (cable first); the token comes later."""
    raw(database).execute(
        'UPDATE "transaction" SET id_tag = ?, tag_id = ?, driver_id = ?, auth_status = ? WHERE id = ?',
        (id_tag, tag_id, driver_id, auth_status, transaction_id))


def set_stop_token(transaction_id: int, id_tag: str, auth_status: str) -> None:
    raw(database).execute('UPDATE "transaction" SET stop_id_tag = ?, stop_auth_status = ? WHERE id = ?',
                                  (id_tag, auth_status, transaction_id))


def find_start(charger_id: int, connector_number: int, started_at: dt.datetime, id_tag: str,
               meter_start_wh: int) -> tuple[int, str] | None:
    """(id, auth status) of the transaction a replayed StartTransaction would be."""
    return raw(database).execute(
        'SELECT id, auth_status FROM "transaction" WHERE charger_id = ? AND connector_number = ? '
        "AND started_at = ? AND id_tag = ? AND meter_start_wh = ?",
        (charger_id, connector_number, _db_time(started_at), id_tag, meter_start_wh)).fetchone()


def count_active_for_tag(id_tag: str) -> int:
    """Running transactions the tag was accepted for; a refused start does not hold the tag's place."""
    return Transaction.select().where((Transaction.id_tag == id_tag) & Transaction.stopped_at.is_null()
                                      & (Transaction.auth_status == "Accepted")).count()


def insert(charger_id: int, connector_number: int, evse_number: int | None, id_tag: str,
           tag_id: int | None, driver_id: int | None, auth_status: str, started_at: dt.datetime,
           meter_start_wh: int, reservation_id: int | None, remote_tx_id: str, now: dt.datetime,
           remote_start_id: int | None = None) -> int:
    # Plain SQL: every StartTransaction of a reconnect storm comes through here.
    return raw(database).execute(
        'INSERT INTO "transaction" (charger_id, connector_number, evse_number, remote_tx_id, id_tag, tag_id, '
        "driver_id, auth_status, reservation_id, started_at, meter_start_wh, stop_reason, stop_id_tag, "
        "stop_auth_status, charging_state, offline, remote_start_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', '', FALSE, ?, ?) RETURNING id",
        (charger_id, connector_number, evse_number, remote_tx_id, id_tag, tag_id, driver_id, auth_status,
         reservation_id, _db_time(started_at), meter_start_wh, remote_start_id, _db_time(now))).fetchall()[0][0]


def finish(transaction_id: int, stopped_at: dt.datetime, meter_stop_wh: int, energy_wh: int, reason: str,
           stop_id_tag: str, stop_auth_status: str) -> None:
    # Plain SQL: every StopTransaction of a reconnect storm comes through here.
    raw(database).execute(
        'UPDATE "transaction" SET stopped_at = ?, meter_stop_wh = ?, energy_wh = ?, stop_reason = ?, '
        "stop_id_tag = ?, stop_auth_status = ? WHERE id = ?",
        (_db_time(stopped_at), meter_stop_wh, energy_wh, reason, stop_id_tag, stop_auth_status, transaction_id))


def list_transactions(charger_id: int | None = None, active: bool | None = None, id_tag: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[TransactionRecord]:
    query = _with_charger().order_by(Transaction.started_at.desc(), Transaction.id.desc())
    if charger_id is not None:
        query = query.where(Transaction.charger == charger_id)
    if active is not None:
        query = query.where(Transaction.stopped_at.is_null(active))
    if id_tag:
        query = query.where(Transaction.id_tag == id_tag)
    rows = list(query.limit(limit).offset(offset))
    events = _events_of([t.id for t in rows if t.remote_tx_id])
    return [_record(t, events=events.get(t.id)) for t in rows]


def stale_active(silent_since: dt.datetime) -> list[TransactionRecord]:
    """Active transactions with no meter value (nor start) since the given time.

    created_at (when the start was received, whatever the charger's clock said) must be that old too:
    a session a charger replays from its offline queue, stamped yesterday, is not silent."""
    cutoff = to_db(silent_since)
    query = _with_charger().where(
        Transaction.stopped_at.is_null() & (Transaction.created_at < cutoff)
        & (Transaction.last_meter_at.is_null() | (Transaction.last_meter_at < cutoff)))
    return [_record(t) for t in query]


_INSERT_SAMPLES = (
    'INSERT INTO meter_sample (charger_id, connector_number, transaction_id, sampled_at, '
    'measurand, phase, location, context, unit, format, value, raw_value) VALUES {rows} ON CONFLICT DO NOTHING'
)
_SAMPLE_ROW = (
    # A transaction id the charger invents (or that a lost database no longer has) is stored as
    # NULL, so the samples are kept and the foreign key holds.
    '(?, ?, (SELECT id FROM "transaction" WHERE id = ? AND charger_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?)'
)

_ADVANCE_METER = (
    'UPDATE "transaction" SET last_meter_wh = ?, last_meter_at = ? '
    'WHERE id = ? AND charger_id = ? AND stopped_at IS NULL AND (last_meter_at IS NULL OR last_meter_at <= ?)'
)


def insert_samples(charger_id: int, connector_number: int, transaction_id: int | None,
                   samples: list[SampleRow]) -> int:
    """Store samples, ignoring ones already stored; returns how many were new."""
    return insert_rows(database, _INSERT_SAMPLES, _SAMPLE_ROW, _sample_rows(charger_id, connector_number,
                                                                             transaction_id, samples))


def meter_statements(charger_id: int, connector_number: int, transaction_id: int | None,
                     samples: list[SampleRow], advance_to: tuple[int, dt.datetime] | None) -> list[Statement]:
    """insert_samples, then advance_meter (when given the register's energy and time), as statements
    for Database.write_statements: under load the writer runs those of many chargers together."""
    statements = [Statement(_INSERT_SAMPLES, _sample_rows(charger_id, connector_number, transaction_id, samples),
                            _SAMPLE_ROW)]
    if advance_to is not None and transaction_id is not None:
        t = _db_time(advance_to[1])
        statements.append(Statement(_ADVANCE_METER, [(advance_to[0], t, transaction_id, charger_id, t)]))
    return statements


def _sample_rows(charger_id: int, connector_number: int, transaction_id: int | None,
                 samples: list[SampleRow]) -> list[tuple]:
    times: dict[dt.datetime, str] = {}  # a MeterValues' samples mostly share one time: convert it once
    return [(charger_id, connector_number, transaction_id, charger_id,
             times.get(s.sampled_at) or times.setdefault(s.sampled_at, _db_time(s.sampled_at)), s.measurand,
             s.phase, s.location, s.context, s.unit, s.format, s.value, s.raw_value) for s in samples]


def advance_meter(charger_id: int, transaction_id: int, energy_wh: int, at: dt.datetime) -> None:
    t = _db_time(at)
    raw(database).execute(_ADVANCE_METER, (energy_wh, t, transaction_id, charger_id, t))


def samples(transaction_id: int, limit: int = 10000) -> list[SampleRow]:
    query = (MeterSample.select().where(MeterSample.transaction == transaction_id)
             .order_by(MeterSample.sampled_at, MeterSample.id).limit(limit))
    return [SampleRow(from_db(s.sampled_at), s.measurand, s.phase, s.location, s.context, s.unit, s.format,
                      s.value, s.raw_value) for s in query]


def _db_time(value: dt.datetime) -> str:
    # The same text form peewee writes for a DateTimeField, so raw and peewee rows compare equal.
    return str(to_db(value))


def last_use_by_tag() -> dict[str, float]:
    """When each tag last started a transaction (POSIX seconds), to rank tags for a short local list."""
    rows = raw(database).execute(
        'SELECT id_tag, max(started_at) FROM "transaction" WHERE id_tag != \'\' GROUP BY id_tag').fetchall()
    return {tag: from_db(at).timestamp() for tag, at in rows if at}
