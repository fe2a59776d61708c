"""Who may open a connection as a charger, whatever its password: the networks it may connect from,
TLS for chargers with a password, and rate limits on wrong passwords and on charger ids nobody
added, so that a flood of made-up ids fills neither the registry nor the memory.

The registry (`chargers.py`) asks these rules at each connection (OCPP-J) or request (SOAP); each
refusal is an `AdmissionRefused` saying why, and when trying later helps, after how long.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from appliance.core.networks import ChargerNetworks
from appliance.core.rate_limit import RateLimiter

log = logging.getLogger(__name__)

# One address may try this many times the wrong passwords one charger id may, over all ids: a
# scan of ids with guessed passwords from one place is slowed as much as guessing one id's.
ADDRESS_FAILURES_FACTOR = 5
REFUSALS_LOGGED_PER_MIN = 6  # per kind of refusal; the rest are counted in the next line logged


class AdmissionRefused(Exception):
    """A connection refused before or without its credentials counting; `retry_after_s` is set when
    trying again later can succeed (a rate limit), None when it cannot (a rule)."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass
class Admission:
    networks: ChargerNetworks = field(default_factory=ChargerNetworks)
    passwords_need_tls: bool = False
    failures_per_min: float = 0.0
    unknown_per_min: float = 0.0
    unknown_per_address_per_min: float = 0.0
    unknown_max: int = 0  # 0: no cap

    def __post_init__(self) -> None:
        self._failures = RateLimiter(self.failures_per_min)  # per (charger id, address)
        self._address_failures = RateLimiter(self.failures_per_min * ADDRESS_FAILURES_FACTOR)
        self._unknown = RateLimiter(self.unknown_per_min, max_keys=1)  # overall: one key
        self._unknown_by_address = RateLimiter(self.unknown_per_address_per_min)
        self._logged = RateLimiter(REFUSALS_LOGGED_PER_MIN)
        self._unlogged: dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings) -> "Admission":
        return cls(ChargerNetworks.parse(settings.charger_networks), settings.charger_passwords_need_tls,
                   settings.charger_auth_failures_per_min, settings.unknown_chargers_per_min,
                   settings.unknown_chargers_per_address_per_min, settings.unknown_chargers_max)

    def check_network(self, identity: str, client: str | None) -> None:
        if not self.networks.allows(identity, client):
            raise self._refused("network", f"charger {identity} may not connect from {client or 'an unknown address'} "
                                           "(charger_networks)")

    def check_tls(self, identity: str, has_password: bool, secure: bool) -> None:
        if self.passwords_need_tls and has_password and not secure:
            raise self._refused("tls", f"charger {identity} has a password: it must connect over TLS "
                                       "(charger_passwords_need_tls)")

    def check_failures(self, identity: str, client: str | None, now: float | None = None) -> None:
        """Refuse an id (from one address), or an address, that gave too many wrong passwords lately."""
        now = time.monotonic() if now is None else now
        wait = max(self._failures.wait_s((identity, client), now), self._address_failures.wait_s(client, now))
        if wait:
            raise self._refused("failures", f"too many wrong passwords for charger {identity} from "
                                            f"{client or 'an unknown address'}; try again in {wait:.0f} s", wait)

    def attempt(self, identity: str, client: str | None, now: float | None = None) -> None:
        """Count a password about to be verified as wrong until it proves right (`succeeded`): guesses
        sent all at once cannot all pass `check_failures` while the first ones are still being hashed."""
        now = time.monotonic() if now is None else now
        self.check_failures(identity, client, now)
        self._failures.take((identity, client), now)
        self._address_failures.take(client, now)

    def succeeded(self, identity: str, client: str | None, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._failures.give_back((identity, client), now)
        self._address_failures.give_back(client, now)

    def failed(self, identity: str, client: str | None) -> None:
        self._log("password", f"charger {identity}: wrong password from {client or 'an unknown address'}")

    def check_unknown(self, identity: str, client: str | None, waiting: Callable[[], int],
                      now: float | None = None) -> None:
        """May a charger id nobody added be recorded now? `waiting` counts the chargers already pending
        or rejected, over every charger in memory: asked only where unknown_chargers_max is set (a
        depot's first boot with thousands of new chargers would count thousands of times)."""
        now = time.monotonic() if now is None else now
        if self.unknown_max and (waiting := waiting()) >= self.unknown_max:
            raise self._refused("unknown_max", f"unknown charger {identity} not recorded: {waiting} chargers already "
                                               "wait for a decision or are rejected (unknown_chargers_max)")
        wait = max(self._unknown_by_address.wait_s(client, now), self._unknown.wait_s(None, now))
        if wait:
            raise self._refused("unknown_rate", f"unknown charger {identity} from {client or 'an unknown address'} "
                                                f"not recorded: too many unknown chargers lately; try again in "
                                                f"{wait:.0f} s", wait)
        self._unknown_by_address.take(client, now)
        self._unknown.take(None, now)

    def _refused(self, kind: str, reason: str, retry_after_s: float | None = None) -> AdmissionRefused:
        self._log(kind, reason)
        return AdmissionRefused(reason, retry_after_s)

    def _log(self, kind: str, message: str) -> None:
        """A flood must not flood the log: a few lines a minute per kind, then a count."""
        if self._logged.take(kind, time.monotonic()):
            self._unlogged[kind] = self._unlogged.get(kind, 0) + 1
            return
        more = self._unlogged.pop(kind, 0)
        log.warning("%s%s", message, f" (and {more} more like it)" if more else "")
