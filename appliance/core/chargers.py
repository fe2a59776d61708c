"""The charger registry: who the chargers are, whether they may talk, and how they are doing.

Registration (accepted/pending/rejected) and the policy for unknown chargers live here, as do
boot details, connector status and firmware/diagnostics status. Connection liveness is kept in
memory on the hot path (every message touches it) and written to the store in batches by the
supervisor.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from appliance.core import events as ev
from appliance.core.admission import Admission
from appliance.core.journal import Journal
from appliance.core.secrets import hash_password, verify_password
from appliance.store import chargers as store
from appliance.store import users as user_store
from appliance.store.chargers import ChargerRecord
from appliance.store.database import Database

PROTOCOLS = ("ocpp1.5-soap", "ocpp1.6-soap", "ocpp1.6-json", "ocpp2.0.1")
REGISTRATIONS = ("accepted", "pending", "rejected")
BOOT_STATUS = {"accepted": "Accepted", "pending": "Pending", "rejected": "Rejected"}

# scrypt costs tens of milliseconds and 16 MiB: never on the event loop, and two at a time at most, so
# that wrong passwords sent in a flood cost bounded memory and leave the other core to the rest.
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="charger-auth")
WAITING = ("pending", "rejected")  # registrations that count towards unknown_chargers_max

ONLINE = "online"
# How stale the stored contact time may get while the server runs (it answers from memory): storing
# every charger heard from at every supervision round wrote ~5,000 rows every 10 s at 10,000 chargers.
CONTACT_STORED_EVERY_S = 60.0
# Chargers a supervision round looks at before the event loop answers what waits meanwhile: a round
# over 10,000 chargers in one go held every answer up for its whole length.
ROUND_SLICE = 1000
TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
UNAVAILABLE = "unavailable"


class ChargerError(ValueError):
    """A request about a charger that cannot be carried out; the message says why."""


class ChargerNotFound(ChargerError, LookupError):
    pass


@dataclass(frozen=True)
class BootInfo:
    vendor: str
    model: str
    serial_number: str = ""
    firmware_version: str = ""
    iccid: str = ""
    imsi: str = ""
    meter_type: str = ""
    meter_serial_number: str = ""
    reason: str = ""


@dataclass(frozen=True)
class BootOutcome:
    status: str  # Accepted, Pending, Rejected (OCPP RegistrationStatus)
    interval_s: int
    current_time: dt.datetime


@dataclass
class LiveCharger:
    """What the server knows of a charger right now; only the event loop touches it."""

    pk: int
    identity: str
    protocol: str
    registration: str
    password_hash: str | None
    state: str = UNAVAILABLE
    connected: bool = False
    last_seen: float = 0.0  # time.monotonic()
    last_seen_at: dt.datetime | None = None
    contact_dirty: bool = False  # heard from since its contact time was last stored
    state_dirty: bool = False  # its connection state changed since last stored
    contact_stored: float = float("-inf")  # time.monotonic() when its contact time was last stored
    sessions: set[int] = field(default_factory=set)
    endpoint_url: str = ""
    reachable: str = ""


class ChargerRegistry:
    def __init__(self, db: Database, bus: ev.EventBus, journal: Journal, unknown_policy: str = "pending",
                 heartbeat_interval_s: int = 300, pending_retry_interval_s: int = 60) -> None:
        self.db = db
        self.bus = bus
        self.journal = journal
        self.unknown_policy = unknown_policy
        self.heartbeat_interval_s = heartbeat_interval_s
        self.pending_retry_interval_s = pending_retry_interval_s
        self.live: dict[str, LiveCharger] = {}
        self._verified: dict[str, tuple[str, bytes]] = {}
        self.admission = Admission()  # no limits until the server sets its own (app.py)
        bus.subscribe(ev.ChargerChanged, self._on_charger_changed)

    # -- management (CLI, API, UI) ----------------------------------------------------------

    async def add(self, identity: str, protocol: str, password: str | None = None, description: str = "",
                  registration: str = "accepted", endpoint_url: str = "") -> ChargerRecord:
        identity = validate_identity(identity)
        if protocol not in PROTOCOLS:
            raise ChargerError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
        if endpoint_url:
            endpoint_url = validate_endpoint(endpoint_url)
        password_hash = hash_password(password) if password else None

        def add_sync() -> ChargerRecord:
            if store.get(identity) is not None:
                raise ChargerError(f"charger {identity} already exists")
            record = store.create(identity, protocol, password_hash, registration, "admin", ev.utcnow(), description)
            if endpoint_url:
                record = store.update(identity, endpoint_url=endpoint_url)
            self.journal.record_sync(ev.ChargerChanged(identity, "added"))
            return record

        record = await self.db.write(add_sync)
        self.bus.publish(ev.ChargerChanged(identity, "added"))
        return record

    async def update(self, identity: str, change: str, **fields) -> ChargerRecord:
        if "password" in fields:
            password = fields.pop("password")
            fields["password_hash"] = hash_password(password) if password else None
        if "registration" in fields and fields["registration"] not in REGISTRATIONS:
            raise ChargerError(f"registration must be one of {', '.join(REGISTRATIONS)}")
        if "protocol" in fields and fields["protocol"] not in PROTOCOLS:
            raise ChargerError(f"protocol must be one of {', '.join(PROTOCOLS)}")

        def update_sync() -> ChargerRecord:
            if store.get(identity) is None:
                raise ChargerNotFound(f"no charger {identity}")
            record = store.update(identity, **fields)
            self.journal.record_sync(ev.ChargerChanged(identity, change))
            return record

        record = await self.db.write(update_sync)
        self.bus.publish(ev.ChargerChanged(identity, change))
        return record

    async def set_registration(self, identity: str, registration: str) -> ChargerRecord:
        return await self.update(identity, registration, registration=registration)

    async def get(self, identity: str) -> ChargerRecord | None:
        return await self.db.read(store.get, identity)

    async def require(self, identity: str) -> ChargerRecord:
        record = await self.get(identity)
        if record is None:
            raise ChargerNotFound(f"no charger {identity}")
        return record

    async def list(self, registration: str | None = None) -> list[ChargerRecord]:
        return await self.db.read(store.list_all, registration)

    async def connectors(self, identity: str) -> list[store.ConnectorRecord]:
        record = await self.require(identity)
        return await self.db.read(store.connectors, record.id)

    async def status_history(self, identity: str, limit: int = 100) -> list[store.StatusRecord]:
        record = await self.require(identity)
        return await self.db.read(store.status_history, record.id, limit)

    # -- the connection's life ----------------------------------------------------------------

    async def admit(self, identity: str, protocol: str, password: str | None, client: str | None = None,
                    secure: bool = False) -> LiveCharger | None:
        """Decide whether a connecting charger may open a session; records unknown ones.

        Returns None when its credentials are wrong; raises AdmissionRefused when the rules refuse it
        whatever its credentials (`client`'s network, no TLS, too many wrong passwords or unknown ids).
        A charger with a password must give it (OCPP security profile 1/2); an unknown charger is
        recorded under the configured policy. `client` is the address it connects from, `secure`
        whether over TLS.
        """
        rules = self.admission
        rules.check_network(identity, client)
        rules.check_failures(identity, client)
        live = self.live.get(identity)
        if live is None:
            live = await self._identify(identity, protocol, client)
        if live.password_hash:
            rules.check_tls(identity, True, secure)
            if password is None:  # no guess made: some clients send credentials only when asked (401)
                return None
            if not await self._password_ok(identity, live.password_hash, password, client):
                rules.failed(identity, client)
                return None
        return live

    async def _password_ok(self, identity: str, password_hash: str, password: str, client: str | None) -> bool:
        # Reconnect storms would otherwise cost a scrypt per connection; a verified password is
        # remembered (as a salted digest, never in clear) until the stored hash changes.
        digest = hashlib.sha256(password_hash.encode() + password.encode()).digest()
        if self._verified.get(identity) == (password_hash, digest):
            return True
        self.admission.attempt(identity, client)
        if await asyncio.get_running_loop().run_in_executor(_HASHING, verify_password, password, password_hash):
            self.admission.succeeded(identity, client)
            self._verified[identity] = (password_hash, digest)
            return True
        return False

    def waiting(self) -> int:
        """Chargers pending a decision or rejected: what unknown_chargers_max bounds."""
        return sum(1 for live in self.live.values() if live.registration in WAITING)

    async def connected(self, identity: str, protocol: str) -> None:
        live = self.live[identity]
        live.connected = True
        self.touch(identity)
        await self.db.write(store.mark_connected, identity, ev.utcnow())
        self.bus.publish(ev.ChargerConnected(identity, protocol))

    def disconnected(self, identity: str) -> None:
        live = self.live.get(identity)
        if live is None:
            return
        live.connected = False
        self._set_state(live, TEMPORARILY_UNAVAILABLE)
        self.bus.publish(ev.ChargerDisconnected(identity))

    def touch(self, identity: str) -> None:
        """A message arrived from the charger: the hot path, memory only."""
        live = self.live.get(identity)
        if live is None:
            return
        live.last_seen = time.monotonic()
        live.last_seen_at = ev.utcnow()
        live.contact_dirty = True
        if live.state != ONLINE:
            self._set_state(live, ONLINE)

    def is_accepted(self, identity: str) -> bool:
        live = self.live.get(identity)
        return live is not None and live.registration == "accepted"

    def _set_state(self, live: LiveCharger, state: str) -> None:
        if live.state == state:
            return
        previous, live.state = live.state, state
        live.state_dirty = True
        self.bus.publish(ev.ConnectionStateChanged(live.identity, state, previous))

    async def supervise(self, temporarily_after_s: float, unavailable_after_s: float) -> None:
        """Move silent chargers to temporarily unavailable, then to unavailable (long-term).

        Silence counts from when the charger's next heartbeat was due: an idle charger says nothing
        for a whole heartbeat interval, and that is no fault.
        """
        now = time.monotonic()
        for n, live in enumerate(list(self.live.values()), 1):
            if n % ROUND_SLICE == 0:
                await asyncio.sleep(0)
            if n > ROUND_SLICE and self.live.get(live.identity) is not live:
                continue  # removed while the round let others go first
            silence = now - live.last_seen - self.heartbeat_interval_s
            if live.state != UNAVAILABLE and silence >= unavailable_after_s:
                self._set_state(live, UNAVAILABLE)
            elif live.state == ONLINE and silence >= temporarily_after_s:
                self._set_state(live, TEMPORARILY_UNAVAILABLE)

    async def flush_contacts(self, everything: bool = False) -> None:
        """Store connection states that changed, and contact times older than CONTACT_STORED_EVERY_S
        (every one with `everything`, at shutdown). The server itself answers from memory; the stored
        time is for other processes (the CLI, `doctor`) and the next start."""
        now = time.monotonic()
        due = now - CONTACT_STORED_EVERY_S
        dirty = [live for live in self.live.values() if live.state_dirty
                 or (live.contact_dirty and (everything or live.contact_stored <= due))]
        if not dirty:
            return
        for live in dirty:
            live.state_dirty = live.contact_dirty = False
            live.contact_stored = now
        await self.db.write(store.set_liveness, [(c.identity, c.last_seen_at, c.state) for c in dirty])

    async def load(self) -> None:
        """At start: chargers the last run left online are now only temporarily unavailable."""
        for record in await self.db.read(store.list_all, None):
            live = self._remember(record)
            live.state = UNAVAILABLE if record.connection_state in (UNAVAILABLE, "never_connected") \
                else TEMPORARILY_UNAVAILABLE
            if record.last_contact_at:
                age = (ev.utcnow() - record.last_contact_at).total_seconds()
                live.last_seen = time.monotonic() - max(0.0, age)
                live.last_seen_at = record.last_contact_at
            live.state_dirty = live.state != record.connection_state

    # -- what chargers tell -----------------------------------------------------------------

    async def boot(self, identity: str, protocol: str, info: BootInfo) -> BootOutcome:
        now = ev.utcnow()
        details = {name: getattr(info, name) for name in store.BOOT_DETAILS}

        def boot_sync() -> tuple[str, str | None]:
            found = store.record_boot(identity, protocol, details, now)
            if found is None:
                self._create_unknown_sync(identity, protocol, "boot")
                found = store.record_boot(identity, protocol, details, now)
            return found

        registration, password_hash = await self.db.write(boot_sync)
        live = self.live.get(identity)
        if live is not None:  # the registration read with the boot is the freshest there is
            live.registration, live.password_hash = registration, password_hash
        self.touch(identity)
        self.bus.publish(ev.ChargerBooted(identity, registration, info.reason))
        interval = self.heartbeat_interval_s if registration == "accepted" else self.pending_retry_interval_s
        return BootOutcome(BOOT_STATUS[registration], interval, now)

    async def report_status(self, identity: str, connector_number: int, status: str, error_code: str = "NoError",
                            info: str = "", vendor_error_code: str = "", reported_at: dt.datetime | None = None,
                            evse_number: int | None = None, evse_connector_id: int = 1) -> None:
        """`connector_number` is the 1.x connector (the 2.0.1 EVSE); `evse_connector_id` the connector
        within that EVSE (2.0.1 only; a 1.x connector is the one connector of its EVSE)."""
        received = ev.utcnow()
        live = self.live[identity]
        previous = await self.db.write(store.record_status, live.pk, connector_number, evse_number, status,
                                       error_code or "NoError", info or "", vendor_error_code or "",
                                       reported_at or received, received, evse_connector_id)
        self.bus.publish(ev.StatusChanged(identity, connector_number, status, error_code or "NoError", previous))

    async def set_access(self, identity: str, companies: list[str]) -> list[str]:
        """Open the charger only to these companies' tags; an empty list opens it to the whole depot."""
        def set_sync() -> list[str]:
            record = store.get(identity)
            if record is None:
                raise ChargerNotFound(f"no charger {identity}")
            user_store.set_access(record.id, self._company_ids(companies))
            self.journal.record_sync(ev.ChargerChanged(identity, "access"))
            return user_store.access_names(record.id)

        names = await self.db.write(set_sync)
        self.bus.publish(ev.ChargerChanged(identity, "access"))
        return names

    async def add_group(self, name: str) -> None:
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise ChargerError("a group name must be 1 to 100 characters long")

        def add_sync() -> None:
            if user_store.group_id(name) is not None:
                raise ChargerError(f"group {name} already exists")
            user_store.add_group(name, ev.utcnow())

        await self.db.write(add_sync)

    async def set_group(self, identity: str, group: str | None) -> None:
        """Put the charger in a group (None: in none); it then follows the group's access unless it has its own."""
        def set_sync() -> None:
            record = store.get(identity)
            if record is None:
                raise ChargerNotFound(f"no charger {identity}")
            user_store.set_group(record.id, self._group_id(group) if group else None)
            self.journal.record_sync(ev.ChargerChanged(identity, "access"))

        await self.db.write(set_sync)
        self.bus.publish(ev.ChargerChanged(identity, "access"))

    async def set_group_access(self, group: str, companies: list[str]) -> list[str]:
        """Open a group's chargers (those without access of their own) only to these companies; empty: to all."""
        def set_sync() -> list[str]:
            members = user_store.set_group_access(self._group_id(group), self._company_ids(companies))
            for identity in members:
                self.journal.record_sync(ev.ChargerChanged(identity, "access"))
            return members

        members = await self.db.write(set_sync)
        for identity in members:
            self.bus.publish(ev.ChargerChanged(identity, "access"))
        return members

    async def groups(self) -> list[user_store.GroupRecord]:
        return await self.db.read(user_store.groups)

    @staticmethod
    def _group_id(name: str) -> int:
        found = user_store.group_id(name)
        if found is None:
            raise ChargerError(f"no charger group {name}")
        return found

    @staticmethod
    def _company_ids(names: list[str]) -> list[int]:
        ids = []
        for name in names:
            company = user_store.get_company(name)
            if company is None:
                raise ChargerError(f"no company {name}")
            ids.append(company.id)
        return ids

    async def access(self, identity: str) -> list[str]:
        """The companies the charger is open to; empty: the whole depot."""
        record = await self.require(identity)
        return await self.db.read(user_store.access_names, record.id)

    async def set_endpoint(self, identity: str, url: str) -> None:
        """The address a (SOAP) charger is commanded at, as it gave it (WS-Addressing From/ReplyTo)
        or as configured; stored and announced only when it changes."""
        live = self.live.get(identity)
        if live is not None and live.endpoint_url == url:
            return
        await self.update(identity, "endpoint", endpoint_url=url)

    async def set_reachable(self, identity: str, reachable: bool, detail: str = "") -> None:
        """Whether the last command reached the charger; stored when that changes, so that a charger
        that can report but cannot be commanded (NAT, wrong address) shows as such."""
        live = self.live.get(identity)
        flag = "yes" if reachable else "no"
        if live is not None and live.reachable == flag:
            return
        if live is not None:
            live.reachable = flag
        await self.db.write(store.update, identity, reachable=flag, reachable_detail=detail[:200],
                            reachable_at=ev.utcnow())
        self.bus.publish(ev.ChargerChanged(identity, "reachable" if reachable else "unreachable"))

    async def report_firmware_status(self, identity: str, status: str) -> None:
        await self.db.write(store.update, identity, firmware_status=status, firmware_status_at=ev.utcnow())
        self.bus.publish(ev.FirmwareStatus(identity, status))

    async def report_diagnostics_status(self, identity: str, status: str) -> None:
        await self.db.write(store.update, identity, diagnostics_status=status, diagnostics_status_at=ev.utcnow())
        self.bus.publish(ev.DiagnosticsStatus(identity, status))

    # -- helpers --------------------------------------------------------------------------

    async def _identify(self, identity: str, protocol: str, client: str | None = None) -> LiveCharger:
        """Find a charger not yet in memory, recording it under the policy if nobody added it (and the
        admission rules let one more unknown charger be recorded)."""
        if await self.db.read(store.identify, identity) is None:
            self.admission.check_unknown(identity, client, self.waiting)
        recorded = False

        def identify_sync() -> tuple[int, str, str, str | None]:
            nonlocal recorded
            found = store.identify(identity)
            if found is None:
                recorded = self._create_unknown_sync(identity, protocol, "connect")
                found = store.identify(identity)
            return found

        pk, known_protocol, registration, password_hash = await self.db.write(identify_sync)
        if recorded:
            self.bus.publish(ev.ChargerChanged(identity, "recorded"))
        live = self.live.get(identity)  # another connection of the same charger may have been quicker
        if live is None:
            live = self.live[identity] = LiveCharger(pk, identity, known_protocol, registration, password_hash)
        return live

    def _create_unknown_sync(self, identity: str, protocol: str, how: str) -> bool:
        registration = {"accept": "accepted", "pending": "pending", "reject": "rejected"}[self.unknown_policy]
        created = store.record_unknown(identity, protocol, registration, how, ev.utcnow())
        if created:
            self.journal.record_sync(ev.ChargerChanged(identity, "recorded"))
        return created

    def _remember(self, record: ChargerRecord) -> LiveCharger:
        live = self.live.get(record.identity)
        if live is None:
            live = self.live[record.identity] = LiveCharger(
                record.id, record.identity, record.protocol, record.registration, record.password_hash)
        else:
            live.pk, live.protocol = record.id, record.protocol
            live.registration, live.password_hash = record.registration, record.password_hash
        live.endpoint_url, live.reachable = record.endpoint_url, record.reachable
        return live

    async def _on_charger_changed(self, event: ev.ChargerChanged) -> None:
        if event.change == "recorded":  # an unknown charger this registry has just recorded itself
            return
        record = await self.db.read(store.get, event.identity)
        if record is None:
            self.live.pop(event.identity, None)
        elif event.identity in self.live:
            self._remember(record)


CONNECTIONLESS = ("ocpp1.5-soap", "ocpp1.6-soap")


def command_reach(record: ChargerRecord) -> str:
    """How commands reach a charger, in words for the CLI and the UI; SOAP chargers are called back
    at an address, and one behind NAT or with a wrong address can report but not be commanded."""
    if record.protocol not in CONNECTIONLESS:
        return "over its connection, while connected"
    if not record.endpoint_url:
        return "cannot be commanded: it has given no address (WS-Addressing From) and none is configured"
    if record.reachable == "no":
        return f"can report, cannot be commanded at {record.endpoint_url}: {record.reachable_detail}"
    return f"at {record.endpoint_url}" + ("" if record.reachable == "yes" else " (not tried yet)")


def validate_endpoint(url: str) -> str:
    """A SOAP charger's command address: an absolute http(s) URL."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChargerError(f"an endpoint must be an http:// or https:// URL with a host, not {url!r}")
    return url.strip()


def validate_identity(identity: str) -> str:
    """OCPP 1.6 §3.1: the identity is part of the URL; ours allows the printable, URL-safe subset."""
    if not identity or len(identity) > 48:
        raise ChargerError("a charger id must be 1 to 48 characters long")
    bad = sorted({c for c in identity if not (c.isascii() and (c.isalnum() or c in "-_.:*+|@"))})
    if bad:
        raise ChargerError(f"a charger id may not contain {''.join(bad)!r}")
    return identity
