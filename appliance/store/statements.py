"""The query behind statements and session exports: the sessions that stopped in a period, each with
the figures of its standing charge detail record, and whose they are (driver, vehicle, company)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from peewee import JOIN

from appliance.store.models import (
    ChargeDetailRecord,
    Charger,
    Company,
    Driver,
    Tag,
    Transaction,
    Vehicle,
)
from appliance.store.times import from_db, to_db

_US = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class StatementRow:
    transaction_id: int
    started_at: dt.datetime  # UTC aware
    stopped_at: dt.datetime
    charger: str
    evse_number: int
    id_tag: str
    driver: str  # '' if none
    vehicle: str  # '' if none
    company: str  # '' if none
    energy_wh: int
    duration_s: int
    currency: str
    total_excl_vat: Decimal
    vat: Decimal
    total_incl_vat: Decimal
    cdr_id: str


@dataclass(frozen=True)
class _Standing:
    cdr_id: str
    currency: str
    total_excl_vat: Decimal
    total_incl_vat: Decimal
    energy_wh: int | None


def statement_rows(start: dt.datetime, end: dt.datetime, company: str | None = None,
                   driver: str | None = None) -> list[StatementRow]:
    """The sessions that stopped in [start, end) (aware datetimes; the caller turns a month in the
    depot's zone into these bounds) and have a standing CDR, ordered by stop time. `company` and
    `driver` are names; either keeps only the sessions that are theirs. A session without a standing
    CDR (none written yet, or its last one credited without a new one) bills nothing and is left out."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("statement bounds must be timezone-aware")
    standing = _standing_cdrs(start, end)
    drivers = {d.id: d for d in Driver.select()}
    vehicles = {v.id: v for v in Vehicle.select()}
    companies = {c.id: c.name for c in Company.select()}
    rows = []
    for t in _stopped(start, end):
        cdr = standing.get(t["id"])
        if cdr is None:
            continue
        row = _row(t, cdr, drivers.get(t["driver"] or t["tag_driver"]), vehicles.get(t["tag_vehicle"]), companies)
        if (company is None or row.company == company) and (driver is None or row.driver == driver):
            rows.append(row)
    return rows


def _stopped(start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Transactions that stopped in the window, with their charger and their tag's owners."""
    return list(Transaction.select(
        Transaction.id, Transaction.started_at, Transaction.stopped_at, Transaction.connector_number,
        Transaction.evse_number, Transaction.id_tag, Transaction.driver, Transaction.energy_wh, Charger.identity,
        Tag.driver.alias("tag_driver"), Tag.vehicle.alias("tag_vehicle"), Tag.company.alias("tag_company"))
        .join(Charger).switch(Transaction).join(Tag, JOIN.LEFT_OUTER, on=(Transaction.tag == Tag.id))
        .where(Transaction.stopped_at >= to_db(start), Transaction.stopped_at < to_db(end))
        .order_by(Transaction.stopped_at, Transaction.id).dicts())


def _standing_cdrs(start: dt.datetime, end: dt.datetime) -> dict[int, _Standing]:
    """Per transaction, its latest CDR that no credit cancels (billing.finish_sync's rule)."""
    records = list(ChargeDetailRecord.select(ChargeDetailRecord).join(Transaction)
                   .where(Transaction.stopped_at >= to_db(start), Transaction.stopped_at < to_db(end))
                   .order_by(ChargeDetailRecord.id))
    credited = {(c.transaction_id, c.credits) for c in records if c.kind == "credit"}
    standing = {}
    for c in records:  # in id order: a later one replaces an earlier one
        if c.kind == "cdr" and (c.transaction_id, c.cdr_id) not in credited:
            standing[c.transaction_id] = _Standing(c.cdr_id, c.currency, Decimal(c.total_excl_vat),
                                                   Decimal(c.total_incl_vat), _billed_energy_wh(c.document))
    return standing


def _billed_energy_wh(document: str) -> int | None:
    """The energy the CDR bills (OCPI total_energy, kWh), which may differ from the meter's
    stop minus start: pricing counts only what lies between the session's start and stop."""
    kwh = json.loads(document).get("total_energy")
    if kwh is None:
        return None
    return int((Decimal(str(kwh)) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _row(t: dict, cdr: _Standing, driver: Driver | None, vehicle: Vehicle | None,
         companies: dict[int, str]) -> StatementRow:
    # Whose session: the driver's company, else the vehicle's, else the company the card was enrolled to
    # (as billing.session_facts decides it for the tariff).
    company_id = (driver.company_id if driver else None) or (vehicle.company_id if vehicle else None) \
        or t["tag_company"]
    started_at, stopped_at = from_db(t["started_at"]), from_db(t["stopped_at"])
    return StatementRow(
        transaction_id=t["id"], started_at=started_at, stopped_at=stopped_at, charger=t["identity"],
        # OCPP 1.x connector N sits on EVSE N.
        evse_number=t["evse_number"] if t["evse_number"] is not None else t["connector_number"],
        id_tag=t["id_tag"], driver=driver.name if driver else "", vehicle=vehicle.name if vehicle else "",
        company=companies.get(company_id, "") if company_id else "",
        energy_wh=cdr.energy_wh if cdr.energy_wh is not None else (t["energy_wh"] or 0),
        duration_s=_duration_s(started_at, stopped_at), currency=cdr.currency,
        total_excl_vat=cdr.total_excl_vat, vat=cdr.total_incl_vat - cdr.total_excl_vat,
        total_incl_vat=cdr.total_incl_vat, cdr_id=cdr.cdr_id)


def _duration_s(started_at: dt.datetime, stopped_at: dt.datetime) -> int:
    """Whole seconds, half up, and never negative: how pricing counts a session's time."""
    return max(0, ((stopped_at - started_at) // _US + 500_000) // 1_000_000)
