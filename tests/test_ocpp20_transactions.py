"""OCPP 2.0.1 JSON end to end, inbound: boot and device model, status, authorization, transactions
(live and replayed from an offline queue, in any order), and the reports a station sends."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.conftest import add_fleet, make_settings, run_cli, wait_for
from tests.virtual_charger201 import connect201

UTC = dt.timezone.utc


def at(minute: int) -> str:
    return (dt.datetime(2026, 11, 20, 22, 0, tzinfo=UTC) + dt.timedelta(minutes=minute)).isoformat().replace(
        "+00:00", "Z")


def when(minute: int) -> dt.datetime:
    return dt.datetime(2026, 11, 20, 22, 0, tzinfo=UTC) + dt.timedelta(minutes=minute)


@pytest.fixture
async def cs(appliance):
    """A connected, booted virtual 2.0.1 station CS1 at a depot with driver alice and her CARD1."""
    await add_fleet(appliance.core, {"CARD1": {}, "LOST": {}})
    await appliance.core.users.set_tag_status("LOST", "blocked")
    await appliance.core.chargers.add("CS1", "ocpp2.0.1")
    async with connect201(appliance.url, "CS1") as station:
        yield station


async def session_of(appliance, remote_tx_id: str):
    return await appliance.core.transactions.find_remote("CS1", remote_tx_id)


# -- provisioning -----------------------------------------------------------------------------

async def test_boot_with_reason_stores_the_station_and_learns_its_device_model(appliance):
    await appliance.core.chargers.add("CS1", "ocpp2.0.1")
    async with connect201(appliance.url, "CS1", boot=False) as station:
        answer = await station.boot(reason="FirmwareUpdate")
        assert (answer.status, answer.interval) == ("Accepted", 300)
        record = await appliance.core.chargers.get("CS1")
        assert (record.protocol, record.vendor, record.model, record.serial_number, record.firmware_version) == \
            ("ocpp2.0.1", "Virtual", "VC-201", "SN-201", "2.0")
        # After the boot the appliance asks for the full inventory and keeps what the station reports.
        wanted = {("TxStartPoint", "PowerPathClosed"), ("EVConnectionTimeOut", "120")}

        async def tx_ctrlr_reported():  # TxCtrlr's variables may come in two parts of the report
            return {(v.variable, v.value) for v in await _variables(appliance, "TxCtrlr")} >= wanted

        await wait_for(tx_ctrlr_reported)
        assert station.last("GetBaseReport")["report_base"] == "FullInventory"
        for component in ("LocalAuthListCtrlr", "SmartChargingCtrlr", "AuthCtrlr"):  # parts may still be arriving
            await wait_for(lambda: _variables(appliance, component))
        connectors = await wait_for(lambda: _connectors_with_type(appliance))
        assert [(c.connector_number, c.evse_connector_id, c.connector_type, c.current_type) for c in connectors] == \
            [(1, 1, "cType2", "AC"), (2, 1, "cCCS2", "DC")]


async def _variables(appliance, component):
    return await appliance.core.device_model.variables("CS1", (component,))


async def _connectors_with_type(appliance):
    connectors = [c for c in await appliance.core.chargers.connectors("CS1") if c.connector_type]
    return connectors if len(connectors) == 2 else None


async def test_the_evses_power_and_phases_come_from_the_device_model(appliance):
    from appliance.store.models import Evse

    await appliance.core.chargers.add("CS1", "ocpp2.0.1")
    async with connect201(appliance.url, "CS1"):
        await wait_for(lambda: _connectors_with_type(appliance))
    evses = await appliance.core.db.read(lambda: [(e.evse_number, e.max_power_w, e.supply_phases)
                                                  for e in Evse.select().order_by(Evse.evse_number)])
    assert evses == [(1, 22000, 3), (2, 50000, 0)]


async def test_unknown_station_is_pending_until_accepted_then_asked_to_boot_again(appliance):
    async with connect201(appliance.url, "NEW201", boot=False) as station:
        assert (await station.boot()).status == "Pending"
        assert (await appliance.core.chargers.get("NEW201")).protocol == "ocpp2.0.1"
        await appliance.core.chargers.set_registration("NEW201", "accepted")
        await wait_for(lambda: any(a == "TriggerMessage" for a, _ in station.received))
        assert station.last("TriggerMessage")["requested_message"] == "BootNotification"
        assert (await station.boot()).status == "Accepted"


@pytest.mark.parametrize("policy, status", [("accept", "Accepted"), ("reject", "Rejected")])
async def test_unknown_station_policy(start_appliance, tmp_path, policy, status):
    app = await start_appliance(make_settings(tmp_path / "d", unknown_chargers=policy))
    async with connect201(app.url, "STRANGER", boot=False) as station:
        assert (await station.boot()).status == status


async def test_status_per_connector_of_each_evse(cs, appliance):
    await cs.status(1, 1, "Occupied")
    await cs.status(2, 1, "Faulted")
    await cs.status(2, 2, "Available")
    connectors = {(c.connector_number, c.evse_connector_id): c.status
                  for c in await appliance.core.chargers.connectors("CS1")}
    assert connectors[(1, 1)] == "Occupied" and connectors[(2, 1)] == "Faulted" and connectors[(2, 2)] == "Available"
    history = await appliance.core.chargers.status_history("CS1")
    assert {(h.connector_number, h.evse_connector_id, h.status) for h in history} >= {(2, 2, "Available")}


# -- authorization ----------------------------------------------------------------------------

@pytest.mark.parametrize("tag, status", [("CARD1", "Accepted"), ("card1 ", "Accepted"), ("LOST", "Blocked"),
                                         ("NOBODY", "Invalid")])
async def test_authorize(cs, tag, status):
    assert (await cs.authorize(tag)).id_token_info["status"] == status


async def test_no_authorization_token_needs_no_check(cs):
    assert (await cs.authorize("", type="NoAuthorization")).id_token_info["status"] == "Accepted"


# -- transactions -----------------------------------------------------------------------------

async def test_a_full_transaction_with_updates(cs, appliance):
    started = await cs.transaction_event("Started", "tx-A", 0, "Authorized", timestamp=at(0), id_token="CARD1",
                                         energy_wh=1000, charging_state="EVConnected")
    assert started.id_token_info["status"] == "Accepted"
    update = await cs.transaction_event("Updated", "tx-A", 1, "ChargingStateChanged", timestamp=at(1),
                                        charging_state="Charging")
    assert update.id_token_info is None  # no idToken sent, none answered
    await cs.transaction_event("Updated", "tx-A", 2, "MeterValuePeriodic", timestamp=at(15), energy_wh=4000)
    live = await session_of(appliance, "tx-A")
    assert (live.active, live.charging_state, live.last_meter_wh, live.id_tag) == (True, "Charging", 4000, "CARD1")
    await cs.transaction_event("Ended", "tx-A", 3, "EVDeparted", timestamp=at(30), energy_wh=8500,
                               stopped_reason="EVDisconnected", charging_state="Idle")
    done = await session_of(appliance, "tx-A")
    assert (done.started_at, done.stopped_at, done.meter_start_wh, done.meter_stop_wh, done.energy_wh) == \
        (when(0), when(30), 1000, 8500, 7500)
    assert (done.stop_reason, done.auth_status, done.connector_number, done.evse_number) == \
        ("EVDisconnected", "Accepted", 1, 1)
    assert (done.seq_gaps, done.started_event_missing, done.offline) == ((), False, False)


async def test_a_transaction_started_with_the_cable_is_identified_later(cs, appliance):
    await cs.transaction_event("Started", "tx-B", 0, "CablePluggedIn", timestamp=at(0), energy_wh=0)
    assert (await session_of(appliance, "tx-B")).id_tag == ""
    answer = await cs.transaction_event("Updated", "tx-B", 1, "Authorized", timestamp=at(1), id_token="CARD1")
    assert answer.id_token_info["status"] == "Accepted"
    tx = await session_of(appliance, "tx-B")
    assert (tx.id_tag, tx.auth_status, tx.driver_id is not None) == ("CARD1", "Accepted", True)


async def test_a_blocked_card_gets_its_status_and_the_session_is_still_recorded(cs, appliance):
    answer = await cs.transaction_event("Started", "tx-C", 0, "Authorized", timestamp=at(0), id_token="LOST",
                                        energy_wh=10)
    assert answer.id_token_info["status"] == "Blocked"
    assert (await session_of(appliance, "tx-C")).auth_status == "Blocked"


async def test_another_card_ending_the_session_is_recorded_as_who_stopped_it(cs, appliance):
    await appliance.core.users.add_tag("CARD2", "alice")
    await cs.transaction_event("Started", "tx-D", 0, "Authorized", timestamp=at(0), id_token="CARD1", energy_wh=0)
    answer = await cs.transaction_event("Ended", "tx-D", 1, "StopAuthorized", timestamp=at(5), id_token="CARD2",
                                        energy_wh=900, stopped_reason="Local")
    assert answer.id_token_info["status"] == "Accepted"
    tx = await session_of(appliance, "tx-D")
    assert (tx.id_tag, tx.stop_id_tag, tx.stop_auth_status, tx.energy_wh) == ("CARD1", "CARD2", "Accepted", 900)


async def test_offline_events_out_of_order_with_a_gap_and_a_replay(cs, appliance):
    """The station charged while the box was away; its queue arrives late, shuffled, one event lost,
    and after a reconnect part of it once more."""
    events = {
        0: ("Started", "Authorized", 0, dict(id_token="CARD1", energy_wh=20000)),
        1: ("Updated", "MeterValuePeriodic", 10, dict(energy_wh=21000)),
        # 2 never arrives
        3: ("Updated", "MeterValuePeriodic", 30, dict(energy_wh=23000)),
        4: ("Ended", "EVDeparted", 45, dict(energy_wh=24500, stopped_reason="EVDisconnected")),
    }

    async def send(seq):
        kind, trigger, minute, extra = events[seq]
        return await cs.transaction_event(kind, "tx-OFF", seq, trigger, timestamp=at(minute), offline=True, **extra)

    for seq in (3, 0, 4, 1):
        await send(seq)
    tx = await session_of(appliance, "tx-OFF")
    assert (tx.started_at, tx.stopped_at, tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == \
        (when(0), when(45), 20000, 24500, 4500)
    assert (tx.seq_gaps, tx.offline, tx.stop_reason, tx.id_tag) == ((2,), True, "EVDisconnected", "CARD1")
    samples_before = await appliance.core.transactions.samples(tx.id)
    replayed = await send(0)
    assert replayed.id_token_info["status"] == "Accepted"  # the answer it got the first time
    await send(3)
    again = await session_of(appliance, "tx-OFF")
    assert again == tx
    assert await appliance.core.transactions.samples(tx.id) == samples_before
    assert len(samples_before) == 4
    listed = await appliance.core.transactions.list("CS1")
    assert [(t.remote_tx_id, t.seq_gaps) for t in listed] == [("tx-OFF", (2,))]


async def test_an_ended_event_before_its_started_event(cs, appliance):
    await cs.transaction_event("Ended", "tx-REV", 1, "EVDeparted", timestamp=at(40), energy_wh=5000, offline=True,
                               stopped_reason="EVDisconnected")
    tx = await session_of(appliance, "tx-REV")
    assert tx.started_event_missing and not tx.active
    await cs.transaction_event("Started", "tx-REV", 0, "Authorized", timestamp=at(0), id_token="CARD1",
                               energy_wh=3000, offline=True)
    tx = await session_of(appliance, "tx-REV")
    assert (tx.started_at, tx.stopped_at, tx.energy_wh, tx.id_tag, tx.started_event_missing, tx.seq_gaps) == \
        (when(0), when(40), 2000, "CARD1", False, ())


async def test_a_started_event_replayed_does_not_open_a_second_session(cs, appliance):
    for _ in range(3):
        await cs.transaction_event("Started", "tx-R", 0, "Authorized", timestamp=at(0), id_token="CARD1",
                                   energy_wh=100)
    assert len(await appliance.core.transactions.list("CS1")) == 1


async def test_session_events_reach_the_bus(cs, appliance):
    from appliance.core import events as ev

    seen = []

    async def note(event):
        seen.append(type(event).__name__)

    for kind in (ev.SessionStarted, ev.SessionUpdated, ev.SessionStopped):
        appliance.core.bus.subscribe(kind, note)
    await cs.transaction_event("Started", "tx-E", 0, "Authorized", timestamp=at(0), id_token="CARD1", energy_wh=0)
    await cs.transaction_event("Updated", "tx-E", 1, "MeterValuePeriodic", timestamp=at(1), energy_wh=50)
    await cs.transaction_event("Ended", "tx-E", 2, "EVDeparted", timestamp=at(2), energy_wh=90)
    await cs.transaction_event("Ended", "tx-E", 2, "EVDeparted", timestamp=at(2), energy_wh=90)  # replay
    await wait_for(lambda: "SessionStopped" in seen)
    await appliance.core.bus.drain()
    assert seen == ["SessionStarted", "SessionUpdated", "SessionUpdated", "SessionUpdated", "SessionStopped"]


async def test_meter_values_outside_a_transaction_are_kept(cs, appliance):
    await cs.meter_values(2, 123456, timestamp=at(3))
    from appliance.store.models import MeterSample

    rows = await appliance.core.db.read(lambda: [(s.connector_number, s.value, s.unit, s.transaction_id)
                                                 for s in MeterSample.select()])
    assert rows == [(2, 123456.0, "Wh", None)]


async def test_signed_meter_values_are_kept_verbatim(cs, appliance):
    from ocpp.v201 import call

    signed = {"signed_meter_data": "T0NNRnx7IlJEIjpbXX0=", "signing_method": "ECDSA-secp256r1-SHA256",
              "encoding_method": "OCMF", "public_key": "MFkwEwYH"}
    await cs.call(call.TransactionEvent(
        event_type="Started", timestamp=at(0), trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": "tx-S"}, id_token={"id_token": "CARD1", "type": "ISO14443"},
        evse={"id": 1, "connector_id": 1},
        meter_value=[{"timestamp": at(0), "sampled_value": [
            {"value": 12.5, "context": "Transaction.Begin", "unit_of_measure": {"unit": "kWh"},
             "signed_meter_value": signed}]}]))
    tx = await session_of(appliance, "tx-S")
    [sample] = await appliance.core.transactions.samples(tx.id)
    assert (sample.format, sample.value, sample.unit, tx.meter_start_wh) == ("SignedData", 12.5, "kWh", 12500)
    assert json.loads(sample.raw_value)["signedMeterValue"] == {
        "signedMeterData": "T0NNRnx7IlJEIjpbXX0=", "signingMethod": "ECDSA-secp256r1-SHA256",
        "encodingMethod": "OCMF", "publicKey": "MFkwEwYH"}


async def test_unit_multiplier_and_measurand_defaults(cs, appliance):
    from ocpp.v201 import call

    await cs.call(call.TransactionEvent(
        event_type="Started", timestamp=at(0), trigger_reason="Authorized", seq_no=0,
        transaction_info={"transaction_id": "tx-M"}, evse={"id": 1, "connector_id": 1},
        meter_value=[{"timestamp": at(0), "sampled_value": [
            {"value": 7.25, "unit_of_measure": {"unit": "Wh", "multiplier": 3}},
            {"value": 11, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "W", "multiplier": 3}}]}]))
    tx = await session_of(appliance, "tx-M")
    samples = await appliance.core.transactions.samples(tx.id)
    assert {(s.measurand, s.value, s.unit, s.context, s.location) for s in samples} == {
        ("Energy.Active.Import.Register", 7250.0, "Wh", "Sample.Periodic", "Outlet"),
        ("Power.Active.Import", 11000.0, "W", "Sample.Periodic", "Outlet")}
    assert tx.meter_start_wh == 7250


# -- what else a station reports ----------------------------------------------------------------

async def test_reports_are_stored(cs, appliance):
    from ocpp.v201 import call

    await cs.call(call.SecurityEventNotification(type="InvalidCsmsCertificate", timestamp=at(1),
                                                 tech_info="cert expired"))
    await cs.call(call.NotifyEvent(generated_at=at(2), seq_no=0, event_data=[{
        "event_id": 7, "timestamp": at(2), "trigger": "Alerting", "actual_value": "true", "tech_code": "E42",
        "event_notification_type": "HardWiredNotification",
        "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Problem"}}]))
    await cs.call(call.NotifyEVChargingNeeds(evse_id=1, charging_needs={
        "requested_energy_transfer": "AC_three_phase",
        "ac_charging_parameters": {"energy_amount": 30000, "ev_min_current": 6, "ev_max_current": 32,
                                   "ev_max_voltage": 400}}))
    await cs.call(call.NotifyChargingLimit(charging_limit={"charging_limit_source": "EMS", "is_grid_critical": True},
                                           evse_id=1))
    await cs.call(call.ReservationStatusUpdate(reservation_id=5, reservation_update_status="Expired"))
    reports = {r.kind: r for r in await appliance.core.reports.list("CS1")}
    assert set(reports) == {"security_event", "event", "ev_charging_needs", "charging_limit", "reservation"}
    assert reports["security_event"].summary == "InvalidCsmsCertificate cert expired"
    assert reports["security_event"].reported_at == when(1)
    assert reports["event"].summary == "EVSE.Problem = true (Alerting) E42"
    assert reports["ev_charging_needs"].payload["chargingNeeds"]["acChargingParameters"]["evMaxCurrent"] == 32
    assert reports["charging_limit"].payload["chargingLimit"]["isGridCritical"] is True


async def test_ev_charging_needs_are_accepted(cs):
    from ocpp.v201 import call

    answer = await cs.call(call.NotifyEVChargingNeeds(evse_id=2, charging_needs={
        "requested_energy_transfer": "DC", "dc_charging_parameters": {"ev_max_current": 125, "ev_max_voltage": 800}}))
    assert answer.status == "Accepted"


async def test_firmware_and_log_status(cs, appliance):
    from ocpp.v201 import call

    await cs.call(call.FirmwareStatusNotification(status="Installed", request_id=1))
    await cs.call(call.LogStatusNotification(status="Uploaded", request_id=2))
    record = await appliance.core.chargers.get("CS1")
    assert (record.firmware_status, record.diagnostics_status) == ("Installed", "Uploaded")


async def test_data_transfer_for_an_unknown_vendor(cs):
    from ocpp.v201 import call

    answer = await cs.call(call.DataTransfer(vendor_id="com.example", message_id="x", data={"any": ["json"]}))
    assert answer.status == "UnknownVendorId"


async def test_heartbeat(cs):
    answer = await cs.heartbeat()
    assert abs(dt.datetime.fromisoformat(answer.current_time.replace("Z", "+00:00")) - dt.datetime.now(UTC)) < \
        dt.timedelta(seconds=5)


async def test_the_technician_reads_device_model_and_reports_in_the_cli(cs, appliance):
    from ocpp.v201 import call

    await wait_for(lambda: _variables(appliance, "TxCtrlr"))
    await cs.call(call.SecurityEventNotification(type="TamperDetectionActivated", timestamp=at(1)))
    data_dir = appliance.core.settings.data_dir
    variables = json.loads(await run_cli(data_dir, "charger", "variables", "CS1", "--component", "OCPPCommCtrlr",
                                         "--json"))
    assert {(v["variable"], v["value"]) for v in variables} >= {("HeartbeatInterval", "300")}
    table = await run_cli(data_dir, "charger", "variables", "CS1", "--component", "EVSE")
    assert table.startswith("COMPONENT") and table.count("SupplyPhases") == 2  # one per EVSE
    reports = await run_cli(data_dir, "charger", "reports", "CS1")
    assert "security_event" in reports and "TamperDetectionActivated" in reports
