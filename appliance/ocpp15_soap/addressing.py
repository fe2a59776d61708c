"""WS-Addressing for OCPP 1.x SOAP: what a charger's request says, and the headers of our answer.

The OCPP WSDLs require WS-Addressing (2005/08): a charger says where it can be called back in
`From` (or `ReplyTo`), and expects the answer to carry `RelatesTo` its `MessageID` and the
response `Action`. spyne neither reads nor writes these headers, so this module does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Iterable

from lxml import etree

from appliance.core.chargers import ChargerError, validate_endpoint

WSA = "http://www.w3.org/2005/08/addressing"
# Some OCPP 1.5 chargers still speak the 2004/08 submission; they are read, and answered in it.
WSA_2004 = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
ANONYMOUS = WSA + "/anonymous"
FAULT_ACTION = WSA + "/soap/fault"


@dataclass(frozen=True)
class Addressing:
    """The WS-Addressing headers of one request (empty strings where absent)."""

    namespace: str = WSA
    message_id: str = ""
    action: str = ""
    to: str = ""
    from_address: str = ""
    reply_to: str = ""

    def callback_url(self) -> str | None:
        """Where the charger can be called: its From address, else its ReplyTo, when that is a real
        http(s) URL (not the anonymous or none address that means 'on this connection')."""
        for address in (self.from_address, self.reply_to):
            # The anonymous and none addresses are http URLs too, in the WS-Addressing namespaces.
            if address and not address.startswith((WSA, WSA_2004)):
                try:
                    return validate_endpoint(address)
                except ChargerError:
                    continue
        return None


_NAMESPACES = {f"{{{ns}}}": ns for ns in (WSA, WSA_2004)}


def read_addressing(headers: Iterable[etree._Element] | None) -> Addressing:
    found: dict[str, str] = {}
    namespace = WSA
    for header in headers or ():
        tag = header.tag
        if not isinstance(tag, str):
            continue  # a comment or processing instruction among the headers
        end = tag.find("}") + 1  # read from lxml's {namespace}name spelling: etree.QName costs more than the rest
        ns = _NAMESPACES.get(tag[:end])
        if ns is None:
            continue
        namespace = ns
        localname = tag[end:]
        if localname in ("From", "ReplyTo"):
            address = header.find(f"{{{ns}}}Address")
            found[localname] = (address.text or "").strip() if address is not None else ""
        else:
            found[localname] = (header.text or "").strip()
    return Addressing(namespace, found.get("MessageID", ""), found.get("Action", ""), found.get("To", ""),
                      found.get("From", ""), found.get("ReplyTo", ""))


def add_reply_headers(envelope: etree._Element, soap_namespace: str, request: Addressing, action: str) -> None:
    """Put MessageID, RelatesTo (the request's MessageID), Action and To (anonymous: the answer goes
    back on the request's connection) into an answer's SOAP header."""
    ns = request.namespace
    header = envelope.find(f"{{{soap_namespace}}}Header")
    if header is None:
        header = etree.Element(f"{{{soap_namespace}}}Header", nsmap={"wsa": ns})
        envelope.insert(0, header)
    values = [("MessageID", f"urn:uuid:{uuid.uuid4()}"), ("Action", action),
              ("To", ANONYMOUS if ns == WSA else ns + "/role/anonymous")]
    if request.message_id:
        values.insert(1, ("RelatesTo", request.message_id))
    for name, text in values:
        etree.SubElement(header, f"{{{ns}}}{name}").text = text
