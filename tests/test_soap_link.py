"""ChargerLink over OCPP 1.5 and 1.6 SOAP, end to end: every command through ChargerCommands reaches a
virtual SOAP charger as the exact request of its version, with the chargeBoxIdentity header and
WS-Addressing; its answer comes back with the same status and data as over 1.6 JSON; what a version
lacks is refused without a request.

Faults, an unreachable or silent charger, the event loop during a slow call and the communication
log are in test_soap_link_errors.py; the WSDLs themselves in test_soap_chargepoint_wsdl.py.
"""

from __future__ import annotations

import contextlib
import re

import pytest

from appliance.core.link import COMMANDS, ChargingLimit, LocalListEntry
from appliance.ocpp15_soap.addressing import WSA
from appliance.ocpp15_soap.cp_models import CP15
from appliance.ocpp15_soap.link import Ocpp15SoapLink
from appliance.ocpp16.soap_link import CP16, Ocpp16SoapLink
from tests.test_charger_link16 import DEFAULT_32A_3PH, LIMIT_16A, LOCAL_LIST_DIFF, LOCAL_LIST_FULL, T0, T0_WIRE, \
    T1, T1_WIRE, TX_7400W, logged
from tests.virtual_soap_chargepoint import serve_chargepoint

VERSIONS = {"1.5": CP15, "1.6": CP16}
LINKS = {"1.5": Ocpp15SoapLink, "1.6": Ocpp16SoapLink}
BOTH, ONLY_15, ONLY_16 = ("1.5", "1.6"), ("1.5",), ("1.6",)


@pytest.fixture
async def soap(appliance):
    """connect(version, identity): a virtual SOAP charger, added to the appliance with its address, and
    its link registered (as the production wiring will do for SOAP chargers with an address)."""
    async with contextlib.AsyncExitStack() as stack:
        async def connect(version, identity="SOAP1"):
            cp = await stack.enter_async_context(serve_chargepoint(version, identity))
            await appliance.core.chargers.add(identity, version.protocol, endpoint_url=cp.url)
            await appliance.core.bus.drain()  # the appliance's own link first, then the test's over it
            appliance.core.links.register(LINKS[version.version](identity, cp.url, appliance.core))
            return cp

        yield connect


async def send(appliance, command, arguments, reason="test", identity="SOAP1"):
    return await appliance.core.commands.send(identity, command, arguments, actor="tester", reason=reason)


def addressed(cp, version, action, index=-1) -> None:
    """The request carried the charger's identity, and WS-Addressing 2005/08 naming the official action,
    the charger's address and a fresh message id; no From/ReplyTo without a public_url setting."""
    headers = cp.headers[index]
    message_id = headers.get(f"{{{WSA}}}MessageID", "")
    assert headers == {f"{{{version.namespace}}}chargeBoxIdentity": cp.identity, f"{{{WSA}}}Action": f"/{action}",
                       f"{{{WSA}}}MessageID": message_id, f"{{{WSA}}}To": cp.url}
    assert re.fullmatch(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", message_id)


TX_PROFILE_AT_START = {
    "chargingProfileId": "5", "stackLevel": "2", "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Absolute", "chargingSchedule": {
        "duration": "3600", "startSchedule": T0_WIRE, "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": "0", "limit": "16.0"}]}}
LIST_FULL_WIRE = [
    {"idTag": "CARD1", "idTagInfo": {"status": "Accepted", "expiryDate": T1_WIRE, "parentIdTag": "FLEET-A"}},
    {"idTag": "CARD2", "idTagInfo": {"status": "Blocked"}}]
LIST_DIFF_WIRE = [{"idTag": "CARD3", "idTagInfo": {"status": "Accepted"}}, {"idTag": "CARD2"}]
DIAGNOSTICS = {"location": "ftp://depot.example/diag/", "start": T0, "stop": T1, "retries": 3, "retry_interval_s": 60}
FIRMWARE = {"location": "https://fw.example/vc16-1.1.bin", "retrieve_at": T0, "retries": 2, "retry_interval_s": 30}
RESERVE = {"connector_number": 1, "expires_at": T1, "id_tag": "CARD1", "reservation_id": 11, "parent_id_tag": "FLEET-A"}

# id, versions, command, arguments, the charger's answer (None: its default), wire action, the request's
# elements as sent, expected status, expected data (None: not checked). Statuses and data are what
# test_charger_link16 expects of 1.6 JSON for the same command.
CASES = [
    ("remote_start", BOTH, "remote_start", {"connector_number": 1, "id_tag": "CARD1"}, None,
     "RemoteStartTransaction", {"connectorId": "1", "idTag": "CARD1"}, "Accepted", {}),
    ("remote_start_limit", ONLY_16, "remote_start", {"connector_number": 1, "id_tag": "CARD1", "limit": LIMIT_16A},
     None, "RemoteStartTransaction", {"connectorId": "1", "idTag": "CARD1", "chargingProfile": TX_PROFILE_AT_START},
     "Accepted", {}),
    ("remote_start_rejected", BOTH, "remote_start", {"connector_number": None, "id_tag": "CARD1"}, "Rejected",
     "RemoteStartTransaction", {"idTag": "CARD1"}, "Rejected", {}),
    ("remote_stop", BOTH, "remote_stop", {"transaction_id": 42}, None,
     "RemoteStopTransaction", {"transactionId": "42"}, "Accepted", {}),
    ("reset_soft", BOTH, "reset", {"hard": False}, None, "Reset", {"type": "Soft"}, "Accepted", {}),
    ("reset_hard", BOTH, "reset", {"hard": True}, None, "Reset", {"type": "Hard"}, "Accepted", {}),
    ("reset_rejected", BOTH, "reset", {"hard": True}, "Rejected", "Reset", {"type": "Hard"}, "Rejected", {}),
    # 1.5 answers Accepted/Rejected; callers get 1.6's words
    ("unlock", BOTH, "unlock", {"connector_number": 2}, None, "UnlockConnector", {"connectorId": "2"}, "Unlocked", {}),
    ("unlock_rejected", ONLY_15, "unlock", {"connector_number": 2}, "Rejected",
     "UnlockConnector", {"connectorId": "2"}, "UnlockFailed", {}),
    ("unlock_failed", ONLY_16, "unlock", {"connector_number": 2}, "UnlockFailed",
     "UnlockConnector", {"connectorId": "2"}, "UnlockFailed", {}),
    ("unlock_not_supported", ONLY_16, "unlock", {"connector_number": 2}, "NotSupported",
     "UnlockConnector", {"connectorId": "2"}, "NotSupported", {}),
    ("operative", BOTH, "change_availability", {"connector_number": 1, "operative": True}, None,
     "ChangeAvailability", {"connectorId": "1", "type": "Operative"}, "Accepted", {}),
    ("inoperative_scheduled", BOTH, "change_availability", {"connector_number": 0, "operative": False}, "Scheduled",
     "ChangeAvailability", {"connectorId": "0", "type": "Inoperative"}, "Scheduled", {}),
    ("config_all", BOTH, "get_configuration", {}, None, "GetConfiguration", {}, "Accepted",
     {"configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                            {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"}]}),
    ("config_one", BOTH, "get_configuration", {"keys": ["HeartbeatInterval"]}, None,
     "GetConfiguration", {"key": ["HeartbeatInterval"]}, "Accepted",
     {"configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}),
    ("config_unknown", BOTH, "get_configuration", {"keys": ["NoSuchKey"]}, None,
     "GetConfiguration", {"key": ["NoSuchKey"]}, "Accepted", {"configuration_key": [], "unknown_key": ["NoSuchKey"]}),
    ("change_config", BOTH, "change_configuration", {"key": "HeartbeatInterval", "value": "60"}, None,
     "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}, "Accepted", {}),
    ("change_config_reboot", ONLY_16, "change_configuration", {"key": "WebSocketPingInterval", "value": "30"},
     "RebootRequired", "ChangeConfiguration", {"key": "WebSocketPingInterval", "value": "30"}, "RebootRequired", {}),
    ("change_config_not_supported", BOTH, "change_configuration", {"key": "Brightness", "value": "9"},
     "NotSupported", "ChangeConfiguration", {"key": "Brightness", "value": "9"}, "NotSupported", {}),
    ("clear_cache", BOTH, "clear_cache", {}, None, "ClearCache", {}, "Accepted", {}),
    ("trigger_heartbeat", ONLY_16, "trigger_message", {"message": "Heartbeat"}, None,
     "TriggerMessage", {"requestedMessage": "Heartbeat"}, "Accepted", {}),
    ("trigger_status", ONLY_16, "trigger_message", {"message": "StatusNotification", "connector_number": 1}, None,
     "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": "1"}, "Accepted", {}),
    # 1.5 spells the list with an s and puts the update type first
    ("local_list_full", ONLY_15, "send_local_list", {"version": 3, "full": True, "entries": LOCAL_LIST_FULL}, None,
     "SendLocalList", {"updateType": "Full", "listVersion": "3", "localAuthorisationList": LIST_FULL_WIRE},
     "Accepted", {}),
    ("local_list_full", ONLY_16, "send_local_list", {"version": 3, "full": True, "entries": LOCAL_LIST_FULL}, None,
     "SendLocalList", {"listVersion": "3", "localAuthorizationList": LIST_FULL_WIRE, "updateType": "Full"},
     "Accepted", {}),
    ("local_list_diff", ONLY_15, "send_local_list", {"version": 4, "full": False, "entries": LOCAL_LIST_DIFF}, None,
     "SendLocalList", {"updateType": "Differential", "listVersion": "4", "localAuthorisationList": LIST_DIFF_WIRE},
     "Accepted", {}),
    ("local_list_diff", ONLY_16, "send_local_list", {"version": 4, "full": False, "entries": LOCAL_LIST_DIFF}, None,
     "SendLocalList", {"listVersion": "4", "localAuthorizationList": LIST_DIFF_WIRE, "updateType": "Differential"},
     "Accepted", {}),
    ("local_list_mismatch", BOTH, "send_local_list", {"version": 5, "full": False, "entries": []}, "VersionMismatch",
     "SendLocalList", {"listVersion": "5", "updateType": "Differential"}, "VersionMismatch", {}),
    ("local_list_hash_error", ONLY_15, "send_local_list", {"version": 5, "full": True, "entries": []}, "HashError",
     "SendLocalList", {"listVersion": "5", "updateType": "Full"}, "HashError", {}),
    ("local_list_version", BOTH, "get_local_list_version", {}, None, "GetLocalListVersion", {}, "Accepted",
     {"list_version": 0}),
    ("limit_default_3ph", ONLY_16, "set_charging_limit", {"limit": DEFAULT_32A_3PH}, None,
     "SetChargingProfile", {"connectorId": "0", "csChargingProfiles": {
         "chargingProfileId": "1", "stackLevel": "0", "chargingProfilePurpose": "TxDefaultProfile",
         "chargingProfileKind": "Absolute", "chargingSchedule": {
             "startSchedule": T0_WIRE, "chargingRateUnit": "A",
             "chargingSchedulePeriod": [{"startPeriod": "0", "limit": "32.0", "numberPhases": "3"}]}}},
     "Accepted", {}),
    ("limit_tx_profile", ONLY_16, "set_charging_limit", {"limit": TX_7400W}, None,
     "SetChargingProfile", {"connectorId": "1", "csChargingProfiles": {
         "chargingProfileId": "9", "transactionId": "42", "stackLevel": "1", "chargingProfilePurpose": "TxProfile",
         "chargingProfileKind": "Absolute", "chargingSchedule": {
             "duration": "1800", "startSchedule": T0_WIRE, "chargingRateUnit": "W",
             "chargingSchedulePeriod": [{"startPeriod": "0", "limit": "7400.0"}]}}},
     "Accepted", {}),
    ("clear_limit_by_id", ONLY_16, "clear_charging_limit", {"profile_id": 9}, None,
     "ClearChargingProfile", {"id": "9"}, "Accepted", {}),
    ("clear_limit_by_criteria", ONLY_16, "clear_charging_limit",
     {"connector_number": 1, "purpose": "TxDefaultProfile", "stack_level": 0}, "Unknown",
     "ClearChargingProfile", {"connectorId": "1", "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": "0"},
     "Unknown", {}),
    ("composite_schedule", ONLY_16, "get_composite_schedule", {"connector_number": 1, "duration_s": 3600, "unit": "W"},
     None, "GetCompositeSchedule", {"connectorId": "1", "duration": "3600", "chargingRateUnit": "W"}, "Accepted", None),
    ("diagnostics", BOTH, "get_diagnostics", DIAGNOSTICS, None,
     "GetDiagnostics", {"location": "ftp://depot.example/diag/", "startTime": T0_WIRE, "stopTime": T1_WIRE,
                        "retries": "3", "retryInterval": "60"}, "Accepted", {"file_name": "diagnostics.zip"}),
    ("firmware", BOTH, "update_firmware", FIRMWARE, None,
     "UpdateFirmware", {"retrieveDate": T0_WIRE, "location": "https://fw.example/vc16-1.1.bin", "retries": "2",
                        "retryInterval": "30"}, "Accepted", {}),
    ("reserve", BOTH, "reserve_now", RESERVE, None,
     "ReserveNow", {"connectorId": "1", "expiryDate": T1_WIRE, "idTag": "CARD1", "parentIdTag": "FLEET-A",
                    "reservationId": "11"}, "Accepted", {}),
    ("reserve_occupied", BOTH, "reserve_now", {"connector_number": 1, "expires_at": T1, "id_tag": "CARD1",
                                               "reservation_id": 12}, "Occupied",
     "ReserveNow", {"connectorId": "1", "expiryDate": T1_WIRE, "idTag": "CARD1", "reservationId": "12"},
     "Occupied", {}),
    ("cancel_reservation", BOTH, "cancel_reservation", {"reservation_id": 11}, None,
     "CancelReservation", {"reservationId": "11"}, "Accepted", {}),
    ("data_transfer", BOTH, "data_transfer", {"vendor_id": "com.depot", "message_id": "ping", "data": "hello"}, None,
     "DataTransfer", {"vendorId": "com.depot", "messageId": "ping", "data": "hello"}, "Accepted", {"data": "pong"}),
    ("data_transfer_unknown_vendor", BOTH, "data_transfer", {"vendor_id": "com.other"}, "UnknownVendorId",
     "DataTransfer", {"vendorId": "com.other"}, "UnknownVendorId", {"data": "pong"}),
]

# What 1.5 lacks: refused without a request (test_what_1_5_lacks_is_refused_without_a_request).
LACKING_IN_15 = [
    ("trigger_message", {"message": "Heartbeat"}, "TriggerMessage"),
    ("set_charging_limit", {"limit": DEFAULT_32A_3PH}, "SetChargingProfile"),
    ("clear_charging_limit", {"profile_id": 1}, "ClearChargingProfile"),
    ("get_composite_schedule", {"connector_number": 1, "duration_s": 600}, "GetCompositeSchedule"),
    ("remote_start", {"connector_number": 1, "id_tag": "CARD1", "limit": LIMIT_16A}, "charging limit"),
    ("get_charging_profiles", {"connector_number": 1}, "GetChargingProfiles"),
]


@pytest.mark.parametrize("version, command, arguments, answer, action, fields, status, data", [
    pytest.param(v, *case[2:], id=f"{v}-{case[0]}") for case in CASES for v in case[1]])
async def test_command_reaches_the_charger_and_its_answer_comes_back(
        appliance, soap, version, command, arguments, answer, action, fields, status, data):
    cp = await soap(VERSIONS[version])
    if answer is not None:
        cp.answers[action] = answer
    result = await send(appliance, command, arguments, reason=f"testing {command}")
    assert cp.received == [(action, fields)]
    addressed(cp, VERSIONS[version], action)
    assert (result.status, result.detail) == (status, "")
    if data is not None:
        assert result.data == data
    [entry] = await appliance.core.commands.actions("SOAP1")
    assert (entry.actor, entry.charger_identity, entry.action, entry.reason, entry.result_status) == \
        ("tester", "SOAP1", command, f"testing {command}", status)
    assert entry.arguments == logged(arguments)


@pytest.mark.parametrize("version", BOTH)
async def test_every_link_command_is_covered_by_the_tables(version):
    covered = {case[2] for case in CASES if version in case[1]}
    lacking = {command for command, _, _ in LACKING_IN_15} if version == "1.5" else {"get_charging_profiles"}
    assert covered | lacking == set(COMMANDS)


@pytest.mark.parametrize("command, arguments, named", LACKING_IN_15, ids=[c[0] for c in LACKING_IN_15])
async def test_what_1_5_lacks_is_refused_without_a_request(appliance, soap, command, arguments, named):
    cp = await soap(CP15)
    result = await send(appliance, command, arguments)
    assert (result.status, result.ok) == ("NotSupportedByCharger", False)
    assert "OCPP 1.5" in result.detail and named in result.detail
    assert cp.received == []
    [entry] = await appliance.core.commands.actions("SOAP1")
    assert (entry.action, entry.result_status) == (command, "NotSupportedByCharger")


async def test_1_6_cannot_report_charging_profiles_nor_trigger_what_its_schema_lacks(appliance, soap):
    cp = await soap(CP16)
    for command, arguments, named in [("get_charging_profiles", {"purpose": "TxProfile"}, "GetChargingProfiles"),
                                      ("trigger_message", {"message": "LogStatusNotification"}, "Heartbeat"),
                                      ("trigger_message", {"message": "TransactionEvent"}, "TransactionEvent")]:
        result = await send(appliance, command, arguments)
        assert result.status == "NotSupportedByCharger" and "OCPP 1.6" in result.detail and named in result.detail
    assert cp.received == []
    assert (await send(appliance, "trigger_message", {"message": "MeterValues", "connector_number": 1})).ok


async def test_composite_schedule_comes_back_as_over_json(appliance, soap):
    cp = await soap(CP16)
    result = await send(appliance, "get_composite_schedule", {"connector_number": 1, "duration_s": 600})
    assert cp.received == [("GetCompositeSchedule", {"connectorId": "1", "duration": "600"})]
    assert result.status == "Accepted"
    assert result.data["connector_id"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", result.data["schedule_start"])
    assert result.data["charging_schedule"] == {
        "duration": 600, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}


@pytest.mark.parametrize("version", BOTH)
async def test_a_changed_configuration_reads_back_and_the_local_list_version_follows(appliance, soap, version):
    cp = await soap(VERSIONS[version])
    assert (await send(appliance, "change_configuration", {"key": "HeartbeatInterval", "value": "60"})).ok
    result = await send(appliance, "get_configuration", {"keys": ["HeartbeatInterval"]})
    assert result.data == {"configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]}
    assert (await send(appliance, "send_local_list", {"version": 3, "full": True, "entries": LOCAL_LIST_FULL})).ok
    assert (await send(appliance, "get_local_list_version", {})).data == {"list_version": 3}
    cp.answers["SendLocalList"] = "Failed"
    assert (await send(appliance, "send_local_list", {"version": 4, "full": False, "entries": []})).status == "Failed"
    assert (await send(appliance, "get_local_list_version", {})).data == {"list_version": 3}
    assert len({h[f"{{{WSA}}}MessageID"] for h in cp.headers}) == len(cp.headers) == 6


async def test_a_request_its_schema_refuses_is_not_sent_and_says_so(appliance, soap):
    cp = await soap(CP16)
    status, body = await appliance.api("POST", "/api/v1/chargers/SOAP1/commands/set_charging_limit",
                                       {"arguments": {"limit": {"limit": 11, "unit": "kW"}}})
    assert status == 400 and body["error"].startswith("not sent, the request breaks the OCPP 1.6 schema")
    assert "'kW'" in body["error"]
    status, body = await appliance.api("POST", "/api/v1/chargers/SOAP1/commands/remote_start",
                                       {"arguments": {"connector_number": 1, "id_tag": "A-TAG-OF-21-CHARACTERS"}})
    assert status == 400 and "idTag" in body["error"] and "length" in body["error"]
    assert cp.received == [] and await appliance.core.commands.actions("SOAP1") == []


async def test_1_5_refuses_a_too_long_tag_too(appliance, soap):
    cp = await soap(CP15)
    with pytest.raises(Exception, match="not sent, the request breaks the OCPP 1.5 schema: Element 'idTag'"):
        await send(appliance, "reserve_now", {**RESERVE, "id_tag": "X" * 21})
    assert cp.received == []


async def test_a_limit_and_a_list_entry_given_as_objects_are_sent_alike(appliance, soap):
    # the same dataclasses the JSON table sends, here checked for the keys that only SOAP spells differently
    cp = await soap(CP16)
    limit = ChargingLimit(10, "A", connector_number=2, purpose="ChargePointMaxProfile", start=T0)
    assert (await send(appliance, "set_charging_limit", {"limit": limit})).ok
    assert cp.last("SetChargingProfile")["csChargingProfiles"]["chargingProfilePurpose"] == "ChargePointMaxProfile"
    entry = LocalListEntry("CARD9", "Expired")
    assert (await send(appliance, "send_local_list", {"version": 1, "full": False, "entries": [entry]})).ok
    assert cp.last("SendLocalList")["localAuthorizationList"] == [{"idTag": "CARD9",
                                                                   "idTagInfo": {"status": "Expired"}}]
