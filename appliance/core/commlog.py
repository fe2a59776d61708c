"""The communication log: every OCPP message in and out, kept for a while, secrets masked.

Logging must not slow the message path: rows are handed to the writer unawaited and committed
with the next batch. Pruning by age and count runs from the supervisor.
"""

from __future__ import annotations

import datetime as dt
import re

from appliance.core import events as ev
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
    def __init__(self, db: Database, retention_days: int, max_rows: int) -> None:
        self.db = db
        self.retention = dt.timedelta(days=retention_days)
        self.max_rows = max_rows

    def record(self, identity: str, direction: str, message: str) -> None:
        self.db.append_rows(store.INSERT_COMMLOG, store.commlog_row(identity, direction, ev.utcnow(),
                                                                    mask_secrets(message)))

    async def recent(self, identity: str | None = None, limit: int = 200) -> list[store.CommLogEntry]:
        return await self.db.read(store.commlog, identity, limit)

    async def prune(self) -> int:
        return await self.db.write(store.prune_commlog, ev.utcnow() - self.retention, self.max_rows)
