"""Queries on chargers, their connectors and their status history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import JOIN

from appliance.store.dialect import raw
from appliance.store.models import Charger, Connector, Evse, StatusHistory, database
from appliance.store.times import from_db, to_db


@dataclass(frozen=True)
class ChargerRecord:
    id: int
    identity: str
    protocol: str
    password_hash: str | None
    registration: str
    description: str
    vendor: str
    model: str
    serial_number: str
    firmware_version: str
    connection_state: str
    endpoint_url: str
    reachable: str  # '' (not tried yet), 'yes', 'no': whether commands reach the charger
    reachable_detail: str
    reachable_at: dt.datetime | None
    firmware_status: str
    diagnostics_status: str
    last_boot_at: dt.datetime | None
    last_contact_at: dt.datetime | None
    connected_at: dt.datetime | None
    created_at: dt.datetime


@dataclass(frozen=True)
class ConnectorRecord:
    connector_number: int
    evse_number: int | None
    evse_connector_id: int
    connector_type: str
    current_type: str
    max_power_w: int | None
    status: str
    error_code: str
    info: str
    vendor_error_code: str
    status_at: dt.datetime | None


@dataclass(frozen=True)
class StatusRecord:
    connector_number: int
    evse_connector_id: int
    status: str
    error_code: str
    info: str
    reported_at: dt.datetime


def _record(c: Charger) -> ChargerRecord:
    return ChargerRecord(
        id=c.id, identity=c.identity, protocol=c.protocol, password_hash=c.password_hash,
        registration=c.registration, description=c.description, vendor=c.vendor, model=c.model,
        serial_number=c.serial_number, firmware_version=c.firmware_version,
        connection_state=c.connection_state, endpoint_url=c.endpoint_url, reachable=c.reachable,
        reachable_detail=c.reachable_detail, reachable_at=from_db(c.reachable_at),
        firmware_status=c.firmware_status, diagnostics_status=c.diagnostics_status,
        last_boot_at=from_db(c.last_boot_at), last_contact_at=from_db(c.last_contact_at),
        connected_at=from_db(c.connected_at), created_at=from_db(c.created_at),
    )


def get(identity: str) -> ChargerRecord | None:
    c = Charger.get_or_none(Charger.identity == identity)
    return _record(c) if c else None


def list_all(registration: str | None = None) -> list[ChargerRecord]:
    query = Charger.select().order_by(Charger.identity)
    if registration:
        query = query.where(Charger.registration == registration)
    return [_record(c) for c in query]


def create(identity: str, protocol: str, password_hash: str | None, registration: str,
           created_by: str, now: dt.datetime, description: str = "") -> ChargerRecord:
    c = Charger.create(identity=identity, protocol=protocol, password_hash=password_hash,
                       registration=registration, created_by=created_by, created_at=to_db(now),
                       description=description)
    return _record(c)


def update(identity: str, **fields) -> ChargerRecord | None:
    fields = {k: to_db(v) if isinstance(v, dt.datetime) else v for k, v in fields.items()}
    Charger.update(**fields).where(Charger.identity == identity).execute()
    return get(identity)


# The connect and boot path runs for every charger of a reconnect storm: plain SQL, no model
# building, one statement each (peewee's query building was half of a charger's set-up cost).

def mark_connected(identity: str, at: dt.datetime) -> None:
    raw(database).execute(
        "UPDATE charger SET connected_at = ?, last_contact_at = ?, connection_state = 'online' WHERE identity = ?",
        (str(to_db(at)), str(to_db(at)), identity))


def record_boot(identity: str, protocol: str, details: dict[str, str], at: dt.datetime) -> tuple[str, str] | None:
    """Store what a charger says of itself at boot; returns its (registration, password hash) or None."""
    conn = raw(database)
    row = conn.execute("SELECT registration, password_hash FROM charger WHERE identity = ?", (identity,)).fetchone()
    if row is None:
        return None
    columns = ", ".join(f"{name} = ?" for name in details)
    conn.execute(f"UPDATE charger SET {columns}, protocol = ?, last_boot_at = ?, last_contact_at = ? "
                 "WHERE identity = ?", (*details.values(), protocol, str(to_db(at)), str(to_db(at)), identity))
    return row[0], row[1]


def identify(identity: str) -> tuple[int, str, str, str | None] | None:
    """(id, protocol, registration, password hash) of a charger, what a connection needs."""
    return raw(database).execute(
        "SELECT id, protocol, registration, password_hash FROM charger WHERE identity = ?", (identity,)).fetchone()


def record_unknown(identity: str, protocol: str, registration: str, created_by: str, at: dt.datetime) -> bool:
    """Record a charger nobody added; False if it was there already."""
    return Charger.insert(identity=identity, protocol=protocol, registration=registration, created_by=created_by,
                          created_at=to_db(at)).on_conflict_ignore().as_rowcount().execute() > 0


BOOT_DETAILS = ("vendor", "model", "serial_number", "firmware_version", "iccid", "imsi", "meter_type",
                "meter_serial_number")


def set_liveness(rows: list[tuple[str, dt.datetime | None, str]]) -> None:
    """(identity, last contact, connection state) for many chargers at once: one statement, many rows."""
    raw(database).executemany(
        "UPDATE charger SET last_contact_at = coalesce(?, last_contact_at), connection_state = ? WHERE identity = ?",
        [(str(to_db(at)) if at else None, state, identity) for identity, at, state in rows])


def connectors(charger_id: int) -> list[ConnectorRecord]:
    query = (Connector.select(Connector, Evse).join(Evse, join_type=JOIN.LEFT_OUTER)
             .where(Connector.charger == charger_id).order_by(Connector.connector_number, Connector.evse_connector_id))
    return [ConnectorRecord(
        connector_number=c.connector_number, evse_number=c.evse.evse_number if c.evse_id else None,
        evse_connector_id=c.evse_connector_id, connector_type=c.connector_type, current_type=c.current_type, max_power_w=c.max_power_w, status=c.status,
        error_code=c.error_code, info=c.info, vendor_error_code=c.vendor_error_code,
        status_at=from_db(c.status_at)) for c in query]


def record_status(charger_id: int, connector_number: int, evse_number: int | None, status: str,
                  error_code: str, info: str, vendor_error_code: str,
                  reported_at: dt.datetime, received_at: dt.datetime, evse_connector_id: int = 1) -> str | None:
    """Store a status report; returns the connector's previous status (None if it was new).

    Plain SQL: every charger sends these at every (re)connect, one per connector.
    """
    conn = raw(database)
    reported, received = str(to_db(reported_at)), str(to_db(received_at))
    evse_id = _evse_id(charger_id, evse_number) if evse_number else None
    row = conn.execute("SELECT id, status, status_at FROM connector WHERE charger_id = ? AND connector_number = ? "
                       "AND evse_connector_id = ?", (charger_id, connector_number, evse_connector_id)).fetchone()
    fields = (status, error_code, info, vendor_error_code, reported)
    if row is None:
        conn.execute("INSERT INTO connector (charger_id, evse_id, connector_number, evse_connector_id, current_type, "
                     "connector_type, status, error_code, info, vendor_error_code, status_at) "
                     "VALUES (?, ?, ?, ?, 'AC', '', ?, ?, ?, ?, ?)",
                     (charger_id, evse_id, connector_number, evse_connector_id, *fields))
    elif row[2] is None or from_db(row[2]) <= reported_at:  # a late, queued report must not overwrite a fresher one
        conn.execute("UPDATE connector SET status = ?, error_code = ?, info = ?, vendor_error_code = ?, "
                     "status_at = ?, evse_id = coalesce(?, evse_id) WHERE id = ?", (*fields, evse_id, row[0]))
    conn.execute("INSERT INTO status_history (charger_id, connector_number, evse_connector_id, status, error_code, "
                 "info, vendor_error_code, reported_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (charger_id, connector_number, evse_connector_id, *fields[:4], reported, received))
    return None if row is None else row[1]


def _evse_id(charger_id: int, evse_number: int) -> int:
    conn = raw(database)
    conn.execute("INSERT INTO evse (charger_id, evse_number) VALUES (?, ?) ON CONFLICT DO NOTHING",
                 (charger_id, evse_number))
    return conn.execute("SELECT id FROM evse WHERE charger_id = ? AND evse_number = ?",
                        (charger_id, evse_number)).fetchone()[0]


def record_layout(charger_id: int, evses: list[tuple[int, int | None, int | None]],
                  connectors: list[tuple[int, int, str, str]]) -> None:
    """What a charger's device model says it is made of: EVSEs (number, max power W, phases) and
    connectors (EVSE number, connector id, connector type, AC or DC). Known rows keep their status."""
    conn = raw(database)
    for evse_number, max_power_w, phases in evses:
        evse_id = _evse_id(charger_id, evse_number)
        conn.execute("UPDATE evse SET max_power_w = coalesce(?, max_power_w), supply_phases = coalesce(?, supply_phases) "
                     "WHERE id = ?", (max_power_w, phases, evse_id))
    for evse_number, connector_id, connector_type, current_type in connectors:
        evse_id = _evse_id(charger_id, evse_number)
        # A device model value may be any text up to 2,500 characters; the column keeps what fits (PostgreSQL
        # would refuse the whole report for a longer one).
        connector_type = connector_type[:Connector.connector_type.max_length]
        conn.execute("INSERT INTO connector (charger_id, evse_id, connector_number, evse_connector_id, "
                     "current_type, connector_type, status, error_code, info, vendor_error_code) "
                     "VALUES (?, ?, ?, ?, ?, ?, 'Unknown', 'NoError', '', '') ON CONFLICT DO NOTHING",
                     (charger_id, evse_id, evse_number, connector_id, current_type, connector_type))
        conn.execute("UPDATE connector SET connector_type = ?, current_type = ?, evse_id = ? WHERE charger_id = ? "
                     "AND connector_number = ? AND evse_connector_id = ?",
                     (connector_type, current_type, evse_id, charger_id, evse_number, connector_id))


def status_history(charger_id: int, limit: int = 100) -> list[StatusRecord]:
    query = (StatusHistory.select().where(StatusHistory.charger == charger_id)
             .order_by(StatusHistory.reported_at.desc(), StatusHistory.id.desc()).limit(limit))
    return [StatusRecord(s.connector_number, s.evse_connector_id, s.status, s.error_code, s.info,
                         from_db(s.reported_at))
            for s in query]
