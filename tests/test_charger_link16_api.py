"""ChargerLink over OCPP 1.6 JSON when things go wrong, and through the JSON API.

A charger's CALLERROR, silence and absence each come back as a clear result (and in the action log);
a malformed command is refused before anything is sent; the API takes JSON arguments (ISO dates,
objects for limits and local list entries) and answers 400/401/404 with a message.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from ocpp.exceptions import InternalError, NotSupportedError, PropertyConstraintViolationError
from ocpp.v16 import call_result

from appliance.core.commands import CommandError
from tests.conftest import make_settings, wait_for
from tests.test_charger_link16 import T0_WIRE, T1_WIRE, send
from tests.virtual_charger import connect16

COMMANDS_URL = "/api/v1/chargers/CP1/commands/"




# -- the charger answers with a CALLERROR, too late, or is not there --------------------------------

@pytest.mark.parametrize("error, code", [
    (NotSupportedError("hard reset is not supported"), "NotSupported"),
    (PropertyConstraintViolationError("type out of range"), "PropertyConstraintViolation"),
    (InternalError("firmware fault"), "InternalError"),
    (RuntimeError("bug in the charger"), "InternalError"),  # the charger's library answers InternalError
])
async def test_a_call_error_comes_back_with_its_code(appliance, cp, error, code):
    cp.answers["Reset"] = error
    result = await send(appliance, "reset", {"hard": True}, reason="stuck")
    assert cp.received == [("Reset", {"type": "Hard"})]
    assert result.status == "CallError" and not result.ok
    assert result.detail.startswith(f"{code}: ")
    if not isinstance(error, RuntimeError):
        assert error.description in result.detail
    [entry] = await appliance.core.commands.actions("CP1")
    assert (entry.action, entry.reason, entry.result_status, entry.result_detail) == \
        ("reset", "stuck", "CallError", result.detail)


async def test_a_charger_that_does_not_answer_times_out_and_its_late_answer_is_not_mistaken(
        start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", command_timeout_s=0.5))
    await app.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(app.url, "CP1") as cp:
        release = asyncio.Event()

        async def hang(**kw):
            cp.received.append(("Reset", kw))
            await release.wait()
            return call_result.Reset(status="Rejected")  # the answer arrives after the timeout

        cp.route_map["Reset"]["_on_action"] = hang
        loop = asyncio.get_running_loop()
        began = loop.time()
        result = await app.core.commands.send("CP1", "reset", {"hard": False}, actor="tester", reason="r")
        took = loop.time() - began
        assert (result.status, result.detail) == ("Timeout", "no answer within 0.5 s")
        assert 0.5 <= took < 2.5  # bounded by the setting, not by the charger's own 10 s
        assert cp.received == [("Reset", {"type": "Soft"})]
        [entry] = await app.core.commands.actions("CP1")
        assert (entry.action, entry.result_status) == ("reset", "Timeout")

        release.set()  # the charger now sends the stale Reset answer, then answers the next command
        after = await app.core.commands.send("CP1", "get_configuration", {"keys": ["HeartbeatInterval"]},
                                             actor="tester")
        assert after.status == "Accepted"
        assert after.data == {"configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}


async def test_a_charger_that_is_not_connected_is_offline(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    result = await send(appliance, "reset", {"hard": False}, reason="nightly")
    assert (result.status, result.detail, result.ok) == ("Offline", "charger CP1 is not connected", False)
    [entry] = await appliance.core.commands.actions("CP1")
    assert (entry.action, entry.arguments, entry.reason, entry.result_status) == \
        ("reset", {"hard": False}, "nightly", "Offline")


async def test_a_charger_that_went_away_is_offline(appliance, cp):
    assert (await send(appliance, "clear_cache", {})).status == "Accepted"
    await cp._connection.ws.close()
    await wait_for(lambda: appliance.core.links.get("CP1") is None)
    assert (await send(appliance, "clear_cache", {})).status == "Offline"


# -- malformed commands: refused before anything is sent ----------------------------------------------

BAD_COMMANDS = [
    ("explode", {}, "unknown command 'explode'"),
    ("reset", {}, "missing a required argument: 'hard'"),
    ("reset", {"hard": "yes"}, "reset: argument hard: expected true or false"),
    ("reset", {"hard": True, "force": 1}, "unexpected keyword argument 'force'"),
    ("remote_start", {"connector_number": 1}, "missing a required argument: 'id_tag'"),
    ("remote_stop", {"transaction_id": "abc"}, "remote_stop: argument transaction_id"),
    ("reset", {"hard": None}, "reset: argument hard: must not be null"),
    ("unlock", {"connector_number": 1.5}, "unlock: argument connector_number: expected a whole number"),
    ("unlock", {"connector_number": True}, "unlock: argument connector_number: expected a number"),
    ("change_configuration", {"key": "HeartbeatInterval", "value": 60},
     "change_configuration: argument value: expected a string"),
    ("get_configuration", {"keys": "HeartbeatInterval"}, "get_configuration: argument keys: expected a list"),
    ("data_transfer", {"vendor_id": "com.depot", "data": {"a": 1}}, "data_transfer: argument data: expected a string"),
    ("reserve_now", {"connector_number": 1, "expires_at": 1795000000, "id_tag": "CARD1", "reservation_id": 1},
     "reserve_now: argument expires_at: expected an ISO 8601 date-time"),
    ("update_firmware", {"location": "https://fw.example/1.bin", "retrieve_at": "tomorrow"},
     "update_firmware: argument retrieve_at"),
    ("set_charging_limit", {"limit": {"limit": 16, "amps": 3}}, "unknown field 'amps'"),
    ("set_charging_limit", {"limit": {"unit": "A"}}, "set_charging_limit: argument limit"),
    ("set_charging_limit", {"limit": {"limit": "lots"}}, "set_charging_limit: argument limit"),
    ("send_local_list", {"version": 1, "full": True, "entries": [{"status": "Accepted"}]},
     "send_local_list: argument entries"),
]


@pytest.mark.parametrize("command, arguments, message", BAD_COMMANDS)
async def test_a_malformed_command_raises_and_sends_nothing(appliance, cp, command, arguments, message):
    with pytest.raises(CommandError) as refused:
        await send(appliance, command, arguments)
    assert message in str(refused.value)
    assert cp.received == []
    assert await appliance.core.commands.actions("CP1") == []


@pytest.mark.parametrize("command, arguments, message", BAD_COMMANDS)
async def test_a_malformed_command_through_the_api_is_a_400(appliance, cp, command, arguments, message):
    status, answer = await appliance.api("POST", COMMANDS_URL + command, {"arguments": arguments})
    assert status == 400
    assert message in answer["error"]
    assert cp.received == []


async def test_api_refuses_arguments_that_are_not_an_object_and_a_body_that_is_not_json(appliance, cp):
    status, answer = await appliance.api("POST", COMMANDS_URL + "reset", {"arguments": [True]})
    assert (status, answer) == (400, {"error": "arguments must be a JSON object"})
    async with aiohttp.ClientSession() as session:
        async with session.post(appliance.url + COMMANDS_URL + "reset", data="{not json",
                                headers={"Authorization": f"Bearer {appliance.token}",
                                         "Content-Type": "application/json"}) as response:
            assert response.status == 400
            assert (await response.json()) == {"error": "the request body is not valid JSON"}
    assert cp.received == []


# -- the JSON API -----------------------------------------------------------------------------------

API_CASES = [
    ("update_firmware", {"location": "https://fw.example/1.1.bin", "retrieve_at": "2026-11-21T08:00:00Z",
                         "retries": 2},
     "UpdateFirmware", {"location": "https://fw.example/1.1.bin", "retrieve_date": T0_WIRE, "retries": 2}),
    ("reserve_now", {"connector_number": 1, "expires_at": "2026-11-21T10:30:00+01:00", "id_tag": "CARD1",
                     "reservation_id": 11},
     "ReserveNow", {"connector_id": 1, "expiry_date": T1_WIRE, "id_tag": "CARD1", "reservation_id": 11}),
    ("remote_start", {"connector_number": 1, "id_tag": "CARD1",
                      "limit": {"limit": 16, "start": "2026-11-21T08:00:00Z", "transaction_id": 77}},
     "RemoteStartTransaction", {"connector_id": 1, "id_tag": "CARD1", "charging_profile": {
         "charging_profile_id": 1, "stack_level": 0, "charging_profile_purpose": "TxProfile",
         "charging_profile_kind": "Absolute", "charging_schedule": {
             "charging_rate_unit": "A", "start_schedule": T0_WIRE,
             "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}}}),
    ("set_charging_limit", {"limit": {"limit": 11000, "unit": "W", "connector_number": 2, "number_phases": 3,
                                      "start": "2026-11-21T08:00:00", "duration_s": 900}},
     "SetChargingProfile", {"connector_id": 2, "cs_charging_profiles": {
         "charging_profile_id": 1, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
         "charging_profile_kind": "Absolute", "charging_schedule": {
             "charging_rate_unit": "W", "start_schedule": T0_WIRE, "duration": 900,
             "charging_schedule_period": [{"start_period": 0, "limit": 11000.0, "number_phases": 3}]}}}),
    ("send_local_list", {"version": 2, "full": False, "entries": [
        {"id_tag": "CARD1", "status": "Accepted", "expires_at": "2026-11-21T09:30:00Z", "parent_id_tag": "FLEET-A"},
        {"id_tag": "CARD2", "status": None}]},
     "SendLocalList", {"list_version": 2, "update_type": "Differential", "local_authorization_list": [
         {"id_tag": "CARD1", "id_tag_info": {"status": "Accepted", "expiry_date": T1_WIRE,
                                             "parent_id_tag": "FLEET-A"}},
         {"id_tag": "CARD2"}]}),
    ("unlock", {"connector_number": "2"}, "UnlockConnector", {"connector_id": 2}),
    ("reset", {"hard": True}, "Reset", {"type": "Hard"}),
]


@pytest.mark.parametrize("command, arguments, action, fields", API_CASES, ids=[c[0] for c in API_CASES])
async def test_api_command_with_json_arguments(appliance, cp, command, arguments, action, fields):
    status, answer = await appliance.api("POST", COMMANDS_URL + command,
                                         {"arguments": arguments, "reason": "from a script"})
    expected_status = "Unlocked" if command == "unlock" else "Accepted"
    assert (status, answer) == (200, {"status": expected_status, "ok": True, "data": {}, "detail": ""})
    assert cp.received == [(action, fields)]
    [entry] = await appliance.core.commands.actions("CP1")
    assert (entry.actor, entry.action, entry.reason, entry.result_status) == \
        ("api:tests", command, "from a script", expected_status)


async def test_api_returns_the_charger_data_as_json(appliance, cp):
    status, answer = await appliance.api("POST", COMMANDS_URL + "get_composite_schedule",
                                         {"arguments": {"connector_number": 1, "duration_s": 600, "unit": "A"}})
    assert status == 200 and answer["status"] == "Accepted"
    assert answer["data"]["charging_schedule"] == {
        "duration": 600, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]}
    status, answer = await appliance.api("POST", COMMANDS_URL + "get_configuration",
                                         {"arguments": {"keys": ["HeartbeatInterval", "Nope"]}})
    assert (status, answer["data"]) == (200, {"configuration_key": [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}], "unknown_key": ["Nope"]})
    status, answer = await appliance.api("POST", COMMANDS_URL + "get_diagnostics",
                                         {"arguments": {"location": "ftp://depot.example/"}})
    assert (status, answer["data"]) == (200, {"file_name": "diagnostics.zip"})


async def test_api_passes_a_rejection_and_a_refused_trigger_through(appliance, cp):
    cp.answers["Reset"] = "Rejected"
    status, answer = await appliance.api("POST", COMMANDS_URL + "reset", {"arguments": {"hard": False}})
    assert (status, answer) == (200, {"status": "Rejected", "ok": False, "data": {}, "detail": ""})
    status, answer = await appliance.api("POST", COMMANDS_URL + "trigger_message",
                                         {"arguments": {"message": "LogStatusNotification"}})
    assert status == 200 and (answer["status"], answer["ok"]) == ("NotSupportedByCharger", False)
    assert cp.received == [("Reset", {"type": "Soft"})]


async def test_api_command_to_a_charger_that_is_not_connected(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    status, answer = await appliance.api("POST", COMMANDS_URL + "clear_cache", {"arguments": {}})
    assert (status, answer["status"], answer["ok"]) == (200, "Offline", False)


async def test_api_command_to_a_charger_that_does_not_exist_is_a_404(appliance, cp):
    status, answer = await appliance.api("POST", "/api/v1/chargers/NOPE/commands/reset",
                                         {"arguments": {"hard": False}})
    assert (status, answer) == (404, {"error": "no charger NOPE"})
    assert cp.received == [] and await appliance.core.commands.actions("NOPE") == []


@pytest.mark.parametrize("token", ["", "not-a-token"])
async def test_api_command_without_a_valid_token_is_a_401(appliance, cp, token):
    status, answer = await appliance.api("POST", COMMANDS_URL + "reset", {"arguments": {"hard": True}}, token=token)
    assert status == 401 and "API token" in answer["error"]
    assert cp.received == [] and await appliance.core.commands.actions("CP1") == []


async def test_a_request_the_schema_refuses_is_not_sent_and_says_so(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        status, body = await appliance.api("POST", "/api/v1/chargers/CP1/commands/set_charging_limit",
                                           {"arguments": {"limit": {"limit": 11, "unit": "kW"}}})
        assert status == 400 and body["error"].startswith("not sent, the request breaks the OCPP 1.6 schema")
        assert "SetChargingProfile" not in [a for a, _ in cp.received]


async def test_the_token_is_the_actor_and_a_given_name_only_stands_beside_it(appliance):
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1"):
        await appliance.api("POST", "/api/v1/chargers/CP1/commands/clear_cache",
                            {"arguments": {}, "reason": "why not", "on_behalf_of": "mallory"})
    [entry] = await appliance.core.commands.actions("CP1")
    assert entry.actor == "api:tests (mallory)"


async def test_a_command_waiting_when_the_connection_closes_is_offline_not_timed_out(appliance):
    import asyncio

    from tests.virtual_charger import raw16

    await appliance.core.chargers.add("DROP1", "ocpp1.6-json")
    async with raw16(appliance.url, "DROP1") as raw:
        boot = await raw.call('[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
        assert boot[2]["status"] == "Accepted"
        pending = asyncio.create_task(appliance.core.commands.send("DROP1", "reset", {"hard": False}, actor="t"))
        assert (await raw.answer())[2] == "Reset"  # it got the command, and never answers
    result = await pending  # the connection closed with the command unanswered
    assert result.status == "Offline" and "closed" in result.detail
