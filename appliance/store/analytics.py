"""Queries behind reports (appliance/analytics): the sessions that overlap a window with whose and where
they are, their meter readings, their charge detail records' totals, the EVSEs there are, what load
management recorded, and the reports staff saved.

Plain SQL for the session rows (a month is tens of thousands of them; peewee's model building would
cost more than the query), written for both databases: times are compared as the text the store
writes, which PostgreSQL reads as timestamps.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from appliance.store.dialect import raw
from appliance.store.models import SavedReport, database
from appliance.store.times import from_db, to_db

ENERGY_REGISTER = "Energy.Active.Import.Register"
_CHUNK = 500  # ids in one IN list

# The sessions that overlap [start, end), as four disjoint ranges that each use an index: started inside;
# started before and stopped inside; started before and stopped after; started before and still running.
_STARTED_BEFORE = (
    'SELECT id FROM "transaction" WHERE stopped_at >= ? AND stopped_at < ? AND started_at < ? '
    'UNION ALL SELECT id FROM "transaction" WHERE stopped_at >= ? AND started_at < ? '
    'UNION ALL SELECT id FROM "transaction" WHERE stopped_at IS NULL AND started_at < ?')
_OVERLAP = 'SELECT id FROM "transaction" WHERE started_at >= ? AND started_at < ? UNION ALL ' + _STARTED_BEFORE


_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DAY = _EPOCH.toordinal()
_US = dt.timedelta(microseconds=1)
_US_PER_DAY = 86_400 * 1_000_000


def to_us(value: dt.datetime | str | None) -> int | None:
    """A stored time as microseconds since the epoch (UTC): a month's rows are tens of thousands of them,
    and integers cost a report far less than aware datetimes. SQLite gives the text the store writes
    ('YYYY-MM-DD HH:MM:SS[.ffffff]', read here by hand: datetime arithmetic would be most of a report's
    time), PostgreSQL a naive datetime; both UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        if value[10:11] == " " and len(value) in (19, 26):
            return (_day_us(value[:10]) + (int(value[11:13]) * 3600 + int(value[14:16]) * 60 + int(value[17:19]))
                    * 1_000_000 + (int(value[20:26]) if len(value) == 26 else 0))
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (value - _EPOCH) // _US


@functools.lru_cache(maxsize=4096)
def _day_us(day: str) -> int:
    return (dt.date.fromisoformat(day).toordinal() - _EPOCH_DAY) * _US_PER_DAY


@dataclass(frozen=True)
class SessionRow:
    transaction_id: int
    charger_id: int
    identity: str
    evse_number: int  # OCPP 1.x connector N sits on EVSE N
    connector_number: int
    start_us: int  # µs since the epoch (to_us)
    stop_us: int | None
    meter_start_wh: int
    energy_wh: int  # finished: its energy; running: what its meter advanced so far
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


_FROM = 'FROM "transaction" t JOIN charger c ON c.id = t.charger_id LEFT JOIN tag g ON g.id = t.tag_id '
# What a breakdown groups sessions by, as the columns of SessionRow it needs (the rest NULL).
KEY_COLUMNS = {
    None: {},
    "charger": {"identity": "c.identity"},
    "evse": {"identity": "c.identity", "evse_number": "coalesce(t.evse_number, t.connector_number)"},
    "current": {"charger_id": "t.charger_id", "connector_number": "t.connector_number"},
    "driver": {"driver_id": "coalesce(t.driver_id, g.driver_id)"},
    "vehicle": {"vehicle_id": "g.vehicle_id"},
    "company": {"driver_id": "coalesce(t.driver_id, g.driver_id)", "vehicle_id": "g.vehicle_id",
                "tag_company_id": "g.company_id"},
}
# A finished session's energy: the store writes energy_wh with the stop (an index holds it beside the times).
_ENERGY = "coalesce(t.energy_wh, 0)"


@dataclass(frozen=True)
class Cell:
    """Sessions added up in the database: those of one bucket with one key."""

    bucket: int
    key: dict[str, Any]  # SessionRow's fields the breakdown needs (KEY_COLUMNS)
    sessions: int
    energy_wh: int


def bucket_sql(column: str, edges: list[str], right: bool = True) -> str:
    """SQL for Python's bisect_right(edges, column) (right=False: bisect_left) as a binary tree of CASEs:
    depth log2 of the edges, the same on SQLite and PostgreSQL. `edges` are stored-time texts the report
    made itself, written in as literals (no placeholders: a year of hours would be 17,000 of them)."""
    test = "<" if right else "<="

    def below(lo: int, hi: int) -> str:
        if lo == hi:
            return str(lo)
        mid = (lo + hi) // 2
        return f"CASE WHEN {column} {test} '{edges[mid]}' THEN {below(lo, mid)} ELSE {below(mid + 1, hi)} END"

    return below(0, len(edges))


def _inside_one_bucket(edges: list[str]) -> str:
    """SQL: a finished session that lies in one bucket (from its start to its stop)."""
    # Written as a range of started_at (stopped_at <= the last edge follows from the buckets' being equal), so
    # the planner reads the index on (started_at, stopped_at, energy_wh) alone.
    return f"t.started_at >= '{edges[0]}' AND t.started_at < '{edges[-1]}' AND {_one_bucket(edges)}"


def _one_bucket(edges: list[str]) -> str:
    # IS NOT NULL: for a running session the condition must be false, not NULL, or NOT (...) would leave it
    # out too.
    return (f"t.stopped_at IS NOT NULL AND t.stopped_at > t.started_at AND "
            f"({bucket_sql('t.started_at', edges)}) = ({bucket_sql('t.stopped_at', edges, right=False)})")


def cells(metric: str, by: str | None, edges: list[str]) -> list[Cell]:
    """Sessions added up per bucket [edges[i], edges[i+1]) and key in the database. metric 'sessions':
    every session started in a bucket; 'energy': the finished sessions that lie in one bucket (the rest
    are split in Python: sessions_overlapping(..., edges))."""
    names = list(KEY_COLUMNS[by])
    columns = "".join(f", {KEY_COLUMNS[by][n]}" for n in names)
    groups = "".join(f", {i + 2}" for i in range(len(names)))
    if metric == "sessions":
        where = f"t.started_at >= '{edges[0]}' AND t.started_at < '{edges[-1]}'"
        value = "0"
    else:
        where = _inside_one_bucket(edges)
        value = f"CASE WHEN {_ENERGY} < 0 THEN 0 ELSE {_ENERGY} END"
    joins = ("JOIN charger c ON c.id = t.charger_id " if "c." in columns else "") + (
        "LEFT JOIN tag g ON g.id = t.tag_id " if "g." in columns else "")  # only what the key needs: joins cost
    rows = _rows(f'SELECT {bucket_sql("t.started_at", edges)} - 1{columns}, count(*), sum({value}) '
                 f'FROM "transaction" t {joins}WHERE {where} GROUP BY 1{groups}')
    return [Cell(r[0], dict(zip(names, r[1:-2])), r[-2], int(r[-1] or 0)) for r in rows]


def sessions_overlapping(start: dt.datetime, end: dt.datetime, edges: list[str] | None = None) -> list[SessionRow]:
    """The sessions that overlap [start, end); given bucket edges, but those `cells` adds up."""
    # Those started inside that cells() leaves out are found in the index on (started_at, stopped_at) alone.
    ids = (f'SELECT t.id FROM "transaction" t WHERE t.started_at >= ? AND t.started_at < ? '
           f"AND NOT ({_one_bucket(edges)}) UNION ALL {_STARTED_BEFORE}") if edges else _OVERLAP
    rows = _rows(
        "SELECT t.id, t.charger_id, c.identity, t.evse_number, t.connector_number, t.started_at, t.stopped_at, "
        "t.meter_start_wh, t.meter_stop_wh, t.energy_wh, t.last_meter_wh, t.driver_id, "
        f"g.driver_id, g.vehicle_id, g.company_id {_FROM}"
        f"WHERE t.id IN ({ids}) ORDER BY t.id", _window(start, end))
    return [_session(r) for r in rows]


def _session(r: tuple) -> SessionRow:
    (tx, charger_id, identity, evse, connector, started, stopped, meter_start, meter_stop, energy, last_meter,
     driver, tag_driver, tag_vehicle, tag_company) = r
    if stopped is not None:
        wh = energy if energy is not None else 0  # as cells() counts it
    else:
        wh = last_meter - meter_start if last_meter is not None else 0
    return SessionRow(tx, charger_id, identity, evse if evse is not None else connector, connector, to_us(started),
                      to_us(stopped), meter_start, max(0, wh), driver or tag_driver, tag_vehicle, tag_company)


def readings(transaction_ids: list[int] | None, start: dt.datetime | None = None,
             end: dt.datetime | None = None) -> dict[int, list[tuple[int, float]]]:
    """The energy register readings (µs since the epoch, Wh) of the sessions named, or (ids None) of every session
    overlapping [start, end)."""
    sql = ("SELECT transaction_id, sampled_at, value, unit FROM meter_sample WHERE measurand = ? AND phase = '' "
           "AND value IS NOT NULL AND transaction_id IN ({})")
    out: dict[int, list[tuple[int, float]]] = {}
    if transaction_ids is None:
        batches = [(_rows(sql.format(_OVERLAP), (ENERGY_REGISTER, *_window(start, end))))]
    else:
        batches = (_rows(sql.format(", ".join("?" * len(chunk))), (ENERGY_REGISTER, *chunk))
                   for chunk in (transaction_ids[i:i + _CHUNK] for i in range(0, len(transaction_ids), _CHUNK)))
    for rows in batches:
        for tx, at, value, unit in rows:
            out.setdefault(tx, []).append((to_us(at), value * 1000 if unit == "kWh" else value))
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
