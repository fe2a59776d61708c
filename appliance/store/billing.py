"""Queries for billing: tariffs, tariff groups and which EVSEs they price, what a finished session
needs to be priced, and the outbox of charge detail records."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from appliance.store.models import (
    ChargeDetailRecord,
    Company,
    Driver,
    EvseTariff,
    HeadOffice,
    Tariff,
    TariffGroup,
    TariffRule,
    database,
)
from appliance.store.dialect import raw
from appliance.store.times import from_db, to_db

ENERGY_REGISTER = "Energy.Active.Import.Register"


@dataclass(frozen=True)
class TariffRecord:
    id: int
    name: str
    kind: str
    currency: str
    definition: dict


@dataclass(frozen=True)
class GroupRecord:
    id: int
    name: str
    base_tariff: str
    rules: tuple[tuple[int, str, str, str], ...]  # (position, tariff, "company"|"user", name)


@dataclass(frozen=True)
class CdrRecord:
    id: int
    cdr_id: str
    transaction_id: int
    kind: str
    credits: str
    document: dict
    currency: str
    total_incl_vat: str
    total_excl_vat: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    attempts: int
    last_error: str


# -- tariffs ----------------------------------------------------------------------------------

def _tariff(t: Tariff) -> TariffRecord:
    return TariffRecord(t.id, t.name, t.kind, t.currency, json.loads(t.definition))


def add_tariff(name: str, kind: str, currency: str, definition: dict, now: dt.datetime) -> TariffRecord:
    t = Tariff.create(name=name, kind=kind, currency=currency, definition=json.dumps(definition),
                      created_at=to_db(now), updated_at=to_db(now))
    return _tariff(t)


def update_tariff(name: str, kind: str, currency: str, definition: dict, now: dt.datetime) -> bool:
    return bool(Tariff.update(kind=kind, currency=currency, definition=json.dumps(definition),
                              updated_at=to_db(now)).where(Tariff.name == name).execute())


def get_tariff(name: str) -> TariffRecord | None:
    t = Tariff.get_or_none(Tariff.name == name)
    return _tariff(t) if t else None


def tariff_by_id(tariff_id: int) -> TariffRecord | None:
    t = Tariff.get_or_none(Tariff.id == tariff_id)
    return _tariff(t) if t else None


def list_tariffs() -> list[TariffRecord]:
    return [_tariff(t) for t in Tariff.select().order_by(Tariff.name)]


# -- tariff groups ----------------------------------------------------------------------------

def add_group(name: str, base_tariff_id: int, now: dt.datetime) -> None:
    TariffGroup.create(name=name, base_tariff=base_tariff_id, created_at=to_db(now))


def group_id(name: str) -> int | None:
    g = TariffGroup.get_or_none(TariffGroup.name == name)
    return g.id if g else None


def add_rule(group: int, tariff: int, company: int | None, driver: int | None) -> None:
    last = TariffRule.select(TariffRule.position).where(TariffRule.group == group).order_by(
        TariffRule.position.desc()).first()
    TariffRule.create(group=group, position=(last.position + 1) if last else 1, tariff=tariff, company=company,
                      driver=driver)


def list_groups() -> list[GroupRecord]:
    out = []
    for g in TariffGroup.select(TariffGroup, Tariff).join(Tariff).order_by(TariffGroup.name):
        rules = []
        for r in (TariffRule.select(TariffRule, Tariff).join(Tariff).where(TariffRule.group == g.id)
                  .order_by(TariffRule.position)):
            if r.driver_id:
                rules.append((r.position, r.tariff.name, "user", Driver.get_by_id(r.driver_id).name))
            else:
                rules.append((r.position, r.tariff.name, "company", Company.get_by_id(r.company_id).name))
        out.append(GroupRecord(g.id, g.name, g.base_tariff.name, tuple(rules)))
    return out


def set_evse_group(charger_id: int, evse_number: int, group: int) -> None:
    existing = EvseTariff.get_or_none(EvseTariff.charger == charger_id, EvseTariff.evse_number == evse_number)
    if existing is None:
        EvseTariff.create(charger=charger_id, evse_number=evse_number, group=group)
    else:
        EvseTariff.update(group=group).where(EvseTariff.id == existing.id).execute()


def tariff_for(charger_id: int, evse_number: int, driver_id: int | None, company_id: int | None) -> TariffRecord | None:
    """The tariff that prices a session: the EVSE's group (its own row, else the charger's), then the
    most specific of its rules: one for the driver, then one for the company, then the base tariff."""
    row = raw(database).execute(  # plain SQL: asked at every session's end; most depots have one group or none
        "SELECT group_id FROM evse_tariff WHERE charger_id = ? AND evse_number IN (?, 0) ORDER BY evse_number DESC "
        "LIMIT 1", (charger_id, evse_number)).fetchone()
    if row is None:
        return None
    group_id = row[0]
    rules = list(TariffRule.select().where(TariffRule.group == group_id).order_by(TariffRule.position))
    for wanted in ("driver", "company"):
        for r in rules:
            if wanted == "driver" and driver_id and r.driver_id == driver_id:
                return tariff_by_id(r.tariff_id)
            if wanted == "company" and company_id and r.company_id == company_id:
                return tariff_by_id(r.tariff_id)
    return tariff_by_id(TariffGroup.get_by_id(group_id).base_tariff_id)


# -- what a finished session needs -----------------------------------------------------------

@dataclass(frozen=True)
class SessionFacts:
    transaction_id: int
    charger_id: int
    identity: str
    connector_number: int
    id_tag: str
    token_type: str
    driver_id: int | None
    company_id: int | None
    company: str
    driver: str
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    meter_start_wh: int
    meter_stop_wh: int | None
    auth_status: str
    stop_reason: str


# Plain SQL: every finished session asks these in the commit that finishes it, and peewee's building
# of the queries was about half of that commit's time in a reconnect storm (5,000 stops at once).
# The session's driver is the one it started with, else its tag's; its company is the driver's, else
# the tag's vehicle's, else the card's own (a card nobody has yet).
_SESSION_FACTS = (
    'SELECT t.id, t.charger_id, c.identity, t.connector_number, t.id_tag, tg.id, tg.token_type, d.id, d.name, '
    "coalesce(d.company_id, v.company_id, tg.company_id), co.name, t.started_at, t.stopped_at, t.meter_start_wh, "
    't.meter_stop_wh, t.auth_status, t.stop_reason FROM "transaction" t JOIN charger c ON c.id = t.charger_id '
    "LEFT JOIN tag tg ON tg.id = t.tag_id LEFT JOIN driver d ON d.id = coalesce(t.driver_id, tg.driver_id) "
    "LEFT JOIN vehicle v ON v.id = tg.vehicle_id "
    "LEFT JOIN company co ON co.id = coalesce(d.company_id, v.company_id, tg.company_id) WHERE t.id = ?")


def session_facts(transaction_id: int) -> SessionFacts | None:
    row = raw(database).execute(_SESSION_FACTS, (transaction_id,)).fetchone()
    if row is None:
        return None
    (tx_id, charger_id, identity, connector, id_tag, tag_id, token_type, driver_id, driver, company_id, company,
     started, stopped, meter_start, meter_stop, auth_status, stop_reason) = row
    return SessionFacts(tx_id, charger_id, identity, connector, id_tag, token_type if tag_id else "ISO14443",
                        driver_id, company_id, company or "", driver or "", from_db(started), from_db(stopped),
                        meter_start, meter_stop, auth_status, stop_reason)


def energy_readings(transaction_id: int) -> list[tuple[dt.datetime, float, str]]:
    """The session's whole-meter energy register samples: (time, value, unit)."""
    rows = raw(database).execute(
        "SELECT sampled_at, value, unit FROM meter_sample WHERE transaction_id = ? AND measurand = ? AND phase = '' "
        "AND value IS NOT NULL ORDER BY sampled_at", (transaction_id, ENERGY_REGISTER))
    return [(from_db(at), value, unit) for at, value, unit in rows]


def signed_samples(transaction_id: int) -> list[tuple[dt.datetime, str, str]]:
    """The session's signed meter data, verbatim: (time, context, raw value)."""
    rows = raw(database).execute(
        "SELECT sampled_at, context, raw_value FROM meter_sample WHERE transaction_id = ? AND format = 'SignedData' "
        "ORDER BY sampled_at", (transaction_id,))
    return [(from_db(at), context, raw_value) for at, context, raw_value in rows]


# -- the outbox -------------------------------------------------------------------------------

def _cdr(c: ChargeDetailRecord) -> CdrRecord:
    return CdrRecord(c.id, c.cdr_id, c.transaction_id, c.kind, c.credits, json.loads(c.document), c.currency,
                     c.total_incl_vat, c.total_excl_vat, from_db(c.created_at), from_db(c.sent_at), c.attempts,
                     c.last_error)


def add_cdr(cdr_id: str, transaction_id: int, kind: str, credits: str, document: dict, currency: str,
            total_incl_vat: str, total_excl_vat: str, now: dt.datetime) -> None:
    raw(database).execute(  # plain SQL: in the commit that finishes each session, as session_facts
        "INSERT INTO charge_detail_record (cdr_id, transaction_id, kind, credits, document, currency, total_incl_vat, "
        "total_excl_vat, created_at, attempts, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '')",
        (cdr_id, transaction_id, kind, credits, json.dumps(document, separators=(",", ":")), currency,
         total_incl_vat, total_excl_vat, str(to_db(now))))


def has_cdrs(transaction_id: int) -> bool:
    """Whether a session has any record yet: its first stop's commit need not read them."""
    return raw(database).execute("SELECT 1 FROM charge_detail_record WHERE transaction_id = ? LIMIT 1",
                                 (transaction_id,)).fetchone() is not None


def cdrs_of(transaction_id: int) -> list[CdrRecord]:
    return [_cdr(c) for c in ChargeDetailRecord.select().where(ChargeDetailRecord.transaction == transaction_id)
            .order_by(ChargeDetailRecord.id)]


def connector_kind(charger_id: int, connector_number: int) -> tuple[str, str] | None:
    """A connector's (type, current type) as the charger reported them, for its sessions' CDRs."""
    row = raw(database).execute(
        "SELECT connector_type, current_type FROM connector WHERE charger_id = ? AND connector_number = ? "
        "ORDER BY evse_connector_id LIMIT 1", (charger_id, connector_number)).fetchone()
    return (row[0], row[1]) if row else None


def unsent(limit: int) -> list[CdrRecord]:
    return [_cdr(c) for c in ChargeDetailRecord.select().where(ChargeDetailRecord.sent_at.is_null())
            .order_by(ChargeDetailRecord.id).limit(limit)]


def mark_sent(ids: list[int], now: dt.datetime) -> None:
    ChargeDetailRecord.update(sent_at=to_db(now)).where(ChargeDetailRecord.id.in_(ids)).execute()


def mark_failed(ids: list[int], error: str) -> None:
    ChargeDetailRecord.update(attempts=ChargeDetailRecord.attempts + 1, last_error=error[:1000]).where(
        ChargeDetailRecord.id.in_(ids)).execute()


def outbox_state() -> tuple[int, dt.datetime | None, dt.datetime | None]:
    """(records not yet sent, when the oldest of them was written, when the last one was sent)."""
    pending = ChargeDetailRecord.select().where(ChargeDetailRecord.sent_at.is_null())
    oldest = pending.order_by(ChargeDetailRecord.id).first()
    last = (ChargeDetailRecord.select(ChargeDetailRecord.sent_at).where(ChargeDetailRecord.sent_at.is_null(False))
            .order_by(ChargeDetailRecord.sent_at.desc()).first())
    return pending.count(), from_db(oldest.created_at) if oldest else None, from_db(last.sent_at) if last else None


def list_cdrs(limit: int = 100, offset: int = 0) -> list[CdrRecord]:
    return [_cdr(c) for c in ChargeDetailRecord.select().order_by(ChargeDetailRecord.id.desc())
            .limit(limit).offset(offset)]


# -- head office ------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeadOfficeRecord:
    url: str
    token: str
    failures: int
    next_attempt_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_error: str
    last_error_at: dt.datetime | None


def head_office() -> HeadOfficeRecord:
    """The configuration and state (a read: nothing configured yet reads as an empty row)."""
    row = HeadOffice.select().order_by(HeadOffice.id).first() or HeadOffice()
    return HeadOfficeRecord(row.url, row.token, row.failures, from_db(row.next_attempt_at), from_db(row.last_success_at),
                            row.last_error, from_db(row.last_error_at))


def set_head_office(**fields) -> None:
    if not HeadOffice.select().exists():
        HeadOffice.create()
    values = {k: to_db(v) if isinstance(v, dt.datetime) else v for k, v in fields.items()}
    HeadOffice.update(**values).execute()
