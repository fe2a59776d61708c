"""Queries behind the staff pages on companies, drivers, vehicles and tags: overviews with their
counts, case-insensitive substring search, recent sessions and the chargers a company may use.

The changes themselves (add, rename, block) are in store.users; these only read.
"""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass

from peewee import JOIN, Case, fn

from appliance.store.models import (
    Charger,
    ChargerAccess,
    ChargerGroup,
    Company,
    Driver,
    GroupAccess,
    Tag,
    Transaction,
    Vehicle,
)
from appliance.store.times import from_db, to_db
from appliance.store.users import (
    PoolCompany,
    TagRecord,
    VehicleCompany,
    tag_record,
    tags_query,
)


@dataclass(frozen=True)
class CompanyOverview:
    name: str
    drivers: int
    vehicles: int
    tags: int  # every card whose company it is: its drivers', its vehicles' and its pool cards
    priority: int


@dataclass(frozen=True)
class DriverOverview:
    name: str
    company: str | None
    email: str
    priority: int
    tags: int
    blocked_tags: int
    sessions: int
    last_session_at: dt.datetime | None


@dataclass(frozen=True)
class VehicleOverview:
    name: str
    company: str | None
    priority: int
    tags: int
    blocked_tags: int
    sessions: int
    last_session_at: dt.datetime | None


@dataclass(frozen=True)
class SessionSummary:
    id: int
    charger_identity: str
    connector_number: int
    id_tag: str
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    energy_wh: int | None  # so far, for a session still running

    @property
    def active(self) -> bool:
        return self.stopped_at is None


@dataclass(frozen=True)
class ChargerUse:
    """A charger a company's cards may charge at, and why."""

    identity: str
    description: str
    reason: str  # "open to the whole depot", "opened to it", "its group G is opened to it"


# -- overviews ------------------------------------------------------------------------------------

def company_overviews(q: str = "", name: str | None = None) -> list[CompanyOverview]:
    query = Company.select().order_by(Company.name)
    if q:
        query = query.where(Company.name.contains(q))
    if name is not None:
        query = query.where(Company.name == name)
    drivers = _count_by(Driver.company)
    vehicles = _count_by(Vehicle.company)
    tags = collections.Counter(t.company_id for t in (tag_record(t) for t in tags_query()) if t.company_id)
    return [CompanyOverview(c.name, drivers.get(c.id, 0), vehicles.get(c.id, 0), tags.get(c.id, 0), c.priority)
            for c in query]


def driver_overviews(q: str = "", company: str | None = None, name: str | None = None) -> list[DriverOverview]:
    query = Driver.select(Driver, Company).join(Company, join_type=JOIN.LEFT_OUTER).order_by(Driver.name)
    if q:
        query = query.where(Driver.name.contains(q) | Driver.email.contains(q))
    if company:
        query = query.where(Company.name == company)
    if name is not None:
        query = query.where(Driver.name == name)
    rows = list(query)
    only = [d.id for d in rows] if name is not None else None
    tags = _tag_counts(Tag.driver, only)
    sessions = _session_counts(Transaction.driver, only)
    return [DriverOverview(d.name, d.company.name if d.company_id else None, d.email, d.priority,
                           *tags.get(d.id, (0, 0)), *sessions.get(d.id, (0, None)))
            for d in rows]


def vehicle_overviews(q: str = "", company: str | None = None, name: str | None = None) -> list[VehicleOverview]:
    query = Vehicle.select(Vehicle, Company).join(Company, join_type=JOIN.LEFT_OUTER).order_by(Vehicle.name)
    if q:
        query = query.where(Vehicle.name.contains(q))
    if company:
        query = query.where(Company.name == company)
    if name is not None:
        query = query.where(Vehicle.name == name)
    rows = list(query)
    only = [v.id for v in rows] if name is not None else None
    tags = _tag_counts(Tag.vehicle, only)
    sessions = _session_counts(Tag.vehicle, only, through_tag=True)
    return [VehicleOverview(v.name, v.company.name if v.company_id else None, v.priority,
                            *tags.get(v.id, (0, 0)), *sessions.get(v.id, (0, None)))
            for v in rows]


def _count_by(field) -> dict[int, int]:
    return {owner: n for owner, n in field.model.select(field, fn.COUNT(field.model.id)).group_by(field).tuples()}


def _owned(owner_field, only: list[int] | None):
    """Rows with an owner, or (a single owner's page) only those owners' rows."""
    return owner_field.is_null(False) if only is None else owner_field.in_(only)


def _tag_counts(owner_field, only: list[int] | None = None) -> dict[int, tuple[int, int]]:
    """Per owner: (tags, of which blocked)."""
    blocked = fn.SUM(Case(None, [(Tag.status == "blocked", 1)], 0))
    rows = Tag.select(owner_field, fn.COUNT(Tag.id), blocked).where(_owned(owner_field, only)).group_by(owner_field)
    return {owner: (n, int(b or 0)) for owner, n, b in rows.tuples()}


def _session_counts(owner_field, only: list[int] | None = None,
                    through_tag: bool = False) -> dict[int, tuple[int, dt.datetime | None]]:
    """Per owner: (sessions, when the last one started)."""
    query = Transaction.select(owner_field, fn.COUNT(Transaction.id), fn.MAX(Transaction.started_at))
    if through_tag:  # a vehicle's sessions are those of its cards
        query = query.join(Tag, on=(Transaction.tag == Tag.id))
    rows = query.where(_owned(owner_field, only)).group_by(owner_field)
    return {owner: (n, from_db(last)) for owner, n, last in rows.tuples()}


# -- tags -----------------------------------------------------------------------------------------

def find_tags(q: str = "", state: str | None = None, now: dt.datetime | None = None, driver: str | None = None,
              vehicle: str | None = None, company: str | None = None, pool_of: str | None = None,
              limit: int = 500) -> list[TagRecord]:
    """Tags whose id, note or owner's name holds `q` (any case), in a state (active: may charge as far
    as the card goes, blocked, expired: not blocked but past its expiry), of an owner or a company
    (any of its cards) or only a company's pool cards (no driver nor vehicle)."""
    query = tags_query().order_by(Tag.id_tag)
    if q:
        query = query.where(Tag.id_tag.contains(q) | Tag.note.contains(q) | Driver.name.contains(q)
                            | Vehicle.name.contains(q))
    if state:
        query = query.where(_state_condition(state, to_db(now or dt.datetime.now(dt.UTC))))
    if driver:
        query = query.where(Driver.name == driver)
    if vehicle:
        query = query.where(Vehicle.name == vehicle)
    if company:
        query = query.where((Company.name == company) | (VehicleCompany.name == company)
                            | (Tag.driver.is_null() & Tag.vehicle.is_null() & (PoolCompany.name == company)))
    if pool_of:
        query = query.where(Tag.driver.is_null() & Tag.vehicle.is_null() & (PoolCompany.name == pool_of))
    return [tag_record(t) for t in query.limit(limit)]


def _state_condition(state: str, now: dt.datetime):
    expired = Tag.expires_at.is_null(False) & (Tag.expires_at <= now)
    if state == "blocked":
        return Tag.status == "blocked"
    if state == "expired":
        return (Tag.status != "blocked") & expired
    return (Tag.status != "blocked") & ~expired


def recent_sessions(driver_id: int | None = None, vehicle_id: int | None = None, id_tag: str | None = None,
                    limit: int = 10) -> list[SessionSummary]:
    query = (Transaction.select(Transaction, Charger).join(Charger)
             .order_by(Transaction.started_at.desc(), Transaction.id.desc()))
    if driver_id is not None:
        query = query.where(Transaction.driver == driver_id)
    if vehicle_id is not None:
        query = query.where(Transaction.tag.in_(Tag.select(Tag.id).where(Tag.vehicle == vehicle_id)))
    if id_tag is not None:
        query = query.where(Transaction.id_tag == id_tag)
    return [_summary(t) for t in query.limit(limit)]


def _summary(t: Transaction) -> SessionSummary:
    energy = t.energy_wh
    if energy is None and t.last_meter_wh is not None:
        energy = max(0, t.last_meter_wh - t.meter_start_wh)
    return SessionSummary(t.id, t.charger.identity, t.connector_number, t.id_tag, from_db(t.started_at),
                          from_db(t.stopped_at), energy)


# -- where a company may charge -------------------------------------------------------------------

def chargers_for(company_id: int) -> list[ChargerUse]:
    """The chargers the company's cards are accepted at: a charger's own access list decides, else its
    group's, else it is open to the whole depot (the rule of store.users.allowed_companies)."""
    own = _access_map(ChargerAccess.select(ChargerAccess.charger, ChargerAccess.company).tuples())
    by_group = _access_map(GroupAccess.select(GroupAccess.group, GroupAccess.company).tuples())
    out = []
    query = (Charger.select(Charger, ChargerGroup).join(ChargerGroup, join_type=JOIN.LEFT_OUTER)
             .where(Charger.registration != "rejected").order_by(Charger.identity))
    for charger in query:
        reason = _reason(charger, company_id, own.get(charger.id), by_group.get(charger.group_id))
        if reason:
            out.append(ChargerUse(charger.identity, charger.description, reason))
    return out


def _access_map(rows) -> dict[int, set[int]]:
    out: dict[int, set[int]] = collections.defaultdict(set)
    for key, company in rows:
        out[key].add(company)
    return out


def _reason(charger: Charger, company_id: int, own: set[int] | None, group: set[int] | None) -> str:
    if own:
        return "opened to it" if company_id in own else ""
    if group:
        return f"its group {charger.group.name} is opened to it" if company_id in group else ""
    return "open to the whole depot"
