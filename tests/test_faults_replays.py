"""The same transaction twice, the cases the transaction tests leave out: a stop whose answer was
lost on a dropped connection, 2.0.1 Updated and Ended events replayed after a reconnect, and what
becomes of a session when the charger's clock jumps in the middle of it.

Covered elsewhere: 1.6 start/meter values/stop replayed after a reconnect (test_ocpp16_transactions),
a replayed stop adds no CDR (test_billing_cdr), SOAP replays (test_soap_central_system), 2.0.1
Started replayed and an offline queue with a replay (test_ocpp20_transactions), replays after a
SIGKILL (test_durability).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import aiohttp
import pytest
from ocpp.v16 import call as call16

from tests.conftest import add_fleet, wait_for
from tests.faults import count
from tests.virtual_charger import connect16, ws_url
from tests.virtual_charger201 import connect201

UTC = dt.timezone.utc
T = dt.datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def wire(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def send_and_drop(url: str, identity: str, action: str, payload: dict) -> None:
    """Send one CALL and close the connection before any answer can be read (the network went)."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(url, identity), protocols=["ocpp1.6"]) as ws:
            await ws.send_str(json.dumps([2, "lost-1", action, payload]))


async def test_a_stop_whose_answer_was_lost_is_sent_again_and_counted_once(appliance):
    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=1000,
                                                    timestamp=wire(T)))).transaction_id
    stop = {"transactionId": tx, "meterStop": 4000, "timestamp": wire(T + dt.timedelta(minutes=40)),
            "idTag": "CARD1", "reason": "Local"}
    await send_and_drop(appliance.url, "CP1", "StopTransaction", stop)
    async with connect16(appliance.url, "CP1") as cp:  # back, it sends what it never got an answer for
        answer = await cp.call(call16.StopTransaction(meter_stop=4000, timestamp=stop["timestamp"],
                                                      transaction_id=tx, id_tag="CARD1", reason="Local"))
        assert answer.id_tag_info["status"] == "Accepted"
    session = await core.transactions.get(tx)
    assert (session.energy_wh, session.stopped_at) == (3000, T + dt.timedelta(minutes=40))
    await wait_for(lambda: core.billing.cdrs_of(tx))
    assert len(await core.billing.cdrs_of(tx)) == 1


async def test_201_updated_and_ended_events_replayed_after_a_reconnect_change_nothing(appliance):
    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("CS1", "ocpp2.0.1")

    async def events(station, seqs):
        script = {0: ("Started", "Authorized", 0, 10_000), 1: ("Updated", "MeterValuePeriodic", 15, 12_000),
                  2: ("Updated", "MeterValuePeriodic", 30, 14_000), 3: ("Ended", "EVDeparted", 40, 15_000)}
        for seq in seqs:
            kind, trigger, minute, wh = script[seq]
            await station.transaction_event(kind, "tx-DUP", seq, trigger, timestamp=wire(T + dt.timedelta(minutes=minute)),
                                            id_token="CARD1" if seq == 0 else None, energy_wh=wh,
                                            stopped_reason="EVDisconnected" if kind == "Ended" else None)

    async with connect201(appliance.url, "CS1") as station:
        await events(station, [0, 1, 2, 3])
    session = await core.transactions.find_remote("CS1", "tx-DUP")
    samples = await core.transactions.samples(session.id)
    await wait_for(lambda: core.billing.cdrs_of(session.id))
    async with connect201(appliance.url, "CS1") as station:  # reconnected; its queue went out again
        await events(station, [2, 3, 1, 3])
    again = await core.transactions.find_remote("CS1", "tx-DUP")
    assert again == session and (session.energy_wh, session.seq_gaps) == (5000, ())
    assert await core.transactions.samples(session.id) == samples and len(samples) == 4
    assert len(await core.billing.cdrs_of(session.id)) == 1
    assert await count(core.db, "SELECT count(*) FROM transaction_event WHERE transaction_id = ?", session.id) == 4


# -- time jumps inside a session -------------------------------------------------------------------
# A charger's clock is trusted only within limits (core/charger_time.py): times it gives are checked
# against when the appliance received them.

async def test_a_16_stop_stamped_before_its_start_never_makes_a_negative_duration(appliance):
    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=1000,
                                                    timestamp=wire(dt.datetime.now(UTC))))).transaction_id
        await cp.call(call16.StopTransaction(meter_stop=3000, timestamp="1970-01-01T00:30:00Z", transaction_id=tx))
    session = await core.transactions.get(tx)
    assert session.energy_wh == 2000  # from the registers, whatever the times
    assert session.stopped_at >= session.started_at


async def test_a_201_clock_jumping_back_mid_session_keeps_the_energy_of_the_registers(appliance):
    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("CS1", "ocpp2.0.1")
    back = T - dt.timedelta(days=2 * 365)  # the station's clock fell back two years after the start
    async with connect201(appliance.url, "CS1") as station:
        await station.transaction_event("Started", "tx-JUMP", 0, "Authorized", timestamp=wire(T), id_token="CARD1",
                                        energy_wh=1000)
        await station.transaction_event("Updated", "tx-JUMP", 1, "MeterValuePeriodic", timestamp=wire(back),
                                        energy_wh=1500)
        await station.transaction_event("Ended", "tx-JUMP", 2, "EVDeparted", energy_wh=2000,
                                        timestamp=wire(back + dt.timedelta(minutes=10)))
        await asyncio.sleep(0)
    session = await core.transactions.find_remote("CS1", "tx-JUMP")
    assert session.energy_wh == 1000
    assert session.stopped_at >= session.started_at


async def test_a_session_from_a_charger_stuck_in_1970_is_not_finished_as_stuck(appliance):
    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=0,
                                                    timestamp="1970-01-01T00:05:00Z"))).transaction_id
        await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": "1970-01-01T00:06:00Z", "sampledValue": [{"value": "100", "unit": "Wh",
                                                                  "measurand": "Energy.Active.Import.Register"}]}]))
        await core.transactions.finish_stuck(dt.timedelta(seconds=core.settings.stuck_transaction_after_s))
        assert (await core.transactions.get(tx)).active  # it is charging right now, whatever its clock says


async def test_a_session_replayed_from_yesterday_is_not_taken_for_a_stuck_one(appliance):
    """The stuck rule closes sessions silent for stuck_transaction_after_s (a day). A charger back
    after a long outage sends a session stamped two days ago: received just now, it is not silent."""
    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("LATE", "ocpp1.6-json")
    two_days_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
    async with connect16(appliance.url, "LATE") as cp:
        tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=0,
                                                    timestamp=wire(two_days_ago)))).transaction_id
        await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": wire(two_days_ago + dt.timedelta(minutes=30)),
            "sampledValue": [{"value": "5000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
        await asyncio.sleep(1.0)  # five supervision rounds (0.2 s in the tests)
        assert (await core.transactions.get(tx)).stopped_at is None
        await cp.call(call16.StopTransaction(meter_stop=9000, timestamp=wire(two_days_ago + dt.timedelta(hours=1)),
                                             transaction_id=tx, reason="Local"))
    session = await core.transactions.get(tx)
    assert session.stop_reason == "Local" and session.energy_wh == 9000
    assert len(await core.billing.cdrs_of(tx)) == 1
