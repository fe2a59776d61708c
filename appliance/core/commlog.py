"""The communication log: every OCPP message in and out, kept for a while, secrets masked.

Logging must not slow the message path: rows are handed to the writer unawaited and committed
with the next batch. The supervisor prunes it by age, by count and by weight: with OCPP-J frames of
up to 64 KB, a count alone would allow 2,000,000 x 64 KB = 128 GB; the weight bound (commlog_max_mb)
is what keeps the disk from filling, the others keep the log to the period that is useful.
"""

from __future__ import annotations

import datetime as dt
import re

from appliance.core import events as ev
from appliance.core.metrics import MessageStats
from appliance.store import logs as store
from appliance.store.database import Database

# Security profile passwords travel in ChangeConfiguration (1.6) and SetVariables (2.0.1).
_SECRET = re.compile(r'("(?:AuthorizationKey|BasicAuthPassword)".{0,80}?"(?:value|attributeValue)"\s*:\s*")'
                     r'([^"]*)(")|'
                     r'("key"\s*:\s*"AuthorizationKey"\s*,\s*"value"\s*:\s*")([^"]*)(")', re.S)


def mask_secrets(message: str) -> str:
    if "AuthorizationKey" not in message and "BasicAuthPassword" not in message:
        return message
    return _SECRET.sub(lambda m: (m.group(1) or m.group(4)) + "***" + (m.group(3) or m.group(6)), message)


class CommLog:
    def __init__(self, db: Database, retention_days: int, max_rows: int, max_bytes: int | None = None) -> None:
        self.db = db
        self.retention = dt.timedelta(days=retention_days)
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.size = store.CommLogSize()  # measured at the first prune, then kept up to date
        self.stats = MessageStats()  # every message passes here: /metrics counts them here

    def record(self, identity: str, direction: str, message: str) -> None:
        self.stats.count(direction)
        self.db.append_rows(store.INSERT_COMMLOG, store.commlog_row(identity, direction, ev.utcnow(),
                                                                    mask_secrets(message)))

    async def recent(self, identity: str | None = None, limit: int = 200) -> list[store.CommLogEntry]:
        return await self.db.read(store.commlog, identity, limit)

    async def prune(self) -> int:
        # Measuring is a read (off the writer, which the first, full measure would hold up); rows
        # logged after it are counted at the next prune.
        size = await self.db.read(store.measure_commlog, self.size)
        removed, self.size = await self.db.write(store.prune_commlog_within, ev.utcnow() - self.retention,
                                                 self.max_rows, self.max_bytes, size)
        return removed
