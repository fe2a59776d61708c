"""The appliance's own health, for /healthz and the dashboard: "ok", or "degraded" with the reasons.

Degraded means the appliance is not doing its job in full: it cannot store (disk full), or its
writes wait on another process. Head office out of reach and chargers with a wrong clock are
warnings: the depot goes on charging and nothing is lost, but someone should look.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from appliance.store import billing as billing_store
from appliance.store.database import Database
from appliance.store.storage_faults import FULL, LOCKED, StorageState, StoreError

# What adapters catch to answer "not stored" without a traceback (they import core, never store).
StorageError = StoreError


@dataclass(frozen=True)
class Health:
    status: str  # ok | degraded
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    storage: StorageState

    def as_json(self) -> dict[str, Any]:
        s = self.storage
        return {"status": self.status, "problems": list(self.problems), "warnings": list(self.warnings),
                "storage": {"state": s.state, "reason": s.reason, "since": s.since.isoformat() if s.since else None,
                            "writes_refused": s.refused, "log_rows_dropped": s.log_rows_dropped,
                            "log_rows_freed": s.log_rows_freed}}


def storage_problems(state: StorageState) -> tuple[str, ...]:
    since = f" since {state.since:%Y-%m-%d %H:%M:%S} UTC" if state.since else ""
    if state.state == FULL:
        return (f"disk full: not storing{since} ({state.refused} messages refused, which the chargers keep and "
                f"send again; {state.log_rows_dropped} communication-log messages not kept, {state.log_rows_freed} "
                "old ones pruned to make room). Free space on the data directory's disk.",)
    if state.state == LOCKED:
        return (f"the database is locked by another process{since}: writes wait ({state.refused} refused after "
                "waiting). Let the `appliance` command finish, or stop it.",)
    return ()


def head_office_warnings(record: billing_store.HeadOfficeRecord, now: dt.datetime) -> tuple[str, ...]:
    if not record.url or record.failures == 0:
        return ()
    retry = (f"next try in {max(0, round((record.next_attempt_at - now).total_seconds()))} s"
             if record.next_attempt_at else "next try at the next sync")
    return (f"head office: {record.failures} failed attempts in a row ({record.last_error}); {retry}",)


async def check(db: Database, clock_skews: dict[str, str] | None = None) -> Health:
    """`clock_skews`: charger id -> what is wrong with its clock (from the clock watch)."""
    state = db.storage.current
    problems = storage_problems(state)
    warnings = head_office_warnings(await db.read(billing_store.head_office), dt.datetime.now(dt.timezone.utc))
    warnings += tuple(f"charger {identity}: {summary}" for identity, summary in sorted((clock_skews or {}).items()))
    return Health("degraded" if problems else "ok", problems, warnings, state)
