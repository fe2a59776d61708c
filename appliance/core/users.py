"""The closed user group: companies, drivers and their tags, managed by staff and technicians."""

from __future__ import annotations

import datetime as dt

from appliance.core import events as ev
from appliance.core.authorization import normalise_id_tag
from appliance.core.journal import Journal
from appliance.store import users as store
from appliance.store.database import Database
from appliance.store.users import CompanyRecord, DriverRecord, TagRecord

TOKEN_TYPES = ("ISO14443", "ISO15693", "eMAID", "Central", "KeyCode", "MacAddress", "Local", "NoAuthorization")


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

    async def add_driver(self, name: str, company: str | None = None, email: str = "") -> DriverRecord:
        name = _required("user name", name)

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
            return store.update_tag(id_tag, ev.utcnow(), **fields)

        return await self._change(update_sync, ev.TagChanged(id_tag, change))

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


def validate_id_tag(raw: str) -> str:
    id_tag = normalise_id_tag(raw)
    if not id_tag or len(id_tag) > 20:
        # OCPP 1.6 IdToken is CiString20; 2.0.1 allows 36, but every charger must accept the tag.
        raise UserGroupError("a tag id must be 1 to 20 characters long")
    if not all(c.isascii() and c.isprintable() and not c.isspace() for c in id_tag):
        raise UserGroupError("a tag id may hold printable ASCII characters only, no spaces")
    return id_tag


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
