"""The chargers check: accepted chargers not heard from for longer than the server allows before it
counts them unavailable (or never connected)."""

from __future__ import annotations

import datetime as dt

from appliance.diagnostics.verdict import OK, WARNING, Context, Verdict, age_text, guarded
from appliance.store import diagnostics as store

NAME = "chargers"
LISTED = 10


@guarded(NAME)
def check_chargers(context: Context) -> Verdict:
    settings = context.settings
    # The server's own rule (core.chargers.supervise): an idle charger is silent for a heartbeat
    # interval, and only silence beyond that makes it unavailable.
    allowed_s = settings.heartbeat_interval_s + settings.offline_long_term_after_s
    silent = store.silent_chargers(context.database(), context.now - dt.timedelta(seconds=allowed_s))
    if not silent:
        return Verdict(NAME, OK, f"every accepted charger was heard from within {age_text(allowed_s)}")
    listed = ", ".join(_heard(c, context.now) for c in silent[:LISTED])
    more = f" and {len(silent) - LISTED} more" if len(silent) > LISTED else ""
    return Verdict(NAME, WARNING, f"{len(silent)} not heard from: {listed}{more}",
                   "check each one's power and network, and that its OCPP URL points at this box "
                   "(appliance charger show ID; appliance logs ID)")


def _heard(charger: store.SilentCharger, now: dt.datetime) -> str:
    if charger.last_contact_at is None:
        return f"{charger.identity} (never connected)"
    return f"{charger.identity} (last heard {age_text((now - charger.last_contact_at).total_seconds())} ago)"
