"""Queries for load management: circuits, how chargers are wired to them, priorities, limits in
force and the circuits' load over time."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from peewee import JOIN

from appliance.store.models import (
    Charger,
    Circuit,
    CircuitLoad,
    CircuitMember,
    Company,
    Connector,
    Driver,
    Evse,
    EvseLimit,
    Tag,
    Transaction,
    Vehicle,
)
from appliance.store.times import from_db, to_db

CIRCUIT_FIELDS = ("max_current_a", "phases", "phase", "reserve_a", "min_current_a", "voltage_v", "meter_url",
                  "meter_measures")
MEMBER_FIELDS = ("max_current_a", "phases", "phase", "rotation", "voltage_v", "throttle_key")


@dataclass(frozen=True)
class CircuitRecord:
    id: int
    name: str
    parent: str | None
    max_current_a: float
    phases: int
    phase: str
    reserve_a: float
    min_current_a: float
    voltage_v: float
    meter_url: str
    meter_measures: str


@dataclass(frozen=True)
class MemberRecord:
    charger_id: int
    identity: str
    protocol: str
    evse_number: int  # 0: every EVSE of the charger without a row of its own
    circuit: str
    max_current_a: float | None
    phases: int
    phase: str
    rotation: str
    voltage_v: float
    throttle_key: str


@dataclass(frozen=True)
class EvseFacts:
    """What the charger told about one of its EVSEs (2.0.1 device model; 1.x: one per connector)."""

    identity: str
    evse_number: int
    max_power_w: int | None
    supply_phases: int | None


@dataclass(frozen=True)
class ActiveSession:
    transaction_id: int
    identity: str
    evse_number: int
    started_at: dt.datetime
    id_tag: str
    priority: int  # the highest of its company's, driver's and vehicle's
    charge_first: bool


@dataclass(frozen=True)
class EvseLimitRecord:
    identity: str
    evse_number: int
    limit_a: float | None
    default_limit_a: float | None
    safe_share_a: float | None
    accepted_at: dt.datetime | None
    flag: str
    flag_detail: str
    flagged_at: dt.datetime | None


# -- circuits -------------------------------------------------------------------------------

def _circuit_record(c: Circuit, names: dict[int, str]) -> CircuitRecord:
    return CircuitRecord(c.id, c.name, names.get(c.parent_id), c.max_current_a, c.phases, c.phase, c.reserve_a,
                         c.min_current_a, c.voltage_v, c.meter_url, c.meter_measures)


def list_circuits() -> list[CircuitRecord]:
    rows = list(Circuit.select().order_by(Circuit.name))
    names = {c.id: c.name for c in rows}
    return [_circuit_record(c, names) for c in rows]


def get_circuit(name: str) -> CircuitRecord | None:
    return next((c for c in list_circuits() if c.name == name), None)


def circuit_id(name: str) -> int | None:
    row = Circuit.get_or_none(Circuit.name == name)
    return row.id if row else None


def add_circuit(name: str, parent_id: int | None, now: dt.datetime, **fields) -> None:
    Circuit.create(name=name, parent=parent_id, created_at=to_db(now), updated_at=to_db(now), **fields)


def update_circuit(name: str, now: dt.datetime, **fields) -> bool:
    return bool(Circuit.update(updated_at=to_db(now), **fields).where(Circuit.name == name).execute())


def circuit_dependants(name: str) -> tuple[list[str], list[str]]:
    """The sub-circuits and the chargers that hang directly from a circuit."""
    cid = circuit_id(name)
    children = [c.name for c in Circuit.select(Circuit.name).where(Circuit.parent == cid).order_by(Circuit.name)]
    chargers = sorted({m.charger.identity for m in
                       CircuitMember.select(CircuitMember, Charger).join(Charger).where(CircuitMember.circuit == cid)})
    return children, chargers


def remove_circuit(name: str) -> bool:
    return bool(Circuit.delete().where(Circuit.name == name).execute())


# -- how chargers are wired ---------------------------------------------------------------

def list_members(circuit: str | None = None, identity: str | None = None) -> list[MemberRecord]:
    query = (CircuitMember.select(CircuitMember, Charger, Circuit).join(Charger).switch(CircuitMember)
             .join(Circuit).order_by(Charger.identity, CircuitMember.evse_number))
    if circuit is not None:
        query = query.where(Circuit.name == circuit)
    if identity is not None:
        query = query.where(Charger.identity == identity)
    return [MemberRecord(m.charger_id, m.charger.identity, m.charger.protocol, m.evse_number, m.circuit.name,
                         m.max_current_a, m.phases, m.phase, m.rotation, m.voltage_v, m.throttle_key)
            for m in query]


def assign(charger_id: int, evse_number: int, circuit: int, **fields) -> None:
    existing = CircuitMember.get_or_none(CircuitMember.charger == charger_id, CircuitMember.evse_number == evse_number)
    if existing is None:
        CircuitMember.create(charger=charger_id, evse_number=evse_number, circuit=circuit, **fields)
    else:
        CircuitMember.update(circuit=circuit, **fields).where(CircuitMember.id == existing.id).execute()


def unassign(charger_id: int, evse_number: int | None = None) -> int:
    query = CircuitMember.delete().where(CircuitMember.charger == charger_id)
    if evse_number is not None:
        query = query.where(CircuitMember.evse_number == evse_number)
    return query.execute()


def known_evses(charger_ids: list[int]) -> dict[str, list[EvseFacts]]:
    """Each charger's EVSEs as far as it has told: from its EVSE rows and its connectors (0 is the
    charger as a whole, not an EVSE)."""
    found: dict[str, dict[int, EvseFacts]] = {}
    evses = (Evse.select(Evse, Charger).join(Charger).where(Evse.charger.in_(charger_ids)))
    for e in evses:
        found.setdefault(e.charger.identity, {})[e.evse_number] = EvseFacts(
            e.charger.identity, e.evse_number, e.max_power_w, e.supply_phases)
    connectors = (Connector.select(Connector.connector_number, Charger.identity).join(Charger)
                  .where(Connector.charger.in_(charger_ids), Connector.connector_number > 0))
    for c in connectors:
        found.setdefault(c.charger.identity, {}).setdefault(
            c.connector_number, EvseFacts(c.charger.identity, c.connector_number, None, None))
    return {identity: [by_number[n] for n in sorted(by_number)] for identity, by_number in found.items()}


# -- sessions and priorities ----------------------------------------------------------------

def active_sessions(charger_ids: list[int]) -> list[ActiveSession]:
    """The open sessions on the given chargers, each with the priority its tag brings."""
    rows = list(Transaction.select(Transaction, Charger.identity).join(Charger)
                .where(Transaction.stopped_at.is_null(), Transaction.charger.in_(charger_ids)))
    tag_ids = {t.tag_id for t in rows if t.tag_id}
    priorities = _tag_priorities(tag_ids)
    driver_priority = {d.id: d.priority for d in Driver.select(Driver.id, Driver.priority)
                       .where(Driver.id.in_({t.driver_id for t in rows if t.driver_id}))}
    return [ActiveSession(t.id, t.charger.identity, t.connector_number, from_db(t.started_at), t.id_tag,
                          max(priorities.get(t.tag_id, 0), driver_priority.get(t.driver_id, 0)), t.charge_first)
            for t in rows]


def _tag_priorities(tag_ids: set[int]) -> dict[int, int]:
    """A tag's priority: the highest of its driver's, its vehicle's and their (or its own) company's."""
    if not tag_ids:
        return {}
    DriverCompany, VehicleCompany = Company.alias(), Company.alias()
    query = (Tag.select(Tag.id, Driver.priority, Vehicle.priority, Company.priority, DriverCompany.priority,
                        VehicleCompany.priority)
             .join(Driver, JOIN.LEFT_OUTER, on=(Tag.driver == Driver.id))
             .join(DriverCompany, JOIN.LEFT_OUTER, on=(Driver.company == DriverCompany.id))
             .switch(Tag).join(Vehicle, JOIN.LEFT_OUTER, on=(Tag.vehicle == Vehicle.id))
             .join(VehicleCompany, JOIN.LEFT_OUTER, on=(Vehicle.company == VehicleCompany.id))
             .switch(Tag).join(Company, JOIN.LEFT_OUTER, on=(Tag.company == Company.id))
             .where(Tag.id.in_(tag_ids)).tuples())
    return {row[0]: max((p for p in row[1:] if p is not None), default=0) for row in query}


def set_charge_first(transaction_id: int, on: bool) -> bool:
    return bool(Transaction.update(charge_first=on).where(Transaction.id == transaction_id).execute())


_PRIORITY_OF = {"company": Company, "user": Driver, "vehicle": Vehicle}


def set_priority(kind: str, name: str, priority: int) -> bool:
    model = _PRIORITY_OF[kind]
    return bool(model.update(priority=priority).where(model.name == name).execute())


def priorities() -> list[tuple[str, str, int]]:
    """(kind, name, priority) of everything with a priority other than 0."""
    return [(kind, row.name, row.priority) for kind, model in _PRIORITY_OF.items()
            for row in model.select(model.name, model.priority).where(model.priority != 0).order_by(model.name)]


# -- limits in force ----------------------------------------------------------------------

def evse_limits() -> list[EvseLimitRecord]:
    return [EvseLimitRecord(e.charger.identity, e.evse_number, e.limit_a, e.default_limit_a, e.safe_share_a,
                            from_db(e.accepted_at), e.flag, e.flag_detail, from_db(e.flagged_at))
            for e in EvseLimit.select(EvseLimit, Charger).join(Charger)]


def save_evse_limits(rows: list[EvseLimitRecord]) -> None:
    ids = {c.identity: c.id for c in Charger.select(Charger.id, Charger.identity)
           .where(Charger.identity.in_({r.identity for r in rows}))}
    for r in rows:
        if r.identity not in ids:
            continue
        values = dict(limit_a=r.limit_a, default_limit_a=r.default_limit_a, safe_share_a=r.safe_share_a,
                      accepted_at=to_db(r.accepted_at), flag=r.flag, flag_detail=r.flag_detail,
                      flagged_at=to_db(r.flagged_at))
        updated = (EvseLimit.update(**values)
                   .where(EvseLimit.charger == ids[r.identity], EvseLimit.evse_number == r.evse_number).execute())
        if not updated:
            EvseLimit.create(charger=ids[r.identity], evse_number=r.evse_number, **values)


# -- load over time -----------------------------------------------------------------------

@dataclass(frozen=True)
class LoadRecord:
    circuit: str
    at: dt.datetime
    available_a: dict[str, float]
    allocated_a: dict[str, float]
    measured_a: dict[str, float]
    sessions: int
    waiting: int


def record_load(rows: list[LoadRecord]) -> None:
    ids = {c.name: c.id for c in Circuit.select(Circuit.id, Circuit.name)}
    CircuitLoad.insert_many([
        dict(circuit=ids[r.circuit], at=to_db(r.at), available_a=json.dumps(r.available_a),
             allocated_a=json.dumps(r.allocated_a), measured_a=json.dumps(r.measured_a), sessions=r.sessions,
             waiting=r.waiting) for r in rows if r.circuit in ids]).execute()


def load_history(circuit: str, since: dt.datetime, until: dt.datetime | None = None) -> list[LoadRecord]:
    query = (CircuitLoad.select(CircuitLoad, Circuit.name).join(Circuit)
             .where(Circuit.name == circuit, CircuitLoad.at >= to_db(since)).order_by(CircuitLoad.at))
    if until is not None:
        query = query.where(CircuitLoad.at < to_db(until))
    return [LoadRecord(r.circuit.name, from_db(r.at), json.loads(r.available_a), json.loads(r.allocated_a),
                       json.loads(r.measured_a), r.sessions, r.waiting) for r in query]
