"""Charge detail records to a real head-office server on loopback that fails in every way, then
recovers: each record arrives, in order, and is marked sent only when head office confirmed it."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from ocpp.v16 import call as call16

from appliance.web.keys import SYNC
from tests.conftest import add_fleet
from tests.virtual_charger import connect16


class HeadOffice:
    """Stores CDRs by id; `script` says how to treat the next requests (then it behaves)."""

    def __init__(self) -> None:
        self.stored: dict[str, str] = {}  # id -> the record as first received
        self.order: list[str] = []
        self.requests = 0
        self.tokens: list[str] = []
        self.script: list[str] = []

    async def cdrs(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.tokens.append(request.headers.get("Authorization", ""))
        mode = self.script.pop(0) if self.script else "ok"
        batch = (await request.json())["cdrs"]
        if mode == "slow":
            await asyncio.sleep(1.0)  # longer than the appliance waits: it stores, the answer is lost
        if mode == "500":
            return web.Response(status=500, text="database down")
        if mode == "garbage":
            return web.Response(text="<html>maintenance</html>")
        accepted = []
        for cdr in batch[:1] if mode == "partial" else batch:
            text = json.dumps(cdr, sort_keys=True)
            assert self.stored.setdefault(cdr["id"], text) == text, "two different records under one id"
            if cdr["id"] not in self.order:
                self.order.append(cdr["id"])
            accepted.append(cdr["id"])
        return web.json_response({"accepted": accepted})


async def finished_sessions(appliance, count: int) -> list[str]:
    core = appliance.core
    await add_fleet(core, {f"C{i}": {} for i in range(count)})
    await core.chargers.add("SYNC1", "ocpp1.6-json")
    async with connect16(appliance.url, "SYNC1") as cp:
        for i in range(count):
            tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag=f"C{i}", meter_start=0,
                                                        timestamp=f"2026-11-20T1{i % 10}:00:00Z"))).transaction_id
            await cp.call(call16.StopTransaction(meter_stop=1000 + i, timestamp=f"2026-11-20T1{i % 10}:30:00Z",
                                                 transaction_id=tx))
    return [c.cdr_id for c in reversed(await core.billing.cdrs(1000))]


async def serve_head_office(head: HeadOffice, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/cdrs", head.cdrs)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    return runner


async def test_every_cdr_arrives_once_and_in_order_whatever_head_office_does(appliance, unused_tcp_port):
    head = HeadOffice()
    runner = await serve_head_office(head, unused_tcp_port)
    written = await finished_sessions(appliance, 7)
    sync = appliance.server.app[SYNC]  # the server's own, so its scheduled runs share the lock
    sync.timeout_s, sync.batch = 0.3, 3
    await sync.configure(f"http://127.0.0.1:{unused_tcp_port}", "depot-secret")

    head.script = ["500", "garbage", "slow", "partial", "500"]
    for _ in range(5):
        await sync.drain()
        status = await sync.status()
        assert status.last_error and status.failures >= 1 and status.next_attempt_at is not None
    # Head office vanishes for a while.
    await runner.cleanup()
    await sync.drain()
    assert "cannot reach head office" in (await sync.status()).last_error
    assert (await sync.status()).queue_length > 0
    runner = await serve_head_office(head, unused_tcp_port)
    try:
        assert await sync.drain() > 0
        status = await sync.status()
        assert (status.queue_length, status.failures, status.last_success_at is not None) == (0, 0, True)
        assert head.order == written  # every record, once, in the order they were written
        assert set(head.tokens) == {"Token depot-secret"}
        # Nothing left: another round sends nothing.
        before = head.requests
        assert await sync.drain() == 0 and head.requests == before
    finally:
        await runner.cleanup()


async def test_sync_status_and_configuration_through_the_api(appliance):
    status, body = await appliance.api("GET", "/api/v1/sync")
    assert status == 200 and body["configured"] is False and body["queue_length"] == 0
    status, body = await appliance.api("PUT", "/api/v1/sync", {"url": "ftp://nowhere"})
    assert status == 400 and "https://" in body["error"]
    status, body = await appliance.api("PUT", "/api/v1/sync", {"url": "http://127.0.0.1:9", "token": "t"})
    assert status == 200 and body["configured"] is True and "token" not in json.dumps(body)


async def test_tokens_from_head_office_join_the_user_group_and_a_card_staff_blocked_stays_blocked(appliance,
                                                                                                  unused_tcp_port):
    tokens = [{"uid": "HO-1", "type": "RFID", "valid": True, "group_id": "Night Taxi", "whitelist": "ALLOWED"},
              {"uid": "HO-2", "type": "RFID", "valid": False, "issuer": "Day Cabs", "whitelist": "ALWAYS"},
              {"uid": "LOCAL-1", "type": "RFID", "valid": True, "group_id": "Night Taxi"},
              {"type": "RFID", "valid": True}]

    async def serve(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Token t0k"
        return web.json_response({"data": tokens, "status_code": 1000})

    app = web.Application()
    app.router.add_get("/tokens", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    core = appliance.core
    await add_fleet(core, {"LOCAL-1": {}})
    await core.users.set_tag_status("LOCAL-1", "blocked")  # staff blocked it
    try:
        await appliance.api("PUT", "/api/v1/sync", {"url": f"http://127.0.0.1:{unused_tcp_port}", "token": "t0k"})
        status, result = await appliance.api("POST", "/api/v1/sync/pull-tokens")
        assert status == 200 and (result["added"], result["blocked"]) == (2, 1)
        assert len(result["skipped"]) == 1 and "no uid" in result["skipped"][0]
        assert (await core.users.tag("HO-1")).company == "Night Taxi"
        assert (await core.users.tag("HO-2")).status == "blocked"
        assert (await core.users.tag("LOCAL-1")).status == "blocked"  # head office does not unblock it
        # Head office validates HO-2 again: the block it made goes.
        tokens[1]["valid"] = True
        status, result = await appliance.api("POST", "/api/v1/sync/pull-tokens")
        assert result["unblocked"] == 1 and (await core.users.tag("HO-2")).status == "active"
    finally:
        await runner.cleanup()
