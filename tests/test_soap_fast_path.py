"""The quick SOAP path reads what spyne reads and writes what spyne writes, and leaves the rest to spyne.

Each request is read both ways (the fast path, and spyne's through the bridge) and the two request
objects must hold the same fields; each answer is written both ways and the two must be the same XML
but for the new MessageID. Requests the fast path must not take (invalid, unknown, odd envelopes)
make it step aside, so that spyne refuses them as before.
"""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from appliance.ocpp15_soap.addressing import WSA_2004, Addressing, read_addressing
from appliance.ocpp15_soap.cs_models import OCPP15
from appliance.ocpp15_soap.cs_service import build_application
from appliance.ocpp15_soap.fast_path import FastPath
from appliance.ocpp15_soap.spyne_bridge import SpyneBridge
from appliance.ocpp16.soap_central_system import OCPP16
from tests.virtual_soap_client import soap_request

VERSIONS = {"1.5": OCPP15, "1.6": OCPP16}
T = "2026-11-21T10:00:00Z"
SAMPLED_16 = ("<o:sampledValue><o:value>1200</o:value><o:context>Sample.Periodic</o:context><o:format>Raw</o:format>"
              "<o:measurand>Energy.Active.Import.Register</o:measurand><o:phase>L1</o:phase>"
              "<o:location>Outlet</o:location><o:unit>kWh</o:unit></o:sampledValue>"
              "<o:sampledValue><o:value>7</o:value></o:sampledValue>")
SAMPLED_15 = ('<o:value context="Sample.Periodic" format="Raw" measurand="Energy.Active.Import.Register" '
              'location="Outlet" unit="Wh">1200</o:value><o:value>7</o:value>')



def meter_values(version: str) -> str:
    """One MeterValue in the version's shape: 1.6 sampledValue elements, 1.5 value attributes."""
    if version == "1.6":
        return f"<o:meterValue><o:timestamp>{T}</o:timestamp>{SAMPLED_16}</o:meterValue>"
    return f"<o:values><o:timestamp>{T}</o:timestamp>{SAMPLED_15}</o:values>"


def transaction_data(version: str) -> str:
    if version == "1.6":
        return f"<o:reason>EVDisconnected</o:reason><o:transactionData><o:timestamp>{T}</o:timestamp>{SAMPLED_16}" \
               "</o:transactionData>"
    return f"<o:transactionData>{meter_values(version)}</o:transactionData>"


# Every operation, optional fields present and absent.
REQUESTS = [
    lambda v: "<o:heartbeatRequest/>",
    lambda v: "<o:authorizeRequest><o:idTag>CARD1</o:idTag></o:authorizeRequest>",
    lambda v: "<o:bootNotificationRequest><o:chargePointVendor>V</o:chargePointVendor><o:chargePointModel>M"
              "</o:chargePointModel><o:chargePointSerialNumber>S</o:chargePointSerialNumber><o:firmwareVersion>1 &amp; 2"
              "</o:firmwareVersion></o:bootNotificationRequest>",
    lambda v: "<o:statusNotificationRequest><o:connectorId>1</o:connectorId><o:status>Available</o:status>"
              "<o:errorCode>NoError</o:errorCode></o:statusNotificationRequest>",
    lambda v: "<o:statusNotificationRequest><o:connectorId> 2 </o:connectorId><o:status>Faulted</o:status>"
              "<o:errorCode>OtherError</o:errorCode><o:info>door</o:info><o:timestamp>2026-11-21T10:00:00.250+01:00"
              "</o:timestamp><o:vendorErrorCode>E7</o:vendorErrorCode></o:statusNotificationRequest>",
    lambda v: f"<o:startTransactionRequest><o:connectorId>1</o:connectorId><o:idTag>CARD1</o:idTag><o:timestamp>{T}"
              "</o:timestamp><o:meterStart>100</o:meterStart><o:reservationId>4</o:reservationId>"
              "</o:startTransactionRequest>",
    lambda v: f"<o:meterValuesRequest><o:connectorId>1</o:connectorId><o:transactionId>9</o:transactionId>"
              f"{meter_values(v)}</o:meterValuesRequest>",
    lambda v: "<o:meterValuesRequest><o:connectorId>0</o:connectorId></o:meterValuesRequest>",
    lambda v: f"<o:stopTransactionRequest><o:transactionId>9</o:transactionId><o:idTag>CARD1</o:idTag><o:timestamp>{T}"
              f"</o:timestamp><o:meterStop>2000</o:meterStop>{transaction_data(v)}</o:stopTransactionRequest>",
    lambda v: f"<o:stopTransactionRequest><o:transactionId>9</o:transactionId><o:timestamp>{T}</o:timestamp>"
              "<o:meterStop>2000</o:meterStop></o:stopTransactionRequest>",
    lambda v: "<o:dataTransferRequest><o:vendorId>Acme</o:vendorId><o:data>&lt;x/&gt;</o:data></o:dataTransferRequest>",
    lambda v: "<o:firmwareStatusNotificationRequest><o:status>Installed</o:status></o:firmwareStatusNotificationRequest>",
    lambda v: "<o:diagnosticsStatusNotificationRequest><o:status>Uploaded</o:status>"
              "</o:diagnosticsStatusNotificationRequest>",
]


def body_of(version: str, make) -> bytes:
    return soap_request(version, make(version), identity="CP1", action="/X")


def fields(value):
    """A request object as plain data: attributes of objects, lists, primitives (times as UTC)."""
    if isinstance(value, list):
        return [fields(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc) if value.tzinfo else value
    if hasattr(value, "__dict__") or hasattr(value, "_type_info"):
        names = getattr(type(value), "_type_info", None) or vars(value)
        return {name: fields(getattr(value, name, None)) for name in names}
    return value


_BUILT: dict = {}


def built(version: str):
    """One spyne application per version for the whole module (spyne registers each one globally)."""
    if version not in _BUILT:
        app, models = build_application(VERSIONS[version])
        _BUILT[version] = (FastPath(app), SpyneBridge(app), models)
    return _BUILT[version]


@pytest.fixture(params=["1.5", "1.6"])
def sides(request):
    fast, bridge, models = built(request.param)
    return request.param, fast, bridge, models


@pytest.mark.parametrize("make", REQUESTS)
def test_the_fast_path_reads_what_spyne_reads(sides, make):
    version, fast, bridge, _ = sides
    body = body_of(version, make)
    quick = fast.read(body)
    ctx, refusal = bridge.read(body)
    assert refusal is None and quick is not None, body
    ctx, operation, request_object = bridge.request(ctx)
    assert quick.operation == operation
    assert [etree.tostring(h) for h in quick.headers] == [etree.tostring(h) for h in ctx.in_header_doc]
    if quick.request is not None:
        assert fields(quick.request) == fields(request_object)


@pytest.mark.parametrize("timestamp", [
    "2026-11-21T10:00:00Z", "2026-11-21T10:00:00", "2026-11-21T10:00:00.250+01:00", "2026-11-21T10:00:00.5-05:30",
    "2026-11-21T10:00:00.123456Z", "2026-11-21T10:00:00.1234567Z",  # finer than a microsecond: spyne rounds
    "2026-11-21T10:00:00.9999995Z", "2026-11-21T10:00:00+14:00", "0001-01-01T00:00:00Z", "2026-02-28T23:59:59-00:00",
])
def test_the_fast_path_reads_times_as_spyne_does(sides, timestamp):
    version, fast, bridge, _ = sides
    body = soap_request(version, "<o:statusNotificationRequest><o:connectorId>1</o:connectorId><o:status>Available"
                                 f"</o:status><o:errorCode>NoError</o:errorCode><!-- a comment --><o:timestamp>{timestamp}"
                                 "</o:timestamp></o:statusNotificationRequest>", identity="CP1")
    ctx, refusal = bridge.read(body)
    assert refusal is None
    expected = bridge.request(ctx)[2].timestamp
    read = fast.read(body).request.timestamp
    assert read == expected and (read.tzinfo is None) == (expected.tzinfo is None)
    assert read.utcoffset() == expected.utcoffset()


def canonical(envelope: bytes) -> bytes:
    root = etree.fromstring(envelope)
    for message_id in root.iter("{*}MessageID"):
        message_id.text = "x"
    return etree.tostring(root, method="c14n")


@pytest.mark.parametrize("operation, make", [
    ("Heartbeat", lambda m: m.HeartbeatResponse(currentTime=dt.datetime(2026, 11, 21, 10, 0, 0, 250000,
                                                                        tzinfo=dt.timezone.utc))),
    ("MeterValues", lambda m: m.MeterValuesResponse()),
    ("StatusNotification", lambda m: m.StatusNotificationResponse()),
    ("StartTransaction", lambda m: m.StartTransactionResponse(transactionId=12, idTagInfo=m.IdTagInfo(
        status="Accepted", expiryDate=dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc), parentIdTag="P<&>"))),
    ("StopTransaction", lambda m: m.StopTransactionResponse(idTagInfo=m.IdTagInfo(status="Blocked"))),
    ("StopTransaction", lambda m: m.StopTransactionResponse(idTagInfo=None)),
    ("Authorize", lambda m: m.AuthorizeResponse(idTagInfo=m.IdTagInfo(status="Invalid"))),
    ("BootNotification", lambda m: m.BootNotificationResponse(status="Accepted", currentTime=dt.datetime(
        2026, 11, 21, tzinfo=dt.timezone.utc), **{_interval_field(m): 300})),
    ("DataTransfer", lambda m: m.DataTransferResponse(status="Accepted", data="a & b")),
    ("DataTransfer", lambda m: m.DataTransferResponse(status="Rejected")),
])
@pytest.mark.parametrize("addressing", [Addressing(message_id="urn:uuid:1&2"), Addressing(),
                                        Addressing(namespace=WSA_2004, message_id="m1")])
def test_the_fast_path_writes_what_spyne_writes(sides, operation, make, addressing):
    version, fast, bridge, models = sides
    request = soap_request(version, f"<o:{operation[0].lower() + operation[1:]}Request/>", identity="CP1")
    ctx, _ = bridge.read(request)
    ctx = bridge.request(ctx)[0] if operation == "Heartbeat" else _context_for(bridge, version, operation)
    response = make(models)
    assert canonical(fast.answer(operation, response, addressing)) == canonical(
        bridge.answer(ctx, response, addressing))


def _interval_field(models) -> str:
    """The heartbeat interval's name in the version these models are of (1.5 heartbeatInterval, 1.6 interval)."""
    fields_ = models.BootNotificationResponse.get_flat_type_info(models.BootNotificationResponse)
    return "interval" if "interval" in fields_ else "heartbeatInterval"


def _context_for(bridge: SpyneBridge, version: str, operation: str):
    """A spyne context for `operation` from a valid request of it (spyne writes answers per operation)."""
    for make in REQUESTS:
        body = body_of(version, make)
        ctx, refusal = bridge.read(body)
        if refusal is None:
            ctx, name, _ = bridge.request(ctx)
            if name == operation:
                return ctx
    raise AssertionError(f"no request of {operation} in REQUESTS")


@pytest.mark.parametrize("body", [
    b"not xml",
    soap_request("1.6", "<o:statusNotificationRequest><o:connectorId>1</o:connectorId><o:status>Bogus</o:status>"
                        "<o:errorCode>NoError</o:errorCode></o:statusNotificationRequest>"),  # fails the schema
    soap_request("1.6", "<o:resetRequest/>"),  # no operation of this service
    soap_request("1.6", "<o:heartbeatRequest/><o:heartbeatRequest/>"),  # two body entries
    soap_request("1.6", ""),  # an empty body
    soap_request("1.6", "<o:heartbeatRequest/>").replace(b"2003/05/soap-envelope", b"2003/05/other"),
    soap_request("1.6", "<o:heartbeatRequest id='a'/><o:x href='#a'/>"),  # SOAP-encoded references
], ids=["not-xml", "invalid", "unknown", "two-entries", "empty", "not-soap12", "href"])
def test_anything_unusual_is_left_to_spyne(body):
    assert built("1.6")[0].read(body) is None


def test_a_request_without_headers_reads_as_one_without_identity():
    body = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:o="urn://Ocpp/Cs/2015/10/">'
            b"<s:Body><o:heartbeatRequest/></s:Body></s:Envelope>")
    quick = built("1.6")[0].read(body)
    assert quick is not None and quick.headers == [] and read_addressing(quick.headers) == Addressing()


def test_a_text_xml_cannot_carry_is_refused_as_spyne_refuses_it(sides):
    version, fast, bridge, models = sides
    response = models.DataTransferResponse(status="Accepted", data="bell \x07")
    with pytest.raises(ValueError):
        bridge.answer(_context_for(bridge, version, "DataTransfer"), response, Addressing())
    with pytest.raises(ValueError):
        fast.answer("DataTransfer", response, Addressing())
