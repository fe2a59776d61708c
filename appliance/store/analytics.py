"""Queries behind reports (appliance/analytics): the sessions that overlap a window with whose and where
they are, their meter readings, their charge detail records' totals, the EVSEs there are, what load
management recorded, and the reports staff saved.

Plain SQL for the session rows (a month is tens of thousands of them; peewee's model building would
cost more than the query), written for both databases: times are compared as the text the store
writes, which PostgreSQL reads as timestamps.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

from appliance.store.dialect import raw
from appliance.store.models import SavedReport, database
from appliance.store.times import from_db, to_db

ENERGY_REGISTER = "Energy.Active.Import.Register"
_CHUNK = 500  # ids in one IN list

# The sessions that overlap [start, end), as four disjoint ranges that each use an index: started inside;
# started before and stopped inside; started before and stopped after; started before and still running.
_OVERLAP = (
    'SELECT id FROM "transaction" WHERE started_at >= ? AND started_at < ? '
    'UNION ALL SELECT id FROM "transaction" WHERE stopped_at >= ? AND stopped_at < ? AND started_at < ? '
    'UNION ALL SELECT id FROM "transaction" WHERE stopped_at >= ? AND started_at < ? '
    'UNION ALL SELECT id FROM "transaction" WHERE stopped_at IS NULL AND started_at < ?')


@dataclass(frozen=True)
class SessionRow:
    transaction_id: int
    charger_id: int
    identity: str
    evse_number: int  # OCPP 1.x connector N sits on EVSE N
    connector_number: int
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    meter_start_wh: int
    energy_wh: int  # finished: its energy; running: what its meter advanced so far
    last_meter_at: dt.datetime | None
    driver_id: int | None  # the session's, else its tag's
    vehicle_id: int | None  # its tag's
    tag_company_id: int | None


@dataclass(frozen=True)
class Money:
    currency: str
    excl_vat: Decimal
    incl_vat: Decimal
    tariff_id: str  # the tariff of its standing record ('free' without a tariff group, '' unknown)


@dataclass(frozen=True)
class People:
    companies: dict[int, str]
    drivers: dict[int, tuple[str, int | None]]  # id: (name, company id)
    vehicles: dict[int, tuple[str, int | None]]
    tariffs: dict[str, str]  # CDR tariff id: name


@dataclass(frozen=True)
class LoadRow:
    circuit: str
    max_current_a: float
    at: dt.datetime
    available_a: dict[str, float]
    allocated_a: dict[str, float]
    measured_a: dict[str, float]
    waiting: int


@dataclass(frozen=True)
class SavedReportRecord:
    id: int
    name: str
    query: str  # the report's filters as a URL query string
    created_by: str
    created_at: dt.datetime


def _window(start: dt.datetime, end: dt.datetime) -> tuple[str, ...]:
    s, e = str(to_db(start)), str(to_db(end))
    return (s, e, s, e, s, e, s, s)


def _rows(sql: str, args: tuple = ()) -> list[tuple]:
    return raw(database).execute(sql, args).fetchall()


def sessions_overlapping(start: dt.datetime, end: dt.datetime) -> list[SessionRow]:
    rows = _rows(
        "SELECT t.id, t.charger_id, c.identity, t.evse_number, t.connector_number, t.started_at, t.stopped_at, "
        "t.meter_start_wh, t.meter_stop_wh, t.energy_wh, t.last_meter_wh, t.last_meter_at, t.driver_id, "
        "g.driver_id, g.vehicle_id, g.company_id "
        'FROM "transaction" t JOIN charger c ON c.id = t.charger_id LEFT JOIN tag g ON g.id = t.tag_id '
        f"WHERE t.id IN ({_OVERLAP}) ORDER BY t.id", _window(start, end))
    return [_session(r) for r in rows]


def _session(r: tuple) -> SessionRow:
    (tx, charger_id, identity, evse, connector, started, stopped, meter_start, meter_stop, energy, last_meter,
     last_meter_at, driver, tag_driver, tag_vehicle, tag_company) = r
    if stopped is not None:
        wh = energy if energy is not None else (meter_stop - meter_start if meter_stop is not None else 0)
    else:
        wh = last_meter - meter_start if last_meter is not None else 0
    return SessionRow(tx, charger_id, identity, evse if evse is not None else connector, connector, from_db(started),
                      from_db(stopped), meter_start, max(0, wh), from_db(last_meter_at), driver or tag_driver, tag_vehicle,
                      tag_company)


def readings(transaction_ids: list[int] | None, start: dt.datetime | None = None,
             end: dt.datetime | None = None) -> dict[int, list[tuple[dt.datetime, float]]]:
    """The energy register readings (time, Wh) of the sessions named, or (ids None) of every session
    overlapping [start, end)."""
    sql = ("SELECT transaction_id, sampled_at, value, unit FROM meter_sample WHERE measurand = ? AND phase = '' "
           "AND value IS NOT NULL AND transaction_id IN ({})")
    out: dict[int, list[tuple[dt.datetime, float]]] = {}
    if transaction_ids is None:
        batches = [(_rows(sql.format(_OVERLAP), (ENERGY_REGISTER, *_window(start, end))))]
    else:
        batches = (_rows(sql.format(", ".join("?" * len(chunk))), (ENERGY_REGISTER, *chunk))
                   for chunk in (transaction_ids[i:i + _CHUNK] for i in range(0, len(transaction_ids), _CHUNK)))
    for rows in batches:
        for tx, at, value, unit in rows:
            out.setdefault(tx, []).append((from_db(at), value * 1000 if unit == "kWh" else value))
    return out


def money_between(start: dt.datetime, end: dt.datetime, with_tariff: bool) -> dict[int, Money]:
    """Per session overlapping the window, its standing charge detail record's totals: the records and
    their credits added up (a credit carries the cancelled record's totals negated)."""
    rows = _rows("SELECT r.transaction_id, r.kind, r.cdr_id, r.credits, r.currency, r.total_excl_vat, "
                 f"r.total_incl_vat{', r.document' if with_tariff else ''} FROM charge_detail_record r "
                 f"WHERE r.transaction_id IN ({_OVERLAP}) ORDER BY r.id", _window(start, end))
    sums: dict[int, list] = {}
    credited = {(r[0], r[3]) for r in rows if r[1] == "credit"}
    for r in rows:
        tx, kind, cdr_id, _, currency, excl, incl = r[:7]
        entry = sums.setdefault(tx, [currency, Decimal(0), Decimal(0), ""])
        entry[1] += Decimal(excl)
        entry[2] += Decimal(incl)
        if with_tariff and kind == "cdr" and (tx, cdr_id) not in credited:
            tariffs = json.loads(r[7]).get("tariffs") or [{}]
            entry[3] = str(tariffs[0].get("id", ""))
    return {tx: Money(c, e, i, t) for tx, (c, e, i, t) in sums.items()}


def people() -> People:
    return People(
        companies=dict(_rows("SELECT id, name FROM company")),
        drivers={i: (n, c) for i, n, c in _rows("SELECT id, name, company_id FROM driver")},
        vehicles={i: (n, c) for i, n, c in _rows("SELECT id, name, company_id FROM vehicle")},
        tariffs={"free": "free (no tariff group)", **{str(i): n for i, n in _rows("SELECT id, name FROM tariff")}})


def current_types() -> dict[tuple[int, int], str]:
    """(charger id, connector number): AC or DC (DC if any cable of it is)."""
    return {(c, n): t for c, n, t in _rows(
        "SELECT charger_id, connector_number, max(current_type) FROM connector GROUP BY charger_id, connector_number")}


def evses() -> list[tuple[str, int]]:
    """(charger identity, EVSE number) of every EVSE of an accepted charger (a 1.x connector N is EVSE N)."""
    rows = _rows("SELECT c.identity, e.evse_number FROM evse e JOIN charger c ON c.id = e.charger_id "
                 "WHERE c.registration = 'accepted' AND e.evse_number > 0 UNION "
                 "SELECT c.identity, k.connector_number FROM connector k JOIN charger c ON c.id = k.charger_id "
                 "WHERE c.registration = 'accepted' AND k.connector_number > 0")
    return sorted(set(rows))


def held_back(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, int]]:
    """(time, sessions waiting) from load management's records of the main circuits (those without a parent)."""
    return [(from_db(at), waiting) for at, waiting in _rows(
        "SELECT l.at, l.waiting FROM circuit_load l JOIN circuit c ON c.id = l.circuit_id "
        "WHERE c.parent_id IS NULL AND l.at >= ? AND l.at < ?", (str(to_db(start)), str(to_db(end))))]


def load_rows(start: dt.datetime, end: dt.datetime, circuit: str | None) -> list[LoadRow]:
    where = " AND c.name = ?" if circuit else ""
    rows = _rows("SELECT c.name, c.max_current_a, l.at, l.available_a, l.allocated_a, l.measured_a, l.waiting "
                 "FROM circuit_load l JOIN circuit c ON c.id = l.circuit_id WHERE l.at >= ? AND l.at < ?"
                 f"{where} ORDER BY c.name, l.at",
                 (str(to_db(start)), str(to_db(end)), *((circuit,) if circuit else ())))
    return [LoadRow(name, limit, from_db(at), json.loads(available), json.loads(allocated), json.loads(measured),
                    waiting) for name, limit, at, available, allocated, measured, waiting in rows]


def circuits() -> list[tuple[str, float, int]]:
    """(name, limit per phase in A, phases) of every circuit."""
    return [tuple(r) for r in _rows("SELECT name, max_current_a, phases FROM circuit ORDER BY name")]


# -- saved reports ----------------------------------------------------------------------------------

def _saved(r: SavedReport) -> SavedReportRecord:
    return SavedReportRecord(r.id, r.name, r.query, r.created_by, from_db(r.created_at))


def saved_reports() -> list[SavedReportRecord]:
    return [_saved(r) for r in SavedReport.select().order_by(SavedReport.name)]


def saved_report(report_id: int) -> SavedReportRecord | None:
    r = SavedReport.get_or_none(SavedReport.id == report_id)
    return _saved(r) if r else None


def save_report(name: str, query: str, created_by: str, now: dt.datetime) -> SavedReportRecord:
    """A new saved report, or the one of that name with its filters replaced."""
    existing = SavedReport.get_or_none(SavedReport.name == name)
    if existing is None:
        return _saved(SavedReport.create(name=name, query=query, created_by=created_by, created_at=to_db(now)))
    SavedReport.update(query=query, created_by=created_by, created_at=to_db(now)).where(
        SavedReport.id == existing.id).execute()
    return _saved(SavedReport.get_by_id(existing.id))


def delete_saved_report(report_id: int) -> bool:
    return bool(SavedReport.delete().where(SavedReport.id == report_id).execute())
