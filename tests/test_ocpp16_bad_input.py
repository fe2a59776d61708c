"""OCPP 1.6 JSON bad input over loopback: the right CALLERROR (1.6 codes), and the connection lives on.

Frames are written by hand (`raw16`). After every bad frame a Heartbeat must still be answered:
answers come in order, so the Heartbeat's CALLRESULT arriving next also proves that nothing else
was sent in between.
"""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp import WSCloseCode

from appliance.ocppj.frames import parse_datetime
from tests.conftest import add_fleet
from tests.virtual_charger import raw16, ws_url

HEARTBEAT = '[2,"ok1","Heartbeat",{}]'
BOOT = '[2,"b1","BootNotification",{"chargePointVendor":"Virtual","chargePointModel":"VC-16"}]'
START = {"connectorId": 1, "idTag": "CARD1", "meterStart": 0, "timestamp": "2024-05-01T10:00:00Z"}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


def frame(unique_id: str, action: str, payload: dict) -> str:
    return json.dumps([2, unique_id, action, payload])


async def assert_alive(raw) -> None:
    answer = await raw.call(HEARTBEAT)
    assert answer[:2] == [3, "ok1"] and parse_datetime(answer[2]["currentTime"]), answer


async def call_error(raw, text: str) -> tuple[str, str]:
    """Send a frame that must get a CALLERROR; returns (echoed id, error code)."""
    answer = await raw.call(text)
    assert answer[0] == 4 and len(answer) == 5 and isinstance(answer[3], str) and answer[4] == {}, answer
    return answer[1], answer[2]


@pytest.fixture
async def cp1(appliance):
    """An accepted, booted charger CP1 on a raw socket."""
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with raw16(appliance.url, "CP1") as raw:
        answer = await raw.call(BOOT)
        assert answer[:2] == [3, "b1"] and answer[2]["status"] == "Accepted", answer
        yield raw


@pytest.mark.parametrize("text, unique_id, code", [
    # not JSON: "-1" when no id can be read, the id when the frame's head has one
    ("this is not json", "-1", "FormationViolation"),
    ('[2,"j1","Heartbeat",{', "j1", "FormationViolation"),
    ('[2,"j2","Heartbeat",{}]]', "j2", "FormationViolation"),  # trailing garbage
    ('{"action":"Heartbeat"}', "-1", "FormationViolation"),
    ("[]", "-1", "FormationViolation"),
    # 1.6 has no MessageTypeNotSupported (2.0.1): FormationViolation
    ('[7,"t1","Heartbeat",{}]', "t1", "FormationViolation"),
    ('["2","t2","Heartbeat",{}]', "t2", "FormationViolation"),
    # an action 1.6 does not define, and 1.6 actions a charger must not send to a central system
    ('[2,"u1","FlyToTheMoon",{}]', "u1", "NotImplemented"),
    ('[2,"u2","Reset",{"type":"Hard"}]', "u2", "NotSupported"),
    ('[2,"u3","RemoteStartTransaction",{"idTag":"CARD1"}]', "u3", "NotSupported"),
    # payloads that break the 1.6 schema
    ('[2,"s1","Authorize",{}]', "s1", "OccurenceConstraintViolation"),
    (frame("s2", "StatusNotification", {**STATUS, "connectorId": "1"}), "s2", "TypeConstraintViolation"),
    (frame("s3", "StatusNotification", {**STATUS, "status": "Sleeping"}), "s3", "PropertyConstraintViolation"),
    ('[2,"s4","Heartbeat",{"extra":1}]', "s4", "FormationViolation"),
    (frame("s5", "StartTransaction", {**START, "timestamp": "yesterday"}), "s5", "TypeConstraintViolation"),
    (frame("s6", "StartTransaction", {**START, "timestamp": "2024-02-30T10:00:00Z"}), "s6",
     "TypeConstraintViolation"),  # no 30 February
    (frame("s7", "Authorize", {"idTag": "T" * 21}), "s7", "TypeConstraintViolation"),  # CiString20Type
    # the frame's own structure
    ('[2,"p1","Heartbeat"]', "p1", "FormationViolation"),  # a CALL without payload
    ('[2,"p2","Heartbeat",[]]', "p2", "FormationViolation"),
    ('[2,"p3","Heartbeat",{},{}]', "p3", "FormationViolation"),
    ('[2,"p4",7,{}]', "p4", "FormationViolation"),
    ('[2,42,"Heartbeat",{}]', "42", "FormationViolation"),  # a number as id: echoed as text
    ('[2,null,"Heartbeat",{}]', "-1", "FormationViolation"),
    ('[2,"' + "i" * 37 + '","Heartbeat",{}]', "-1", "FormationViolation"),  # id longer than 36
])
async def test_bad_frame_gets_its_call_error_and_the_connection_lives(cp1, text, unique_id, code):
    assert await call_error(cp1, text) == (unique_id, code)
    await assert_alive(cp1)


async def test_a_binary_frame_that_is_not_utf8_gets_a_call_error(cp1):
    await cp1.ws.send_bytes(b'[2,"x1","Heartbeat",{"x":"\xff"}]')
    assert (await cp1.answer())[:3] == [4, "-1", "FormationViolation"]
    await assert_alive(cp1)


async def test_refused_calls_store_nothing(cp1, appliance):
    for n, payload in enumerate([{**START, "timestamp": "2024-05-01T10"}, {**START, "meterStart": "0"},
                                 {**START, "connectorId": None}, {**START, "surprise": True}]):
        assert (await call_error(cp1, frame(f"t{n}", "StartTransaction", payload)))[0] == f"t{n}"
    for n, payload in enumerate([{**STATUS, "status": "Sleeping"}, {**STATUS, "timestamp": "now"}]):
        assert (await call_error(cp1, frame(f"s{n}", "StatusNotification", payload)))[0] == f"s{n}"
    await assert_alive(cp1)
    assert await appliance.core.transactions.list() == []
    assert await appliance.core.chargers.status_history("CP1") == []


async def test_an_oversize_frame_gets_a_call_error_with_its_id(cp1, appliance):
    limit = appliance.core.settings.ocpp_max_frame_bytes
    assert limit == 65536  # the default
    near = frame("near", "DataTransfer", {"vendorId": "acme", "data": ""})
    near = frame("near", "DataTransfer", {"vendorId": "acme", "data": "d" * (limit - len(near))})
    assert len(near) == limit and (await cp1.call(near))[:2] == [3, "near"]  # at the limit: handled
    big = frame("big1", "DataTransfer", {"vendorId": "acme", "data": "d" * limit})
    assert await call_error(cp1, big) == ("big1", "FormationViolation")
    await assert_alive(cp1)


async def test_oversize_counts_bytes_not_characters(cp1, appliance):
    limit = appliance.core.settings.ocpp_max_frame_bytes
    # sent as UTF-8: fewer characters than the limit, but twice as many bytes
    big = json.dumps([2, "big2", "DataTransfer", {"vendorId": "acme", "data": "\u00e9" * (limit // 2)}],
                     ensure_ascii=False)
    assert len(big) < limit < len(big.encode())
    assert await call_error(cp1, big) == ("big2", "FormationViolation")
    await assert_alive(cp1)


@pytest.mark.parametrize("stray", [
    '[3,"nobody",{}]',  # a CALLRESULT to a CALL we never sent
    '[3,"nobody",{"status":"Accepted"}]',
    '[4,"nobody","GenericError","",{}]',  # a CALLERROR, likewise
])
async def test_a_stray_answer_is_ignored(cp1, stray):
    await cp1.send(stray)
    await assert_alive(cp1)  # the next frame is the Heartbeat's answer: nothing answered the stray


# -- chargers that were never accepted -----------------------------------------------------

# Valid CALLs that only an accepted charger may send; refused with SecurityError (the code's choice, as
# OCPP 2.0.1 specifies: 1.6 forbids them before acceptance but names no error code).
NOT_BEFORE_ACCEPTANCE = [
    frame("c1", "StartTransaction", START),
    HEARTBEAT,
    frame("c3", "Authorize", {"idTag": "CARD1"}),
    frame("c4", "StatusNotification", STATUS),
    frame("c5", "MeterValues", {"connectorId": 1, "meterValue": [
        {"timestamp": START["timestamp"], "sampledValue": [{"value": "10"}]}]}),
]


@pytest.mark.parametrize("registration, boot_status", [
    (None, "Pending"),  # unknown, under the default "pending" policy: recorded on connect
    ("pending", "Pending"),
    ("rejected", "Rejected"),
])
async def test_a_charger_not_accepted_may_only_boot(appliance, registration, boot_status):
    await add_fleet(appliance.core)
    if registration:
        await appliance.core.chargers.add("CPX", "ocpp1.6-json", registration=registration)
    async with raw16(appliance.url, "CPX") as raw:
        assert (await raw.call(BOOT))[2]["status"] == boot_status
        for text in NOT_BEFORE_ACCEPTANCE:
            assert await call_error(raw, text) == (json.loads(text)[1], "SecurityError")
        answer = await raw.call(BOOT)  # the connection lives; booting is still answered
        assert answer[:2] == [3, "b1"] and answer[2]["status"] == boot_status
    assert (await appliance.core.chargers.get("CPX")).registration == (registration or "pending")
    assert await appliance.core.transactions.list() == []
    assert await appliance.core.chargers.status_history("CPX") == []


# -- the handshake ---------------------------------------------------------------------------

async def test_no_common_subprotocol_completes_the_handshake_then_closes(appliance):
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(appliance.url, "CP9"), protocols=["ocpp9.9"]) as ws:
            assert ws.protocol is None  # the server did not pretend to speak ocpp9.9
            msg = await ws.receive(timeout=5)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, WSCloseCode.PROTOCOL_ERROR)
            assert "ocpp1.6" in msg.extra
    assert await appliance.core.chargers.get("CP9") is None  # nothing recorded


@pytest.mark.parametrize("identity", [
    "CP%201",  # a space inside
    "C" * 49,  # longer than 48
    "CP%C3%A91",  # not ASCII
    "CP%3B1",  # ";" is not in the allowed set
])
async def test_a_bad_charger_id_is_refused_at_the_handshake(appliance, identity):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with raw16(appliance.url, identity):
            pass
    assert refused.value.status == 404
    assert await appliance.core.chargers.list() == []
