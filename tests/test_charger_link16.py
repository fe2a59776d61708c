"""ChargerLink over OCPP 1.6 JSON, end to end: every command through ChargerCommands reaches the virtual
charger as the exact 1.6 payload, its answer comes back as a CommandResult, and the action log keeps
who asked, why, with which arguments and what came of it.

The error paths (CALLERROR, timeout, offline, bad arguments) and the JSON API are in
test_charger_link16_api.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from appliance.core.link import ChargingLimit, LocalListEntry
from tests.conftest import wait_for

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
T1 = dt.datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
T0_WIRE = "2026-11-21T08:00:00.000Z"
T1_WIRE = "2026-11-21T09:30:00.000Z"




async def send(appliance, command: str, arguments: dict[str, Any], reason: str = "test"):
    return await appliance.core.commands.send("CP1", command, arguments, actor="tester", reason=reason)


def logged(value: Any) -> Any:
    """How the action log should keep an argument: plain JSON, times as ISO 8601."""
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {k: logged(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [logged(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


LIMIT_16A = ChargingLimit(16, "A", connector_number=1, profile_id=5, stack_level=2, transaction_id=77,
                          start=T0, duration_s=3600)
TX_PROFILE_AT_START = {
    "charging_profile_id": 5, "stack_level": 2, "charging_profile_purpose": "TxProfile",
    "charging_profile_kind": "Absolute",
    "charging_schedule": {"charging_rate_unit": "A", "start_schedule": T0_WIRE, "duration": 3600,
                          "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}}
DEFAULT_32A_3PH = ChargingLimit(32, "A", connector_number=0, number_phases=3, purpose="TxDefaultProfile", start=T0)
TX_7400W = ChargingLimit(7400, "W", connector_number=1, purpose="TxProfile", transaction_id=42, profile_id=9,
                         stack_level=1, start=T0, duration_s=1800)
LOCAL_LIST_FULL = [LocalListEntry("CARD1", "Accepted", expires_at=T1, parent_id_tag="FLEET-A"),
                   LocalListEntry("CARD2", "Blocked")]
LOCAL_LIST_DIFF = [LocalListEntry("CARD3", "Accepted"), LocalListEntry("CARD2", None)]

# id, command, arguments, the charger's answer, wire action, wire fields (snake_case, as the charger's
# library hands them over), expected status, expected data (None: not checked)
CASES = [
    ("remote_start", "remote_start", {"connector_number": 1, "id_tag": "CARD1"}, None,
     "RemoteStartTransaction", {"connector_id": 1, "id_tag": "CARD1"}, "Accepted", {}),
    ("remote_start_limit", "remote_start", {"connector_number": 1, "id_tag": "CARD1", "limit": LIMIT_16A}, None,
     "RemoteStartTransaction", {"connector_id": 1, "id_tag": "CARD1", "charging_profile": TX_PROFILE_AT_START},
     "Accepted", {}),
    ("remote_start_rejected", "remote_start", {"connector_number": None, "id_tag": "CARD1"}, "Rejected",
     "RemoteStartTransaction", {"id_tag": "CARD1"}, "Rejected", {}),
    ("remote_stop", "remote_stop", {"transaction_id": 42}, None,
     "RemoteStopTransaction", {"transaction_id": 42}, "Accepted", {}),
    ("reset_soft", "reset", {"hard": False}, None, "Reset", {"type": "Soft"}, "Accepted", {}),
    ("reset_hard", "reset", {"hard": True}, None, "Reset", {"type": "Hard"}, "Accepted", {}),
    ("reset_rejected", "reset", {"hard": True}, "Rejected", "Reset", {"type": "Hard"}, "Rejected", {}),
    ("unlock", "unlock", {"connector_number": 2}, None, "UnlockConnector", {"connector_id": 2}, "Unlocked", {}),
    ("unlock_failed", "unlock", {"connector_number": 2}, "UnlockFailed",
     "UnlockConnector", {"connector_id": 2}, "UnlockFailed", {}),
    ("operative", "change_availability", {"connector_number": 1, "operative": True}, None,
     "ChangeAvailability", {"connector_id": 1, "type": "Operative"}, "Accepted", {}),
    ("inoperative_scheduled", "change_availability", {"connector_number": 0, "operative": False}, "Scheduled",
     "ChangeAvailability", {"connector_id": 0, "type": "Inoperative"}, "Scheduled", {}),
    ("config_all", "get_configuration", {}, None, "GetConfiguration", {"key": None}, "Accepted",
     {"configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                            {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"}]}),
    ("config_one", "get_configuration", {"keys": ["HeartbeatInterval"]}, None,
     "GetConfiguration", {"key": ["HeartbeatInterval"]}, "Accepted",
     {"configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}),
    ("config_unknown", "get_configuration", {"keys": ["NoSuchKey"]}, None,
     "GetConfiguration", {"key": ["NoSuchKey"]}, "Accepted", {"configuration_key": [], "unknown_key": ["NoSuchKey"]}),
    ("change_config", "change_configuration", {"key": "HeartbeatInterval", "value": "60"}, None,
     "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}, "Accepted", {}),
    ("change_config_reboot", "change_configuration", {"key": "WebSocketPingInterval", "value": "30"},
     "RebootRequired", "ChangeConfiguration", {"key": "WebSocketPingInterval", "value": "30"}, "RebootRequired", {}),
    ("clear_cache", "clear_cache", {}, None, "ClearCache", {}, "Accepted", {}),
    ("trigger_heartbeat", "trigger_message", {"message": "Heartbeat"}, None,
     "TriggerMessage", {"requested_message": "Heartbeat"}, "Accepted", {}),
    ("trigger_status", "trigger_message", {"message": "StatusNotification", "connector_number": 1}, None,
     "TriggerMessage", {"requested_message": "StatusNotification", "connector_id": 1}, "Accepted", {}),
    ("local_list_full", "send_local_list", {"version": 3, "full": True, "entries": LOCAL_LIST_FULL}, None,
     "SendLocalList", {"list_version": 3, "update_type": "Full", "local_authorization_list": [
         {"id_tag": "CARD1", "id_tag_info": {"status": "Accepted", "expiry_date": T1_WIRE, "parent_id_tag": "FLEET-A"}},
         {"id_tag": "CARD2", "id_tag_info": {"status": "Blocked"}}]}, "Accepted", {}),
    ("local_list_diff", "send_local_list", {"version": 4, "full": False, "entries": LOCAL_LIST_DIFF}, None,
     "SendLocalList", {"list_version": 4, "update_type": "Differential", "local_authorization_list": [
         {"id_tag": "CARD3", "id_tag_info": {"status": "Accepted"}}, {"id_tag": "CARD2"}]}, "Accepted", {}),
    ("local_list_mismatch", "send_local_list", {"version": 5, "full": False, "entries": []}, "VersionMismatch",
     "SendLocalList", {"list_version": 5, "update_type": "Differential", "local_authorization_list": []},
     "VersionMismatch", {}),
    ("local_list_version", "get_local_list_version", {}, None, "GetLocalListVersion", {}, "Accepted",
     {"list_version": 0}),
    ("limit_default_3ph", "set_charging_limit", {"limit": DEFAULT_32A_3PH}, None,
     "SetChargingProfile", {"connector_id": 0, "cs_charging_profiles": {
         "charging_profile_id": 1, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
         "charging_profile_kind": "Absolute", "charging_schedule": {
             "charging_rate_unit": "A", "start_schedule": T0_WIRE,
             "charging_schedule_period": [{"start_period": 0, "limit": 32.0, "number_phases": 3}]}}},
     "Accepted", {}),
    ("limit_tx_profile", "set_charging_limit", {"limit": TX_7400W}, None,
     "SetChargingProfile", {"connector_id": 1, "cs_charging_profiles": {
         "charging_profile_id": 9, "stack_level": 1, "charging_profile_purpose": "TxProfile",
         "charging_profile_kind": "Absolute", "transaction_id": 42, "charging_schedule": {
             "charging_rate_unit": "W", "start_schedule": T0_WIRE, "duration": 1800,
             "charging_schedule_period": [{"start_period": 0, "limit": 7400.0}]}}},
     "Accepted", {}),
    ("clear_limit_by_id", "clear_charging_limit", {"profile_id": 9}, None,
     "ClearChargingProfile", {"id": 9}, "Accepted", {}),
    ("clear_limit_by_criteria", "clear_charging_limit",
     {"connector_number": 1, "purpose": "TxDefaultProfile", "stack_level": 0}, "Unknown",
     "ClearChargingProfile", {"connector_id": 1, "charging_profile_purpose": "TxDefaultProfile", "stack_level": 0},
     "Unknown", {}),
    ("composite_schedule", "get_composite_schedule", {"connector_number": 1, "duration_s": 3600, "unit": "W"}, None,
     "GetCompositeSchedule", {"connector_id": 1, "duration": 3600, "charging_rate_unit": "W"}, "Accepted", None),
    ("diagnostics", "get_diagnostics", {"location": "ftp://depot.example/diag/", "start": T0, "stop": T1,
                                        "retries": 3, "retry_interval_s": 60}, None,
     "GetDiagnostics", {"location": "ftp://depot.example/diag/", "start_time": T0_WIRE, "stop_time": T1_WIRE,
                        "retries": 3, "retry_interval": 60}, "Accepted", {"file_name": "diagnostics.zip"}),
    ("firmware", "update_firmware", {"location": "https://fw.example/vc16-1.1.bin", "retrieve_at": T0,
                                     "retries": 2, "retry_interval_s": 30}, None,
     "UpdateFirmware", {"location": "https://fw.example/vc16-1.1.bin", "retrieve_date": T0_WIRE,
                        "retries": 2, "retry_interval": 30}, "Accepted", {}),
    ("reserve", "reserve_now", {"connector_number": 1, "expires_at": T1, "id_tag": "CARD1", "reservation_id": 11,
                                "parent_id_tag": "FLEET-A"}, None,
     "ReserveNow", {"connector_id": 1, "expiry_date": T1_WIRE, "id_tag": "CARD1", "reservation_id": 11,
                    "parent_id_tag": "FLEET-A"}, "Accepted", {}),
    ("reserve_occupied", "reserve_now", {"connector_number": 1, "expires_at": T1, "id_tag": "CARD1",
                                         "reservation_id": 12}, "Occupied",
     "ReserveNow", {"connector_id": 1, "expiry_date": T1_WIRE, "id_tag": "CARD1", "reservation_id": 12},
     "Occupied", {}),
    ("cancel_reservation", "cancel_reservation", {"reservation_id": 11}, None,
     "CancelReservation", {"reservation_id": 11}, "Accepted", {}),
    ("data_transfer", "data_transfer", {"vendor_id": "com.depot", "message_id": "ping", "data": "hello"}, None,
     "DataTransfer", {"vendor_id": "com.depot", "message_id": "ping", "data": "hello"}, "Accepted",
     {"data": "pong"}),
    ("data_transfer_unknown_vendor", "data_transfer", {"vendor_id": "com.other"}, "UnknownVendorId",
     "DataTransfer", {"vendor_id": "com.other"}, "UnknownVendorId", {"data": "pong"}),
]


@pytest.mark.parametrize("command, arguments, answer, action, fields, status, data",
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
async def test_command_reaches_the_charger_and_its_answer_comes_back(
        appliance, cp, command, arguments, answer, action, fields, status, data):
    if answer is not None:
        cp.answers[action] = answer
    result = await send(appliance, command, arguments, reason=f"testing {command}")
    assert cp.received == [(action, fields)]
    assert (result.status, result.detail) == (status, "")
    if data is not None:
        assert result.data == data
    [entry] = await appliance.core.commands.actions("CP1")
    assert (entry.actor, entry.charger_identity, entry.action, entry.reason, entry.result_status) == \
        ("tester", "CP1", command, f"testing {command}", status)
    assert entry.arguments == logged(arguments)


async def test_every_link_command_is_covered_by_the_table():
    from appliance.core.link import COMMANDS

    # get_charging_profiles is 2.0.1's alone: test_charging_profiles_cannot_be_reported_by_1_6
    assert {case[1] for case in CASES} | {"get_charging_profiles"} == set(COMMANDS)


async def test_charging_profiles_cannot_be_reported_by_1_6(appliance, cp):
    result = await send(appliance, "get_charging_profiles", {"connector_number": 1, "purpose": "TxProfile"})
    assert (result.status, result.ok) == ("NotSupportedByCharger", False)
    assert "GetChargingProfiles" in result.detail
    assert cp.received == []


async def test_composite_schedule_comes_back_as_the_charger_gave_it(appliance, cp):
    result = await send(appliance, "get_composite_schedule", {"connector_number": 1, "duration_s": 600})
    assert cp.received == [("GetCompositeSchedule", {"connector_id": 1, "duration": 600})]
    assert result.status == "Accepted"
    assert result.data["connector_id"] == 1
    assert result.data["charging_schedule"] == {
        "duration": 600, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}


async def test_a_changed_configuration_reads_back(appliance, cp):
    assert (await send(appliance, "change_configuration", {"key": "HeartbeatInterval", "value": "60"})).ok
    result = await send(appliance, "get_configuration", {"keys": ["HeartbeatInterval"]})
    assert result.data["configuration_key"] == [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]


async def test_local_list_version_follows_full_and_differential_updates(appliance, cp):
    assert (await send(appliance, "send_local_list", {"version": 3, "full": True, "entries": LOCAL_LIST_FULL})).ok
    assert (await send(appliance, "get_local_list_version", {})).data == {"list_version": 3}
    assert (await send(appliance, "send_local_list", {"version": 4, "full": False, "entries": LOCAL_LIST_DIFF})).ok
    assert (await send(appliance, "get_local_list_version", {})).data == {"list_version": 4}
    cp.answers["SendLocalList"] = "Failed"
    failed = await send(appliance, "send_local_list", {"version": 5, "full": True, "entries": []})
    assert failed.status == "Failed" and not failed.ok
    assert (await send(appliance, "get_local_list_version", {})).data == {"list_version": 4}
    assert [a for a, _ in cp.received] == ["SendLocalList", "GetLocalListVersion"] * 3
    assert [e.result_status for e in await appliance.core.commands.actions("CP1")] == \
        ["Accepted", "Failed", "Accepted", "Accepted", "Accepted", "Accepted"]


async def test_a_trigger_1_6_cannot_send_is_refused_without_sending(appliance, cp):
    for message in ("LogStatusNotification", "SignChargePointCertificate", "TransactionEvent"):
        result = await send(appliance, "trigger_message", {"message": message})
        assert result.status == "NotSupportedByCharger"
        assert message in result.detail and not result.ok
    assert cp.received == []
    assert [e.result_status for e in await appliance.core.commands.actions("CP1")] == ["NotSupportedByCharger"] * 3
    # the link is still usable
    assert (await send(appliance, "trigger_message", {"message": "MeterValues", "connector_number": 1})).ok
    assert cp.received == [("TriggerMessage", {"requested_message": "MeterValues", "connector_id": 1})]


async def test_a_secret_configuration_value_is_masked_in_the_action_log(appliance, cp):
    result = await send(appliance, "change_configuration", {"key": "AuthorizationKey", "value": "0123456789abcdef"})
    assert result.status == "Accepted"
    assert cp.received == [("ChangeConfiguration", {"key": "AuthorizationKey", "value": "0123456789abcdef"})]
    [entry] = await appliance.core.commands.actions("CP1")
    assert entry.arguments == {"key": "AuthorizationKey", "value": "***"}


async def test_remote_start_ends_in_a_transaction_that_remote_stop_names(appliance, cp):
    cp.start_on_remote_start = True
    started = await send(appliance, "remote_start", {"connector_number": 2, "id_tag": "CARD1"}, reason="driver call")
    assert started.status == "Accepted"
    [answer] = await wait_for(lambda: cp.remote_started)
    assert answer.id_tag_info["status"] == "Accepted"
    [session] = await wait_for(lambda: appliance.core.transactions.list("CP1", True))
    assert session.id == answer.transaction_id
    assert (session.id_tag, session.connector_number) == ("CARD1", 2)

    stopped = await send(appliance, "remote_stop", {"transaction_id": session.id}, reason="driver done")
    assert stopped.status == "Accepted"
    assert cp.received == [("RemoteStartTransaction", {"connector_id": 2, "id_tag": "CARD1"}),
                           ("RemoteStopTransaction", {"transaction_id": session.id})]
    stop, start = await appliance.core.commands.actions("CP1")
    assert (start.action, start.reason, start.result_status) == ("remote_start", "driver call", "Accepted")
    assert (stop.action, stop.arguments, stop.result_status) == \
        ("remote_stop", {"transaction_id": session.id}, "Accepted")


async def test_a_rejected_remote_start_starts_nothing(appliance, cp):
    cp.start_on_remote_start = True
    cp.answers["RemoteStartTransaction"] = "Rejected"
    result = await send(appliance, "remote_start", {"connector_number": 1, "id_tag": "CARD1"})
    assert result.status == "Rejected" and not result.ok
    assert cp.remote_started == []
    assert await appliance.core.transactions.list("CP1") == []
