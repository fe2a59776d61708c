"""Complete a WSDL written by spyne so that it matches the official OCPP 1.x ones where clients care.

spyne writes no top-level element for a simple-typed header such as `chargeBoxIdentity` (zeep then
refuses the WSDL: "No definition ... chargeBoxIdentity"), no WS-Addressing actions, and SOAP actions
without the official leading slash. The OCPP WSDLs (CentralSystemService and ChargePointService
alike) put the charger's identity in a `chargeBoxIdentity` header on every request, name the actions
"/Operation" and "/OperationResponse", and require WS-Addressing by policy.
"""

from __future__ import annotations

from lxml import etree

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
XS = "http://www.w3.org/2001/XMLSchema"
WSAW = "http://www.w3.org/2006/05/addressing/wsdl"
WSP = "http://schemas.xmlsoap.org/ws/2004/09/policy"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
HEADER_MESSAGE = "Header"
HEADER_PART = "ChargeBoxIdentity"
POLICY_ID = "ServicePolicy"


def complete_wsdl(wsdl: bytes, header_element: str = "chargeBoxIdentity") -> bytes:
    """The WSDL with the identity header declared and used on every request, and the official
    SOAP and WS-Addressing actions; idempotent."""
    root = etree.fromstring(wsdl)
    tns = root.get("targetNamespace")
    _declare_header_element(root, tns, header_element)
    _declare_header_message(root, tns, header_element)
    for operation in root.findall(f"{{{WSDL}}}binding/{{{WSDL}}}operation"):
        _use_header(operation, tns)
        soap_operation = operation.find(f"{{{SOAP12}}}operation")
        if soap_operation is not None:
            soap_operation.set("soapAction", "/" + operation.get("name"))
    for operation in root.findall(f"{{{WSDL}}}portType/{{{WSDL}}}operation"):
        _set_actions(operation)
    _require_addressing(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def tidy_namespaces(wsdl: bytes) -> bytes:
    """The WSDL with the WS-Addressing and policy prefixes declared once, on the root (complete_wsdl
    declares them where it adds them). Every prefix the root declares is kept: WSDL uses prefixes
    inside attribute values (type="tns:IdToken"), which lxml does not count as uses."""
    root = etree.fromstring(wsdl)
    etree.cleanup_namespaces(root, top_nsmap={"wsaw": WSAW, "wsp": WSP, "wsu": WSU},
                             keep_ns_prefixes=[prefix for prefix in root.nsmap if prefix])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _prefix(element: etree._Element, namespace: str) -> str:
    return next(p for p, ns in element.nsmap.items() if ns == namespace and p)


def _declare_header_element(root: etree._Element, tns: str, name: str) -> None:
    schema = next(s for s in root.iter(_q(XS, "schema")) if s.get("targetNamespace") == tns)
    if not any(e.get("name") == name for e in schema.findall(_q(XS, "element"))):
        prefix = _prefix(schema, XS)
        etree.SubElement(schema, _q(XS, "element"), name=name, type=f"{prefix}:string")


def _declare_header_message(root: etree._Element, tns: str, header_element: str) -> None:
    """One `Header` message (as the official WSDLs have), replacing what spyne may have written for
    the header: its message references a type, not an element."""
    tns_prefix = _prefix(root, tns)
    for message in root.findall(_q(WSDL, "message")):
        parts = message.findall(_q(WSDL, "part"))
        if message.get("name") == HEADER_MESSAGE or any(
                p.get("element", "").endswith(":" + header_element) for p in parts):
            root.remove(message)
    message = etree.Element(_q(WSDL, "message"), name=HEADER_MESSAGE)
    etree.SubElement(message, _q(WSDL, "part"), name=HEADER_PART, element=f"{tns_prefix}:{header_element}")
    first = root.find(_q(WSDL, "message"))
    if first is not None:
        first.addprevious(message)
    else:
        root.find(_q(WSDL, "types")).addnext(message)


def _use_header(operation: etree._Element, tns: str) -> None:
    tns_prefix = _prefix(operation, tns)
    request = operation.find(_q(WSDL, "input"))
    if request is None:
        return
    for header in request.findall(_q(SOAP12, "header")):
        request.remove(header)
    header = etree.Element(_q(SOAP12, "header"), message=f"{tns_prefix}:{HEADER_MESSAGE}", part=HEADER_PART,
                           use="literal")
    request.insert(0, header)


def _set_actions(operation: etree._Element) -> None:
    name = operation.get("name")
    for tag, action in (("input", f"/{name}"), ("output", f"/{name}Response")):
        message = operation.find(_q(WSDL, tag))
        if message is not None:
            message.set(_q(WSAW, "Action"), action)


def _require_addressing(root: etree._Element) -> None:
    """The official WSDLs' policy: WS-Addressing is used (clients that read policies turn it on)."""
    if root.find(_q(WSP, "Policy")) is None:
        policy = etree.Element(_q(WSP, "Policy"), {_q(WSU, "Id"): POLICY_ID}, nsmap={"wsp": WSP, "wsu": WSU})
        all_of = etree.SubElement(etree.SubElement(policy, _q(WSP, "ExactlyOne")), _q(WSP, "All"))
        etree.SubElement(all_of, _q(WSAW, "UsingAddressing"), nsmap={"wsaw": WSAW})
        root.insert(0, policy)
    for binding in root.findall(_q(WSDL, "binding")):
        soap_binding = binding.find(_q(SOAP12, "binding"))
        if soap_binding is not None:
            soap_binding.set("transport", HTTP_TRANSPORT)
        if binding.find(_q(WSP, "PolicyReference")) is None:
            reference = etree.Element(_q(WSP, "PolicyReference"), URI="#" + POLICY_ID, nsmap={"wsp": WSP})
            (soap_binding if soap_binding is not None else binding[0]).addnext(reference)
