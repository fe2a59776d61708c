"""The charger's answers to our commands are checked against the command's response schema (the
compiled schemas that check what chargers send), and a request that breaks its own schema is never
sent. Driven from a raw websocket, so that the charger side can answer anything."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from appliance.core import link as lk
from appliance.core.commands import CommandError
from tests.virtual_charger import ws_url


async def booted(session: aiohttp.ClientSession, url: str, identity: str) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(ws_url(url, identity), protocols=["ocpp1.6"])
    await ws.send_str(json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]))
    assert json.loads((await ws.receive()).data)[2]["status"] == "Accepted"
    return ws


async def answer_next_call(ws: aiohttp.ClientWebSocketResponse, payload: dict) -> list:
    while True:
        frame = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        if frame[0] == 2:
            await ws.send_str(json.dumps([3, frame[1], payload]))
            return frame


@pytest.mark.parametrize("answer, status, detail", [
    ({"status": "Accepted"}, "Accepted", ""),
    ({"status": "Scheduled"}, "Scheduled", ""),  # in the schema for ChangeAvailability, not for Reset
    ({"status": "Maybe"}, lk.CALL_ERROR, "PropertyConstraintViolation: the charger's answer breaks the schema: "
                                         "status: 'Maybe' is not one of ['Accepted', 'Rejected']"),
    ({}, lk.CALL_ERROR, "OccurenceConstraintViolation: the charger's answer breaks the schema: "
                        "payload: 'status' is a required property"),
])
async def test_an_answer_that_breaks_its_schema_is_a_call_error(appliance, answer, status, detail):
    await appliance.core.chargers.add("RAW1", "ocpp1.6-json")
    async with aiohttp.ClientSession() as session:
        ws = await booted(session, appliance.url, "RAW1")
        command = "change_availability" if answer.get("status") == "Scheduled" else "reset"
        arguments = {"connector_number": 0, "operative": False} if command == "change_availability" else {"hard": False}
        sent = asyncio.ensure_future(appliance.core.commands.send("RAW1", command, arguments, actor="test",
                                                                  reason="answers"))
        frame = await answer_next_call(ws, answer)
        result = await sent
        assert frame[2] == ("ChangeAvailability" if command == "change_availability" else "Reset")
        assert result.status == status, result
        assert result.detail == detail
        # the connection goes on: the next command is answered
        sent = asyncio.ensure_future(appliance.core.commands.send("RAW1", "reset", {"hard": True}, actor="test",
                                                                  reason="after"))
        await answer_next_call(ws, {"status": "Accepted"})
        assert (await sent).status == "Accepted"
        await ws.close()


async def test_a_request_that_breaks_its_schema_is_not_sent(appliance):
    await appliance.core.chargers.add("RAW2", "ocpp1.6-json")
    async with aiohttp.ClientSession() as session:
        ws = await booted(session, appliance.url, "RAW2")
        with pytest.raises(CommandError, match="not sent, the request breaks the OCPP 1.6 schema: key"):
            await appliance.core.commands.send("RAW2", "change_configuration", {"key": "k" * 51, "value": "v"},
                                               actor="test", reason="too long")
        with pytest.raises(asyncio.TimeoutError):  # nothing came
            await asyncio.wait_for(ws.receive(), 0.3)
        await ws.close()
