"""ChargerLink over OCPP 2.0.1 JSON when things go wrong, and through the JSON API the CLI uses.

A station's CALLERROR, silence and absence each come back as a clear result; a key that is no 2.0.1
variable, a transaction that is not the station's and a request the schema refuses are refused before
anything is sent; `config get`/`config set` answer in the same shape for 2.0.1 as for 1.6.
"""

from __future__ import annotations

import asyncio

import pytest
from ocpp.exceptions import InternalError, NotSupportedError
from ocpp.v201 import call_result

from appliance.core.commands import CommandError
from tests.conftest import make_settings, wait_for
from tests.test_charger_link201 import send
from tests.virtual_charger import connect16
from tests.virtual_charger201 import connect201

COMMANDS_URL = "/api/v1/chargers/CS1/commands/"


# -- the station answers with a CALLERROR, too late, or is not there --------------------------------------

@pytest.mark.parametrize("command, arguments, action", [
    ("reset", {"hard": True}, "Reset"),
    ("get_configuration", {"keys": ["HeartbeatInterval"]}, "GetVariables"),
    ("get_configuration", {}, "GetBaseReport"),  # no report follows: the result must not wait for one
    ("get_charging_profiles", {}, "GetChargingProfiles"),
])
@pytest.mark.parametrize("error, code", [
    (NotSupportedError("not on this model"), "NotSupported"),
    (InternalError("firmware fault"), "InternalError"),
])
async def test_a_call_error_comes_back_with_its_code(appliance, cs, command, arguments, action, error, code):
    cs.answers[action] = error
    result = await send(appliance, command, arguments, reason="check")
    assert [a for a, _ in cs.received] == [action]
    assert (result.status, result.ok) == ("CallError", False)
    assert result.detail == f"{code}: {error.description}"
    [entry] = await appliance.core.commands.actions("CS1")
    assert (entry.action, entry.result_status, entry.result_detail) == (command, "CallError", result.detail)


async def test_the_stations_reason_comes_back_as_the_detail(appliance, cs):
    def busy(**kw):
        return call_result.Reset(status="Rejected", status_info={"reason_code": "TxInProgress",
                                                                  "additional_info": "EVSE 1 is charging"})

    cs.route_map["Reset"]["_on_action"] = busy
    result = await send(appliance, "reset", {"hard": True})
    assert (result.status, result.detail, result.data) == ("Rejected", "TxInProgress: EVSE 1 is charging", {})


async def test_a_station_that_does_not_answer_times_out_and_its_late_answer_is_not_mistaken(
        start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", command_timeout_s=0.5))
    await app.core.chargers.add("CS1", "ocpp2.0.1")
    async with connect201(app.url, "CS1") as cs:
        await wait_for(lambda: cs.reports_sent)
        release = asyncio.Event()

        async def hang(**kw):
            cs.received.append(("Reset", kw))
            await release.wait()
            return call_result.Reset(status="Rejected")  # the answer arrives after the timeout

        cs.route_map["Reset"]["_on_action"] = hang
        result = await app.core.commands.send("CS1", "reset", {"hard": False}, actor="tester")
        assert (result.status, result.detail) == ("Timeout", "no answer within 0.5 s")
        release.set()
        after = await app.core.commands.send("CS1", "get_configuration", {"keys": ["HeartbeatInterval"]},
                                             actor="tester")
        assert after.data == {"configuration_key": [{"key": "HeartbeatInterval", "readonly": None, "value": "300"}]}


async def test_a_report_that_never_comes_times_out_and_the_next_one_is_read_whole(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", command_timeout_s=0.5))
    await app.core.chargers.add("CS1", "ocpp2.0.1")
    async with connect201(app.url, "CS1") as cs:
        await wait_for(lambda: cs.reports_sent)
        cs.send_reports = False  # accepts, and then never reports
        for command in ("get_configuration", "get_charging_profiles"):
            if command == "get_charging_profiles":
                cs.answers["GetChargingProfiles"] = "Accepted"
            result = await app.core.commands.send("CS1", command, {}, actor="tester")
            assert (result.status, result.detail) == ("Timeout", "no answer within 0.5 s")
        cs.send_reports = True
        result = await app.core.commands.send("CS1", "get_configuration", {}, actor="tester")
        assert result.status == "Accepted" and len(result.data["configuration_key"]) == 13


async def test_a_station_that_is_not_connected_is_offline(appliance):
    await appliance.core.chargers.add("CS1", "ocpp2.0.1")
    result = await send(appliance, "get_configuration", {}, reason="audit")
    assert (result.status, result.detail, result.ok) == ("Offline", "charger CS1 is not connected", False)
    [entry] = await appliance.core.commands.actions("CS1")
    assert (entry.action, entry.reason, entry.result_status) == ("get_configuration", "audit", "Offline")


async def test_a_station_that_went_away_is_offline(appliance, cs):
    assert (await send(appliance, "clear_cache", {})).status == "Accepted"
    await cs._connection.ws.close()
    await wait_for(lambda: appliance.core.links.get("CS1") is None)
    assert (await send(appliance, "clear_cache", {})).status == "Offline"


# -- refused before anything is sent -------------------------------------------------------------------------

@pytest.mark.parametrize("command, arguments, message", [
    ("get_configuration", {"keys": ["HeartbeatInterval", "VendorSpecificKey"]},
     "'VendorSpecificKey' is not an OCPP 2.0.1 variable nor a 1.6 key"),
    ("change_configuration", {"key": "EVSE@one.Power", "value": "1"}, "is not a key of the form COMPONENT"),
    ("change_configuration", {"key": "EVSE@0.Power", "value": "1"}, "EVSE and connector numbers start at 1"),
    ("remote_stop", {"transaction_id": 999}, "transaction 999 is not a transaction of charger CS1"),
    ("set_charging_limit", {"limit": {"limit": 10, "purpose": "TxProfile", "transaction_id": 999}},
     "transaction 999 is not a transaction of charger CS1"),
    ("set_charging_limit", {"limit": {"limit": 11, "unit": "kW"}},
     "not sent, the request breaks the OCPP 2.0.1 schema"),
    ("change_configuration", {"key": "HeartbeatInterval", "value": "9" * 1001},
     "not sent, the request breaks the OCPP 2.0.1 schema"),  # attributeValue is string(1000)
])
async def test_a_command_that_cannot_be_put_in_2_0_1_is_refused_and_sends_nothing(
        appliance, cs, command, arguments, message):
    with pytest.raises(CommandError, match=message):
        await send(appliance, command, arguments)
    status, answer = await appliance.api("POST", COMMANDS_URL + command, {"arguments": arguments})
    assert status == 400 and message in answer["error"]
    assert cs.received == []
    assert await appliance.core.commands.actions("CS1") == []


async def test_remote_stop_of_another_chargers_transaction_is_refused(appliance, cs):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        started = await cp.start_transaction("CARD1")
    with pytest.raises(CommandError, match=f"transaction {started.transaction_id} is not a transaction of charger CS1"):
        await send(appliance, "remote_stop", {"transaction_id": started.transaction_id})
    assert cs.received == []


# -- the API the CLI's `charger config get/set` use: the same shape as 1.6 ---------------------------------

async def test_config_get_and_set_answer_in_the_shape_1_6_gives(appliance, cs):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1"):
        _, answer_16 = await appliance.api("POST", "/api/v1/chargers/CP1/commands/get_configuration",
                                           {"arguments": {"keys": ["HeartbeatInterval", "NoSuchKey"]}})
        _, all_16 = await appliance.api("POST", "/api/v1/chargers/CP1/commands/get_configuration",
                                        {"arguments": {"keys": None}})
        _, set_16 = await appliance.api("POST", "/api/v1/chargers/CP1/commands/change_configuration",
                                        {"arguments": {"key": "HeartbeatInterval", "value": "60"}})
    status, answer = await appliance.api("POST", COMMANDS_URL + "get_configuration",
                                         {"arguments": {"keys": ["HeartbeatInterval", "Vendor.NoSuchKey"]}})
    assert (status, answer) == (200, {"status": "Accepted", "ok": True, "detail": "", "data": {
        "configuration_key": [{"key": "HeartbeatInterval", "readonly": None, "value": "300"}],
        "unknown_key": ["Vendor.NoSuchKey"]}})
    assert _shape(answer) == _shape(answer_16)

    status, everything = await appliance.api("POST", COMMANDS_URL + "get_configuration", {"arguments": {"keys": None}})
    assert status == 200 and everything["status"] == "Accepted"
    assert {"key": "OCPPCommCtrlr.HeartbeatInterval", "readonly": False, "value": "300"} in \
        everything["data"]["configuration_key"]
    assert _shape(everything) == _shape(all_16)

    status, changed = await appliance.api("POST", COMMANDS_URL + "change_configuration",
                                          {"arguments": {"key": "HeartbeatInterval", "value": "60"},
                                           "reason": "fewer heartbeats"})
    assert (status, changed) == (200, set_16) == (200, {"status": "Accepted", "ok": True, "data": {}, "detail": ""})
    status, rejected = await appliance.api("POST", COMMANDS_URL + "change_configuration",
                                           {"arguments": {"key": "Connector@1:1.ConnectorType", "value": "cCCS2"}})
    assert (status, rejected) == (200, {"status": "Rejected", "ok": False, "data": {}, "detail": ""})
    assert [kw["set_variable_data"][0]["attribute_value"] for a, kw in cs.received if a == "SetVariables"] == \
        ["60", "cCCS2"]


def _shape(answer: dict) -> tuple:
    """The keys of a result and of its configuration entries, not their values."""
    entries = answer["data"]["configuration_key"]
    return (sorted(answer), sorted(answer["data"]), sorted({k for e in entries for k in e if k != "value"}))


async def test_get_charging_profiles_through_the_api(appliance, cs):
    status, answer = await appliance.api("POST", COMMANDS_URL + "set_charging_limit", {"arguments": {"limit": {
        "limit": 20, "connector_number": 2, "profile_id": 7, "start": "2026-11-21T08:00:00Z"}}})
    assert (status, answer["status"]) == (200, "Accepted")
    status, answer = await appliance.api("POST", COMMANDS_URL + "get_charging_profiles",
                                         {"arguments": {"connector_number": "2", "purpose": "TxDefaultProfile"}})
    assert (status, answer["status"], answer["ok"]) == (200, "Accepted", True)
    [profile] = answer["data"]["profiles"]
    assert (profile["connector_number"], profile["charging_profile"]["id"]) == (2, 7)
    assert cs.last("GetChargingProfiles")["evse_id"] == 2  # "2" from JSON, coerced to a number
