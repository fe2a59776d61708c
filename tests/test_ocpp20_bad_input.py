"""OCPP 2.0.1 JSON at the door and with bad input: subprotocol choice, security profiles 1 and 2, and
the right CALLERROR (2.0.1 codes) with the connection living on."""

from __future__ import annotations

import json

import aiohttp
import pytest

from appliance.ocppj.frames import parse_datetime
from tests.conftest import add_fleet
from tests.test_tls import tls_appliance, trusting  # noqa: F401 (a fixture)
from tests.virtual_charger201 import connect201, raw201
from tests.virtual_charger import ws_url

HEARTBEAT = '[2,"ok1","Heartbeat",{}]'
BOOT = ('[2,"b1","BootNotification",{"reason":"PowerUp","chargingStation":'
        '{"model":"VC-201","vendorName":"Virtual"}}]')
STATUS = {"timestamp": "2026-11-21T08:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}


def frame(unique_id: str, action: str, payload: dict) -> str:
    return json.dumps([2, unique_id, action, payload])


async def assert_alive(raw) -> None:
    answer = await raw.call(HEARTBEAT)
    assert answer[:2] == [3, "ok1"] and parse_datetime(answer[2]["currentTime"]), answer


@pytest.fixture
async def cs1(appliance):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CS1", "ocpp2.0.1")
    async with raw201(appliance.url, "CS1") as raw:
        answer = await raw.call(BOOT)
        assert answer[:2] == [3, "b1"] and answer[2]["status"] == "Accepted", answer
        ask = await raw.answer()  # an accepted station is asked for its device model
        assert ask[0] == 2 and ask[2] == "GetBaseReport", ask
        await raw.send(json.dumps([3, ask[1], {"status": "NotSupported"}]))
        yield raw


# -- the door -----------------------------------------------------------------------------------

@pytest.mark.parametrize("offered, chosen", [
    (["ocpp2.0.1"], "ocpp2.0.1"), (["ocpp1.6"], "ocpp1.6"), (["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"),
    (["ocpp2.0", "ocpp2.0.1"], "ocpp2.0.1")])
async def test_the_subprotocol_is_negotiated_on_one_path(appliance, offered, chosen):
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(appliance.url, "ANY"), protocols=offered) as ws:
            assert ws.protocol == chosen


async def test_security_profile_1_wrong_or_missing_password_is_refused_at_the_upgrade(appliance):
    await appliance.core.chargers.add("SEC1", "ocpp2.0.1", password="s3cret-passw0rd-201")
    for password in ("wrong", None):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with connect201(appliance.url, "SEC1", password=password):
                pass
        assert refused.value.status == 401
    async with connect201(appliance.url, "SEC1", password="s3cret-passw0rd-201", boot=False) as station:
        assert (await station.boot()).status == "Accepted"


async def test_security_profile_2_over_tls(tls_appliance):  # noqa: F811
    url, core, info = tls_appliance
    await core.chargers.add("SEC2", "ocpp2.0.1", password="profile-two-password")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with connect201(url, "SEC2", password="not-it", ssl=trusting(info)):
            pass
    assert refused.value.status == 401
    async with connect201(url, "SEC2", password="profile-two-password", boot=False, ssl=trusting(info)) as station:
        assert (await station.boot()).status == "Accepted"
        assert (await station.authorize("NOBODY")).id_token_info["status"] == "Invalid"


async def test_a_pending_station_may_only_boot(appliance):
    async with raw201(appliance.url, "UNKNOWN1") as raw:
        assert (await raw.call(BOOT))[2]["status"] == "Pending"
        answer = await raw.call(frame("s1", "StatusNotification", STATUS))
        assert answer[:3] == [4, "s1", "SecurityError"], answer


# -- bad frames ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, unique_id, code", [
    ("this is not json", "-1", "RpcFrameworkError"),
    ('[2,"j1","Heartbeat",{', "j1", "RpcFrameworkError"),
    ("[]", "-1", "RpcFrameworkError"),
    ('[2,"j3","Heartbeat"]', "j3", "RpcFrameworkError"),
    ('[2,"j4",7,{}]', "j4", "RpcFrameworkError"),
    ('[9,"j5","Heartbeat",{}]', "j5", "MessageTypeNotSupported"),
    ('[2,"j6","Heartbeat",[]]', "j6", "FormatViolation"),
    (frame("v1", "BootNotification", {"chargingStation": {"model": "M", "vendorName": "V"}}), "v1",
     "OccurrenceConstraintViolation"),
    (frame("v2", "StatusNotification", dict(STATUS, evseId="one")), "v2", "TypeConstraintViolation"),
    (frame("v3", "StatusNotification", dict(STATUS, connectorStatus="Broken")), "v3", "PropertyConstraintViolation"),
    (frame("v4", "StatusNotification", dict(STATUS, timestamp="yesterday")), "v4", "TypeConstraintViolation"),
    (frame("v5", "StatusNotification", dict(STATUS, colour="red")), "v5", "FormatViolation"),
    (frame("v6", "TransactionEvent", {"eventType": "Started", "timestamp": "2026-11-21T08:00:00Z",
                                      "triggerReason": "Authorized", "seqNo": 0}), "v6",
     "OccurrenceConstraintViolation"),
    (frame("n1", "MakeCoffee", {}), "n1", "NotImplemented"),
    (frame("n2", "SignCertificate", {"csr": "x"}), "n2", "NotSupported"),
])
async def test_bad_frames_get_the_2_0_1_error_and_the_connection_lives(cs1, text, unique_id, code):
    answer = await cs1.call(text)
    assert answer[0] == 4 and answer[1] == unique_id and answer[2] == code, answer
    await assert_alive(cs1)


async def test_an_oversize_frame_gets_format_violation(cs1, appliance):
    limit = appliance.core.settings.ocpp_max_frame_bytes
    answer = await cs1.call(frame("big", "DataTransfer", {"vendorId": "x", "data": "y" * limit}))
    assert answer[:3] == [4, "big", "FormatViolation"], answer
    await assert_alive(cs1)


async def test_nothing_of_a_refused_transaction_event_is_stored(cs1, appliance):
    bad = {"eventType": "Started", "timestamp": "2026-11-21T08:00:00Z", "triggerReason": "Authorized", "seqNo": 0,
           "transactionInfo": {"transactionId": "t" * 37}}
    answer = await cs1.call(frame("t1", "TransactionEvent", bad))
    assert answer[:3] == [4, "t1", "TypeConstraintViolation"], answer
    assert await appliance.core.transactions.list("CS1") == []
    await assert_alive(cs1)
