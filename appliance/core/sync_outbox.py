"""The outbox of charge detail records as the sync page shows it (the sync job itself lives in
appliance/sync and reports its own status)."""

from __future__ import annotations

from appliance.store.database import Database
from appliance.store.sync_outbox import OutboxCounts, outbox_counts

__all__ = ["OutboxCounts", "counts"]


async def counts(db: Database) -> OutboxCounts:
    return await db.read(outbox_counts)
