"""The ChargePointService WSDLs the appliance's zeep client reads: committed as the generator writes
them, and interface-compatible with the official OCPP 1.5 and 1.6 ones (when ../shared/reference is
there): the same operations, messages, header, actions and types, and requests zeep builds from ours
are the very XML it builds from the official WSDL, valid against the official schema; answers as the
virtual charger writes them are valid there too.
"""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pytest
import zeep
from lxml import etree
from spyne import ComplexModelBase
from spyne.model.enum import EnumBase
from spyne.model.primitive import AnyUri, Boolean, DateTime, Decimal, Integer, Unicode
from spyne.util.xml import get_object_as_xml
from zeep.transports import Transport
from zeep.wsdl import Document

from appliance.ocpp15_soap.cp_client import SETTINGS, SOAP12_ENV, interface, message_schema
from appliance.ocpp15_soap.cp_models import CP15, build_models
from appliance.ocpp15_soap.cp_service import element_name
from appliance.ocpp15_soap.generate_wsdl import WSDL_DIR, chargepoint_wsdl
from appliance.ocpp16.soap_link import CP16

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ocpp-wsdl"
OFFICIAL = {"1.5": REFERENCE / "ocpp15" / "ocpp_chargepointservice_1.5_final.wsdl",
            "1.6": REFERENCE / "ocpp16" / "OCPP_ChargePointService_1.6.wsdl"}
VERSIONS = [pytest.param(CP15, id="1.5"), pytest.param(CP16, id="1.6")]
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason="the official WSDLs (../shared/reference) "
                                                                   "are not here")
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
_SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
_WSAW = "http://www.w3.org/2006/05/addressing/wsdl"
_XS = "http://www.w3.org/2001/XMLSchema"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_committed_wsdl_is_what_the_generator_writes(version):
    assert (WSDL_DIR / version.wsdl_file).read_bytes() == chargepoint_wsdl(version), \
        "regenerate: python -m appliance.ocpp15_soap.generate_wsdl"


@needs_reference
@pytest.mark.parametrize("version", VERSIONS)
def test_operations_messages_header_and_actions_are_the_official_ones(version):
    ours = operations((WSDL_DIR / version.wsdl_file).read_bytes())
    official = operations(OFFICIAL[version.version].read_bytes())
    assert sorted(ours) == sorted(official) == sorted(version.operations)
    assert ours == official


@needs_reference
@pytest.mark.parametrize("version", VERSIONS)
def test_types_are_the_official_ones(version):
    ours = named_types((WSDL_DIR / version.wsdl_file).read_bytes())
    official = named_types(OFFICIAL[version.version].read_bytes())
    # spyne names the type of an empty request after its element; the element names are the official ones
    renamed = {"clearCacheRequest": "ClearCacheRequest", "getLocalListVersionRequest": "GetLocalListVersionRequest"}
    ours = {renamed.get(name, name): shape for name, shape in ours.items()}
    unused = {"CiString20Type", "CiString25Type"} if version is CP16 else set()  # shared with CentralSystemService
    assert ours == {name: shape for name, shape in official.items() if name not in unused}


@needs_reference
@pytest.mark.parametrize("version", VERSIONS)
def test_requests_built_from_ours_are_those_built_from_the_official_wsdl_and_valid_there(version):
    ours = interface(version)
    official_path = OFFICIAL[version.version]
    official = zeep.Client(Document(str(official_path), Transport(), settings=SETTINGS), settings=SETTINGS)
    schema = message_schema(official_path.read_bytes())
    models = build_models(version)
    for operation in version.operations:
        fields = sample(getattr(models, f"{operation}Request", None))
        ours_body, ours_header = built(zeep.Client(ours.document, settings=SETTINGS), ours.binding, operation, fields)
        official_body, official_header = built(official, f"{{{version.namespace}}}ChargePointServiceSoap", operation,
                                               fields)
        assert c14n(ours_body) == c14n(official_body), operation
        assert c14n(ours_header) == c14n(official_header), operation
        assert schema.validate(ours_body), (operation, schema.error_log.last_error)


@needs_reference
@pytest.mark.parametrize("version", VERSIONS)
def test_answers_the_virtual_charger_writes_are_valid_against_the_official_schema(version):
    schema = message_schema(OFFICIAL[version.version].read_bytes())
    models = build_models(version)
    for operation in version.operations:
        model = getattr(models, f"{operation}Response")
        answer = get_object_as_xml(instance(model, sample(model)), model,
                                   root_tag_name=element_name(operation, "Response"))
        assert schema.validate(answer), (operation, schema.error_log.last_error)


# -- reading WSDLs ------------------------------------------------------------------------------------

def operations(wsdl: bytes) -> dict[str, dict[str, Any]]:
    """Per operation: its request and response elements, header element, SOAP and WS-Addressing actions."""
    root = etree.fromstring(wsdl)
    parts = {(m.get("name"), p.get("name")): qname(p, p.get("element"))
             for m in root.iter(f"{{{_WSDL}}}message") for p in m.iter(f"{{{_WSDL}}}part")}
    elements = {name: element for (name, _), element in parts.items()}
    found: dict[str, dict[str, Any]] = {}
    for op in root.findall(f"{{{_WSDL}}}portType/{{{_WSDL}}}operation"):
        request, response = op.find(f"{{{_WSDL}}}input"), op.find(f"{{{_WSDL}}}output")
        found[op.get("name")] = {
            "request": elements[qname(request, request.get("message")).localname],
            "response": elements[qname(response, response.get("message")).localname],
            "actions": (request.get(f"{{{_WSAW}}}Action"), response.get(f"{{{_WSAW}}}Action"))}
    for op in root.findall(f"{{{_WSDL}}}binding/{{{_WSDL}}}operation"):
        header = op.find(f"{{{_WSDL}}}input/{{{_SOAP12}}}header")
        found[op.get("name")]["soap_action"] = op.find(f"{{{_SOAP12}}}operation").get("soapAction")
        found[op.get("name")]["header"] = parts[qname(header, header.get("message")).localname, header.get("part")]
    return found


def named_types(wsdl: bytes) -> dict[str, tuple]:
    """Each named type's shape: a complex type's elements (name, type, minOccurs, maxOccurs), a simple
    type's base and facets."""
    schema = etree.fromstring(wsdl).find(f"{{{_WSDL}}}types/{{{_XS}}}schema")
    shapes: dict[str, tuple] = {}
    for node in schema:
        if not isinstance(node.tag, str) or etree.QName(node).localname not in ("complexType", "simpleType"):
            continue
        if etree.QName(node).localname == "complexType":
            shapes[node.get("name")] = tuple(
                (e.get("name"), qname(e, e.get("type")).localname, e.get("minOccurs", "1"), e.get("maxOccurs", "1"))
                for e in node.iter(f"{{{_XS}}}element"))
        else:
            restriction = node.find(f"{{{_XS}}}restriction")
            shapes[node.get("name")] = (qname(restriction, restriction.get("base")).localname, *(
                (etree.QName(f).localname, f.get("value")) for f in restriction if isinstance(f.tag, str)))
    return shapes


def qname(node: etree._Element, prefixed: str) -> etree.QName:
    prefix, _, local = prefixed.rpartition(":")
    return etree.QName(node.nsmap[prefix or None], local)


# -- building messages --------------------------------------------------------------------------------

def built(client: zeep.Client, binding: str, operation: str, fields: dict) -> tuple[etree._Element, etree._Element]:
    service = client.create_service(binding, "http://charger.example/")
    envelope = client.create_message(service, operation, _soapheaders={"ChargeBoxIdentity": "CP1"}, **fields)
    header = envelope.find(f"{{{SOAP12_ENV}}}Header")
    return envelope.find(f"{{{SOAP12_ENV}}}Body")[0], header[0]  # the header's first: chargeBoxIdentity


def c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True)


def sample(model: Any) -> dict[str, Any]:
    """Every element of a type filled with a valid value (the first of an enumeration), once each."""
    if model is None:
        return {}
    fields = {}
    for name, member in model.get_flat_type_info(model).items():
        value = _value(member)
        fields[name] = [value] if member.Attributes.max_occurs > 1 else value
    return fields


def _value(member: Any) -> Any:
    if issubclass(member, ComplexModelBase):
        return sample(member)
    if issubclass(member, EnumBase):
        return member.__values__[0]
    for kind, value in ((Boolean, True), (DateTime, dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.timezone.utc)),
                        (Integer, 1), (Decimal, decimal.Decimal("16.5")), (AnyUri, "https://charger.example/f"),
                        (Unicode, "x")):
        if issubclass(member, kind):
            return value
    raise TypeError(f"no sample for {member}")


def instance(model: Any, fields: dict[str, Any]) -> Any:
    """sample()'s values as spyne objects of `model`."""
    members = model.get_flat_type_info(model)

    def convert(member: Any, value: Any) -> Any:
        if isinstance(value, list):
            return [convert(member, v) for v in value]
        return instance(member, value) if issubclass(member, ComplexModelBase) else value

    return model(**{name: convert(members[name], value) for name, value in fields.items()})
