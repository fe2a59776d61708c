"""OCPP 1.6 JSON end to end: boot and registration, authorization, transactions and replays."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from ocpp.v16 import call

from appliance.core import chargers as chargers_module
from tests.conftest import add_fleet, make_settings, wait_for
from tests.virtual_charger import connect16


async def test_known_charger_boots_accepted_and_its_details_are_stored(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1", boot=False) as cp:
        answer = await cp.boot()
        assert answer.status == "Accepted" and answer.interval == 300
    record = await appliance.core.chargers.get("CP1")
    assert (record.vendor, record.model, record.serial_number, record.firmware_version) == \
        ("Virtual", "VC-16", "SN-1", "1.0")


async def test_unknown_charger_is_recorded_and_pending_until_accepted(appliance):
    async with connect16(appliance.url, "NEW1", boot=False) as cp:
        assert (await cp.boot()).status == "Pending"
        assert (await appliance.core.chargers.get("NEW1")).registration == "pending"
        await appliance.core.chargers.set_registration("NEW1", "accepted")
        assert (await cp.boot()).status == "Accepted"


@pytest.mark.parametrize("policy, status", [("accept", "Accepted"), ("reject", "Rejected"), ("pending", "Pending")])
async def test_unknown_charger_policy(start_appliance, tmp_path, policy, status):
    app = await start_appliance(make_settings(tmp_path / "d", unknown_chargers=policy))
    async with connect16(app.url, "STRANGER", boot=False) as cp:
        assert (await cp.boot()).status == status


async def test_charger_with_password_needs_it(appliance):
    import aiohttp

    await appliance.core.chargers.add("SEC1", "ocpp1.6-json", password="s3cret-passw0rd")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with connect16(appliance.url, "SEC1", password="wrong"):
            pass
    assert refused.value.status == 401
    async with connect16(appliance.url, "SEC1", password="s3cret-passw0rd", boot=False) as cp:
        assert (await cp.boot()).status == "Accepted"


@pytest.mark.parametrize("tag, options, expected", [
    ("CARD1", {}, "Accepted"),
    ("card1", {}, "Accepted"),  # ids are compared in one normalised form
    ("BLOCKED", {"status": "blocked"}, "Blocked"),
    ("OLD", {"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)}, "Expired"),
    ("NOBODY", None, "Invalid"),
])
async def test_authorize(appliance, tag, options, expected):
    await add_fleet(appliance.core)
    if options is not None and tag.upper() != "CARD1":
        status = options.pop("status", None)
        await appliance.core.users.add_tag(tag, "alice", **options)
        if status:
            await appliance.core.users.set_tag_status(tag, status)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        answer = await cp.call(call.Authorize(id_tag=tag))
    assert answer.id_tag_info["status"] == expected


async def test_authorize_returns_parent_and_expiry(appliance):
    expires = dt.datetime(2031, 5, 1, tzinfo=dt.timezone.utc)
    await add_fleet(appliance.core, {"CARD1": {"parent_id_tag": "FLEET-A", "expires_at": expires}})
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        info = (await cp.call(call.Authorize(id_tag="CARD1"))).id_tag_info
    assert info["parent_id_tag"] == "FLEET-A"
    assert info["expiry_date"].startswith("2031-05-01T00:00:00")


async def test_a_tag_in_a_running_transaction_is_concurrent(appliance):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        started = await cp.start_transaction("CARD1")
        assert started.id_tag_info["status"] == "Accepted"
        assert (await cp.call(call.Authorize(id_tag="CARD1"))).id_tag_info["status"] == "ConcurrentTx"
        second = await cp.start_transaction("CARD1", connector_id=2)
        assert second.id_tag_info["status"] == "ConcurrentTx"
        stopped = await cp.stop_transaction(started.transaction_id, 1000, id_tag="CARD1")
        assert stopped.id_tag_info["status"] == "Accepted"


async def test_full_transaction_records_meter_values_and_energy(appliance):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        started = await cp.start_transaction("CARD1", meter_start=10_000)
        tx = started.transaction_id
        # Distinct times: two readings in the same millisecond would be one reading replayed.
        for minute, energy in enumerate((11_000, 12_500, 14_000), start=1):
            await cp.meter_values(tx, energy, timestamp=f"2030-01-01T10:0{minute}:00.000Z")
        await cp.stop_transaction(tx, 15_250, id_tag="CARD1", reason="EVDisconnected")
    record = await appliance.core.transactions.get(tx)
    assert (record.meter_start_wh, record.meter_stop_wh, record.energy_wh) == (10_000, 15_250, 5_250)
    assert record.stop_reason == "EVDisconnected"
    assert record.last_meter_wh == 14_000
    samples = await appliance.core.transactions.samples(tx)
    assert len(samples) == 9
    assert {s.measurand for s in samples} == {"Energy.Active.Import.Register", "Power.Active.Import",
                                             "Current.Import"}


async def test_meter_values_in_kwh_are_stored_as_wh(appliance):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        tx = (await cp.start_transaction("CARD1", meter_start=0)).transaction_id
        await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": "2026-11-21T10:00:00Z",
            "sampled_value": [{"value": "12.345", "unit": "kWh", "measurand": "Energy.Active.Import.Register"}]}]))
    assert (await appliance.core.transactions.get(tx)).last_meter_wh == 12_345


async def test_replayed_start_stop_and_meter_values_are_not_counted_twice(appliance):
    # A parent and an expiry, so that a replay's answer must carry them like the first one did.
    await add_fleet(appliance.core, {"CARD1": {"parent_id_tag": "FLEET-A",
                                               "expires_at": dt.datetime(2031, 1, 1, tzinfo=dt.timezone.utc)}})
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    t0 = "2026-11-21T08:00:00.000Z"
    async with connect16(appliance.url, "CP1") as cp:
        first = await cp.start_transaction("CARD1", meter_start=500, timestamp=t0)
        await cp.meter_values(first.transaction_id, 900, timestamp="2026-11-21T08:05:00.000Z")
        stop1 = await cp.stop_transaction(first.transaction_id, 1500, "CARD1", timestamp="2026-11-21T08:30:00Z")
    async with connect16(appliance.url, "CP1") as cp:  # the charger reconnects and replays its queue
        again = await cp.start_transaction("CARD1", meter_start=500, timestamp=t0)
        await cp.meter_values(first.transaction_id, 900, timestamp="2026-11-21T08:05:00.000Z")
        stop2 = await cp.stop_transaction(first.transaction_id, 1500, "CARD1", timestamp="2026-11-21T08:30:00Z")
    assert again.transaction_id == first.transaction_id
    assert again.id_tag_info == first.id_tag_info and first.id_tag_info["parent_id_tag"] == "FLEET-A"
    assert stop2.id_tag_info == stop1.id_tag_info
    sessions = await appliance.core.transactions.list()
    assert len(sessions) == 1 and sessions[0].energy_wh == 1000
    assert len(await appliance.core.transactions.samples(first.transaction_id)) == 3


async def test_invalid_tag_still_records_the_transaction(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        started = await cp.start_transaction("STRANGER")
    assert started.id_tag_info["status"] == "Invalid"
    record = await appliance.core.transactions.get(started.transaction_id)
    assert record.auth_status == "Invalid"


async def test_status_notifications_update_connector_and_history(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        for status in ("Available", "Preparing", "Charging"):
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status=status))
        await cp.call(call.StatusNotification(connector_id=2, error_code="GroundFailure", status="Faulted",
                                              vendor_error_code="E42"))
    connectors = {c.connector_number: c for c in await appliance.core.chargers.connectors("CP1")}
    assert connectors[1].status == "Charging"
    assert (connectors[2].status, connectors[2].error_code, connectors[2].vendor_error_code) == \
        ("Faulted", "GroundFailure", "E42")
    assert len(await appliance.core.chargers.status_history("CP1")) == 4


async def test_firmware_diagnostics_heartbeat_and_data_transfer(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        assert (await cp.call(call.Heartbeat())).current_time.endswith("Z")
        await cp.call(call.FirmwareStatusNotification(status="Downloading"))
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
        answer = await cp.call(call.DataTransfer(vendor_id="com.example", message_id="hello", data="x"))
    assert answer.status == "UnknownVendorId"
    record = await appliance.core.chargers.get("CP1")
    assert (record.firmware_status, record.diagnostics_status) == ("Downloading", "Uploaded")


async def test_every_message_is_in_the_communication_log(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        await cp.call(call.Heartbeat())
    entries = await wait_for(lambda: _commlog_at_least(appliance, 4))
    directions = [e.direction for e in reversed(entries)]
    assert directions == ["in", "out", "in", "out"]
    assert "BootNotification" in entries[-1].message


async def _commlog_at_least(appliance, n):
    entries = await appliance.core.commlog.recent("CP1")
    return entries if len(entries) >= n else None


async def test_connection_state_goes_temporarily_then_long_term_unavailable(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", temporarily_unavailable_after_s=0.3,
                                              unavailable_after_s=0.8, heartbeat_interval_s=1))
    await app.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(app.url, "CP1"):
        assert app.core.chargers.live["CP1"].state == "online"
        await wait_for(lambda: app.core.chargers.live["CP1"].state == "temporarily_unavailable")
        await wait_for(lambda: app.core.chargers.live["CP1"].state == "unavailable")
    await wait_for(lambda: _stored_state(app, "unavailable"))


async def test_contact_times_are_stored_once_a_minute_and_state_changes_at_once(appliance, monkeypatch):
    chargers = appliance.core.chargers
    await chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        await chargers.flush_contacts()
        first = await chargers.get("CP1")
        assert first.connection_state == "online" and first.last_contact_at is not None
        await asyncio.sleep(0.01)
        await cp.call(call.Heartbeat())
        await chargers.flush_contacts()  # heard from again within the minute: the server's memory has it
        assert (await chargers.get("CP1")).last_contact_at == first.last_contact_at
        monkeypatch.setattr(chargers_module, "CONTACT_STORED_EVERY_S", 0.0)
        await chargers.flush_contacts()
        assert (await chargers.get("CP1")).last_contact_at > first.last_contact_at


async def test_an_idle_charger_is_not_flagged_within_its_heartbeat_interval(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", temporarily_unavailable_after_s=0.2,
                                              unavailable_after_s=0.4, heartbeat_interval_s=2))
    await app.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(app.url, "CP1") as cp:
        await asyncio.sleep(1.0)  # silent, but its next heartbeat is not due yet
        assert app.core.chargers.live["CP1"].state == "online"
        await wait_for(lambda: app.core.chargers.live["CP1"].state == "temporarily_unavailable", timeout=5)
        await cp.call(call.Heartbeat())
        assert app.core.chargers.live["CP1"].state == "online"


async def _stored_state(app, state):
    return (await app.core.chargers.get("CP1")).connection_state == state


async def test_stuck_transaction_is_finished_at_its_last_meter(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", stuck_transaction_after_s=1))
    await add_fleet(app.core)
    await app.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(app.url, "CP1") as cp:
        tx = (await cp.start_transaction("CARD1", meter_start=100)).transaction_id
        await cp.meter_values(tx, 700)
        record = await wait_for(lambda: _stopped(app, tx), timeout=10)
    assert (record.stop_reason, record.meter_stop_wh, record.energy_wh) == ("Stuck", 700, 600)


async def _stopped(app, tx):
    record = await app.core.transactions.get(tx)
    return record if record.stopped_at else None


async def test_accepting_a_connected_pending_charger_asks_it_to_boot_again(appliance):
    async with connect16(appliance.url, "NEW2", boot=False) as cp:
        assert (await cp.boot()).status == "Pending"
        await appliance.core.chargers.set_registration("NEW2", "accepted")
        await wait_for(lambda: any(a == "TriggerMessage" for a, _ in cp.received))
        assert cp.last("TriggerMessage")["requested_message"] == "BootNotification"
        assert (await cp.boot()).status == "Accepted"
