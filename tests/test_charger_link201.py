"""ChargerLink over OCPP 2.0.1 JSON, end to end: every command through ChargerCommands reaches the virtual
station as the exact 2.0.1 payload, its answer comes back as a CommandResult in the shape 1.6 gives it, and
the action log keeps who asked, why, with which arguments and what came of it.

The error paths (CALLERROR, timeout, offline, bad keys) and the JSON API are in test_charger_link201_api.py.
"""

from __future__ import annotations

import pytest

from appliance.core.link import ChargingLimit, LocalListEntry
from tests.conftest import wait_for
from tests.test_charger_link16 import T0, T0_WIRE, T1, T1_WIRE, logged


class AnyId:
    """A requestId, remoteStartId and the like: the session hands them out, unique, from 1."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int) and not isinstance(other, bool) and other > 0

    def __repr__(self) -> str:
        return "<any id>"


ANY_ID = AnyId()


async def send(appliance, command: str, arguments: dict, reason: str = "test"):
    return await appliance.core.commands.send("CS1", command, arguments, actor="tester", reason=reason)


def token(id_tag: str, type: str = "ISO14443") -> dict:
    return {"id_token": id_tag, "type": type}


def variable(component: str, name: str, evse: dict | None = None, instance: str | None = None) -> dict:
    wire = {"component": {"name": component, **({"evse": evse} if evse else {})}, "variable": {"name": name}}
    if instance:
        wire["variable"]["instance"] = instance
    return wire


def get(*variables: dict) -> dict:
    return {"get_variable_data": [{**v, "attribute_type": "Actual"} for v in variables]}


def set_(wire: dict, value: str) -> dict:
    return {"set_variable_data": [{**wire, "attribute_type": "Actual", "attribute_value": value}]}


HEARTBEAT = variable("OCPPCommCtrlr", "HeartbeatInterval")
LIMIT_16A = ChargingLimit(16, "A", connector_number=1, profile_id=5, stack_level=2, transaction_id=77,
                          start=T0, duration_s=3600)
TX_PROFILE_AT_START = {
    "id": 5, "stack_level": 2, "charging_profile_purpose": "TxProfile", "charging_profile_kind": "Absolute",
    "charging_schedule": [{"id": 5, "charging_rate_unit": "A", "start_schedule": T0_WIRE, "duration": 3600,
                           "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}]}
DEFAULT_32A_3PH = ChargingLimit(32, "A", connector_number=0, number_phases=3, purpose="TxDefaultProfile", start=T0)
STATION_MAX_11KW = ChargingLimit(11000.04, "W", purpose="ChargePointMaxProfile", profile_id=2, start=T0)
LOCAL_LIST_FULL = [LocalListEntry("CARD1", "Accepted", expires_at=T1, parent_id_tag="FLEET-A"),
                   LocalListEntry("CARD2", "Blocked")]
LOCAL_LIST_DIFF = [LocalListEntry("CARD3", "Accepted"), LocalListEntry("CARD2", None)]
# What the virtual station reports as its configuration (what the operator can set), in report order.
CONFIGURATION_INVENTORY = [
    {"key": "OCPPCommCtrlr.HeartbeatInterval", "readonly": False, "value": "300"},
    {"key": "OCPPCommCtrlr.WebSocketPingInterval", "readonly": False, "value": "30"},
    {"key": "SampledDataCtrlr.TxUpdatedInterval", "readonly": False, "value": "60"},
    {"key": "SampledDataCtrlr.TxUpdatedMeasurands", "readonly": False,
     "value": "Energy.Active.Import.Register,Power.Active.Import"},
    {"key": "AuthCtrlr.Enabled", "readonly": False, "value": "true"},
    {"key": "AuthCtrlr.AuthorizeRemoteStart", "readonly": False, "value": "false"},
    {"key": "AuthCacheCtrlr.Enabled", "readonly": False, "value": "true"},
    {"key": "LocalAuthListCtrlr.Enabled", "readonly": False, "value": "true"},
    {"key": "SmartChargingCtrlr.Enabled", "readonly": False, "value": "true"},
    {"key": "TxCtrlr.TxStartPoint", "readonly": False, "value": "PowerPathClosed"},
    {"key": "TxCtrlr.TxStopPoint", "readonly": False, "value": "EVConnected,Authorized"},
    {"key": "TxCtrlr.EVConnectionTimeOut", "readonly": False, "value": "120"},
    {"key": "SecurityCtrlr.BasicAuthPassword", "readonly": False},  # WriteOnly: no value to show
]

# id, command, arguments, the station's answer, wire action, wire fields (snake_case, as the station's
# library hands them over), expected status, expected data (None: not checked)
CASES = [
    ("remote_start", "remote_start", {"connector_number": 1, "id_tag": "CARD1"}, None, "RequestStartTransaction",
     {"evse_id": 1, "id_token": token("CARD1"), "remote_start_id": ANY_ID}, "Accepted", {"remote_start_id": ANY_ID}),
    # no transaction exists yet: the profile names none (our transaction_id 77 is not sent)
    ("remote_start_limit", "remote_start", {"connector_number": 1, "id_tag": "CARD1", "limit": LIMIT_16A}, None,
     "RequestStartTransaction", {"evse_id": 1, "id_token": token("CARD1"), "remote_start_id": ANY_ID,
                                 "charging_profile": TX_PROFILE_AT_START}, "Accepted", {"remote_start_id": ANY_ID}),
    ("remote_start_any_evse", "remote_start", {"connector_number": None, "id_tag": "CARD1"}, "Rejected",
     "RequestStartTransaction", {"id_token": token("CARD1"), "remote_start_id": ANY_ID}, "Rejected",
     {"remote_start_id": ANY_ID}),
    ("reset_soft", "reset", {"hard": False}, None, "Reset", {"type": "OnIdle"}, "Accepted", {}),
    ("reset_hard", "reset", {"hard": True}, None, "Reset", {"type": "Immediate"}, "Accepted", {}),
    ("reset_scheduled", "reset", {"hard": False}, "Scheduled", "Reset", {"type": "OnIdle"}, "Scheduled", {}),
    ("unlock", "unlock", {"connector_number": 2}, None, "UnlockConnector", {"evse_id": 2, "connector_id": 1},
     "Unlocked", {}),
    ("unlock_ongoing", "unlock", {"connector_number": 1}, "OngoingAuthorizedTransaction",
     "UnlockConnector", {"evse_id": 1, "connector_id": 1}, "OngoingAuthorizedTransaction", {}),
    ("operative_evse", "change_availability", {"connector_number": 1, "operative": True}, None,
     "ChangeAvailability", {"operational_status": "Operative", "evse": {"id": 1}}, "Accepted", {}),
    ("inoperative_station", "change_availability", {"connector_number": 0, "operative": False}, "Scheduled",
     "ChangeAvailability", {"operational_status": "Inoperative"}, "Scheduled", {}),
    ("config_all", "get_configuration", {}, None, "GetBaseReport",
     {"request_id": ANY_ID, "report_base": "ConfigurationInventory"}, "Accepted",
     {"configuration_key": CONFIGURATION_INVENTORY}),
    ("config_alias", "get_configuration", {"keys": ["HeartbeatInterval"]}, None, "GetVariables", get(HEARTBEAT),
     "Accepted", {"configuration_key": [{"key": "HeartbeatInterval", "readonly": None, "value": "300"}]}),
    ("config_evse_connector", "get_configuration", {"keys": ["EVSE@1.Power", "Connector@2:1.ConnectorType"]}, None,
     "GetVariables", get(variable("EVSE", "Power", {"id": 1}), variable("Connector", "ConnectorType",
                                                                        {"id": 2, "connector_id": 1})),
     "Accepted", {"configuration_key": [{"key": "EVSE@1.Power", "readonly": None, "value": "0"},
                                        {"key": "Connector@2:1.ConnectorType", "readonly": None, "value": "cCCS2"}]}),
    ("config_instance", "get_configuration", {"keys": ["DeviceDataCtrlr.ItemsPerMessage:GetReport"]}, None,
     "GetVariables", get(variable("DeviceDataCtrlr", "ItemsPerMessage", instance="GetReport")), "Accepted",
     {"configuration_key": [{"key": "DeviceDataCtrlr.ItemsPerMessage:GetReport", "readonly": None, "value": "4"}]}),
    ("config_unknown", "get_configuration", {"keys": ["Vendor.Thing", "OCPPCommCtrlr.NoSuchVariable"]}, None,
     "GetVariables", get(variable("Vendor", "Thing"), variable("OCPPCommCtrlr", "NoSuchVariable")), "Accepted",
     {"configuration_key": [], "unknown_key": ["Vendor.Thing", "OCPPCommCtrlr.NoSuchVariable"]}),
    ("change_config", "change_configuration", {"key": "HeartbeatInterval", "value": "60"}, None,
     "SetVariables", set_(HEARTBEAT, "60"), "Accepted", {}),
    ("change_config_reboot", "change_configuration", {"key": "OCPPCommCtrlr.WebSocketPingInterval", "value": "60"},
     None, "SetVariables", set_(variable("OCPPCommCtrlr", "WebSocketPingInterval"), "60"), "RebootRequired", {}),
    ("change_config_read_only", "change_configuration", {"key": "EVSE@1.Power", "value": "1000"}, None,
     "SetVariables", set_(variable("EVSE", "Power", {"id": 1}), "1000"), "Rejected", {}),
    ("change_config_bad_value", "change_configuration", {"key": "MeterValueSampleInterval", "value": "often"}, None,
     "SetVariables", set_(variable("SampledDataCtrlr", "TxUpdatedInterval"), "often"), "Rejected", {}),
    ("change_config_unknown_component", "change_configuration", {"key": "Vendor.Thing", "value": "1"}, None,
     "SetVariables", set_(variable("Vendor", "Thing"), "1"), "UnknownComponent", {}),
    ("change_config_unknown_variable", "change_configuration", {"key": "TxCtrlr.Nothing", "value": "1"}, None,
     "SetVariables", set_(variable("TxCtrlr", "Nothing"), "1"), "UnknownVariable", {}),
    ("clear_cache", "clear_cache", {}, None, "ClearCache", {}, "Accepted", {}),
    ("trigger_heartbeat", "trigger_message", {"message": "Heartbeat"}, None,
     "TriggerMessage", {"requested_message": "Heartbeat"}, "Accepted", {}),
    ("trigger_status_of_evse", "trigger_message", {"message": "StatusNotification", "connector_number": 2}, None,
     "TriggerMessage", {"requested_message": "StatusNotification", "evse": {"id": 2}}, "Accepted", {}),
    ("trigger_1_6_name", "trigger_message", {"message": "DiagnosticsStatusNotification"}, None,
     "TriggerMessage", {"requested_message": "LogStatusNotification"}, "Accepted", {}),
    ("trigger_2_0_1_name", "trigger_message", {"message": "TransactionEvent", "connector_number": 1},
     "NotImplemented", "TriggerMessage", {"requested_message": "TransactionEvent", "evse": {"id": 1}},
     "NotImplemented", {}),
    ("local_list_full", "send_local_list", {"version": 3, "full": True, "entries": LOCAL_LIST_FULL}, None,
     "SendLocalList", {"version_number": 3, "update_type": "Full", "local_authorization_list": [
         {"id_token": token("CARD1"), "id_token_info": {"status": "Accepted", "cache_expiry_date_time": T1_WIRE,
                                                        "group_id_token": token("FLEET-A", "Central")}},
         {"id_token": token("CARD2"), "id_token_info": {"status": "Blocked"}}]}, "Accepted", {}),
    # a differential entry without idTokenInfo removes the tag
    ("local_list_diff", "send_local_list", {"version": 4, "full": False, "entries": LOCAL_LIST_DIFF}, None,
     "SendLocalList", {"version_number": 4, "update_type": "Differential", "local_authorization_list": [
         {"id_token": token("CARD3"), "id_token_info": {"status": "Accepted"}}, {"id_token": token("CARD2")}]},
     "Accepted", {}),
    # an empty full list clears the station's list; the schema wants the list left out then
    ("local_list_empty", "send_local_list", {"version": 5, "full": True, "entries": []}, "VersionMismatch",
     "SendLocalList", {"version_number": 5, "update_type": "Full"}, "VersionMismatch", {}),
    ("local_list_version", "get_local_list_version", {}, None, "GetLocalListVersion", {}, "Accepted",
     {"list_version": 0}),
    ("limit_default_3ph", "set_charging_limit", {"limit": DEFAULT_32A_3PH}, None,
     "SetChargingProfile", {"evse_id": 0, "charging_profile": {
         "id": 1, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile", "charging_profile_kind": "Absolute",
         "charging_schedule": [{
             "id": 1, "charging_rate_unit": "A", "start_schedule": T0_WIRE,
             "charging_schedule_period": [{"start_period": 0, "limit": 32.0, "number_phases": 3}]}]}},
     "Accepted", {}),
    # 1.6's ChargePointMaxProfile is 2.0.1's ChargingStationMaxProfile; limits get one decimal at most
    ("limit_station_max", "set_charging_limit", {"limit": STATION_MAX_11KW}, None,
     "SetChargingProfile", {"evse_id": 0, "charging_profile": {
         "id": 2, "stack_level": 0, "charging_profile_purpose": "ChargingStationMaxProfile",
         "charging_profile_kind": "Absolute", "charging_schedule": [{
             "id": 2, "charging_rate_unit": "W", "start_schedule": T0_WIRE,
             "charging_schedule_period": [{"start_period": 0, "limit": 11000.0}]}]}},
     "Accepted", {}),
    # 2.0.1 K01: a TxProfile names its transaction; the station refuses one that does not
    ("limit_tx_profile_without_transaction", "set_charging_limit",
     {"limit": ChargingLimit(10, connector_number=1, purpose="TxProfile", start=T0)}, None,
     "SetChargingProfile", {"evse_id": 1, "charging_profile": {
         "id": 1, "stack_level": 0, "charging_profile_purpose": "TxProfile", "charging_profile_kind": "Absolute",
         "charging_schedule": [{"id": 1, "charging_rate_unit": "A", "start_schedule": T0_WIRE,
                                "charging_schedule_period": [{"start_period": 0, "limit": 10.0}]}]}},
     "Rejected", {}),
    ("clear_limit_by_id", "clear_charging_limit", {"profile_id": 9}, None,
     "ClearChargingProfile", {"charging_profile_id": 9}, "Unknown", {}),
    ("clear_limit_by_criteria", "clear_charging_limit",
     {"connector_number": 0, "purpose": "ChargePointMaxProfile", "stack_level": 0}, "Accepted",
     "ClearChargingProfile", {"charging_profile_criteria": {
         "evse_id": 0, "charging_profile_purpose": "ChargingStationMaxProfile", "stack_level": 0}}, "Accepted", {}),
    ("composite_schedule", "get_composite_schedule", {"connector_number": 1, "duration_s": 3600, "unit": "W"}, None,
     "GetCompositeSchedule", {"duration": 3600, "evse_id": 1, "charging_rate_unit": "W"}, "Accepted", None),
    ("charging_profiles_none", "get_charging_profiles", {}, None,
     "GetChargingProfiles", {"request_id": ANY_ID, "charging_profile": {}}, "NoProfiles", {}),
    ("charging_profiles_criteria", "get_charging_profiles",
     {"connector_number": 1, "purpose": "TxDefaultProfile", "profile_id": 4, "stack_level": 0}, None,
     "GetChargingProfiles", {"request_id": ANY_ID, "evse_id": 1, "charging_profile": {
         "charging_profile_purpose": "TxDefaultProfile", "stack_level": 0, "charging_profile_id": [4]}},
     "NoProfiles", {}),
    ("diagnostics", "get_diagnostics", {"location": "ftp://depot.example/diag/", "start": T0, "stop": T1,
                                        "retries": 3, "retry_interval_s": 60}, None,
     "GetLog", {"log": {"remote_location": "ftp://depot.example/diag/", "oldest_timestamp": T0_WIRE,
                        "latest_timestamp": T1_WIRE}, "log_type": "DiagnosticsLog", "request_id": ANY_ID,
                "retries": 3, "retry_interval": 60},
     "Accepted", {"request_id": ANY_ID, "file_name": "diagnostics.log"}),
    ("diagnostics_rejected", "get_diagnostics", {"location": "ftp://depot.example/diag/"}, "Rejected",
     "GetLog", {"log": {"remote_location": "ftp://depot.example/diag/"}, "log_type": "DiagnosticsLog",
                "request_id": ANY_ID}, "Rejected", {"request_id": ANY_ID}),
    ("firmware", "update_firmware", {"location": "https://fw.example/vc201-2.1.bin", "retrieve_at": T0,
                                     "retries": 2, "retry_interval_s": 30}, None,
     "UpdateFirmware", {"request_id": ANY_ID, "firmware": {"location": "https://fw.example/vc201-2.1.bin",
                                                           "retrieve_date_time": T0_WIRE},
                        "retries": 2, "retry_interval": 30}, "Accepted", {"request_id": ANY_ID}),
    ("reserve", "reserve_now", {"connector_number": 1, "expires_at": T1, "id_tag": "CARD1", "reservation_id": 11,
                                "parent_id_tag": "FLEET-A"}, None,
     "ReserveNow", {"id": 11, "expiry_date_time": T1_WIRE, "id_token": token("CARD1"), "evse_id": 1,
                    "group_id_token": token("FLEET-A", "Central")}, "Accepted", {}),
    # 1.x connector 0: any EVSE of the station
    ("reserve_any_evse_occupied", "reserve_now", {"connector_number": 0, "expires_at": T1, "id_tag": "CARD1",
                                                  "reservation_id": 12}, "Occupied",
     "ReserveNow", {"id": 12, "expiry_date_time": T1_WIRE, "id_token": token("CARD1")}, "Occupied", {}),
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
async def test_command_reaches_the_station_and_its_answer_comes_back(
        appliance, cs, command, arguments, answer, action, fields, status, data):
    if answer is not None:
        cs.answers[action] = answer
    result = await send(appliance, command, arguments, reason=f"testing {command}")
    assert cs.received == [(action, fields)]
    assert (result.status, result.detail) == (status, "")
    if data is not None:
        assert result.data == data
    [entry] = await appliance.core.commands.actions("CS1")
    assert (entry.actor, entry.charger_identity, entry.action, entry.reason, entry.result_status) == \
        ("tester", "CS1", command, f"testing {command}", status)
    assert entry.arguments == logged(arguments)


async def test_every_link_command_is_covered_by_the_table():
    from appliance.core.link import COMMANDS

    # remote_stop needs a transaction: test_remote_start_ends_in_a_transaction_that_remote_stop_names
    assert {case[1] for case in CASES} | {"remote_stop"} == set(COMMANDS)


async def test_request_ids_are_unique_and_come_back_in_the_result(appliance, cs):
    results = [await send(appliance, "get_diagnostics", {"location": "ftp://depot.example/"}),
               await send(appliance, "update_firmware", {"location": "https://fw.example/1.bin", "retrieve_at": T0}),
               await send(appliance, "remote_start", {"connector_number": 1, "id_tag": "CARD1"})]
    sent = [cs.last("GetLog")["request_id"], cs.last("UpdateFirmware")["request_id"],
            cs.last("RequestStartTransaction")["remote_start_id"]]
    assert [r.data.get("request_id", r.data.get("remote_start_id")) for r in results] == sent
    assert len(set(sent)) == 3


# -- transactions: our ids and the station's ----------------------------------------------------------

async def test_remote_start_ends_in_a_transaction_that_remote_stop_names(appliance, cs):
    cs.start_on_remote_start = True
    started = await send(appliance, "remote_start", {"connector_number": 2, "id_tag": "CARD1"}, reason="driver call")
    assert started.status == "Accepted"
    [answer] = await wait_for(lambda: cs.remote_started)
    assert answer.id_token_info["status"] == "Accepted"
    [session] = await wait_for(lambda: appliance.core.transactions.list("CS1", True))
    assert (session.id_tag, session.connector_number) == ("CARD1", 2)
    [station_tx] = cs.transactions

    stopped = await send(appliance, "remote_stop", {"transaction_id": session.id}, reason="driver done")
    assert stopped.status == "Accepted"
    assert cs.received == [
        ("RequestStartTransaction", {"evse_id": 2, "id_token": token("CARD1"),
                                     "remote_start_id": started.data["remote_start_id"]}),
        ("RequestStopTransaction", {"transaction_id": station_tx})]
    stop, start = await appliance.core.commands.actions("CS1")
    assert (start.action, start.reason, start.result_status) == ("remote_start", "driver call", "Accepted")
    assert (stop.action, stop.arguments, stop.result_status) == \
        ("remote_stop", {"transaction_id": session.id}, "Accepted")


async def station_transaction(appliance, cs, tx_id: str = "TX-A", evse_id: int = 1):
    """A transaction the station started itself (a card at the reader); our record of it."""
    await cs.transaction_event("Started", tx_id, 0, "Authorized", id_token="CARD1", evse_id=evse_id, energy_wh=1000,
                               charging_state="Charging")
    [record] = await wait_for(lambda: appliance.core.transactions.list("CS1", True))
    assert record.remote_tx_id == tx_id
    return record


async def test_remote_stop_sends_the_stations_own_transaction_id(appliance, cs):
    record = await station_transaction(appliance, cs, "TX-A")
    result = await send(appliance, "remote_stop", {"transaction_id": record.id})
    assert result.status == "Accepted"
    assert cs.received == [("RequestStopTransaction", {"transaction_id": "TX-A"})]


async def test_remote_stop_of_a_transaction_the_station_has_ended_is_rejected(appliance, cs):
    record = await station_transaction(appliance, cs, "TX-B")
    await cs.transaction_event("Ended", "TX-B", 1, "EVDeparted", energy_wh=4200, stopped_reason="EVDisconnected")
    result = await send(appliance, "remote_stop", {"transaction_id": record.id})
    assert (result.status, result.ok) == ("Rejected", False)
    assert cs.received == [("RequestStopTransaction", {"transaction_id": "TX-B"})]


async def test_a_tx_profile_names_the_stations_transaction_and_is_reported_and_cleared(appliance, cs):
    record = await station_transaction(appliance, cs, "TX-C", evse_id=2)
    limit = ChargingLimit(7400, "W", connector_number=2, purpose="TxProfile", transaction_id=record.id,
                          profile_id=9, stack_level=1, start=T0, duration_s=1800)
    assert (await send(appliance, "set_charging_limit", {"limit": limit})).status == "Accepted"
    profile = {"id": 9, "stack_level": 1, "charging_profile_purpose": "TxProfile", "charging_profile_kind": "Absolute",
               "transaction_id": "TX-C", "charging_schedule": [{
                   "id": 9, "charging_rate_unit": "W", "start_schedule": T0_WIRE, "duration": 1800,
                   "charging_schedule_period": [{"start_period": 0, "limit": 7400.0}]}]}
    assert cs.received == [("SetChargingProfile", {"evse_id": 2, "charging_profile": profile})]

    reported = await send(appliance, "get_charging_profiles", {"purpose": "TxProfile"})
    assert (reported.status, reported.data) == ("Accepted", {"profiles": [
        {"connector_number": 2, "charging_limit_source": "CSO", "charging_profile": profile}]})
    assert (await send(appliance, "clear_charging_limit", {"profile_id": 9})).status == "Accepted"
    assert (await send(appliance, "get_charging_profiles", {})).status == "NoProfiles"


async def test_installed_profiles_come_back_from_a_report_in_parts(appliance, cs):
    for limit in (ChargingLimit(32, connector_number=1, profile_id=1, start=T0),
                  ChargingLimit(16, connector_number=1, profile_id=2, stack_level=1, start=T0),
                  ChargingLimit(63, purpose="ChargePointMaxProfile", profile_id=3, start=T0)):
        assert (await send(appliance, "set_charging_limit", {"limit": limit})).ok
    result = await send(appliance, "get_charging_profiles", {})
    assert result.status == "Accepted"
    assert sorted((p["connector_number"], p["charging_profile"]["id"],
                   p["charging_profile"]["charging_profile_purpose"]) for p in result.data["profiles"]) == \
        [(0, 3, "ChargingStationMaxProfile"), (1, 1, "TxDefaultProfile"), (1, 2, "TxDefaultProfile")]
    # one ReportChargingProfiles per EVSE (evseId is a single number), the first with tbc
    request_id = cs.last("GetChargingProfiles")["request_id"]
    parts = [m for m in await appliance.core.commlog.recent("CS1", 50)
             if m.direction == "in" and '"ReportChargingProfiles"' in m.message]
    assert len(parts) == 2 and all(f'"requestId":{request_id}' in m.message for m in parts)
    evse_1 = await send(appliance, "get_charging_profiles", {"connector_number": 1, "stack_level": 1})
    assert [p["charging_profile"]["id"] for p in evse_1.data["profiles"]] == [2]


async def test_composite_schedule_comes_back_in_the_shape_1_6_gives_it(appliance, cs):
    result = await send(appliance, "get_composite_schedule", {"connector_number": 1, "duration_s": 600})
    assert cs.received == [("GetCompositeSchedule", {"duration": 600, "evse_id": 1})]
    assert result.status == "Accepted"
    assert set(result.data) == {"connector_id", "schedule_start", "charging_schedule"}
    assert result.data["connector_id"] == 1
    assert result.data["charging_schedule"] == {
        "duration": 600, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}


# -- configuration: the device model ------------------------------------------------------------------

async def test_the_configuration_report_arrives_in_parts_and_is_read_in_full(appliance, cs):
    result = await send(appliance, "get_configuration", {})
    assert result.data["configuration_key"] == CONFIGURATION_INVENTORY
    # 13 variables at DeviceDataCtrlr.ItemsPerMessage:GetReport = 4 a message
    request_id = cs.last("GetBaseReport")["request_id"]
    parts = await wait_for(lambda: _report_parts(appliance, request_id))
    assert [('"tbc":true' in m) for m in parts] == [True, True, True, False]


async def _report_parts(appliance, request_id: int) -> list[str]:
    return [m.message for m in reversed(await appliance.core.commlog.recent("CS1", 100))
            if m.direction == "in" and '"NotifyReport"' in m.message and f'"requestId":{request_id},' in m.message]


@pytest.mark.parametrize("answer, status, data", [
    ("NotSupported", "NotSupported", {}),
    ("Rejected", "Rejected", {}),
    ("EmptyResultSet", "Accepted", {"configuration_key": []}),  # nothing to report: no configuration
])
async def test_a_refused_configuration_report_is_the_result(appliance, cs, answer, status, data):
    cs.answers["GetBaseReport"] = answer
    result = await send(appliance, "get_configuration", {})
    assert (result.status, result.data) == (status, data)


async def test_a_variable_read_back_after_a_change_whichever_name_is_used(appliance, cs):
    assert (await send(appliance, "change_configuration", {"key": "MeterValueSampleInterval", "value": "15"})).ok
    result = await send(appliance, "get_configuration",
                        {"keys": ["SampledDataCtrlr.TxUpdatedInterval", "MeterValueSampleInterval"]})
    assert [e["value"] for e in result.data["configuration_key"]] == ["15", "15"]
    everything = await send(appliance, "get_configuration", {})
    assert {"key": "SampledDataCtrlr.TxUpdatedInterval", "readonly": False, "value": "15"} in \
        everything.data["configuration_key"]


async def test_a_variable_the_station_will_not_show_is_listed_without_a_value(appliance, cs):
    result = await send(appliance, "get_configuration", {"keys": ["AuthorizationKey", "HeartbeatInterval"]})
    assert (result.status, result.detail) == ("Accepted", "AuthorizationKey: Rejected")
    assert result.data == {"configuration_key": [{"key": "AuthorizationKey", "readonly": None},
                                                 {"key": "HeartbeatInterval", "readonly": None, "value": "300"}]}


@pytest.mark.parametrize("key", ["AuthorizationKey", "SecurityCtrlr.BasicAuthPassword",
                                 "securityctrlr.basicauthpassword"])
async def test_a_new_password_is_masked_in_the_action_log_and_the_communication_log(appliance, cs, key):
    result = await send(appliance, "change_configuration", {"key": key, "value": "n3w-pa55word"})
    assert result.status == "Accepted"
    assert cs.variables[("SecurityCtrlr", None, None, "BasicAuthPassword", None)].value == "n3w-pa55word"
    [entry] = await appliance.core.commands.actions("CS1")
    assert entry.arguments == {"key": key, "value": "***"}
    sent = await wait_for(lambda: _sent(appliance, "SetVariables"))
    assert "n3w-pa55word" not in sent[0] and "***" in sent[0]


async def _sent(appliance, action: str) -> list[str]:
    return [m.message for m in await appliance.core.commlog.recent("CS1", 50)
            if m.direction == "out" and f'"{action}"' in m.message]


# -- local list ----------------------------------------------------------------------------------------

async def test_the_local_list_and_its_version_follow_full_and_differential_updates(appliance, cs):
    assert (await send(appliance, "send_local_list", {"version": 3, "full": True, "entries": LOCAL_LIST_FULL})).ok
    assert (await send(appliance, "get_local_list_version", {})).data == {"list_version": 3}
    assert (await send(appliance, "send_local_list", {"version": 4, "full": False, "entries": LOCAL_LIST_DIFF})).ok
    assert (await send(appliance, "get_local_list_version", {})).data == {"list_version": 4}
    assert sorted(cs.local_list) == ["CARD1", "CARD3"]
    cs.answers["SendLocalList"] = "Failed"
    failed = await send(appliance, "send_local_list", {"version": 5, "full": True, "entries": []})
    assert failed.status == "Failed" and not failed.ok
    assert (await send(appliance, "get_local_list_version", {})).data == {"list_version": 4}


async def test_a_trigger_2_0_1_cannot_send_is_refused_without_sending(appliance, cs):
    for message in ("DiagnosticsStatusNotification", "SignChargePointCertificate", "MeterValues"):
        assert (await send(appliance, "trigger_message", {"message": message})).ok
    assert [kw["requested_message"] for _, kw in cs.received] == \
        ["LogStatusNotification", "SignChargingStationCertificate", "MeterValues"]
    cs.received.clear()
    for message in ("Authorize", "StartTransaction"):
        result = await send(appliance, "trigger_message", {"message": message})
        assert (result.status, result.ok) == ("NotSupportedByCharger", False)
        assert message in result.detail and "LogStatusNotification" in result.detail
    assert cs.received == []
