"""A virtual OCPP 1.5/1.6 SOAP charger's ChargePointService: the appliance's own spyne definition of
the service, served by wsgiref on a free loopback port, in threads of its own (a held answer then
blocks nothing of the test's event loop).

Like tests/virtual_charger.py for 1.6 JSON, it answers per `answers[action]` (a status string, or a
spyne Fault to answer with), keeps a configuration and a local list version, and records what it got:
`received` holds (action, the request's elements as sent: camelCase names, texts as on the wire,
lists where the schema repeats an element) and `headers` the SOAP headers of each request
({namespace}name -> text; From/ReplyTo: their Address).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import math
import socketserver
import threading
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import spyne.const
from lxml import etree
from spyne.server.wsgi import WsgiApplication

from appliance.ocpp15_soap.cp_models import CpVersion
from appliance.ocpp15_soap.cp_service import build_application

# spyne's servers run gc.collect() after a request (at most once a second) to free file descriptors; in a
# test process that has grown through the whole suite that takes seconds, holding the GIL, and the
# appliance's own calls time out meanwhile. The virtual charger keeps no files.
spyne.const.MIN_GC_INTERVAL = math.inf


class VirtualSoapCharger:
    def __init__(self, version: CpVersion, identity: str = "SOAP1") -> None:
        self.version = version
        self.identity = identity
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []
        self.answers: dict[str, Any] = {}
        self.configuration = {"HeartbeatInterval": "300", "MeterValueSampleInterval": "60"}
        self.local_list_version = 0
        self.held: set[str] = set()  # actions answered only once `release` is set (or the charger stops)
        self.release = threading.Event()
        # validator="lxml": a request that breaks the schema (order, types, lengths) is refused, as by a strict
        # charger (with a plain HTTP 500: spyne's SOAP 1.2 cannot write that fault).
        app, self.models = build_application(version, self._answer, validator="lxml")
        self._server = make_server("127.0.0.1", 0, WsgiApplication(app), server_class=_Server, handler_class=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}/Ocpp/ChargePointService/"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"virtual-soap-{identity}", daemon=True)

    def last(self, action: str) -> dict[str, Any]:
        return next(fields for a, fields in reversed(self.received) if a == action)

    def last_headers(self, action: str) -> dict[str, str]:
        return next(h for (a, _), h in zip(reversed(self.received), reversed(self.headers), strict=True) if a == action)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release.set()  # a held answer goes out (to nobody, by now) and its thread ends
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # -- answering ----------------------------------------------------------------------------------

    def _answer(self, ctx: Any, action: str, request: Any) -> Any:
        self.received.append((action, wire_fields(ctx.in_body_doc, type(request) if request is not None else None)))
        self.headers.append(wire_headers(ctx.in_header_doc or []))
        if action in self.held:
            self.release.wait()
        answer = self.answers.get(action, "Unlocked" if action == "UnlockConnector" and self._unlocked_word()
                                  else "Accepted")
        if isinstance(answer, Exception):
            raise answer
        response = getattr(self.models, f"{action}Response")
        on_action = getattr(self, f"_on_{action}", None)
        return on_action(response, request, answer) if on_action else response(status=answer)

    def _unlocked_word(self) -> bool:
        return "Unlocked" in self.version.enums["UnlockStatus"]  # 1.5 answers an unlock Accepted

    def _on_GetConfiguration(self, response: Any, request: Any, answer: str) -> Any:
        keys = list(request.key or []) or list(self.configuration)
        key_value = self.models.KeyValue
        return response(configurationKey=[key_value(key=k, readonly=False, value=self.configuration[k])
                                          for k in keys if k in self.configuration],
                        unknownKey=[k for k in keys if k not in self.configuration])

    def _on_ChangeConfiguration(self, response: Any, request: Any, answer: str) -> Any:
        if answer == "Accepted":
            self.configuration[request.key] = request.value
        return response(status=answer)

    def _on_SendLocalList(self, response: Any, request: Any, answer: str) -> Any:
        if answer == "Accepted":
            self.local_list_version = request.listVersion
        return response(status=answer)

    def _on_GetLocalListVersion(self, response: Any, request: Any, answer: str) -> Any:
        return response(listVersion=self.local_list_version)

    def _on_GetCompositeSchedule(self, response: Any, request: Any, answer: str) -> Any:
        if answer != "Accepted":
            return response(status=answer)
        m = self.models
        return response(status="Accepted", connectorId=request.connectorId,
                        scheduleStart=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
                        chargingSchedule=m.ChargingSchedule(
                            duration=request.duration, chargingRateUnit=request.chargingRateUnit or "A",
                            chargingSchedulePeriod=[m.ChargingSchedulePeriod(startPeriod=0,
                                                                             limit=decimal.Decimal("16.0"))]))

    def _on_GetDiagnostics(self, response: Any, request: Any, answer: str) -> Any:
        return response(fileName="diagnostics.zip")

    def _on_UpdateFirmware(self, response: Any, request: Any, answer: str) -> Any:
        return response()

    def _on_DataTransfer(self, response: Any, request: Any, answer: str) -> Any:
        return response(status=answer, data="pong")


def wire_fields(element: etree._Element | None, model: Any) -> dict[str, Any]:
    """An element's children as sent: texts as they are, nested elements as dicts, a list where the
    model says the element repeats (maxOccurs > 1), whatever the count."""
    out: dict[str, Any] = {}
    members = model.get_flat_type_info(model) if model is not None else {}
    for child in element if element is not None else ():
        name = etree.QName(child).localname
        member = members.get(name)
        value = wire_fields(child, member) if len(child) else (child.text or "")
        if member is not None and member.Attributes.max_occurs > 1:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


def wire_headers(headers: list[etree._Element]) -> dict[str, str]:
    found = {}
    for header in headers:
        if isinstance(header.tag, str):
            address = header.find(f"{{{etree.QName(header).namespace}}}Address")
            found[header.tag] = (address if address is not None else header).text or ""
    return found


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a handler still held at the end dies with the test process, never blocks it

    def handle_error(self, request, client_address):
        pass  # the appliance hung up after its timeout: nobody to answer


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@asynccontextmanager
async def serve_chargepoint(version: CpVersion, identity: str = "SOAP1") -> AsyncIterator[VirtualSoapCharger]:
    charger = VirtualSoapCharger(version, identity)
    charger.start()
    try:
        yield charger
    finally:
        await asyncio.to_thread(charger.stop)  # shutdown() waits for the serving loop's next poll
