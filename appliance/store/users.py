"""Queries on the closed user group: companies, drivers and their tags."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

from peewee import JOIN

from appliance.store.models import (
    Charger,
    ChargerAccess,
    ChargerGroup,
    Company,
    Driver,
    GroupAccess,
    Tag,
    Transaction,
    UnknownTag,
    Vehicle,
    database,
)
from appliance.store.dialect import raw
from appliance.store.times import from_db, to_db


@dataclass(frozen=True)
class CompanyRecord:
    id: int
    name: str
    drivers: int


@dataclass(frozen=True)
class DriverRecord:
    id: int
    name: str
    company: str | None
    email: str


@dataclass(frozen=True)
class TagRecord:
    id: int
    id_tag: str
    token_type: str
    driver: str | None
    company: str | None
    status: str
    expires_at: dt.datetime | None
    parent_id_tag: str
    max_concurrent_tx: int
    note: str
    driver_id: int | None = None
    company_id: int | None = None
    vehicle: str | None = None


def add_company(name: str, now: dt.datetime) -> CompanyRecord:
    c = Company.create(name=name, created_at=to_db(now))
    return CompanyRecord(c.id, c.name, 0)


def get_company(name: str) -> CompanyRecord | None:
    c = Company.get_or_none(Company.name == name)
    return CompanyRecord(c.id, c.name, c.drivers.count()) if c else None


def list_companies() -> list[CompanyRecord]:
    return [CompanyRecord(c.id, c.name, c.drivers.count()) for c in Company.select().order_by(Company.name)]


def add_driver(name: str, company_id: int | None, email: str, now: dt.datetime) -> DriverRecord:
    Driver.create(name=name, company=company_id, email=email, created_at=to_db(now))
    return get_driver(name)


def move_driver(name: str, company_id: int | None) -> None:
    Driver.update(company=company_id).where(Driver.name == name).execute()


def rename_company(name: str, new_name: str) -> CompanyRecord | None:
    Company.update(name=new_name).where(Company.name == name).execute()
    return get_company(new_name)


def update_driver(current_name: str, **fields) -> DriverRecord | None:
    """Change a driver's name and/or email (the fields given); the driver as it is then."""
    if fields:
        Driver.update(**fields).where(Driver.name == current_name).execute()
    return get_driver(fields.get("name", current_name))


def get_driver(name: str) -> DriverRecord | None:
    d = Driver.select(Driver, Company).join(Company, join_type=JOIN.LEFT_OUTER).where(Driver.name == name).first()
    return DriverRecord(d.id, d.name, d.company.name if d.company_id else None, d.email) if d else None


def list_drivers(company: str | None = None) -> list[DriverRecord]:
    query = Driver.select(Driver, Company).join(Company, join_type=JOIN.LEFT_OUTER).order_by(Driver.name)
    if company:
        query = query.where(Company.name == company)
    return [DriverRecord(d.id, d.name, d.company.name if d.company_id else None, d.email) for d in query]


VehicleCompany = Company.alias()
PoolCompany = Company.alias()


def tags_query():
    return (Tag.select(Tag, Driver, Company, Vehicle, VehicleCompany, PoolCompany)
            .join_from(Tag, Driver, join_type=JOIN.LEFT_OUTER)
            .join_from(Driver, Company, join_type=JOIN.LEFT_OUTER)
            .join_from(Tag, Vehicle, join_type=JOIN.LEFT_OUTER)
            .join_from(Vehicle, VehicleCompany, join_type=JOIN.LEFT_OUTER)
            .join_from(Tag, PoolCompany, on=(Tag.company == PoolCompany.id), join_type=JOIN.LEFT_OUTER,
                       attr="pool_company"))


class _Company(NamedTuple):
    id: int
    name: str


def _company_of(driver_id: int | None, driver_company: Any, vehicle_id: int | None, vehicle_company: Any,
                pool_company: Any) -> Any:
    """A tag's company is its driver's, or its vehicle's, or (a card nobody has yet) its own."""
    if driver_id:
        return driver_company
    if vehicle_id:
        return vehicle_company
    return pool_company


def tag_record(t: Tag) -> TagRecord:
    company = _company_of(t.driver_id, t.driver.company if t.driver_id and t.driver.company_id else None,
                          t.vehicle_id, t.vehicle.company if t.vehicle_id and t.vehicle.company_id else None,
                          t.pool_company if t.company_id else None)
    return TagRecord(
        id=t.id, id_tag=t.id_tag, token_type=t.token_type, driver=t.driver.name if t.driver_id else None,
        company=company.name if company else None, status=t.status,
        expires_at=from_db(t.expires_at), parent_id_tag=t.parent_id_tag,
        max_concurrent_tx=t.max_concurrent_tx, note=t.note, driver_id=t.driver_id,
        company_id=company.id if company else None, vehicle=t.vehicle.name if t.vehicle_id else None)


# tags_query for one tag, in plain SQL: every Authorize, start and stop asks it (peewee's building of
# the six-table query was 15% of the server in a reconnect storm)
_ONE_TAG = (
    "SELECT t.id, t.id_tag, t.token_type, d.name, t.status, t.expires_at, t.parent_id_tag, t.max_concurrent_tx, "
    "t.note, t.driver_id, t.vehicle_id, v.name, t.company_id, dc.id, dc.name, vc.id, vc.name, pc.id, pc.name "
    "FROM tag t LEFT JOIN driver d ON d.id = t.driver_id LEFT JOIN company dc ON dc.id = d.company_id "
    "LEFT JOIN vehicle v ON v.id = t.vehicle_id LEFT JOIN company vc ON vc.id = v.company_id "
    "LEFT JOIN company pc ON pc.id = t.company_id WHERE t.id_tag = ?")


def get_tag(id_tag: str) -> TagRecord | None:
    row = raw(database).execute(_ONE_TAG, (id_tag,)).fetchone()
    if row is None:
        return None
    (tag_id, tag, token_type, driver, status, expires_at, parent, max_tx, note, driver_id, vehicle_id, vehicle,
     pool_id, dc_id, dc_name, vc_id, vc_name, pc_id, pc_name) = row
    company = _company_of(driver_id, _Company(dc_id, dc_name) if dc_id else None,
                          vehicle_id, _Company(vc_id, vc_name) if vc_id else None,
                          _Company(pc_id, pc_name) if pool_id and pc_id else None)
    return TagRecord(id=tag_id, id_tag=tag, token_type=token_type, driver=driver, company=company.name if company else None,
                     status=status, expires_at=from_db(expires_at), parent_id_tag=parent, max_concurrent_tx=max_tx,
                     note=note, driver_id=driver_id, company_id=company.id if company else None, vehicle=vehicle)


def list_tags(driver: str | None = None, status: str | None = None) -> list[TagRecord]:
    query = tags_query().order_by(Tag.id_tag)
    if driver:
        query = query.where(Driver.name == driver)
    if status:
        query = query.where(Tag.status == status)
    return [tag_record(t) for t in query]


def add_tag(id_tag: str, driver_id: int | None, expires_at: dt.datetime | None, parent_id_tag: str,
            token_type: str, max_concurrent_tx: int, note: str, now: dt.datetime,
            vehicle_id: int | None = None, company_id: int | None = None) -> TagRecord:
    UnknownTag.delete().where(UnknownTag.id_tag == id_tag).execute()  # enrolled now: no longer unknown
    Tag.create(id_tag=id_tag, driver=driver_id, vehicle=vehicle_id, company=company_id, expires_at=to_db(expires_at), parent_id_tag=parent_id_tag,
               token_type=token_type, max_concurrent_tx=max_concurrent_tx, note=note,
               created_at=to_db(now), updated_at=to_db(now))
    return get_tag(id_tag)


def update_tag(id_tag: str, now: dt.datetime, **fields) -> TagRecord | None:
    fields = {k: to_db(v) if isinstance(v, dt.datetime) else v for k, v in fields.items()}
    Tag.update(updated_at=to_db(now), **fields).where(Tag.id_tag == id_tag).execute()
    return get_tag(id_tag)


def driver_tag_ids(name: str, status: str) -> list[str]:
    """The ids of the driver's tags in that status."""
    query = Tag.select(Tag.id_tag).join(Driver).where((Driver.name == name) & (Tag.status == status))
    return [t.id_tag for t in query.order_by(Tag.id_tag)]


@dataclass(frozen=True)
class UnknownTagRecord:
    id_tag: str
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    charger_identity: str
    seen_count: int


# Appended unawaited from the authorization path (a read), committed with the next write batch.
NOTE_UNKNOWN_TAG = (
    "INSERT INTO unknown_tag (id_tag, first_seen_at, last_seen_at, charger_identity, seen_count) "
    "VALUES (?, ?, ?, ?, 1) ON CONFLICT (id_tag) DO UPDATE SET last_seen_at = excluded.last_seen_at, "
    # the table's name on seen_count: PostgreSQL refuses it bare here (it could be excluded's)
    "charger_identity = excluded.charger_identity, seen_count = unknown_tag.seen_count + 1 "
    # a tag enrolled meanwhile is known: the conflict clause cannot see that, this check can
    "WHERE NOT EXISTS (SELECT 1 FROM tag WHERE tag.id_tag = excluded.id_tag)"
)


def unknown_tag_row(id_tag: str, identity: str, at: dt.datetime) -> tuple:
    return (id_tag, str(to_db(at)), str(to_db(at)), identity)


def unknown_tags(limit: int = 100) -> list[UnknownTagRecord]:
    query = (UnknownTag.select().where(UnknownTag.id_tag.not_in(Tag.select(Tag.id_tag)))
             .order_by(UnknownTag.last_seen_at.desc()).limit(limit))
    return [UnknownTagRecord(u.id_tag, from_db(u.first_seen_at), from_db(u.last_seen_at), u.charger_identity,
                             u.seen_count) for u in query]


@dataclass(frozen=True)
class VehicleRecord:
    id: int
    name: str
    company: str | None


def add_vehicle(name: str, company_id: int | None, now: dt.datetime) -> VehicleRecord:
    Vehicle.create(name=name, company=company_id, created_at=to_db(now))
    return get_vehicle(name)


def get_vehicle(name: str) -> VehicleRecord | None:
    v = Vehicle.select(Vehicle, Company).join(Company, join_type=JOIN.LEFT_OUTER).where(Vehicle.name == name).first()
    return VehicleRecord(v.id, v.name, v.company.name if v.company_id else None) if v else None


def update_vehicle(current_name: str, **fields) -> VehicleRecord | None:
    """Change a vehicle's name and/or company (an id or None); the vehicle as it is then."""
    if fields:
        Vehicle.update(**fields).where(Vehicle.name == current_name).execute()
    return get_vehicle(fields.get("name", current_name))


def list_vehicles(company: str | None = None) -> list[VehicleRecord]:
    query = Vehicle.select(Vehicle, Company).join(Company, join_type=JOIN.LEFT_OUTER).order_by(Vehicle.name)
    if company:
        query = query.where(Company.name == company)
    return [VehicleRecord(v.id, v.name, v.company.name if v.company_id else None) for v in query]


def allowed_companies(charger_id: int) -> frozenset[int] | None:
    """The companies whose tags may charge at the charger: its own access, else its group's; None
    when neither names any (open to the whole depot)."""
    rows = ChargerAccess.select(ChargerAccess.company).where(ChargerAccess.charger == charger_id)
    companies = frozenset(r.company_id for r in rows)
    if not companies:
        group = GroupAccess.select(GroupAccess.company).join(Charger, on=(Charger.group == GroupAccess.group))
        companies = frozenset(r.company_id for r in group.where(Charger.id == charger_id))
    return companies or None


def add_group(name: str, now: dt.datetime) -> int:
    return ChargerGroup.create(name=name, created_at=to_db(now)).id


def group_id(name: str) -> int | None:
    group = ChargerGroup.get_or_none(ChargerGroup.name == name)
    return group.id if group else None


def set_group(charger_id: int, group: int | None) -> None:
    Charger.update(group=group).where(Charger.id == charger_id).execute()


def set_group_access(group: int, company_ids: list[int]) -> list[str]:
    """Set a group's companies; returns the identities of its chargers (their lists change)."""
    GroupAccess.delete().where(GroupAccess.group == group).execute()
    for company_id in company_ids:
        GroupAccess.create(group=group, company=company_id)
    return [c.identity for c in Charger.select(Charger.identity).where(Charger.group == group)]


@dataclass(frozen=True)
class GroupRecord:
    name: str
    chargers: list[str]
    open_to: list[str]


def groups() -> list[GroupRecord]:
    out = []
    for g in ChargerGroup.select().order_by(ChargerGroup.name):
        members = [c.identity for c in Charger.select(Charger.identity).where(Charger.group == g.id)
                   .order_by(Charger.identity)]
        companies = [c.name for c in Company.select(Company.name).join(GroupAccess).where(GroupAccess.group == g.id)
                     .order_by(Company.name)]
        out.append(GroupRecord(g.name, members, companies))
    return out


def access_names(charger_id: int) -> list[str]:
    query = (Company.select(Company.name).join(ChargerAccess).where(ChargerAccess.charger == charger_id)
             .order_by(Company.name))
    return [c.name for c in query]


def set_access(charger_id: int, company_ids: list[int]) -> None:
    ChargerAccess.delete().where(ChargerAccess.charger == charger_id).execute()
    for company_id in company_ids:
        ChargerAccess.create(charger=charger_id, company=company_id)


@dataclass(frozen=True)
class Sighting:
    """Where and when a charger last sent an id (an authorization or a transaction), if ever."""

    id_tag: str
    enrolled: bool
    last_sent_at: dt.datetime | None
    charger_identity: str


def sightings(id_tags: list[str]) -> list[Sighting]:
    out = []
    for id_tag in id_tags:
        seen = UnknownTag.get_or_none(UnknownTag.id_tag == id_tag)
        last_tx = (Transaction.select(Transaction, Charger).join(Charger).where(Transaction.id_tag == id_tag)
                   .order_by(Transaction.started_at.desc()).first())
        candidates = [(from_db(seen.last_seen_at), seen.charger_identity)] if seen else []
        if last_tx is not None:
            candidates.append((from_db(last_tx.started_at), last_tx.charger.identity))
        at, charger = max(candidates, key=lambda c: c[0]) if candidates else (None, "")
        out.append(Sighting(id_tag, Tag.get_or_none(Tag.id_tag == id_tag) is not None, at, charger))
    return out
