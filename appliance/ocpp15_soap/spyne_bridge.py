"""The inline bridge to spyne: parse and validate a SOAP request, write an answer or a Fault.

spyne's servers run the operation inside their own synchronous call path (WSGI, Twisted). This
bridge uses only its parsing and writing halves, so that the endpoint can await the async core on
the event loop in between; nothing runs in a thread. The steps are spyne's `ServerBase` ones
(create_in_document, decompose, generate_method_contexts, deserialize, serialize, create_out_string),
each of whose failures becomes a `SoapFault` with a subcode a charger can act on.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from spyne import Fault, MethodContext
from spyne.application import Application
from spyne.const.xml import NS_SOAP12_ENV
from spyne.error import ResourceNotFoundError
from spyne.protocol import ProtocolBase
from spyne.server import ServerBase

from appliance.ocpp15_soap.addressing import FAULT_ACTION, Addressing, add_reply_headers

_SCHEMA_ERROR = re.compile(r"^.*?:ERROR:SCHEMASV:SCHEMAV_[A-Z0-9_]+: ")


class SoapFault(Exception):
    """A request refused with a SOAP 1.2 Fault: Sender is the charger's mistake (HTTP 400, SOAP 1.2
    part 2 §7.5.1.2), Receiver ours (500). The subcode names the problem."""

    def __init__(self, subcode: str, reason: str, sender: bool = True, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.subcode = subcode
        self.reason = reason
        self.sender = sender
        self.http_status = http_status or (400 if sender else 500)


class SpyneBridge(ServerBase):
    transport = "http://schemas.xmlsoap.org/soap/http"

    def __init__(self, app: Application) -> None:
        super().__init__(app)
        self.in_protocol = app.in_protocol
        self.out_protocol = app.out_protocol
        tns = app.interface.get_tns()
        self.request_elements = {f"{{{tns}}}{d.in_message.Attributes.sub_name or d.in_message.get_type_name()}"
                                 for d in app.interface.method_id_map.values()}

    def read(self, body: bytes) -> tuple[MethodContext, SoapFault | None]:
        """Parse the envelope and validate its body against the schema. The context comes back even
        when that fails: its headers (ctx.in_header_doc) may still say who sent the request."""
        ctx = MethodContext(self, MethodContext.SERVER)
        ctx.in_string = [body]
        try:
            self.in_protocol.create_in_document(ctx)
            self.in_protocol.decompose_incoming_envelope(ctx, ProtocolBase.REQUEST)
        except Fault as fault:
            return ctx, self._refusal(ctx, fault)
        except Exception:  # spyne trips over an envelope without a body entry
            return ctx, SoapFault("FormationViolation", "not a SOAP 1.2 envelope with one request in its Body")
        return ctx, None

    def _refusal(self, ctx: MethodContext, fault: Fault) -> SoapFault:
        body = ctx.in_body_doc
        if body is not None and isinstance(body.tag, str) and body.tag not in self.request_elements:
            return SoapFault("NotSupported", f"{body.tag} is no operation of this CentralSystemService "
                                             f"(namespace {self.app.interface.get_tns()})")
        return SoapFault("FormationViolation", _reason(fault))

    def request(self, ctx: MethodContext) -> tuple[MethodContext, str, Any]:
        """The operation asked for and its request object (spyne's bare style: the body element itself)."""
        try:
            ctx = self.in_protocol.generate_method_contexts(ctx)[0]
            self.in_protocol.deserialize(ctx, ProtocolBase.REQUEST)
        except ResourceNotFoundError:
            raise SoapFault("NotSupported", f"{ctx.method_request_string} is no operation of this service") from None
        except Fault as fault:
            raise SoapFault("FormationViolation", _reason(fault)) from None
        return ctx, ctx.descriptor.operation_name, ctx.in_object

    def answer(self, ctx: MethodContext, response: Any, addressing: Addressing) -> bytes:
        ctx.out_object, ctx.out_error = (response,), None
        return self._write(ctx, addressing, f"/{ctx.descriptor.operation_name}Response")

    def fault(self, ctx: MethodContext | None, fault: SoapFault, addressing: Addressing) -> bytes:
        ctx = ctx or MethodContext(self, MethodContext.SERVER)
        # spyne writes "Client.X" as Code Sender with Subcode X, "Server.X" as Receiver.
        ctx.out_error = Fault(("Client." if fault.sender else "Server.") + fault.subcode, fault.reason)
        return self._write(ctx, addressing, FAULT_ACTION)

    def _write(self, ctx: MethodContext, addressing: Addressing, action: str) -> bytes:
        self.out_protocol.serialize(ctx, ProtocolBase.RESPONSE)
        add_reply_headers(ctx.out_document, NS_SOAP12_ENV, addressing, action)
        self.out_protocol.create_out_string(ctx)
        # spyne's error path can yield str chunks; the wire wants bytes.
        return b"".join(c if isinstance(c, bytes) else c.encode("utf-8") for c in ctx.out_string)


def _reason(fault: Fault) -> str:
    """spyne's fault text, without the lxml error log's location prefix (and bytes repr) around it:
    "Element '{urn://Ocpp/Cs/2015/10/}status': [facet 'enumeration'] The value 'X' is not ..."."""
    text = fault.faultstring.decode("utf-8", "replace") if isinstance(fault.faultstring, bytes) \
        else str(fault.faultstring)
    if text[:2] in ('b"', "b'"):
        text = text[2:-1]
    return _SCHEMA_ERROR.sub("", text).strip()


def header_text(headers: list[etree._Element] | None, tag: str) -> str | None:
    """The text of the SOAP header entry `tag` ({namespace}name) among a request's, or None if it has none."""
    for header in headers or ():
        if isinstance(header, etree._Element) and header.tag == tag:
            return (header.text or "").strip()
    return None
