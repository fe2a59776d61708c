"""Fuzzing the SOAP entry point (OCPP 1.5 and 1.6): mutated envelopes, XML bombs, external entities,
XInclude, deep nesting, huge bodies. Whatever arrives, the answer is a SOAP envelope (the operation's
answer, or a Fault: Sender 400, or 413 for a body over the limit) within a bound; no entity is resolved
and nothing is fetched (a canary HTTP server must never be asked); nothing fails inside (no exception
logged); the next valid request is answered.

Bounded: max_examples per test (FUZZ_EXAMPLES, default 200); no example database is written.
"""

from __future__ import annotations

import asyncio
import logging
import os

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from appliance.ocpp15_soap.addressing import FAULT_ACTION
from tests.conftest import add_fleet, make_settings
from tests.virtual_soap_client import addressing_of, fault_of, soap_request, soap_url

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
ANSWER_BOUND_S = 10.0  # not a speed figure: far beyond any answer; reaching it means the server hangs
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NOW = "2026-11-21T10:00:00Z"
SEEDS = {
    "heartbeat": "<o:heartbeatRequest/>",
    "authorize": "<o:authorizeRequest><o:idTag>CARD1</o:idTag></o:authorizeRequest>",
    "boot": "<o:bootNotificationRequest><o:chargePointVendor>V</o:chargePointVendor><o:chargePointModel>M"
            "</o:chargePointModel></o:bootNotificationRequest>",
    "status": "<o:statusNotificationRequest><o:connectorId>1</o:connectorId><o:status>Available</o:status>"
              "<o:errorCode>NoError</o:errorCode></o:statusNotificationRequest>",
    "start": f"<o:startTransactionRequest><o:connectorId>1</o:connectorId><o:idTag>CARD1</o:idTag><o:timestamp>{NOW}"
             "</o:timestamp><o:meterStart>0</o:meterStart></o:startTransactionRequest>",
    "stop": f"<o:stopTransactionRequest><o:transactionId>1</o:transactionId><o:timestamp>{NOW}</o:timestamp>"
            "<o:meterStop>10</o:meterStop></o:stopTransactionRequest>",
    "data": "<o:dataTransferRequest><o:vendorId>v</o:vendorId><o:data>d</o:data></o:dataTransferRequest>",
}
MAX_BODY = 4 * 65536  # the endpoint's limit: 4 x ocpp_max_frame_bytes


@pytest.fixture
async def canary(aiohttp_server):
    """An HTTP server that external entities point at: it must never be asked for anything."""
    asked: list[str] = []

    async def record(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(text="<!ENTITY leak 'CANARY'>")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server = await aiohttp_server(app)
    yield str(server.make_url("/")).rstrip("/"), asked
    assert asked == [], f"the appliance fetched {asked}"


@pytest.fixture(params=["1.5", "1.6"])
async def soap(request, start_appliance, tmp_path, caplog):
    # Unknown ids (from mutated chargeBoxIdentity headers) are fuzzed for parsing, not for their rate limit.
    app = await start_appliance(make_settings(tmp_path / "data", unknown_chargers_per_min=0,
                                              unknown_chargers_per_address_per_min=0))
    await add_fleet(app.core)
    await app.core.chargers.add("CP1", {"1.5": "ocpp1.5-soap", "1.6": "ocpp1.6-soap"}[request.param])
    caplog.set_level(logging.INFO)
    app.version = request.param
    app.http = aiohttp.ClientSession()
    yield app
    await app.http.close()
    failures = [r for r in caplog.records if r.exc_info and r.name.startswith("appliance")]
    assert failures == [], "\n".join(r.getMessage() + "\n" + logging.Formatter().formatException(r.exc_info)
                                     for r in failures[:3])


async def post(app, body: bytes) -> tuple[int, etree._Element]:
    """POST within the bound; the answer must be a SOAP envelope whatever the request was."""
    async with asyncio.timeout(ANSWER_BOUND_S):
        async with app.http.post(soap_url(app.url, app.version), data=body,
                                 headers={"Content-Type": "application/soap+xml; charset=utf-8"}) as response:
            text = await response.read()
    envelope = etree.fromstring(text)
    assert etree.QName(envelope).localname == "Envelope", text[:300]
    return response.status, envelope


async def exchange(app, body: bytes) -> tuple[int, str, str]:
    """Send `body`; check its answer; then check the service still answers a Heartbeat.
    Returns (HTTP status, Fault subcode or "", Fault reason or "")."""
    status, envelope = await post(app, body)
    action = addressing_of(envelope).get("Action", "")
    subcode = reason = ""
    if status == 200:
        assert action.endswith("Response"), etree.tostring(envelope)[:300]
    else:
        assert status in (400, 413) and action == FAULT_ACTION, (status, etree.tostring(envelope)[:500])
        code, subcode, reason = fault_of(envelope)
        assert code == "soap12env:Sender", (code, subcode, reason)
    alive, answer = await post(app, soap_request(app.version, SEEDS["heartbeat"]))
    assert alive == 200 and addressing_of(answer)["Action"] == "/HeartbeatResponse"
    return status, subcode, reason


@st.composite
def mutated_envelopes(draw, version: str) -> bytes:
    """A valid request of the version, changed in one way (tree or bytes)."""
    body = soap_request(version, draw(st.sampled_from(list(SEEDS.values()))),
                        identity=draw(st.sampled_from(["CP1", "CP1", "CP1", "", "CP 1", "X" * 49, "NEW1", None])))
    how = draw(st.sampled_from(["text", "drop", "copy", "tag", "insert", "delete", "replace", "truncate", "nest",
                                "encoding"]))
    if how in ("text", "drop", "copy", "tag"):
        tree = etree.fromstring(body)
        elements = list(tree.iter())
        element = elements[draw(st.integers(0, len(elements) - 1))]
        if how == "text":
            element.text = draw(st.text(alphabet=st.characters(exclude_categories=["Cs", "Cc"]), max_size=300))
        elif how == "drop" and element.getparent() is not None:
            element.getparent().remove(element)
        elif how == "copy" and element.getparent() is not None:
            element.addnext(etree.fromstring(etree.tostring(element)))
        elif how == "tag":
            element.tag = "{%s}%s" % (draw(st.sampled_from(["urn://Ocpp/Cs/2012/06/", "urn://Ocpp/Cs/2015/10/",
                                                            "urn:x", "http://www.w3.org/2003/05/soap-envelope"])),
                                      draw(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,15}", fullmatch=True)))
        return etree.tostring(tree, xml_declaration=True, encoding="utf-8")
    at = draw(st.integers(0, len(body)))
    if how == "insert":
        return body[:at] + draw(st.binary(min_size=1, max_size=50)) + body[at:]
    if how == "delete":
        return body[:at] + body[at + draw(st.integers(1, 50)):]
    if how == "replace":
        return body[:at] + draw(st.binary(min_size=1, max_size=20)) + body[at + 20:]
    if how == "truncate":
        return body[:at]
    if how == "nest":
        depth = draw(st.integers(1, 20_000))
        return body.replace(b"</s:Body>", b"<x>" * depth + b"</x>" * depth + b"</s:Body>")
    return body.replace(b'encoding="utf-8"', b'encoding="%s"' % draw(st.sampled_from(
        [b"utf-16", b"latin-1", b"ebcdic", b"nonsense", b""])))


@FUZZ
@given(data=st.data())
async def test_mutated_envelopes_get_an_answer_or_a_sender_fault(soap, data):
    await exchange(soap, data.draw(mutated_envelopes(soap.version)))


@FUZZ
@given(body=st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
async def test_random_bodies_get_a_sender_fault(soap, body):
    status, _, _ = await exchange(soap, body)
    assert status == 400


def with_doctype(version: str, doctype: str, id_tag: str) -> bytes:
    body = soap_request(version, f"<o:authorizeRequest><o:idTag>{id_tag}</o:idTag></o:authorizeRequest>")
    return body.replace(b"?>", b"?>" + doctype.encode(), 1)


LAUGHS = "<!DOCTYPE l [<!ENTITY l0 'lol'>" + "".join(
    f"<!ENTITY l{i} '{('&l' + str(i - 1) + ';') * 10}'>" for i in range(1, 10)) + "]>"
QUADRATIC = "<!DOCTYPE q [<!ENTITY a '" + "a" * 50_000 + "'>]>"


@pytest.mark.parametrize("doctype, id_tag", [
    (LAUGHS, "&l9;"),  # billion laughs: 10^9 "lol"s if entities were expanded
    (QUADRATIC, "&a;" * 3000),  # quadratic blow-up: 150 MB from a 60 KB request
    ("<!DOCTYPE e [<!ENTITY leak SYSTEM 'file:///etc/passwd'>]>", "&leak;"),
    ("<!DOCTYPE e [<!ENTITY leak SYSTEM '{canary}/entity'>]>", "&leak;"),
    ("<!DOCTYPE e [<!ENTITY % p SYSTEM '{canary}/parameter'> %p;]>", "CARD1"),  # parameter entity, fetched by a DTD load
    ("<!DOCTYPE e SYSTEM '{canary}/dtd'>", "CARD1"),  # an external DTD
    ("", "<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='{canary}/xinclude' parse='text'/>"),
    ("", "<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='file:///etc/passwd' parse='text'/>"),
])
async def test_entities_dtds_and_xincludes_are_never_resolved(soap, canary, doctype, id_tag):
    url, _ = canary
    body = with_doctype(soap.version, doctype.replace("{canary}", url), id_tag.replace("{canary}", url))
    status, envelope = await post(soap, body)
    answer = etree.tostring(envelope)
    assert status in (200, 400), answer[:500]
    assert b"root:" not in answer and b"lol" * 10 not in answer and b"CANARY" not in answer
    await exchange(soap, soap_request(soap.version, SEEDS["heartbeat"]))


@pytest.mark.parametrize("doctype", ["<!DOCTYPE e SYSTEM 'http://127.0.0.1:9/dtd'>", "<!DOCTYPE e [<!ENTITY a 'b'>]>"])
async def test_a_document_type_declaration_is_refused(soap, doctype):
    status, subcode, _ = await exchange(soap, with_doctype(soap.version, doctype, "CARD1"))
    assert (status, subcode) == (400, "FormationViolation")


async def test_a_body_over_the_limit_is_refused_and_the_service_goes_on(soap):
    huge = soap_request(soap.version, f"<o:dataTransferRequest><o:vendorId>v</o:vendorId><o:data>{'x' * MAX_BODY}"
                                      "</o:data></o:dataTransferRequest>")
    status, subcode, _ = await exchange(soap, huge)
    assert (status, subcode) == (413, "FormationViolation")


@pytest.mark.parametrize("name", sorted(SEEDS))
async def test_every_seed_is_a_valid_request(soap, name):
    """The mutations start from valid requests, so that they explore what lies near valid ones."""
    if name != "boot":
        await exchange(soap, soap_request(soap.version, SEEDS["boot"]))
    status, subcode, reason = await exchange(soap, soap_request(soap.version, SEEDS[name]))
    assert status == 200, (subcode, reason)
