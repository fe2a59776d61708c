"""The charging profiles load management sends, and why they look the way they do.

Every limit we send falls back by itself to the EVSE's safe share (`plan.safe_shares`) unless we
renew it, so a charger keeps the site safe when the appliance is down. Naively that would mix: one
charger already on its safe share while another still runs the higher limit it was last given, and
the sum could pass the breaker. So every profile carries three periods and every renewal in one
half-window names the same instant T:

    [start, T)         the allocated limit
    [T, T + half)      min(allocated, safe share)
    [T + half, ...)    the safe share

Renewals happen every half window, so at any moment the chargers' T lie in at most two consecutive
windows; then each charger is either on its allocated limit or below it (first part), or on its safe
share or below it (second part), and both sums are within the limits. Clock skew between chargers
blurs the instants by that skew.
"""

from __future__ import annotations

import datetime as dt
import math

from appliance.core.link import ChargingLimit

DEFAULT_PROFILE_ID = 1000  # + EVSE number: the start current of a new session (TxDefaultProfile)
TX_PROFILE_ID = 2000  # + EVSE number: the running session's limit (TxProfile)
STACK_LEVEL = 1


def renewal_deadline(now: dt.datetime, fallback_after_s: float) -> dt.datetime:
    """T for profiles sent now: the end of the next half window, so between half and a whole
    fallback time from now, and the same for everything sent within this half window."""
    half = fallback_after_s / 2
    window_start = math.floor(now.timestamp() / half) * half
    return dt.datetime.fromtimestamp(window_start + fallback_after_s, dt.timezone.utc)


def charging_limit(kind: str, evse_number: int, limit_a: float, safe_a: float, now: dt.datetime,
                   fallback_after_s: float, transaction_id: int | None = None) -> ChargingLimit:
    """kind: 'tx' (the session's TxProfile) or 'default' (TxDefaultProfile: a new session's start)."""
    start = now.replace(microsecond=0)
    first_fallback_s = int((renewal_deadline(now, fallback_after_s) - start).total_seconds())
    then = ((first_fallback_s, min(limit_a, safe_a)), (first_fallback_s + int(fallback_after_s / 2), safe_a))
    if kind == "tx":
        return ChargingLimit(limit_a, "A", evse_number, purpose="TxProfile", stack_level=STACK_LEVEL,
                             profile_id=TX_PROFILE_ID + evse_number, transaction_id=transaction_id, start=start,
                             then=then)
    return ChargingLimit(limit_a, "A", evse_number, purpose="TxDefaultProfile", stack_level=STACK_LEVEL,
                         profile_id=DEFAULT_PROFILE_ID + evse_number, start=start, then=then)


def limit_at(limit: ChargingLimit, at: dt.datetime) -> float:
    """The limit a profile imposes at a moment (for tests and the status view)."""
    elapsed_s = (at - (limit.start or at)).total_seconds()
    value = limit.limit
    for offset_s, period_limit in limit.periods():
        if elapsed_s >= offset_s:
            value = period_limit
    return value
