"""ChargerLink over OCPP 1.x SOAP when things go wrong, and what it leaves behind.

A charger's SOAP Fault is a CallError with its code and reason; a charger that cannot be reached
(closed port, HTTP error, no answer in time) is a clear Offline/Timeout and marked unreachable until
a command gets through; a charger without an address is told so; a slow charger never holds up the
event loop; the communication log keeps both envelopes, a security key masked.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from spyne import Fault

from appliance.ocpp15_soap.addressing import WSA
from appliance.ocpp15_soap.cp_models import CP15
from appliance.ocpp15_soap.link import Ocpp15SoapLink
from appliance.ocpp16.soap_link import CP16, Ocpp16SoapLink
from tests.conftest import make_settings, wait_for
from tests.test_soap_link import send, soap  # noqa: F401 (soap: the fixture)
from tests.virtual_soap_chargepoint import serve_chargepoint


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/Ocpp/ChargePointService/"


async def add_link(appliance, link_class, url: str, identity: str = "SOAP1"):
    await appliance.core.chargers.add(identity, link_class.version.protocol, endpoint_url=url)
    await appliance.core.bus.drain()  # the appliance's own link for the new charger first, then ours over it
    link = link_class(identity, url, appliance.core)
    appliance.core.links.register(link)
    return link


async def reachable(appliance, identity: str = "SOAP1") -> tuple[str, str]:
    record = await appliance.core.chargers.get(identity)
    return record.reachable, record.reachable_detail


# -- the charger answers with a fault ------------------------------------------------------------------

@pytest.mark.parametrize("version, fault, detail", [
    (CP16, Fault("Client.NotSupported", "hard reset is not supported"), "Sender NotSupported: hard reset is not "
                                                                        "supported"),
    (CP16, Fault("Server", "firmware fault"), "Receiver: firmware fault"),
    (CP15, Fault("Client", "busy"), "Sender: busy"),
    (CP15, RuntimeError("bug in the charger"), "Receiver: "),  # spyne answers its own errors as a Server fault
], ids=["1.6-client-subcode", "1.6-server", "1.5-client", "1.5-charger-bug"])
async def test_a_fault_comes_back_as_a_call_error_with_its_code_and_reason(appliance, soap, version, fault, detail):
    cp = await soap(version)
    cp.answers["Reset"] = fault
    result = await send(appliance, "reset", {"hard": True}, reason="stuck")
    assert cp.received == [("Reset", {"type": "Hard"})]
    assert result.status == "CallError" and not result.ok
    assert result.detail.startswith(detail)
    [entry] = await appliance.core.commands.actions("SOAP1")
    assert (entry.action, entry.reason, entry.result_status, entry.result_detail) == \
        ("reset", "stuck", "CallError", result.detail)
    assert (await reachable(appliance))[0] == "yes"  # it answered


# -- the charger cannot be reached --------------------------------------------------------------------

async def test_an_unreachable_charger_is_offline_and_marked_until_a_command_gets_through(appliance):
    url = closed_port_url()
    link = await add_link(appliance, Ocpp16SoapLink, url)
    result = await send(appliance, "clear_cache", {}, reason="first try")
    assert (result.status, result.ok) == ("Offline", False)
    assert result.detail == f"charger SOAP1 cannot be reached at {url}: connection refused"
    assert await reachable(appliance) == ("no", result.detail)

    async with serve_chargepoint(CP16) as cp:
        link.set_endpoint(cp.url)  # the charger said where it is (WS-Addressing From), or someone configured it
        assert (await send(appliance, "clear_cache", {}, reason="second try")).status == "Accepted"
        assert cp.received == [("ClearCache", {})]
        assert cp.headers[0][f"{{{WSA}}}To"] == cp.url
    assert (await reachable(appliance))[0] == "yes"
    second, first = await appliance.core.commands.actions("SOAP1")
    assert (first.reason, first.result_status, second.reason, second.result_status) == \
        ("first try", "Offline", "second try", "Accepted")


async def test_an_address_that_gives_no_soap_answer_is_unreachable(appliance):
    url = appliance.url + "/no-such-service"  # a web server, but no ChargePointService: HTTP 404
    await add_link(appliance, Ocpp15SoapLink, url)
    result = await send(appliance, "reset", {"hard": False})
    assert (result.status, result.detail) == ("Offline", f"charger SOAP1 cannot be reached at {url}: "
                                                         "HTTP 404, no SOAP answer")
    assert (await reachable(appliance))[0] == "no"


async def test_a_charger_without_an_address_is_offline_and_says_how_to_give_one(appliance):
    await add_link(appliance, Ocpp15SoapLink, "")
    result = await send(appliance, "unlock", {"connector_number": 1})
    assert (result.status, result.detail) == (
        "Offline", "no address to command charger SOAP1 at: it has not given one (WS-Addressing From) and none is "
                   "configured (charger add --endpoint)")
    assert (await reachable(appliance))[0] == ""  # nothing was tried


async def test_a_silent_charger_times_out_within_the_command_timeout_and_the_next_command_gets_through(
        start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", command_timeout_s=2.0))
    async with serve_chargepoint(CP16) as cp:
        await add_link(app, Ocpp16SoapLink, cp.url)
        cp.held.add("Reset")  # answers only when released: past the timeout
        loop = asyncio.get_running_loop()
        began = loop.time()
        result = await send(app, "reset", {"hard": False})
        took = loop.time() - began
        assert result.status == "Timeout" and not result.ok
        # the HTTP timeout is just under the command timeout, so the link itself says what happened
        assert result.detail == f"charger SOAP1 cannot be reached at {cp.url}: no answer within 1.75 s"
        assert 1.75 <= took < 2.0
        assert cp.received == [("Reset", {"type": "Soft"})]
        assert (await reachable(app))[0] == "no"
        [entry] = await app.core.commands.actions("SOAP1")
        assert (entry.action, entry.result_status) == ("reset", "Timeout")

        cp.release.set()
        after = await send(app, "get_local_list_version", {})
        assert (after.status, after.data) == ("Accepted", {"list_version": 0})
        assert (await reachable(app))[0] == "yes"


async def test_the_event_loop_keeps_running_while_a_charger_takes_its_time(appliance, soap):
    cp = await soap(CP15)
    cp.held.add("GetConfiguration")
    slow = asyncio.create_task(send(appliance, "get_configuration", {"keys": ["HeartbeatInterval"]}))
    await wait_for(lambda: cp.received)  # the request is at the charger, which holds its answer
    # meanwhile the same loop serves the API (a real HTTP round trip) and runs other work
    status, chargers = await asyncio.wait_for(appliance.api("GET", "/api/v1/chargers"), 2.0)
    assert status == 200 and [c["identity"] for c in chargers] == ["SOAP1"]
    assert not slow.done()
    cp.release.set()
    result = await asyncio.wait_for(slow, 5.0)
    assert result.data == {"configuration_key": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}


# -- what the link leaves behind ----------------------------------------------------------------------

async def test_from_and_reply_to_name_the_appliance_when_its_public_url_is_set(start_appliance, tmp_path):
    appliance = await start_appliance(make_settings(tmp_path / "d", public_url="http://depot.lan:8180/"))
    async with serve_chargepoint(CP16) as cp:
        await add_link(appliance, Ocpp16SoapLink, cp.url)
        assert (await send(appliance, "reset", {"hard": False})).ok
    headers = cp.headers[0]
    assert headers[f"{{{WSA}}}From"] == headers[f"{{{WSA}}}ReplyTo"] == "http://depot.lan:8180/ocpp/soap/1.6"
    assert (headers[f"{{{WSA}}}Action"], headers[f"{{{WSA}}}To"]) == ("/Reset", cp.url)


async def test_the_communication_log_keeps_both_envelopes_with_the_security_key_masked(appliance, soap):
    cp = await soap(CP16)
    result = await send(appliance, "change_configuration", {"key": "AuthorizationKey", "value": "0123456789abcdef"})
    assert result.status == "Accepted"
    assert cp.last("ChangeConfiguration") == {"key": "AuthorizationKey", "value": "0123456789abcdef"}

    async def both_logged():
        logged = await appliance.core.commlog.recent("SOAP1")
        return logged if len(logged) == 2 else None

    sent, answer = sorted(await wait_for(both_logged), key=lambda e: e.id)
    assert (sent.direction, answer.direction) == ("out", "in")
    assert "changeConfigurationRequest" in sent.message and ">***<" in sent.message
    assert "0123456789abcdef" not in sent.message
    assert "changeConfigurationResponse" in answer.message and ">Accepted<" in answer.message
