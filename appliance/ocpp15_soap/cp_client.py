"""Calling one charger's ChargePointService with zeep. zeep is synchronous: `call` runs in a worker
thread, never on the event loop.

Each version's committed WSDL is parsed once (parsing is slow); each charger gets a client of its
own (HTTP session, timeout, identity) and a service proxy for its current address. A request is
built and checked against the version's schema before it leaves, because zeep sends enumeration,
length and type violations as given. What comes back is the answer's elements, `SoapFault`, or
`Unreachable`; a request that cannot go out raises `NotSent`. The envelopes that went out and came
back are handed to the caller for the communication log, secrets masked.
"""

from __future__ import annotations

import copy
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault, TransportError
from zeep.helpers import serialize_object
from zeep.transports import Transport
from zeep.wsdl import Document

from appliance.ocpp15_soap.addressing import WSA
from appliance.ocpp15_soap.cp_models import CpVersion
from appliance.ocpp15_soap.cp_service import element_name
from appliance.ocpp15_soap.wsdl_fix import XS

WSDL_DIR = Path(__file__).parent / "wsdl"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
# Not strict: a charger's answer with an element too many is still read (its requests are checked here).
SETTINGS = zeep.Settings(strict=False, forbid_dtd=True, forbid_entities=True)


class NotSent(ValueError):
    """The request breaks the version's schema (or zeep cannot build it); nothing was sent."""


class SoapFault(Exception):
    """The charger answered with a SOAP Fault; `detail` says its code and reason."""

    def __init__(self, fault: Fault) -> None:
        codes = [(fault.code or "Fault").rpartition(":")[2]]  # soap12env:Sender -> Sender
        codes += [getattr(sub, "localname", str(sub)) for sub in fault.subcodes or ()]
        self.detail = f"{' '.join(codes)}: {fault.message or ''}".rstrip(": ")
        super().__init__(self.detail)


class Unreachable(Exception):
    """The charger's address gave no SOAP answer: no connection, no answer in time, an HTTP error."""

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out


@dataclass
class Interface:
    """A version's parsed WSDL and the schema its requests are checked against."""

    document: Document
    schema: etree.XMLSchema
    binding: str  # the binding's QName, for create_service
    lock: threading.Lock = field(default_factory=threading.Lock)  # an lxml schema and its error log are not shared

    def check(self, request: etree._Element) -> None:
        with self.lock:
            if not self.schema.validate(request):
                raise NotSent(_readable(self.schema.error_log.last_error.message))


_interfaces: dict[str, Interface] = {}
_interfaces_lock = threading.Lock()


def interface(version: CpVersion) -> Interface:
    with _interfaces_lock:
        if version.wsdl_file not in _interfaces:
            path = WSDL_DIR / version.wsdl_file
            _interfaces[version.wsdl_file] = Interface(
                Document(str(path), Transport(), settings=SETTINGS), message_schema(path.read_bytes()),
                f"{{{version.namespace}}}ChargePointService")
        return _interfaces[version.wsdl_file]


def message_schema(wsdl: bytes) -> etree.XMLSchema:
    """The schema in a WSDL's types, standing alone: its QName references (type="tns:...") keep their
    prefixes, which the WSDL declares on its root."""
    root = etree.fromstring(wsdl)
    embedded = root.find(f"{{{_WSDL}}}types/{{{XS}}}schema")
    schema = etree.Element(embedded.tag, dict(embedded.attrib), nsmap={**root.nsmap, **embedded.nsmap})
    schema.extend(copy.deepcopy(child) for child in embedded)
    return etree.XMLSchema(schema)


class ChargePointClient:
    """One charger's calls: its chargeBoxIdentity header, WS-Addressing, an HTTP timeout."""

    def __init__(self, version: CpVersion, identity: str, timeout_s: float, reply_to: str | None = None) -> None:
        self.version = version
        self.identity = identity
        self.timeout_s = timeout_s
        self.reply_to = reply_to
        self._lock = threading.Lock()
        self._client: zeep.Client | None = None
        self._service: tuple[str, Any] | None = None  # (address, zeep service proxy)

    def call(self, url: str, operation: str, fields: dict[str, Any],
             messages: list[tuple[str, str]]) -> dict[str, Any]:
        """The elements of the charger's answer, by name; in a worker thread. `messages` gets
        ("out"|"in", envelope) for what was sent and received, whatever the outcome."""
        client, service = self._proxy(url)
        headers = {"ChargeBoxIdentity": self.identity}  # the official WSDLs' header part name
        self._check(client, service, operation, headers, fields)
        _recorder.messages.value = messages
        try:
            answer = getattr(service, operation)(_soapheaders=headers, **fields)
        except Fault as e:
            raise SoapFault(e) from None
        except requests.ReadTimeout:
            raise Unreachable(f"no answer within {self.timeout_s:g} s", timed_out=True) from None
        except requests.ConnectTimeout:
            raise Unreachable(f"no connection within {self.timeout_s:g} s") from None
        except requests.RequestException as e:
            raise Unreachable(_network_reason(e)) from None
        except TransportError as e:
            raise Unreachable(f"HTTP {e.status_code}, no SOAP answer") from None
        finally:
            _recorder.messages.value = None
        return self._elements(client, operation, answer)

    def _elements(self, client: zeep.Client, operation: str, answer: Any) -> dict[str, Any]:
        """zeep hands the only element of a one-element answer back bare (ResetResponse's status,
        GetDiagnosticsResponse's fileName): name it again, as the answers of more elements are."""
        response = client.get_element(f"{{{self.version.namespace}}}{element_name(operation, 'Response')}")
        children = response.type.elements
        if len(children) == 1:
            return {children[0][0]: serialize_object(answer, dict)}
        return serialize_object(answer, dict) or {}

    def _check(self, client: zeep.Client, service: Any, operation: str, headers: dict, fields: dict) -> None:
        # create_message builds what the call will send (only MessageID and To differ), without sending.
        try:
            envelope = client.create_message(service, operation, _soapheaders=headers, **fields)
        except (zeep.exceptions.Error, TypeError, ValueError) as e:
            raise NotSent(f"{operation}: {e}") from None
        self._interface().check(envelope.find(f"{{{SOAP12_ENV}}}Body")[0])

    def _interface(self) -> Interface:
        return interface(self.version)

    def _proxy(self, url: str) -> tuple[zeep.Client, Any]:
        with self._lock:
            if self._client is None:
                plugins = [*([ReplyAddress(self.reply_to)] if self.reply_to else []), _recorder]
                self._client = zeep.Client(self._interface().document, settings=SETTINGS, plugins=plugins,
                                           transport=_HttpTransport(timeout=self.timeout_s,
                                                                    operation_timeout=self.timeout_s))
            if self._service is None or self._service[0] != url:
                self._service = (url, self._client.create_service(self._interface().binding, url))
            return self._client, self._service[1]


class ReplyAddress(zeep.Plugin):
    """WS-Addressing From and ReplyTo: where the charger reaches the appliance. zeep itself adds
    MessageID, To (the charger's address) and Action (the WSDL's wsaw:Action, "/Reset")."""

    def __init__(self, url: str) -> None:
        self.url = url

    def egress(self, envelope, http_headers, operation, binding_options):
        header = envelope.find(f"{{{SOAP12_ENV}}}Header")
        for name in ("From", "ReplyTo"):
            etree.SubElement(etree.SubElement(header, f"{{{WSA}}}{name}"), f"{{{WSA}}}Address").text = self.url
        return envelope, http_headers


class _Recorder(zeep.Plugin):
    """Hands each envelope to the call running in this thread (a call runs wholly in one worker), as
    the last egress plugin: what is recorded is what is sent."""

    def __init__(self) -> None:
        self.messages = threading.local()

    def egress(self, envelope, http_headers, operation, binding_options):
        self._add("out", envelope)
        return envelope, http_headers

    def ingress(self, envelope, http_headers, operation):
        self._add("in", envelope)
        return envelope, http_headers

    def _add(self, direction: str, envelope: etree._Element) -> None:
        messages = getattr(self.messages, "value", None)
        if messages is not None:
            messages.append((direction, masked(envelope)))


_recorder = _Recorder()


def masked(envelope: etree._Element) -> str:
    """The envelope as text, a security key sent with ChangeConfiguration masked (OCPP 1.6 security
    profiles; the action log masks it too)."""
    text = etree.tostring(envelope, encoding="unicode")
    if "AuthorizationKey" not in text:
        return text
    copy = etree.fromstring(text)
    for request in copy.iter("{*}changeConfigurationRequest"):
        if (request.findtext("{*}key") or "").lower() == "authorizationkey":
            for value in request.iterfind("{*}value"):
                value.text = "***"
    return etree.tostring(copy, encoding="unicode")


class _HttpTransport(Transport):
    """An HTTP error without a SOAP body (404, 502 from a proxy) means the address is wrong or down; a
    SOAP 1.2 Fault comes with 400 or 500 and an XML body, which zeep turns into a Fault."""

    def post(self, address, message, headers):
        response = super().post(address, message, headers)
        if response.status_code >= 300 and "xml" not in response.headers.get("Content-Type", ""):
            raise TransportError(f"HTTP {response.status_code}", status_code=response.status_code)
        return response


def _network_reason(error: BaseException) -> str:
    """The socket error under requests' and urllib3's wrappers, said briefly."""
    todo: list[BaseException] = [error]
    seen: set[int] = set()
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror):
            return "its host name does not resolve"
        if isinstance(e, OSError) and e.strerror:
            return e.strerror[0].lower() + e.strerror[1:]
        causes = [*e.args, e.__cause__, e.__context__, getattr(e, "reason", None)]
        todo += [c for c in causes if isinstance(c, BaseException)]
    return str(error)


def _readable(message: str) -> str:
    """lxml names elements as {namespace}name; the name says enough."""
    while "{" in message and "}" in message:
        start = message.index("{")
        message = message[:start] + message[message.index("}", start) + 1:]
    return message
