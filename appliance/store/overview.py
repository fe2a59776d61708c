"""Queries behind the web UI's dashboard and its universal search: counts and short lists over chargers,
connectors, sessions and charge detail records, and the names people search for.

Plain SQL written to run on PostgreSQL as well (no SQLite-only functions); searching by name is done in
Python (`case-folded` substrings), because SQLite's LIKE and lower() fold ASCII letters only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from appliance.store.dialect import raw
from appliance.store.models import database
from appliance.store.times import from_db, to_db


@dataclass(frozen=True)
class ConnectorProblem:
    identity: str
    description: str
    connector_number: int  # 0: the charger as a whole
    evse_connector_id: int
    status: str
    error_code: str
    info: str
    vendor_error_code: str
    status_at: dt.datetime | None


@dataclass(frozen=True)
class ChargerState:
    identity: str
    description: str
    registration: str
    connection_state: str
    last_contact_at: dt.datetime | None


@dataclass(frozen=True)
class PeriodTotals:
    """Sessions started in a window: how many, how many still run, and their energy (running ones so far)."""

    sessions: int
    running: int
    energy_wh: int
    running_energy_wh: int


@dataclass(frozen=True)
class CostRow:
    transaction_id: int
    kind: str  # cdr, credit
    currency: str
    total_incl_vat: str  # Decimal text


@dataclass(frozen=True)
class PowerRow:
    transaction_id: int
    sampled_at: dt.datetime
    phase: str
    unit: str
    value: float


@dataclass(frozen=True)
class EvsePower:
    charger_id: int
    evse_number: int
    max_power_w: int | None


@dataclass(frozen=True)
class SessionHit:
    id: int
    identity: str
    connector_number: int
    id_tag: str
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    energy_wh: int | None


def _rows(sql: str, args: tuple = ()) -> list[tuple]:
    return raw(database).execute(sql, args).fetchall()


# -- the dashboard ------------------------------------------------------------------------------------

def connector_problems() -> list[ConnectorProblem]:
    """Connectors Faulted or reporting an error, of chargers that are not rejected; worst news first
    would need a ranking nobody agreed on, so newest first."""
    rows = _rows(
        "SELECT c.identity, c.description, k.connector_number, k.evse_connector_id, k.status, k.error_code, "
        "k.info, k.vendor_error_code, k.status_at FROM connector k JOIN charger c ON c.id = k.charger_id "
        "WHERE c.registration != 'rejected' AND (k.status = 'Faulted' OR k.error_code NOT IN ('NoError', '')) "
        "ORDER BY k.status_at DESC NULLS LAST, c.identity, k.connector_number, k.evse_connector_id")
    return [ConnectorProblem(*row[:8], from_db(row[8])) for row in rows]


def charger_states() -> list[ChargerState]:
    rows = _rows("SELECT identity, description, registration, connection_state, last_contact_at FROM charger "
                 "ORDER BY identity")
    return [ChargerState(*row[:4], from_db(row[4])) for row in rows]


def open_sessions() -> int:
    return _rows('SELECT count(*) FROM "transaction" WHERE stopped_at IS NULL')[0][0]


def recent_power(since: dt.datetime) -> list[PowerRow]:
    """Power.Active.Import samples of open sessions taken since `since` (numbers only, at the outlet)."""
    rows = _rows(
        "SELECT m.transaction_id, m.sampled_at, m.phase, m.unit, m.value FROM meter_sample m "
        'JOIN "transaction" t ON t.id = m.transaction_id WHERE t.stopped_at IS NULL '
        "AND m.measurand = 'Power.Active.Import' AND m.location IN ('', 'Outlet') AND m.value IS NOT NULL "
        "AND m.sampled_at >= ? ORDER BY m.transaction_id, m.sampled_at, m.id", (str(to_db(since)),))
    return [PowerRow(row[0], from_db(row[1]), row[2], row[3], row[4]) for row in rows]


def period_totals(start: dt.datetime, end: dt.datetime) -> PeriodTotals:
    """Sessions started in [start, end): a finished one counts its energy, a running one what its meter
    has advanced so far."""
    running_energy = ("CASE WHEN last_meter_wh IS NULL OR last_meter_wh < meter_start_wh THEN 0 "
                      "ELSE last_meter_wh - meter_start_wh END")
    count, running, finished_wh, running_wh = _rows(
        "SELECT count(*), "
        "coalesce(sum(CASE WHEN stopped_at IS NULL THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN stopped_at IS NULL THEN 0 ELSE coalesce(energy_wh, 0) END), 0), "
        f"coalesce(sum(CASE WHEN stopped_at IS NULL THEN {running_energy} ELSE 0 END), 0) "
        'FROM "transaction" WHERE started_at >= ? AND started_at < ?',
        (str(to_db(start)), str(to_db(end))))[0]
    return PeriodTotals(count, running, int(finished_wh) + int(running_wh), int(running_wh))


def period_costs(start: dt.datetime, end: dt.datetime) -> list[CostRow]:
    """Every charge detail record (and credit) of the sessions started in [start, end)."""
    rows = _rows(
        "SELECT r.transaction_id, r.kind, r.currency, r.total_incl_vat FROM charge_detail_record r "
        'JOIN "transaction" t ON t.id = r.transaction_id WHERE t.started_at >= ? AND t.started_at < ? '
        "ORDER BY r.id", (str(to_db(start)), str(to_db(end))))
    return [CostRow(*row) for row in rows]


def evse_powers() -> list[EvsePower]:
    """Each EVSE of an accepted charger with the most power it can give, as far as it is known: the
    EVSE's own figure, else the largest of its connectors'. A 1.x connector N is EVSE N."""
    own = {(c, n): p for c, n, p in _rows(
        "SELECT e.charger_id, e.evse_number, e.max_power_w FROM evse e JOIN charger c ON c.id = e.charger_id "
        "WHERE c.registration = 'accepted' AND e.evse_number > 0")}
    by_connectors: dict[tuple[int, int], int | None] = {}
    for charger_id, number, power in _rows(
            "SELECT k.charger_id, k.connector_number, k.max_power_w FROM connector k "
            "JOIN charger c ON c.id = k.charger_id WHERE c.registration = 'accepted' AND k.connector_number > 0"):
        best = by_connectors.get((charger_id, number))
        by_connectors[(charger_id, number)] = best if power is None or (best or 0) >= power else power
    return [EvsePower(c, n, own[(c, n)] if own.get((c, n)) is not None else by_connectors.get((c, n)))
            for c, n in sorted(own.keys() | by_connectors.keys())]


# -- the search -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChargerText:
    identity: str
    description: str
    vendor: str
    model: str
    serial_number: str
    registration: str
    connection_state: str


@dataclass(frozen=True)
class DriverText:
    name: str
    email: str
    company: str | None


@dataclass(frozen=True)
class VehicleText:
    name: str
    company: str | None


@dataclass(frozen=True)
class TagText:
    id_tag: str
    note: str
    status: str
    driver: str | None
    vehicle: str | None


def charger_texts() -> list[ChargerText]:
    return [ChargerText(*row) for row in _rows(
        "SELECT identity, description, vendor, model, serial_number, registration, connection_state "
        "FROM charger ORDER BY identity")]


def company_names() -> list[str]:
    return [row[0] for row in _rows("SELECT name FROM company ORDER BY name")]


def driver_texts() -> list[DriverText]:
    return [DriverText(*row) for row in _rows(
        "SELECT d.name, d.email, c.name FROM driver d LEFT JOIN company c ON c.id = d.company_id ORDER BY d.name")]


def vehicle_texts() -> list[VehicleText]:
    return [VehicleText(*row) for row in _rows(
        "SELECT v.name, c.name FROM vehicle v LEFT JOIN company c ON c.id = v.company_id ORDER BY v.name")]


def tag_texts() -> list[TagText]:
    return [TagText(*row) for row in _rows(
        "SELECT t.id_tag, t.note, t.status, d.name, v.name FROM tag t LEFT JOIN driver d ON d.id = t.driver_id "
        "LEFT JOIN vehicle v ON v.id = t.vehicle_id ORDER BY t.id_tag")]


_SESSION_HIT = ("SELECT t.id, c.identity, t.connector_number, t.id_tag, t.started_at, t.stopped_at, t.energy_wh "
                'FROM "transaction" t JOIN charger c ON c.id = t.charger_id ')


def _session_hit(row: tuple) -> SessionHit:
    return SessionHit(row[0], row[1], row[2], row[3], from_db(row[4]), from_db(row[5]), row[6])


def session_by_id(transaction_id: int) -> SessionHit | None:
    rows = _rows(_SESSION_HIT + "WHERE t.id = ?", (transaction_id,))
    return _session_hit(rows[0]) if rows else None


def sessions_of_tag(id_tag: str, limit: int) -> tuple[list[SessionHit], int]:
    """The tag's latest sessions (at most `limit`) and how many it has in all."""
    total = _rows('SELECT count(*) FROM "transaction" WHERE id_tag = ?', (id_tag,))[0][0]
    rows = _rows(_SESSION_HIT + "WHERE t.id_tag = ? ORDER BY t.started_at DESC, t.id DESC LIMIT ?", (id_tag, limit))
    return [_session_hit(row) for row in rows], total
