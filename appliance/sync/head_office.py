"""Pushing charge detail records to head office, exactly once and in order, whenever it is reachable.

The protocol (what head office implements): `POST {url}/cdrs` with `Authorization: Token TOKEN` and
`{"cdrs": [CDR, ...]}` (OCPI 2.2.1 CDRs, oldest first); head office answers 2xx with
`{"accepted": [id, ...]}`, naming every CDR it has stored (also ones it had already: it dedupes by
id). A CDR is marked sent only when named there; anything else (a timeout, a 5xx, a refused
connection, an answer that is not that JSON) leaves the batch unsent to be sent again, with an
exponential backoff and jitter. Head office may so see a record twice, but never two records
under one id: a CDR is never changed once written (corrections are credits with their own id).
Order: a batch goes only when every record before it is confirmed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import Any

import aiohttp

from appliance.store import billing as store
from appliance.store.database import Database
from appliance.sync.head_office_http import HeadOfficeError, request_json
from appliance.sync.tokens import PullResult, apply_tokens, fetch_tokens

log = logging.getLogger(__name__)

BATCH = 100
BACKOFF_FIRST_S = 5.0
BACKOFF_MAX_S = 3600.0


@dataclass(frozen=True)
class SyncStatus:
    configured: bool
    url: str
    queue_length: int
    oldest_unsent_at: dt.datetime | None
    last_sent_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_error: str
    last_error_at: dt.datetime | None
    failures: int
    next_attempt_at: dt.datetime | None


class HeadOfficeSync:
    def __init__(self, db: Database, timeout_s: float = 30.0, batch: int = BATCH) -> None:
        self.db = db
        self.timeout_s = timeout_s
        self.batch = batch
        self._lock = asyncio.Lock()  # one drain at a time (the scheduler's and `sync now`)

    async def configure(self, url: str, token: str | None = None) -> None:
        if url and not url.startswith(("http://", "https://")):
            raise ValueError("the head office URL must start with https:// (or http:// on a test bench)")
        fields: dict[str, Any] = {"url": url.rstrip("/"), "failures": 0, "next_attempt_at": None}
        if token is not None:
            fields["token"] = token
        await self.db.write(store.set_head_office, **fields)

    async def status(self) -> SyncStatus:
        def status_sync() -> SyncStatus:
            config = store.head_office()
            queue, oldest, last_sent = store.outbox_state()
            return SyncStatus(bool(config.url), config.url, queue, oldest, last_sent, config.last_success_at,
                              config.last_error, config.last_error_at, config.failures, config.next_attempt_at)

        return await self.db.read(status_sync)

    async def pull_tokens(self, users) -> "PullResult":
        """Take the user group's tokens from head office (see sync/tokens.py)."""
        config = await self.db.read(store.head_office)
        if not config.url:
            raise ValueError("no head office configured (appliance sync set --url URL --token TOKEN)")
        return await apply_tokens(users, await fetch_tokens(config.url, config.token, self.timeout_s))

    async def due(self) -> None:
        """The scheduler's job: drain if configured and the backoff allows."""
        config = await self.db.read(store.head_office)
        if config.url and (config.next_attempt_at is None or config.next_attempt_at <= _now()):
            await self.drain()

    async def drain(self) -> int:
        """Send everything unsent, batch by batch, until done or head office fails; returns how many
        were confirmed."""
        async with self._lock:
            config = await self.db.read(store.head_office)
            if not config.url:
                return 0
            confirmed = 0
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                while True:
                    batch = await self.db.read(store.unsent, self.batch)
                    if not batch:
                        break
                    try:
                        accepted = await self._post(http, config, batch)
                    except HeadOfficeError as e:
                        await self._failed(config, batch, str(e))
                        return confirmed
                    in_order = []
                    for record in batch:  # only a confirmed prefix: a gap would break the order
                        if record.cdr_id not in accepted:
                            break
                        in_order.append(record.id)
                    if in_order:
                        await self.db.write(_confirmed_sync, in_order, _now())
                        config = dataclasses.replace(config, failures=0)  # progress: the backoff starts over
                    confirmed += len(in_order)
                    if len(in_order) < len(batch):
                        await self._failed(config, batch[len(in_order):],
                                           f"head office did not confirm {batch[len(in_order)].cdr_id}")
                        return confirmed
            await self.db.write(store.set_head_office, failures=0, next_attempt_at=None, last_success_at=_now())
            return confirmed

    async def _post(self, http: aiohttp.ClientSession, config: store.HeadOfficeRecord,
                    batch: list[store.CdrRecord]) -> set[str]:
        answer = await request_json(http, "POST", f"{config.url}/cdrs", config.token, self.timeout_s, "CDRs",
                                    json={"cdrs": [r.document for r in batch]})
        accepted = answer.get("accepted") if isinstance(answer, dict) else None
        if not isinstance(accepted, list):
            raise HeadOfficeError("head office's answer names no accepted records")
        return {str(a) for a in accepted}

    async def _failed(self, config: store.HeadOfficeRecord, records: list[store.CdrRecord], error: str) -> None:
        failures = config.failures + 1
        delay_s = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** min(failures - 1, 20)) * random.uniform(0.5, 1.0)
        log.warning("sync with head office failed (%s); next attempt in %.0f s", error, delay_s)

        def failed_sync() -> None:
            store.mark_failed([r.id for r in records[:1]], error)
            store.set_head_office(failures=failures, last_error=error, last_error_at=_now(),
                                  next_attempt_at=_now() + dt.timedelta(seconds=delay_s))

        await self.db.write(failed_sync)


def _confirmed_sync(ids: list[int], now: dt.datetime) -> None:
    store.mark_sent(ids, now)
    store.set_head_office(failures=0, last_success_at=now)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
