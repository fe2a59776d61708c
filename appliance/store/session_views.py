"""Queries behind the session pages and the session export: sessions filtered by charger, tag,
driver, company, state and start time, counted and paged, each with whose it is and its standing
charge detail record; a session's meter samples for its table and its chart; who stopped it remotely."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

from peewee import JOIN, fn

from appliance.store.models import (
    ActionLog,
    ChargeDetailRecord,
    Charger,
    Company,
    Driver,
    MeterSample,
    Tag,
    Transaction,
    Vehicle,
)
from appliance.store.times import from_db, to_db
from appliance.store.transactions import SampleRow

CHART_MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import")


@dataclass(frozen=True)
class SessionCriteria:
    """Which sessions: every given part must hold. Start times are UTC, [started_from, started_before)."""
    charger: str = ""
    id_tag: str = ""  # normalised
    driver: str = ""
    company: str = ""
    active: bool | None = None
    started_from: dt.datetime | None = None
    started_before: dt.datetime | None = None


@dataclass(frozen=True)
class Standing:
    """A session's charge detail record that no credit cancels: what it is billed."""
    cdr_id: str
    currency: str
    total_incl_vat: Decimal
    total_excl_vat: Decimal


@dataclass(frozen=True)
class SessionRow:
    id: int
    charger: str
    connector_number: int
    evse_number: int | None
    remote_tx_id: str
    id_tag: str
    auth_status: str
    driver: str  # '' when none: the session's driver, else the tag's
    vehicle: str  # the tag's vehicle
    company: str  # the driver's company, else the vehicle's, else the tag's (as billing decides)
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    meter_start_wh: int
    last_meter_wh: int | None
    energy_wh: int | None
    stop_reason: str
    charge_first: bool
    billed: Standing | None

    @property
    def active(self) -> bool:
        return self.stopped_at is None

    @property
    def energy_so_far_wh(self) -> int | None:
        """The energy charged: final once stopped, else up to the last meter reading."""
        if self.energy_wh is not None:
            return self.energy_wh
        if self.last_meter_wh is None:
            return None
        return max(0, self.last_meter_wh - self.meter_start_wh)


@dataclass(frozen=True)
class RemoteStop:
    at: dt.datetime
    actor: str
    reason: str
    result_status: str
    result_detail: str


def _query(criteria: SessionCriteria, columns: tuple = ()):
    # Whose session, as billing.session_facts decides it: the driver is the session's own, else its tag's;
    # the company is the driver's, else the tag's vehicle's, else the one the tag was enrolled to.
    query = (Transaction.select(*columns).join(Charger)
             .switch(Transaction).join(Tag, JOIN.LEFT_OUTER, on=(Transaction.tag == Tag.id))
             .switch(Transaction).join(Driver, JOIN.LEFT_OUTER, on=(Driver.id == fn.COALESCE(Transaction.driver,
                                                                                            Tag.driver)))
             .switch(Transaction).join(Vehicle, JOIN.LEFT_OUTER, on=(Vehicle.id == Tag.vehicle))
             .switch(Transaction).join(Company, JOIN.LEFT_OUTER,
                                       on=(Company.id == fn.COALESCE(Driver.company, Vehicle.company, Tag.company))))
    conditions = []
    if criteria.charger:
        conditions.append(Charger.identity == criteria.charger)
    if criteria.id_tag:
        conditions.append(Transaction.id_tag == criteria.id_tag)
    if criteria.driver:
        conditions.append(Driver.name == criteria.driver)
    if criteria.company:
        conditions.append(Company.name == criteria.company)
    if criteria.active is not None:
        conditions.append(Transaction.stopped_at.is_null(criteria.active))
    if criteria.started_from is not None:
        conditions.append(Transaction.started_at >= to_db(criteria.started_from))
    if criteria.started_before is not None:
        conditions.append(Transaction.started_at < to_db(criteria.started_before))
    for condition in conditions:
        query = query.where(condition)
    return query


_COLUMNS = (Transaction.id, Transaction.connector_number, Transaction.evse_number, Transaction.remote_tx_id,
            Transaction.id_tag, Transaction.auth_status, Transaction.started_at, Transaction.stopped_at,
            Transaction.meter_start_wh, Transaction.last_meter_wh, Transaction.energy_wh, Transaction.stop_reason,
            Transaction.charge_first, Charger.identity.alias("charger"), Driver.name.alias("driver"),
            Vehicle.name.alias("vehicle"), Company.name.alias("company"))


def count_sessions(criteria: SessionCriteria) -> int:
    return _query(criteria, (Transaction.id,)).count()


def find_sessions(criteria: SessionCriteria, limit: int, offset: int = 0) -> list[SessionRow]:
    """Newest start first."""
    query = (_query(criteria, _COLUMNS).order_by(Transaction.started_at.desc(), Transaction.id.desc())
             .limit(limit).offset(offset))
    return _rows(list(query.dicts()))


def sessions_before(criteria: SessionCriteria, after: tuple[dt.datetime, int] | None, limit: int) -> list[SessionRow]:
    """The next `limit` sessions in the list's order after the (started_at, id) of the last one read:
    an export reads chunk by chunk, and a session starting meanwhile does not shift what follows."""
    query = _query(criteria, _COLUMNS)
    if after is not None:
        started, last_id = to_db(after[0]), after[1]
        query = query.where((Transaction.started_at < started)
                            | ((Transaction.started_at == started) & (Transaction.id < last_id)))
    query = query.order_by(Transaction.started_at.desc(), Transaction.id.desc()).limit(limit)
    return _rows(list(query.dicts()))


def _rows(found: list[dict]) -> list[SessionRow]:
    billed = standing_cdrs([r["id"] for r in found])
    return [SessionRow(
        id=r["id"], charger=r["charger"], connector_number=r["connector_number"], evse_number=r["evse_number"],
        remote_tx_id=r["remote_tx_id"], id_tag=r["id_tag"], auth_status=r["auth_status"], driver=r["driver"] or "",
        vehicle=r["vehicle"] or "", company=r["company"] or "", started_at=from_db(r["started_at"]),
        stopped_at=from_db(r["stopped_at"]), meter_start_wh=r["meter_start_wh"], last_meter_wh=r["last_meter_wh"],
        energy_wh=r["energy_wh"], stop_reason=r["stop_reason"], charge_first=bool(r["charge_first"]),
        billed=billed.get(r["id"])) for r in found]


def standing_cdrs(transaction_ids: list[int]) -> dict[int, Standing]:
    """Per transaction, its latest CDR that no credit cancels (billing.finish_sync's rule)."""
    standing: dict[int, Standing] = {}
    for chunk in (transaction_ids[i:i + 500] for i in range(0, len(transaction_ids), 500)):
        records = list(ChargeDetailRecord.select(
            ChargeDetailRecord.transaction, ChargeDetailRecord.kind, ChargeDetailRecord.cdr_id,
            ChargeDetailRecord.credits, ChargeDetailRecord.currency, ChargeDetailRecord.total_incl_vat,
            ChargeDetailRecord.total_excl_vat).where(ChargeDetailRecord.transaction.in_(chunk))
            .order_by(ChargeDetailRecord.id).tuples())
        credited = {(tx, credits) for tx, kind, _, credits, *_ in records if kind == "credit"}
        for tx, kind, cdr_id, _, currency, incl, excl in records:  # in id order: a later one replaces an earlier
            if kind == "cdr" and (tx, cdr_id) not in credited:
                standing[tx] = Standing(cdr_id, currency, Decimal(incl), Decimal(excl))
    return standing


def session_row(transaction_id: int) -> SessionRow | None:
    rows = _rows(list(_query(SessionCriteria(), _COLUMNS).where(Transaction.id == transaction_id).dicts()))
    return rows[0] if rows else None


def remote_stops(identity: str, transaction_id: int, since: dt.datetime) -> list[RemoteStop]:
    """Remote stops sent for this session (from the action log), oldest first."""
    query = (ActionLog.select().where(ActionLog.charger_identity == identity, ActionLog.action == "remote_stop",
                                      ActionLog.at >= to_db(since)).order_by(ActionLog.id))
    out = []
    for a in query:
        try:
            arguments = json.loads(a.arguments)
        except ValueError:
            continue
        if isinstance(arguments, dict) and arguments.get("transaction_id") == transaction_id:
            out.append(RemoteStop(from_db(a.at), a.actor, a.reason, a.result_status, a.result_detail))
    return out


def _sample(s: MeterSample) -> SampleRow:
    return SampleRow(from_db(s.sampled_at), s.measurand, s.phase, s.location, s.context, s.unit, s.format,
                     s.value, s.raw_value)


def latest_samples(transaction_id: int, limit: int) -> tuple[list[SampleRow], int]:
    """The session's last `limit` meter samples, in time order, and how many it has in all."""
    query = MeterSample.select().where(MeterSample.transaction == transaction_id)
    total = query.count()
    latest = list(query.order_by(MeterSample.sampled_at.desc(), MeterSample.id.desc()).limit(limit))
    return [_sample(s) for s in reversed(latest)], total


def chart_samples(transaction_id: int, limit: int) -> list[SampleRow]:
    """The session's energy and power samples (its last `limit`), in time order."""
    query = (MeterSample.select().where(MeterSample.transaction == transaction_id,
                                        MeterSample.measurand.in_(CHART_MEASURANDS),
                                        MeterSample.value.is_null(False))
             .order_by(MeterSample.sampled_at.desc(), MeterSample.id.desc()).limit(limit))
    return [_sample(s) for s in reversed(list(query))]
