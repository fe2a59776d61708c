"""ChargerLink: the version-neutral commands the appliance sends to a charger.

Each protocol adapter implements it for its wire; live links sit in one registry keyed by charger
identity. Callers never branch on the version: a command the charger's version lacks answers
`not_supported`. Charging limits are given as a version-neutral `ChargingLimit`; each adapter
turns it into its own charging profile.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# Statuses of our own, beside the charger's (Accepted, Rejected, ...), which pass through as given.
NOT_SUPPORTED = "NotSupportedByCharger"
TIMEOUT = "Timeout"
OFFLINE = "Offline"
ERROR = "Error"
CALL_ERROR = "CallError"


@dataclass(frozen=True)
class CommandResult:
    status: str
    data: dict[str, Any] = field(default_factory=dict)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("Accepted", "Unlocked", "Scheduled", "Idle")


@dataclass(frozen=True)
class ChargingLimit:
    """A limit on one connector (0: the whole charger), from `start` for `duration_s` (None: open)."""

    limit: float
    unit: str = "A"  # A or W
    connector_number: int = 0
    number_phases: int | None = None
    purpose: str = "TxDefaultProfile"  # TxDefaultProfile, TxProfile, ChargePointMaxProfile
    stack_level: int = 0
    profile_id: int = 1
    transaction_id: int | None = None
    start: dt.datetime | None = None
    duration_s: int | None = None
    # Later periods of the same schedule: (seconds after start, limit). Load management uses them so
    # a limit the appliance stops renewing falls back to a safe share by itself.
    then: tuple[tuple[int, float], ...] = ()

    def periods(self) -> list[tuple[int, float]]:
        """(start offset s, limit) of every period, the first at 0; limits at most one decimal, as
        both JSON schemas allow, rounded down so a limit never grows on the wire."""
        return [(offset, math.floor(float(limit) * 10 + 1e-9) / 10) for offset, limit in ((0, self.limit), *self.then)]


@dataclass(frozen=True)
class LocalListEntry:
    id_tag: str
    status: str | None  # None removes the entry (differential update)
    expires_at: dt.datetime | None = None
    parent_id_tag: str = ""


@runtime_checkable
class ChargerLink(Protocol):
    identity: str
    protocol: str

    async def remote_start(self, connector_number: int | None, id_tag: str,
                           limit: ChargingLimit | None = None) -> CommandResult: ...

    async def remote_stop(self, transaction_id: int) -> CommandResult: ...

    async def reset(self, hard: bool) -> CommandResult: ...

    async def unlock(self, connector_number: int) -> CommandResult: ...

    async def change_availability(self, connector_number: int, operative: bool) -> CommandResult: ...

    async def get_configuration(self, keys: list[str] | None = None) -> CommandResult: ...

    async def change_configuration(self, key: str, value: str) -> CommandResult: ...

    async def clear_cache(self) -> CommandResult: ...

    async def trigger_message(self, message: str, connector_number: int | None = None) -> CommandResult: ...

    async def send_local_list(self, version: int, full: bool, entries: list[LocalListEntry]) -> CommandResult: ...

    async def get_local_list_version(self) -> CommandResult: ...

    async def set_charging_limit(self, limit: ChargingLimit) -> CommandResult: ...

    async def clear_charging_limit(self, profile_id: int | None = None, connector_number: int | None = None,
                                   purpose: str | None = None, stack_level: int | None = None) -> CommandResult: ...

    async def get_composite_schedule(self, connector_number: int, duration_s: int,
                                     unit: str | None = None) -> CommandResult: ...

    async def get_charging_profiles(self, connector_number: int | None = None, purpose: str | None = None,
                                    profile_id: int | None = None, stack_level: int | None = None) -> CommandResult: ...

    async def get_diagnostics(self, location: str, start: dt.datetime | None = None,
                              stop: dt.datetime | None = None, retries: int | None = None,
                              retry_interval_s: int | None = None) -> CommandResult: ...

    async def update_firmware(self, location: str, retrieve_at: dt.datetime, retries: int | None = None,
                              retry_interval_s: int | None = None) -> CommandResult: ...

    async def reserve_now(self, connector_number: int, expires_at: dt.datetime, id_tag: str, reservation_id: int,
                          parent_id_tag: str | None = None) -> CommandResult: ...

    async def cancel_reservation(self, reservation_id: int) -> CommandResult: ...

    async def data_transfer(self, vendor_id: str, message_id: str | None = None,
                            data: str | None = None) -> CommandResult: ...


COMMANDS = (
    "remote_start", "remote_stop", "reset", "unlock", "change_availability", "get_configuration",
    "change_configuration", "clear_cache", "trigger_message", "send_local_list", "get_local_list_version",
    "set_charging_limit", "clear_charging_limit", "get_composite_schedule", "get_charging_profiles", "get_diagnostics",
    "update_firmware", "reserve_now", "cancel_reservation", "data_transfer",
)


class LinkRegistry:
    """The live links, one per connected charger; a reconnect replaces the old link."""

    def __init__(self) -> None:
        self._links: dict[str, ChargerLink] = {}

    def register(self, link: ChargerLink) -> None:
        self._links[link.identity] = link

    def unregister(self, link: ChargerLink) -> None:
        if self._links.get(link.identity) is link:
            del self._links[link.identity]

    def get(self, identity: str) -> ChargerLink | None:
        return self._links.get(identity)

    def connected(self) -> list[str]:
        return sorted(self._links)
