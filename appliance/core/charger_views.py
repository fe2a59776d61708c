"""How chargers look to depot staff: each charger's state at a glance (its connection as the registry
knows it this moment, its connectors, its open sessions), the filters of the chargers list, which
commands each protocol can carry, and a strong password for a new charger.

Read-only on top of the registry; the pure parts (`matches`, `connection_of`) take what they need.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.core.chargers import ONLINE, TEMPORARILY_UNAVAILABLE, UNAVAILABLE, ChargerNotFound, LiveCharger
from appliance.core.link import COMMANDS
from appliance.store import charger_views as store
from appliance.store.chargers import ChargerRecord, ConnectorRecord
from appliance.store.charger_views import ChargerExtras
from appliance.store.transactions import TransactionRecord

if TYPE_CHECKING:
    from appliance.core.services import Core

NEVER_CONNECTED = "never_connected"
CONNECTION_STATES = (ONLINE, TEMPORARILY_UNAVAILABLE, UNAVAILABLE, NEVER_CONNECTED)
# The chargers list's ?status= filters (the dashboard links to them).
STATUS_FILTERS = {
    "faulted": "faulted (a connector faulted or reporting an error)",
    "offline": "offline (temporarily unavailable or unavailable)",
    "charging": "charging (a session open or a connector charging)",
    "available": "available (online with a free connector)",
    "pending": "waiting to be accepted",
    "never": "never connected",
}
# What a version's wire lacks (the link answers NotSupportedByCharger): OCPP 1.5 has no TriggerMessage
# and no smart charging; GetChargingProfiles is 2.0.1's alone.
UNSUPPORTED = {
    "ocpp1.5-soap": frozenset({"trigger_message", "set_charging_limit", "clear_charging_limit",
                               "get_composite_schedule", "get_charging_profiles"}),
    "ocpp1.6-soap": frozenset({"get_charging_profiles"}),
    "ocpp1.6-json": frozenset({"get_charging_profiles"}),
    "ocpp2.0.1": frozenset(),
}
PASSWORD_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # nothing to misread (l/1, O/0)
PASSWORD_LENGTH = 24  # about 140 bits; OCPP's Basic auth passwords are 16 to 40 characters


@dataclass(frozen=True)
class ChargerView:
    record: ChargerRecord
    state: str  # one of CONNECTION_STATES
    last_heard_at: dt.datetime | None
    connected: bool  # a live link: commands can be sent now
    connectors: list[ConnectorRecord]
    sessions: list[TransactionRecord]  # open ones
    group: str

    @property
    def identity(self) -> str:
        return self.record.identity

    @property
    def faulted(self) -> bool:
        return any(is_fault(c) for c in self.connectors)

    @property
    def offline(self) -> bool:
        return self.state in (TEMPORARILY_UNAVAILABLE, UNAVAILABLE)

    @property
    def charging(self) -> bool:
        return bool(self.sessions) or any(c.status == "Charging" for c in self.connectors)

    @property
    def available(self) -> bool:
        return self.state == ONLINE and any(c.status == "Available" and c.connector_number > 0
                                            for c in self.connectors)

    def session_on(self, connector_number: int) -> TransactionRecord | None:
        return next((s for s in self.sessions if s.connector_number == connector_number), None)


def is_fault(connector: ConnectorRecord) -> bool:
    return connector.status == "Faulted" or connector.error_code not in ("", "NoError")


def connection_of(record: ChargerRecord, live: LiveCharger | None) -> tuple[str, dt.datetime | None]:
    """(state, last heard from) by the registry's memory, which is fresher than the stored record
    (contacts are written in batches); a charger that never called stays never_connected."""
    heard = live is not None and (live.connected or live.last_seen_at is not None)
    if record.connection_state == NEVER_CONNECTED and not heard:
        return NEVER_CONNECTED, None
    if live is None or not heard:
        return record.connection_state, record.last_contact_at
    return live.state, live.last_seen_at or record.last_contact_at


def matches(view: ChargerView, status: str = "", protocol: str = "", group: str = "", text: str = "") -> bool:
    """Whether a charger passes the chargers list's filters (empty: no filter)."""
    if status and not {
        "faulted": view.faulted, "offline": view.offline, "charging": view.charging,
        "available": view.available, "pending": view.record.registration == "pending",
        "never": view.state == NEVER_CONNECTED,
    }.get(status, True):
        return False
    if protocol and view.record.protocol != protocol:
        return False
    if group and view.group != group:
        return False
    if text:
        r = view.record
        haystack = " ".join((r.identity, r.description, r.vendor, r.model, r.serial_number)).lower()
        return text.lower() in haystack
    return True


def supported_commands(protocol: str) -> tuple[str, ...]:
    lacking = UNSUPPORTED.get(protocol, frozenset())
    return tuple(c for c in COMMANDS if c not in lacking)


def generate_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


async def chargers_at_a_glance(core: Core) -> list[ChargerView]:
    """Every charger, in identity order, with its connection, connectors, group and open sessions."""
    found = await core.db.read(store.snapshot)
    by_identity: dict[str, list[TransactionRecord]] = {}
    for session in found.sessions:
        by_identity.setdefault(session.charger_identity, []).append(session)
    return [_view(core, r, found.connectors.get(r.id, []), by_identity.get(r.identity, []),
                  found.groups.get(r.id, "")) for r in found.chargers]


async def charger_at_a_glance(core: Core, identity: str) -> ChargerView:
    record = await core.chargers.require(identity)
    connectors = await core.chargers.connectors(identity)
    sessions = await core.transactions.list(identity, active=True, limit=store.MOST_ACTIVE_SESSIONS)
    extras = await charger_extras(core, record)
    return _view(core, record, connectors, sessions, extras.group)


async def charger_extras(core: Core, record: ChargerRecord) -> ChargerExtras:
    found = await core.db.read(store.extras, record.id)
    if found is None:
        raise ChargerNotFound(f"no charger {record.identity}")
    return found


def _view(core: Core, record: ChargerRecord, connectors: list[ConnectorRecord], sessions: list[TransactionRecord],
          group: str) -> ChargerView:
    state, heard = connection_of(record, core.chargers.live.get(record.identity))
    return ChargerView(record, state, heard, core.links.get(record.identity) is not None, connectors,
                       sorted(sessions, key=lambda s: s.connector_number), group)
