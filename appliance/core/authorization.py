"""Who may charge: the one rule that decides a tag's status, for every protocol.

`decide` is pure (the clock comes in as `now`); `Authorizer` reads what it needs and calls it.
The statuses are OCPP's idTagInfo ones, which 2.0.1's idTokenInfo extends; each adapter maps
them onto its wire.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from enum import Enum

from appliance.store import transactions as tx_store
from appliance.store import users as user_store
from appliance.store.users import TagRecord


class AuthStatus(str, Enum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"
    NOT_AT_THIS_LOCATION = "NotAtThisLocation"  # OCPP 2.0.1; 1.x chargers are told Invalid


@dataclass(frozen=True)
class AuthResult:
    status: AuthStatus
    expires_at: dt.datetime | None = None
    parent_id_tag: str = ""
    tag_id: int | None = None
    driver_id: int | None = None

    @property
    def accepted(self) -> bool:
        return self.status is AuthStatus.ACCEPTED


def normalise_id_tag(raw: str) -> str:
    """The one form a tag id is stored and compared in: trimmed, upper case (hex UIDs are case-free)."""
    return raw.strip().upper()


def decide(tag: TagRecord | None, now: dt.datetime, active_transactions: int,
           allowed_companies: frozenset[int] | None = None) -> AuthResult:
    """The status of a tag at `now`, given how many transactions it already has running, at a charger
    open to `allowed_companies` (None: the whole depot)."""
    if tag is None:
        return AuthResult(AuthStatus.INVALID)
    info = dict(expires_at=tag.expires_at, parent_id_tag=tag.parent_id_tag, tag_id=tag.id)
    if tag.status == "blocked":
        return AuthResult(AuthStatus.BLOCKED, **info)
    if tag.expires_at is not None and tag.expires_at <= now:
        return AuthResult(AuthStatus.EXPIRED, **info)
    if allowed_companies is not None and tag.company_id not in allowed_companies:
        return AuthResult(AuthStatus.NOT_AT_THIS_LOCATION, **info)
    if tag.max_concurrent_tx and active_transactions >= tag.max_concurrent_tx:
        return AuthResult(AuthStatus.CONCURRENT_TX, **info)
    return AuthResult(AuthStatus.ACCEPTED, **info)


def authorize_sync(id_tag: str, now: dt.datetime, exclude_running: bool = False,
                   charger_pk: int | None = None) -> AuthResult:
    """Look the tag up and decide, at the charger `charger_pk` (None: anywhere); runs in a store thread.

    `exclude_running` is for a stop: a tag ending its own transaction is not 'concurrent'.
    """
    id_tag = normalise_id_tag(id_tag)
    tag = user_store.get_tag(id_tag)
    running = 0 if exclude_running or tag is None else tx_store.count_active_for_tag(id_tag)
    allowed = user_store.allowed_companies(charger_pk) if charger_pk is not None and tag is not None else None
    result = decide(tag, now, running, allowed)
    if tag is not None and tag.driver_id is not None:
        result = dataclasses.replace(result, driver_id=tag.driver_id)
    return result


def answer_again_sync(status: str, id_tag: str) -> AuthResult:
    """The answer a replayed message gets: the status it got the first time (what the charger acted
    on), with the tag's expiry and parent as they are; runs in a store thread."""
    try:
        recorded = AuthStatus(status)
    except ValueError:
        recorded = AuthStatus.INVALID
    tag = user_store.get_tag(normalise_id_tag(id_tag))
    if tag is None:
        return AuthResult(recorded)
    return AuthResult(recorded, tag.expires_at, tag.parent_id_tag, tag.id, tag.driver_id)
