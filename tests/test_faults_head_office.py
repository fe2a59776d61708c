"""Head office flapping: up, down, slow, answering 500, hanging up, confirming half. Driven the way
the server drives it (the scheduler's `due()`, which honours the backoff), every charge detail
record reaches head office once and in order, and the status says how many attempts failed in a row
and when the next one is.

Head office's side of the protocol (sync/head_office.py): it stores CDRs by id and names in
`accepted` every id it has, also ones it had already, so a batch sent again after an answer was lost
is stored once. The appliance marks a record sent only when named.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from aiohttp import web

from appliance.core import health
from appliance.sync import head_office as sync_module
from appliance.web.keys import SYNC
from tests.test_sync import HeadOffice, finished_sessions, serve_head_office


class FlappingHeadOffice(HeadOffice):
    """Adds what a flaky network does: `stored-then-slow` keeps the batch but answers after the
    appliance gave up; `hang-up` closes the connection without an answer; `stored-then-hang-up` keeps
    the batch, then closes."""

    async def cdrs(self, request: web.Request) -> web.StreamResponse:
        mode = self.script[0] if self.script else "ok"
        if mode in ("stored-then-slow", "stored-then-hang-up", "hang-up"):
            self.script.pop(0)
            self.requests += 1
            batch = (await request.json())["cdrs"]
            if mode != "hang-up":
                for cdr in batch:
                    text = json.dumps(cdr, sort_keys=True)
                    assert self.stored.setdefault(cdr["id"], text) == text, "two different records under one id"
                    if cdr["id"] not in self.order:
                        self.order.append(cdr["id"])
            if mode == "stored-then-slow":
                await asyncio.sleep(1.0)
                return web.json_response({"accepted": [cdr["id"] for cdr in batch]})
            request.transport.close()
            return web.Response(status=500)  # never reaches the appliance: the connection is gone
        return await super().cdrs(request)


async def test_every_cdr_reaches_a_flapping_head_office_once_and_the_status_tells_the_retries(
        appliance, unused_tcp_port, monkeypatch):
    head = FlappingHeadOffice()
    runner = await serve_head_office(head, unused_tcp_port)
    written = await finished_sessions(appliance, 10)
    sync = appliance.server.app[SYNC]
    sync.timeout_s, sync.batch = 0.3, 2
    await sync.configure(f"http://127.0.0.1:{unused_tcp_port}", "depot-secret")
    try:
        # A failure with the real first backoff: the scheduler's next rounds send nothing until it is due.
        head.script = ["500"]
        await sync.due()
        status = await sync.status()
        assert status.failures == 1 and status.next_attempt_at > dt.datetime.now(dt.timezone.utc)
        for _ in range(3):
            await sync.due()
        assert head.requests == 1
        report = await health.check(appliance.core.db)
        assert report.status == "ok" and "head office: 1 failed attempts in a row" in report.warnings[0]

        # Then it flaps; a short backoff so the test need not wait for the real one.
        monkeypatch.setattr(sync_module, "BACKOFF_FIRST_S", 0.02)
        await sync.configure(f"http://127.0.0.1:{unused_tcp_port}")  # a new URL setting starts the backoff over
        head.script = ["500", "hang-up", "stored-then-slow", "ok", "stored-then-hang-up", "500", "partial",
                       "garbage", "500", "hang-up", "ok", "slow", "stored-then-slow"]
        failures_in_a_row, delays = [], []
        for _ in range(200):
            before = head.requests
            await sync.due()
            status = await sync.status()
            if status.queue_length == 0:
                break
            if head.requests > before and status.failures:
                failures_in_a_row.append(status.failures)
                delays.append((status.next_attempt_at - status.last_error_at).total_seconds())
            await asyncio.sleep(0.02)
        status = await sync.status()
        assert (status.queue_length, status.failures, status.next_attempt_at) == (0, 0, None)
        assert head.order == written  # every record once, in the order written, whatever was resent
        # Failures in a row are counted 1, 2, 3... (progress starts the count over) and each one in a row
        # waits at least as long as the one before (exponential backoff, jitter between half and whole).
        assert all(f == 1 or f == before + 1 for before, f in zip([0] + failures_in_a_row, failures_in_a_row))
        assert max(failures_in_a_row) >= 3
        tries = list(zip(failures_in_a_row, delays))
        assert all(d2 >= d1 * 0.999 for (f1, d1), (f2, d2) in zip(tries, tries[1:]) if f2 == f1 + 1)
        assert (await health.check(appliance.core.db)).warnings == ()
    finally:
        await runner.cleanup()
