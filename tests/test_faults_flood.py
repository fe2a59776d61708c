"""A charger that floods the box: it gets every answer, and another charger's meter values are
answered and stored meanwhile. How fast is for bench/; here only that nobody is starved.

The pace a connection is read at (core/message_pace.py): a token bucket that slows reading rather
than refusing, and a turn for every other connection between two messages of a busy one."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import aiohttp
import pytest

from appliance.core.message_pace import MessagePace, TokenBucket
from tests.conftest import add_fleet, make_settings
from tests.faults import meter_values16
from tests.virtual_charger import connect16, ws_url

UTC = dt.timezone.utc
FLOOD = 3000


async def flood(url: str, identity: str) -> list[dict]:
    """BootNotification, then FLOOD Heartbeats and DataTransfers written back to back without waiting for
    answers (a charger stuck in a loop); returns the answers, once all have come."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(url, identity), protocols=["ocpp1.6"]) as ws:
            await ws.send_str(json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "V",
                                                                           "chargePointModel": "Flood"}]))
            assert json.loads((await ws.receive()).data)[2]["status"] == "Accepted"
            for i in range(FLOOD):
                action, payload = (("Heartbeat", {}) if i % 2 else
                                   ("DataTransfer", {"vendorId": "flood", "data": "x" * 200}))
                await ws.send_str(json.dumps([2, str(i), action, payload]))
            return [json.loads((await ws.receive()).data) for _ in range(FLOOD)]


async def test_a_flooding_charger_gets_its_answers_and_does_not_starve_another(start_appliance, tmp_path, caplog):
    # A pace the flood goes past in a test's time: 2,800 messages past the burst at 1,000/s.
    appliance = await start_appliance(make_settings(tmp_path / "d", charger_messages_per_s=1000,
                                                    charger_message_burst=200))
    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("FLOOD", "ocpp1.6-json")
    await core.chargers.add("CP2", "ocpp1.6-json")
    async with connect16(appliance.url, "CP2") as cp:
        from ocpp.v16 import call as call16

        tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=0,
                                                    timestamp=dt.datetime.now(UTC).isoformat()))).transaction_id
        flooding = asyncio.ensure_future(flood(appliance.url, "FLOOD"))
        start = dt.datetime.now(UTC)
        for i in range(30):
            assert await cp.call(meter_values16(tx, i, start + dt.timedelta(seconds=i))) is not None
        answers = await flooding
    assert [a[1] for a in answers] == [str(i) for i in range(FLOOD)]  # every one, in order, none an error
    assert {a[0] for a in answers} == {3}
    samples = await core.transactions.samples(tx)
    assert sorted(int(s.value) for s in samples) == list(range(30))
    slowed = "FLOOD sends more than 1000 messages/s (after a burst of 200): its messages are read more slowly"
    assert [r.getMessage() for r in caplog.records].count(slowed) == 1


@pytest.mark.parametrize("rate, burst, gaps, expected", [
    (10.0, 3, [0, 0, 0], [0.0, 0.0, 0.0]),  # a burst is taken at once
    (10.0, 3, [0, 0, 0, 0], [0.0, 0.0, 0.0, 0.1]),  # past it, one message per 1/rate
    (10.0, 3, [0, 0, 0, 0, 0], [0.0, 0.0, 0.0, 0.1, 0.2]),  # the waits add up while it keeps on
    (10.0, 3, [0, 0, 0, 1.0], [0.0, 0.0, 0.0, 0.0]),  # a pause refills the bucket
    (10.0, 3, [0, 0, 0, 0.05], [0.0, 0.0, 0.0, 0.05]),  # half a token back after half a period
])
def test_token_bucket(rate, burst, gaps, expected):
    bucket, now, waits = TokenBucket(rate, burst), 100.0, []
    for gap in gaps:
        now += gap
        waits.append(round(bucket.take(now), 6))
    assert waits == expected


async def test_busy_connections_take_turns_message_by_message():
    """Frames already buffered are read without suspending; the pace yields so two busy connections
    interleave instead of one running through its whole buffer first."""
    order: list[str] = []

    async def connection(name: str) -> None:
        pace = MessagePace(name, rate_per_s=1e9, burst=1e9)
        for _ in range(5):
            await pace.wait()
            order.append(name)

    await asyncio.gather(connection("a"), connection("b"))
    assert order == ["a", "b"] * 5


async def test_a_flood_is_slowed_and_said_once(caplog):
    pace = MessagePace("FLOOD", rate_per_s=200.0, burst=5)
    for _ in range(25):
        await pace.wait()
    assert pace.slowed and pace.delayed_s > 0
    assert [r.getMessage() for r in caplog.records].count(
        "FLOOD sends more than 200 messages/s (after a burst of 5): its messages are read more slowly") == 1
