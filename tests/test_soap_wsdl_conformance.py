"""The served CentralSystemService against the official OCPP 1.5 and 1.6 WSDLs.

A charger is built from the OFFICIAL WSDL (its service address pointed at the appliance) and calls
every operation; zeep reads each answer with the official schema, and lxml validates each answer's
body against the schema embedded in the official WSDL. The WSDL the appliance serves is compared with
the official one: operations, message elements, actions, the identity header, and the shape of
every message (elements, occurrences, types and their restrictions, whatever the types are named).
Skipped where the official files are not around (../shared/reference/ocpp-wsdl beside the repository).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import aiohttp
import pytest
from lxml import etree

from tests.conftest import add_fleet
from tests.virtual_soap_client import SOAP12, VirtualSoapCharger, now, soap_url

OFFICIAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ocpp-wsdl"
OFFICIAL = {"1.5": OFFICIAL_DIR / "ocpp15" / "ocpp_centralsystemservice_1.5_final.wsdl",
            "1.6": OFFICIAL_DIR / "ocpp16" / "OCPP_CentralSystemService_1.6.wsdl"}
PROTOCOLS = {"1.5": "ocpp1.5-soap", "1.6": "ocpp1.6-soap"}
WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP12_BINDING = "http://schemas.xmlsoap.org/wsdl/soap12/"
WSAW = "http://www.w3.org/2006/05/addressing/wsdl"
XS = "http://www.w3.org/2001/XMLSchema"

pytestmark = pytest.mark.skipif(not OFFICIAL_DIR.is_dir(), reason=f"no official WSDLs in {OFFICIAL_DIR}")


@pytest.fixture(params=["1.5", "1.6"])
def version(request) -> str:
    return request.param


def official_schema(version: str) -> etree.XMLSchema:
    schema = etree.parse(str(OFFICIAL[version])).find(f"{{{WSDL}}}types/{{{XS}}}schema")
    return etree.XMLSchema(etree.fromstring(etree.tostring(schema)))


def assert_valid_answer(cp: VirtualSoapCharger, schema: etree.XMLSchema, element: str) -> None:
    """The last answer's body entry is `element` and valid under the official schema."""
    entry = cp.last_received().find(f"{{{SOAP12}}}Body")[0]
    assert etree.QName(entry).localname == element
    schema.assertValid(etree.fromstring(etree.tostring(entry)))


async def test_a_charger_built_from_the_official_wsdl_calls_every_operation(appliance, version):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", PROTOCOLS[version])
    schema = official_schema(version)
    cp = await VirtualSoapCharger.connect(appliance.url, "CP1", version, from_url="http://127.0.0.1:9/cp",
                                          wsdl=str(OFFICIAL[version]), service_url=soap_url(appliance.url, version))
    t0 = now() - dt.timedelta(hours=1)

    assert (await cp.boot()).status == "Accepted"
    assert_valid_answer(cp, schema, "bootNotificationResponse")
    assert (await cp.heartbeat()).tzinfo is not None
    assert_valid_answer(cp, schema, "heartbeatResponse")
    assert (await cp.authorize("CARD1")).status == "Accepted"
    assert_valid_answer(cp, schema, "authorizeResponse")
    started = await cp.start("CARD1", meter_start=1000, timestamp=t0)
    assert started.transactionId > 0 and started.idTagInfo.status == "Accepted"
    assert_valid_answer(cp, schema, "startTransactionResponse")
    assert await cp.meter_values(started.transactionId, 1500, timestamp=t0 + dt.timedelta(minutes=5)) is None
    assert_valid_answer(cp, schema, "meterValuesResponse")
    assert await cp.status(1, "Available") is None
    assert_valid_answer(cp, schema, "statusNotificationResponse")
    data = [cp.meter_value(t0 + dt.timedelta(minutes=9), [{"value": "1900", "unit": "Wh"}])]
    stopped = await cp.stop(started.transactionId, 2000, "CARD1", timestamp=t0 + dt.timedelta(minutes=10),
                            transaction_data=data)
    assert stopped.status == "Accepted"
    assert_valid_answer(cp, schema, "stopTransactionResponse")
    assert await cp.firmware_status("Installed") is None
    assert_valid_answer(cp, schema, "firmwareStatusNotificationResponse")
    assert await cp.diagnostics_status("Uploaded") is None
    assert_valid_answer(cp, schema, "diagnosticsStatusNotificationResponse")
    assert (await cp.data_transfer("com.example", "hello", "data")).status == "UnknownVendorId"
    assert_valid_answer(cp, schema, "dataTransferResponse")
    assert (await appliance.core.transactions.get(started.transactionId)).energy_wh == 1000


async def test_the_official_boot_answer_validates_for_an_unknown_charger(appliance, version):
    # 1.5's RegistrationStatus has no Pending: the appliance's pending charger must get a 1.5 value.
    cp = await VirtualSoapCharger.connect(appliance.url, "NEW1", version, wsdl=str(OFFICIAL[version]),
                                          service_url=soap_url(appliance.url, version))
    assert (await cp.boot()).status == {"1.5": "Rejected", "1.6": "Pending"}[version]
    assert_valid_answer(cp, official_schema(version), "bootNotificationResponse")


async def test_the_served_wsdl_has_the_official_operations_messages_and_actions(appliance, version):
    served = await _served_wsdl(appliance, version)
    official = etree.parse(str(OFFICIAL[version])).getroot()
    assert _interface(served) == _interface(official)


async def test_the_served_wsdl_describes_every_message_as_the_official_one_does(appliance, version):
    served, official = _Schema(await _served_wsdl(appliance, version)), _Schema(etree.parse(str(OFFICIAL[version])))
    for name in official.elements:
        assert served.shape_of_element(name) == official.shape_of_element(name), name


async def _served_wsdl(appliance, version: str) -> etree._Element:
    async with aiohttp.ClientSession() as session:
        async with session.get(soap_url(appliance.url, version) + "?wsdl") as response:
            return etree.fromstring(await response.read())


def _interface(root: etree._Element) -> dict[str, tuple]:
    """Per operation: request and answer body elements, WS-Addressing actions, SOAP action, request header."""
    def element_of(message_qname: str, node: etree._Element) -> str:
        message = root.find(f"{{{WSDL}}}message[@name='{_local(message_qname)}']")
        part = message.find(f"{{{WSDL}}}part")
        return _qname(node, part.get("element"))

    binding = {op.get("name"): op for op in root.iterfind(f"{{{WSDL}}}binding/{{{WSDL}}}operation")}
    interface = {}
    for op in root.iterfind(f"{{{WSDL}}}portType/{{{WSDL}}}operation"):
        request, answer = op.find(f"{{{WSDL}}}input"), op.find(f"{{{WSDL}}}output")
        bound = binding[op.get("name")]
        header = bound.find(f"{{{WSDL}}}input/{{{SOAP12_BINDING}}}header")
        interface[op.get("name")] = (
            element_of(request.get("message"), request), element_of(answer.get("message"), answer),
            request.get(f"{{{WSAW}}}Action"), answer.get(f"{{{WSAW}}}Action"),
            bound.find(f"{{{SOAP12_BINDING}}}operation").get("soapAction"),
            element_of(header.get("message"), header) if header is not None else None)
    return interface


def _local(qname: str) -> str:
    return qname.split(":")[-1]


def _qname(node: etree._Element, prefixed: str) -> str:
    prefix, _, local = prefixed.rpartition(":")
    return f"{{{node.nsmap[prefix or None]}}}{local}"


class _Schema:
    """A WSDL's schema, to describe a message's shape independently of how its types are named."""

    def __init__(self, wsdl: etree._Element | etree._ElementTree) -> None:
        self.schema = wsdl.find(f"{{{WSDL}}}types/{{{XS}}}schema")
        self.named = {(etree.QName(t).localname, t.get("name")): t for t in self.schema if t.get("name")}
        self.elements = [name for kind, name in self.named if kind == "element"]

    def shape_of_element(self, name: str) -> tuple:
        element = self.named[("element", name)]
        return self._shape_of_type(element, element.get("type"))

    def _shape_of_type(self, node: etree._Element, type_name: str | None) -> tuple:
        if type_name is None:
            inline = node.find(f"{{{XS}}}complexType")
            return self._complex(inline) if inline is not None else self._simple(node.find(f"{{{XS}}}simpleType"))
        qname = etree.QName(_qname(node, type_name))
        if qname.namespace == XS:
            return ("xs", qname.localname)
        found = self.named.get(("complexType", qname.localname))
        return self._complex(found) if found is not None else self._simple(self.named[("simpleType", qname.localname)])

    def _simple(self, simple: etree._Element) -> tuple:
        restriction = simple.find(f"{{{XS}}}restriction")
        facets = frozenset((etree.QName(f).localname, f.get("value")) for f in restriction)
        return ("restriction", _local(restriction.get("base")), facets)

    def _complex(self, complex_type: etree._Element) -> tuple:
        extension = complex_type.find(f"{{{XS}}}simpleContent/{{{XS}}}extension")
        if extension is not None:
            attributes = frozenset((a.get("name"), self._shape_of_type(a, a.get("type")), a.get("use", "optional"))
                                   for a in extension.iterfind(f"{{{XS}}}attribute"))
            return ("text with attributes", _local(extension.get("base")), attributes)
        elements = complex_type.iterfind(f"{{{XS}}}sequence/{{{XS}}}element")
        return ("sequence", tuple(
            (e.get("name"), e.get("minOccurs", "1"), e.get("maxOccurs", "1"), e.get("nillable", "false"),
             self._shape_of_type(e, e.get("type"))) for e in elements))
