"""OCPP 1.5/1.6 SOAP bad input over loopback: a SOAP 1.2 Fault naming the problem, and service goes on.

Requests are written by hand (`soap_request`). After every bad one a good Heartbeat must still be
answered, and nothing the bad one carried may have reached the core.
"""

from __future__ import annotations

import aiohttp
import pytest
from lxml import etree

from appliance.ocpp15_soap.addressing import FAULT_ACTION
from tests.conftest import add_fleet, make_settings, wait_for
from tests.virtual_soap_client import addressing_of, fault_of, post_soap, soap_request, soap_url

PROTOCOLS = {"1.5": "ocpp1.5-soap", "1.6": "ocpp1.6-soap"}
SENDER = "soap12env:Sender"
STATUS = "<o:statusNotificationRequest><o:connectorId>1</o:connectorId><o:status>{status}</o:status>" \
         "<o:errorCode>NoError</o:errorCode></o:statusNotificationRequest>"
START = "<o:startTransactionRequest><o:connectorId>{connector}</o:connectorId>{tag}<o:timestamp>{timestamp}" \
        "</o:timestamp><o:meterStart>0</o:meterStart></o:startTransactionRequest>"


@pytest.fixture(params=["1.5", "1.6"])
def version(request) -> str:
    return request.param


@pytest.fixture
async def cp1(appliance, version):
    """An accepted charger CP1 (SOAP has no connection: being known and accepted is all it takes)."""
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", PROTOCOLS[version])
    return appliance


async def assert_alive(appliance, version: str) -> None:
    status, envelope = await post_soap(appliance.url, version, soap_request(version, "<o:heartbeatRequest/>"))
    assert status == 200 and addressing_of(envelope)["Action"] == "/HeartbeatResponse"


async def refused(appliance, version: str, body: bytes, http_status: int = 400) -> tuple[str, str, str]:
    """POST a request that must get a Fault; returns (code, subcode, reason)."""
    status, envelope = await post_soap(appliance.url, version, body)
    assert status == http_status and envelope is not None
    assert addressing_of(envelope)["Action"] == FAULT_ACTION
    return fault_of(envelope)


def start(tag: str = "<o:idTag>CARD1</o:idTag>", connector: str = "1", timestamp: str = "2026-11-21T10:00:00Z") -> str:
    return START.format(tag=tag, connector=connector, timestamp=timestamp)


@pytest.mark.parametrize("make_body, subcode, reason_part", [
    # not XML, or not a SOAP 1.2 envelope with one request in its body
    (lambda v: b"this is not xml", "FormationViolation", ""),
    (lambda v: soap_request(v, "<o:heartbeatRequest/>")[:-20], "FormationViolation", ""),
    (lambda v: b"<o:heartbeatRequest xmlns:o='urn://Ocpp/Cs/2015/10/'/>", "FormationViolation", "Envelope"),
    (lambda v: soap_request(v, "<o:heartbeatRequest/>").replace(b"2003/05/soap-envelope",
                                                               b"schemas.xmlsoap.org/soap/envelope/"),
     "FormationViolation", "Envelope"),  # SOAP 1.1
    (lambda v: soap_request(v, ""), "FormationViolation", "Body"),
    # an operation the service does not have, or one of another version's namespace
    (lambda v: soap_request(v, "<o:resetRequest><o:type>Hard</o:type></o:resetRequest>"), "NotSupported", "reset"),
    (lambda v: soap_request(v, "<h:heartbeatRequest xmlns:h='urn://Ocpp/Cs/2010/08/'/>"), "NotSupported", "2010/08"),
    # who is calling?
    (lambda v: soap_request(v, "<o:heartbeatRequest/>", identity=None), "IdentityMismatch", "missing"),
    (lambda v: soap_request(v, "<o:heartbeatRequest/>", identity="CP 1"), "IdentityMismatch", "may not contain"),
    (lambda v: soap_request(v, "<o:heartbeatRequest/>", identity="X" * 49), "IdentityMismatch", "48"),
    # schema violations: enumeration values, missing elements, types, ranges, lengths
    (lambda v: soap_request(v, STATUS.format(status="Exploded")), "FormationViolation", "Exploded"),
    (lambda v: soap_request(v, start(tag="")), "FormationViolation", "idTag"),
    (lambda v: soap_request(v, start(tag="<o:idTag>" + "A" * 21 + "</o:idTag>")), "FormationViolation", "idTag"),
    (lambda v: soap_request(v, start(connector="one")), "FormationViolation", "connectorId"),
    (lambda v: soap_request(v, start(connector="99999999999")), "FormationViolation", "connectorId"),
    (lambda v: soap_request(v, start(timestamp="yesterday")), "FormationViolation", "timestamp"),
    (lambda v: soap_request(v, "<o:heartbeatRequest><o:extra>1</o:extra></o:heartbeatRequest>"),
     "FormationViolation", "heartbeatRequest"),
])
async def test_bad_request_gets_a_sender_fault_and_service_goes_on(cp1, version, make_body, subcode, reason_part):
    code, got_subcode, reason = await refused(cp1, version, make_body(version))
    assert (code, got_subcode) == (SENDER, subcode), reason
    assert reason_part in reason
    await assert_alive(cp1, version)
    assert await cp1.core.transactions.list() == [] and await cp1.core.chargers.connectors("CP1") == []


async def test_a_value_of_the_other_version_is_refused(cp1, version):
    other = {"1.5": "Charging", "1.6": "Occupied"}[version]  # 1.6 dropped Occupied, 1.5 has no Charging
    assert (await refused(cp1, version, soap_request(version, STATUS.format(status=other))))[1] == "FormationViolation"
    await assert_alive(cp1, version)


async def test_an_external_entity_is_not_resolved(cp1, version, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    body = soap_request(version, "<o:authorizeRequest><o:idTag>&leak;</o:idTag></o:authorizeRequest>")
    body = body.replace(b"?>", f'?><!DOCTYPE e [<!ENTITY leak SYSTEM "file://{secret}">]>'.encode(), 1)
    status, envelope = await post_soap(cp1.url, version, body)
    assert envelope is not None and b"TOPSECRET" not in etree.tostring(envelope)
    await assert_alive(cp1, version)


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_huge_request_is_refused_unread(start_appliance, tmp_path, version, chunked):
    app = await start_appliance(make_settings(tmp_path / "d", ocpp_max_frame_bytes=4096))
    await app.core.chargers.add("CP1", PROTOCOLS[version])
    huge = soap_request(version, f"<o:dataTransferRequest><o:vendorId>v</o:vendorId><o:data>{'x' * 40_000}"
                                 "</o:data></o:dataTransferRequest>")

    async def body():  # an iterator makes aiohttp send it chunked, without a Content-Length
        for i in range(0, len(huge), 1024):
            yield huge[i:i + 1024]

    async with aiohttp.ClientSession() as session:
        async with session.post(soap_url(app.url, version), data=body() if chunked else huge,
                                headers={"Content-Type": "application/soap+xml"}) as response:
            assert response.status == 413
            assert b"larger than 16384 bytes" in await response.read()
    await assert_alive(app, version)


async def test_a_handler_failure_is_a_receiver_fault_and_nothing_is_acknowledged(cp1, version, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cp1.core.transactions, "start", broken)
    code, subcode, reason = await refused(cp1, version, soap_request(version, start()), http_status=500)
    assert (code, subcode) == ("soap12env:Receiver", "InternalError") and "disk" not in reason
    await assert_alive(cp1, version)


async def test_a_refused_request_of_a_known_charger_is_in_the_communication_log(cp1, version):
    await refused(cp1, version, soap_request(version, STATUS.format(status="Exploded")))
    entries = await wait_for(lambda: _commlog_at_least(cp1, 2))
    assert [e.direction for e in reversed(entries)] == ["in", "out"]
    assert "Exploded" in entries[1].message and "Fault" in entries[0].message


async def _commlog_at_least(appliance, n):
    entries = await appliance.core.commlog.recent("CP1")
    return entries if len(entries) >= n else None


async def test_the_wsdl_is_served_and_other_gets_are_not(appliance, version):
    async with aiohttp.ClientSession() as session:
        async with session.get(soap_url(appliance.url, version) + "?wsdl") as response:
            assert response.status == 200 and b"chargeBoxIdentity" in await response.read()
        async with session.get(soap_url(appliance.url, version)) as response:
            assert response.status == 405
