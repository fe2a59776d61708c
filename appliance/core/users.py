"""The closed user group: companies, drivers and their tags, managed by staff and technicians."""

from __future__ import annotations

import datetime as dt

from appliance.core import events as ev
from appliance.core.authorization import normalise_id_tag
from appliance.core.journal import Journal
from appliance.store import people as people_store
from appliance.store import users as store
from appliance.store.database import Database
from appliance.store.people import (
    ChargerUse,
    CompanyOverview,
    DriverOverview,
    SessionSummary,
    VehicleOverview,
)
from appliance.store.users import CompanyRecord, DriverRecord, TagRecord, VehicleRecord

TOKEN_TYPES = ("ISO14443", "ISO15693", "eMAID", "Central", "KeyCode", "MacAddress", "Local", "NoAuthorization")
OWNER_KINDS = ("driver", "vehicle", "company")  # a tag's owner; a company owns only its pool cards
TAG_STATES = ("active", "blocked", "expired")  # what staff filter on; expired is not a stored status


class UserGroupError(ValueError):
    """A change to the user group that cannot be made; the message says why."""


class NotInUserGroup(UserGroupError, LookupError):
    """The named company, user or tag does not exist."""


class UserGroup:
    def __init__(self, db: Database, bus: ev.EventBus, journal: Journal) -> None:
        self.db = db
        self.bus = bus
        self.journal = journal

    async def _change(self, fn, event: ev.Event):
        return await self.journal.change(fn, event, lambda: UserGroupError(_describe_conflict(event)))

    # -- companies and drivers ------------------------------------------------------------

    async def add_company(self, name: str) -> CompanyRecord:
        name = _required("company name", name)
        return await self._change(lambda: store.add_company(name, ev.utcnow()),
                                  ev.UserGroupChanged("company", name, "added"))

    async def companies(self) -> list[CompanyRecord]:
        return await self.db.read(store.list_companies)

    async def company(self, name: str) -> CompanyRecord | None:
        return await self.db.read(store.get_company, name)

    async def rename_company(self, name: str, new_name: str) -> CompanyRecord:
        new_name = _required("company name", new_name)

        def rename_sync() -> CompanyRecord:
            if store.get_company(name) is None:
                raise NotInUserGroup(f"no company {name!r}")
            return store.rename_company(name, new_name)

        return await self._change(rename_sync, ev.UserGroupChanged("company", new_name, f"renamed (was {name})"))

    async def company_overviews(self, q: str = "") -> list[CompanyOverview]:
        """Companies whose name holds `q` (any case), with how many drivers, vehicles and tags each has."""
        return await self.db.read(people_store.company_overviews, q.strip())

    async def company_overview(self, name: str) -> CompanyOverview | None:
        found = await self.db.read(people_store.company_overviews, "", name)
        return found[0] if found else None

    async def chargers_for(self, company: str) -> list[ChargerUse]:
        """The chargers at which the company's cards are accepted, each with the reason."""
        def read_sync() -> list[ChargerUse]:
            company_id = self._company_id(company)
            if company_id is None:
                raise NotInUserGroup("which company? none was named")
            return people_store.chargers_for(company_id)

        return await self.db.read(read_sync)

    async def add_driver(self, name: str, company: str | None = None, email: str = "") -> DriverRecord:
        name = _required("user name", name)
        email = validate_email(email)

        def add_sync() -> DriverRecord:
            return store.add_driver(name, self._company_id(company), email, ev.utcnow())

        return await self._change(add_sync, ev.UserGroupChanged("driver", name, "added"))

    async def drivers(self, company: str | None = None) -> list[DriverRecord]:
        return await self.db.read(store.list_drivers, company)

    async def move_driver(self, name: str, company: str | None) -> DriverRecord:
        """Move a driver (and so their tags) to another company, or to none."""
        def move_sync() -> DriverRecord:
            if store.get_driver(name) is None:
                raise NotInUserGroup(f"no user {name!r}")
            store.move_driver(name, self._company_id(company))
            return store.get_driver(name)

        return await self._change(move_sync, ev.UserGroupChanged("driver", name, "moved"))

    async def driver(self, name: str) -> DriverRecord | None:
        return await self.db.read(store.get_driver, name)

    async def edit_driver(self, name: str, new_name: str | None = None, email: str | None = None) -> DriverRecord:
        """Rename a driver and/or change their email (None: unchanged); their tags and sessions stay theirs."""
        fields = {}
        if new_name is not None and new_name.strip() != name:
            fields["name"] = _required("user name", new_name)
        if email is not None:
            fields["email"] = validate_email(email)

        def edit_sync() -> DriverRecord:
            if store.get_driver(name) is None:
                raise NotInUserGroup(f"no user {name!r}")
            return store.update_driver(name, **fields)

        change = f"renamed (was {name})" if "name" in fields else "changed"
        return await self._change(edit_sync, ev.UserGroupChanged("driver", fields.get("name", name), change))

    async def driver_overviews(self, q: str = "", company: str | None = None) -> list[DriverOverview]:
        """Drivers whose name or email holds `q` (any case), with their tags and sessions counted."""
        return await self.db.read(people_store.driver_overviews, q.strip(), company)

    async def driver_overview(self, name: str) -> DriverOverview | None:
        found = await self.db.read(people_store.driver_overviews, "", None, name)
        return found[0] if found else None

    async def set_driver_tags_status(self, name: str, status: str) -> list[str]:
        """Block (or unblock) each of the driver's tags; returns the ids that changed. A tag added to the
        driver later is not blocked by this: blocking is a tag's, never a driver's."""
        if status not in ("active", "blocked"):
            raise UserGroupError("a tag's status is active or blocked")
        change = "blocked" if status == "blocked" else "unblocked"

        def set_sync() -> list[str]:
            if store.get_driver(name) is None:
                raise NotInUserGroup(f"no user {name!r}")
            ids = store.driver_tag_ids(name, "active" if status == "blocked" else "blocked")
            now = ev.utcnow()
            for id_tag in ids:
                store.update_tag(id_tag, now, status=status)
                self.journal.record_sync(ev.TagChanged(id_tag, change))
            return ids

        ids = await self.db.write(set_sync)
        for id_tag in ids:
            self.bus.publish(ev.TagChanged(id_tag, change))
        return ids

    async def recent_sessions(self, driver: str | None = None, vehicle: str | None = None,
                              id_tag: str | None = None, limit: int = 10) -> list[SessionSummary]:
        """The last sessions of a driver, of a vehicle's cards or of one tag, newest first."""
        def read_sync() -> list[SessionSummary]:
            return people_store.recent_sessions(
                self._driver_id(driver) if driver else None,
                self._id_of("vehicle", vehicle, store.get_vehicle) if vehicle else None,
                normalise_id_tag(id_tag) if id_tag else None, limit)

        return await self.db.read(read_sync)

    async def sightings(self, id_tags: list[str]) -> list[store.Sighting]:
        """For each id, whether it is enrolled and where a charger last sent it: which of a card's
        forms (see rfid_reader.id_format) is the one the depot's chargers use."""
        return await self.db.read(store.sightings, [normalise_id_tag(t) for t in id_tags])

    async def add_vehicle(self, name: str, company: str | None = None) -> store.VehicleRecord:
        name = _required("vehicle name", name)

        def add_sync() -> store.VehicleRecord:
            return store.add_vehicle(name, self._company_id(company), ev.utcnow())

        return await self._change(add_sync, ev.UserGroupChanged("vehicle", name, "added"))

    async def vehicles(self, company: str | None = None) -> list[store.VehicleRecord]:
        return await self.db.read(store.list_vehicles, company)

    async def vehicle(self, name: str) -> VehicleRecord | None:
        return await self.db.read(store.get_vehicle, name)

    async def edit_vehicle(self, name: str, new_name: str | None = None, company: str | None = None,
                           move: bool = False) -> VehicleRecord:
        """Rename a vehicle and/or (with move) put it in another company or none; its tags follow."""
        fields = {}
        if new_name is not None and new_name.strip() != name:
            fields["name"] = _required("vehicle name", new_name)

        def edit_sync() -> VehicleRecord:
            if store.get_vehicle(name) is None:
                raise NotInUserGroup(f"no vehicle {name!r}")
            if move:
                fields["company"] = self._company_id(company)
            return store.update_vehicle(name, **fields)

        change = f"renamed (was {name})" if "name" in fields else "changed"
        return await self._change(edit_sync, ev.UserGroupChanged("vehicle", fields.get("name", name), change))

    async def vehicle_overviews(self, q: str = "", company: str | None = None) -> list[VehicleOverview]:
        return await self.db.read(people_store.vehicle_overviews, q.strip(), company)

    async def vehicle_overview(self, name: str) -> VehicleOverview | None:
        found = await self.db.read(people_store.vehicle_overviews, "", None, name)
        return found[0] if found else None

    @classmethod
    def _company_id(cls, company: str | None) -> int | None:
        return cls._id_of("company", company, store.get_company)

    @staticmethod
    def _id_of(kind: str, name: str | None, get) -> int | None:
        """The id of the named company, user or vehicle (None for no name); a name that is not there is an error."""
        if not name:
            return None
        record = get(name)
        if record is None:
            raise NotInUserGroup(f"no {kind} {name!r}")
        return record.id

    # -- tags -----------------------------------------------------------------------------

    async def add_tag(self, id_tag: str, driver: str | None = None, expires_at: dt.datetime | None = None,
                      parent_id_tag: str = "", token_type: str = "ISO14443", max_concurrent_tx: int = 1,
                      note: str = "", vehicle: str | None = None, company: str | None = None) -> TagRecord:
        """A tag belongs to a driver or to a vehicle (a taxi's card that stays with the car), not both."""
        id_tag = validate_id_tag(id_tag)
        if driver and vehicle:
            raise UserGroupError("a tag belongs to a user or to a vehicle, not both")
        if token_type not in TOKEN_TYPES:
            raise UserGroupError(f"token type must be one of {', '.join(TOKEN_TYPES)}")
        if max_concurrent_tx < 0:
            raise UserGroupError("the concurrent transaction limit cannot be negative (0: no limit)")
        parent = normalise_id_tag(parent_id_tag) if parent_id_tag else ""
        note = _note(note)

        def add_sync() -> TagRecord:
            return store.add_tag(id_tag, self._driver_id(driver), expires_at, parent, token_type, max_concurrent_tx,
                                 note, ev.utcnow(), self._id_of("vehicle", vehicle, store.get_vehicle),
                                 self._company_id(company))

        return await self._change(add_sync, ev.TagChanged(id_tag, "added"))

    async def set_tag_status(self, id_tag: str, status: str) -> TagRecord:
        if status not in ("active", "blocked"):
            raise UserGroupError("a tag's status is active or blocked")
        id_tag = normalise_id_tag(id_tag)
        return await self.update_tag(id_tag, "blocked" if status == "blocked" else "unblocked", status=status)

    async def update_tag(self, id_tag: str, change: str, **fields) -> TagRecord:
        id_tag = normalise_id_tag(id_tag)

        def update_sync() -> TagRecord:
            if store.get_tag(id_tag) is None:
                raise NotInUserGroup(f"no tag {id_tag}")
            if "driver" in fields:
                fields["driver"] = self._driver_id(fields["driver"])
            if "vehicle" in fields:
                fields["vehicle"] = self._id_of("vehicle", fields["vehicle"], store.get_vehicle)
            if "company" in fields:
                fields["company"] = self._company_id(fields["company"])
            return store.update_tag(id_tag, ev.utcnow(), **fields)

        return await self._change(update_sync, ev.TagChanged(id_tag, change))

    async def edit_tag(self, id_tag: str, owner: tuple[str, str] | None = None, **changes) -> TagRecord:
        """Change what staff may change of a tag: its owner (kind, name) with kind one of OWNER_KINDS,
        and any of expires_at, note, max_concurrent_tx, token_type, parent_id_tag."""
        unknown = set(changes) - {"expires_at", "note", "max_concurrent_tx", "token_type", "parent_id_tag"}
        if unknown:
            raise UserGroupError(f"a tag has no {', '.join(sorted(unknown))} to change")
        fields = dict(changes)
        if "note" in fields:
            fields["note"] = _note(fields["note"])
        if "token_type" in fields and fields["token_type"] not in TOKEN_TYPES:
            raise UserGroupError(f"token type must be one of {', '.join(TOKEN_TYPES)}")
        if "max_concurrent_tx" in fields and fields["max_concurrent_tx"] < 0:
            raise UserGroupError("the concurrent transaction limit cannot be negative (0: no limit)")
        if "parent_id_tag" in fields:
            fields["parent_id_tag"] = normalise_id_tag(fields["parent_id_tag"] or "")
        if owner is not None:
            fields.update(owner_fields(*owner))
        return await self.update_tag(id_tag, "changed", **fields)

    async def find_tags(self, q: str = "", state: str | None = None, driver: str | None = None,
                        vehicle: str | None = None, company: str | None = None, pool_of: str | None = None,
                        limit: int = 500) -> list[TagRecord]:
        """Tags whose id, note or owner's name holds `q` (any case), in a state of TAG_STATES, of an owner,
        of a company (any of its cards) or a company's pool cards only; at most `limit`."""
        if state and state not in TAG_STATES:
            raise UserGroupError(f"a tag's state is one of {', '.join(TAG_STATES)}")
        return await self.db.read(people_store.find_tags, q.strip(), state or None, ev.utcnow(), driver, vehicle,
                                  company, pool_of, limit)

    async def tag(self, id_tag: str) -> TagRecord | None:
        return await self.db.read(store.get_tag, normalise_id_tag(id_tag))

    async def tags(self, driver: str | None = None, status: str | None = None) -> list[TagRecord]:
        return await self.db.read(store.list_tags, driver, status)

    @classmethod
    def _driver_id(cls, name: str | None) -> int | None:
        return cls._id_of("user", name, store.get_driver)


def expiry_from_text(text: str, zone: dt.tzinfo) -> dt.datetime:
    """What people write for a tag's expiry: a date means valid through that whole day in the depot's
    time zone; a date-time is taken as given (in the depot's zone when it names none)."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UserGroupError(f"{text!r} is not a date (YYYY-MM-DD) or ISO date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


def owner_fields(kind: str, name: str) -> dict[str, str | None]:
    """A tag's owner as its fields: one of driver, vehicle or company, the others cleared."""
    if kind not in OWNER_KINDS or not name:
        raise UserGroupError(f"a tag's owner is a {', '.join(OWNER_KINDS)}")
    return {k: (name if k == kind else None) for k in OWNER_KINDS}


def tag_state(tag: TagRecord, now: dt.datetime) -> str:
    """active, blocked or expired (past its expiry and not blocked), as staff filter on it."""
    if tag.status == "blocked":
        return "blocked"
    return "expired" if tag.expires_at is not None and tag.expires_at <= now else "active"


def validate_email(raw: str | None) -> str:
    """An email address as far as the appliance can tell (it sends no mail), or empty for none."""
    email = (raw or "").strip()
    if not email:
        return ""
    local, at, domain = email.rpartition("@")
    if len(email) > 200 or not at or not local or "." not in domain or any(c.isspace() for c in email):
        raise UserGroupError(f"{email!r} is not an email address (name@example.com)")
    return email


def validate_id_tag(raw: str) -> str:
    id_tag = normalise_id_tag(raw)
    if not id_tag or len(id_tag) > 20:
        # OCPP 1.6 IdToken is CiString20; 2.0.1 allows 36, but every charger must accept the tag.
        raise UserGroupError("a tag id must be 1 to 20 characters long")
    if not all(c.isascii() and c.isprintable() and not c.isspace() for c in id_tag):
        raise UserGroupError("a tag id may hold printable ASCII characters only, no spaces")
    return id_tag


def _note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > 200:
        raise UserGroupError("a tag's note must be at most 200 characters")
    return note


def _required(what: str, value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise UserGroupError(f"{what} must not be empty")
    if len(value) > 100:
        raise UserGroupError(f"{what} must be at most 100 characters")
    return value


def _describe_conflict(event: ev.Event) -> str:
    if isinstance(event, ev.TagChanged):
        return f"tag {event.id_tag} already exists"
    if isinstance(event, ev.UserGroupChanged):
        return f"{'user' if event.kind == 'driver' else event.kind} {event.name!r} already exists"
    return "that already exists"
