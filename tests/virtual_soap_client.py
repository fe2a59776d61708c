"""A virtual OCPP 1.5/1.6 SOAP charger's calling side: zeep, built from the WSDL the appliance serves.

zeep is synchronous, so every call runs in a thread (`asyncio.to_thread`) while the appliance
serves on the test's event loop. Each request carries the `chargeBoxIdentity` header and the
WS-Addressing headers (Action, MessageID, To, and From: the address the charger would be called at).
For requests written by hand, `soap_request` builds an envelope and `post_soap` sends it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import uuid
from typing import Any

import aiohttp
import requests
import zeep
from lxml import etree
from zeep.plugins import HistoryPlugin
from zeep.wsa import WsAddressingPlugin
from zeep.wsdl.utils import get_or_create_header

NAMESPACES = {"1.5": "urn://Ocpp/Cs/2012/06/", "1.6": "urn://Ocpp/Cs/2015/10/"}
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"


class FromAddressPlugin(WsAddressingPlugin):
    """zeep's WS-Addressing headers plus `From`, which zeep leaves out; `address` may change between calls."""

    def __init__(self, address: str | None) -> None:
        super().__init__()
        self.address = address

    def egress(self, envelope, http_headers, operation, binding_options):
        envelope, http_headers = super().egress(envelope, http_headers, operation, binding_options)
        if self.address:
            sender = etree.SubElement(get_or_create_header(envelope), f"{{{WSA}}}From")
            etree.SubElement(sender, f"{{{WSA}}}Address").text = self.address
        return envelope, http_headers


class VirtualSoapCharger:
    """Calls the appliance's CentralSystemService as charger `identity` speaking OCPP `version`."""

    def __init__(self, client: zeep.Client, service: Any, identity: str, version: str,
                 addressing: FromAddressPlugin, history: HistoryPlugin) -> None:
        self.client = client
        self.service = service
        self.identity = identity
        self.version = version
        self.addressing = addressing
        self.history = history

    @classmethod
    async def connect(cls, base_url: str, identity: str, version: str = "1.6", from_url: str | None = None,
                      password: str | None = None, wsdl: str | None = None, service_url: str | None = None
                      ) -> "VirtualSoapCharger":
        """Build the client from the appliance's `?wsdl` (or from `wsdl`, e.g. an official file, calling
        `service_url`)."""
        url = soap_url(base_url, version)

        def build() -> VirtualSoapCharger:
            session = requests.Session()
            if password is not None:
                session.auth = (identity, password)
            addressing, history = FromAddressPlugin(from_url), HistoryPlugin()
            client = zeep.Client(wsdl or url + "?wsdl", transport=zeep.Transport(session=session),
                                 plugins=[addressing, history])
            service = client.service
            if service_url:  # the official WSDLs name their authors' addresses
                service = client.create_service(f"{{{NAMESPACES[version]}}}CentralSystemServiceSoap", service_url)
            return cls(client, service, identity, version, addressing, history)

        return await asyncio.to_thread(build)

    async def call(self, operation: str, **fields: Any) -> Any:
        """One request; zeep's answer object (None for an empty confirmation); a Fault raises zeep.exceptions.Fault."""
        method = getattr(self.service, operation)
        return await asyncio.to_thread(method, _soapheaders={"ChargeBoxIdentity": self.identity}, **fields)

    # -- the messages a charger sends ----------------------------------------------------------

    async def boot(self) -> Any:
        return await self.call("BootNotification", chargePointVendor="Virtual", chargePointModel="VS-" + self.version,
                               chargePointSerialNumber="SN-S1", firmwareVersion="2.0")

    async def heartbeat(self) -> Any:
        return await self.call("Heartbeat")

    async def authorize(self, id_tag: str) -> Any:
        return await self.call("Authorize", idTag=id_tag)

    async def start(self, id_tag: str = "CARD1", connector_id: int = 1, meter_start: int = 0,
                    timestamp: dt.datetime | None = None) -> Any:
        return await self.call("StartTransaction", connectorId=connector_id, idTag=id_tag, meterStart=meter_start,
                               timestamp=timestamp or now())

    async def meter_values(self, transaction_id: int | None, energy_wh: int, connector_id: int = 1,
                           timestamp: dt.datetime | None = None, power_w: float | None = None) -> Any:
        samples = [{"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
                    "context": "Sample.Periodic"}]
        if power_w is not None:
            samples.append({"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"})
        field = "meterValue" if self.version == "1.6" else "values"
        return await self.call("MeterValues", connectorId=connector_id, transactionId=transaction_id,
                               **{field: [self.meter_value(timestamp or now(), samples)]})

    async def stop(self, transaction_id: int, meter_stop: int, id_tag: str | None = None,
                   timestamp: dt.datetime | None = None, transaction_data: list[dict[str, Any]] | None = None,
                   reason: str | None = None) -> Any:
        fields: dict[str, Any] = {"transactionId": transaction_id, "meterStop": meter_stop,
                                  "timestamp": timestamp or now(), "idTag": id_tag}
        if transaction_data:
            fields["transactionData"] = transaction_data if self.version == "1.6" else [{"values": transaction_data}]
        if reason:
            fields["reason"] = reason
        return await self.call("StopTransaction", **fields)

    async def status(self, connector_id: int, status: str, error_code: str = "NoError", **extra: Any) -> Any:
        return await self.call("StatusNotification", connectorId=connector_id, status=status, errorCode=error_code,
                               **extra)

    async def firmware_status(self, status: str) -> Any:
        return await self.call("FirmwareStatusNotification", status=status)

    async def diagnostics_status(self, status: str) -> Any:
        return await self.call("DiagnosticsStatusNotification", status=status)

    async def data_transfer(self, vendor_id: str, message_id: str | None = None, data: str | None = None) -> Any:
        return await self.call("DataTransfer", vendorId=vendor_id, messageId=message_id, data=data)

    def meter_value(self, timestamp: dt.datetime, samples: list[dict[str, str]]) -> dict[str, Any]:
        """A MeterValue in the version's shape from 1.6-style samples ({"value": .., "unit": .., ...}):
        1.5 puts the qualifiers in attributes of a `value` element (zeep calls its text `_value_1`)."""
        if self.version == "1.6":
            return {"timestamp": timestamp, "sampledValue": samples}
        units_15 = {"A": "Amp", "V": "Volt"}
        values = [{"_value_1": s["value"], **{k: units_15.get(v, v) if k == "unit" else v
                                              for k, v in s.items() if k != "value"}} for s in samples]
        return {"timestamp": timestamp, "value": values}

    def last_received(self) -> etree._Element:
        """The envelope of the last answer, as it came over the wire."""
        return self.history.last_received["envelope"]


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def soap_url(base_url: str, version: str) -> str:
    return f"{base_url}/ocpp/soap/{version}"


def soap_request(version: str, body: str, identity: str | None = "CP1", message_id: str | None = None,
                 from_url: str | None = None, action: str = "") -> bytes:
    """A SOAP 1.2 request by hand: `body` is the body entry's XML, in which the prefix `o` names the
    version's namespace (e.g. "<o:heartbeatRequest/>")."""
    headers = []
    if identity is not None:
        headers.append(f"<o:chargeBoxIdentity>{identity}</o:chargeBoxIdentity>")
    headers.append(f"<a:MessageID>{message_id or 'urn:uuid:' + str(uuid.uuid4())}</a:MessageID>")
    if action:
        headers.append(f"<a:Action>{action}</a:Action>")
    if from_url:
        headers.append(f"<a:From><a:Address>{from_url}</a:Address></a:From>")
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP12}" xmlns:a="{WSA}" '
            f'xmlns:o="{NAMESPACES[version]}"><s:Header>{"".join(headers)}</s:Header><s:Body>{body}</s:Body>'
            f'</s:Envelope>').encode()


async def post_soap(base_url: str, version: str, body: bytes, headers: dict[str, str] | None = None,
                    ) -> tuple[int, etree._Element | None]:
    """POST a request; the HTTP status and the parsed answer envelope (None if the answer is no XML)."""
    headers = {"Content-Type": "application/soap+xml; charset=utf-8", **(headers or {})}
    async with aiohttp.ClientSession() as session:
        async with session.post(soap_url(base_url, version), data=body, headers=headers) as response:
            text = await response.read()
            try:
                return response.status, etree.fromstring(text)
            except etree.XMLSyntaxError:
                return response.status, None


def basic_auth(user: str, password: str) -> dict[str, str]:
    """An HTTP Basic Authorization header (aiohttp's BasicAuth is deprecated)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def fault_of(envelope: etree._Element) -> tuple[str, str, str]:
    """(code, subcode, reason) of a SOAP 1.2 Fault answer."""
    ns = {"s": SOAP12}
    fault = envelope.find("s:Body/s:Fault", ns)
    assert fault is not None, etree.tostring(envelope)
    return (fault.findtext("s:Code/s:Value", namespaces=ns), fault.findtext("s:Code/s:Subcode/s:Value", namespaces=ns),
            fault.findtext("s:Reason/s:Text", namespaces=ns))


def addressing_of(envelope: etree._Element) -> dict[str, str]:
    """The WS-Addressing headers of an answer, by local name."""
    header = envelope.find(f"{{{SOAP12}}}Header")
    return {etree.QName(h).localname: (h.text or "").strip() for h in (header if header is not None else [])
            if etree.QName(h).namespace == WSA}
