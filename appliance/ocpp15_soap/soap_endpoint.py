"""The SOAP endpoint `/ocpp/soap/{1.5|1.6}`: a charger's request in, one answer out; `?wsdl` on GET.

Each request stands alone (SOAP has no session): it is read with a size limit, parsed (a valid
request by `fast_path`, anything else by spyne), its sender identified by the `chargeBoxIdentity`
header and, where the charger has a password, by HTTP Basic auth; then it is answered by the
version's `CentralSystem` handler, awaited here on the event loop. Whatever is wrong with a request
is answered with a SOAP 1.2 Fault (written by spyne), never a traceback.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from spyne import MethodContext
from spyne.interface.wsdl import Wsdl11

from appliance.core.chargers import ChargerError, validate_identity
from appliance.core.health import StorageError
from appliance.core.services import Core
from appliance.ocpp15_soap.addressing import Addressing, read_addressing
from appliance.ocpp15_soap.central_system import CentralSystem
from appliance.ocpp15_soap.cs_models import CsVersion
from appliance.ocpp15_soap.cs_service import build_application
from appliance.ocpp15_soap.fast_path import FastPath
from appliance.ocpp15_soap.spyne_bridge import SoapFault, SpyneBridge, header_text
from appliance.ocpp15_soap.wsdl_fix import complete_wsdl, tidy_namespaces
from appliance.ocppj.admission import admit_request

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/soap+xml"
WSDL_LOCATIONS_KEPT = 8  # one WSDL per address chargers reach us by (it names that address)


class BodyTooLarge(Exception):
    pass


class SoapEndpoint:
    def __init__(self, core: Core, version: CsVersion) -> None:
        self.core = core
        self.version = version
        app, models = build_application(version)
        self.bridge = SpyneBridge(app)
        self.fast_path = FastPath(app)
        self.central_system = CentralSystem(core, version, models)
        # A SOAP envelope is wordier than the JSON frame the same message makes.
        self.max_body_bytes = 4 * core.settings.ocpp_max_frame_bytes
        self._identity_tag = f"{{{version.namespace}}}chargeBoxIdentity"
        self._wsdl: dict[str, bytes] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return self.wsdl(request)
        try:
            body = await _read_body(request, self.max_body_bytes)
        except BodyTooLarge:
            fault = SoapFault("FormationViolation", f"the request is larger than {self.max_body_bytes} bytes",
                              http_status=413)
            response = self._fault(None, fault, Addressing())
            response.force_close()  # the rest of the body is still on the connection, unread
            return response
        try:
            return await self._exchange(request, body)
        except web.HTTPException:
            raise
        except Exception:  # a failure outside the handlers (admission, the store): still a SOAP answer
            log.exception("SOAP request to %s failed", request.path)
            return self._fault(None, SoapFault("InternalError", "the central system could not process this message",
                                               sender=False), Addressing())

    async def _exchange(self, request: web.Request, body: bytes) -> web.Response:
        if self.fast_path.declares_doctype(body):
            return self._fault(None, SoapFault("FormationViolation", "a SOAP message must not contain a document "
                                               "type declaration"), Addressing())
        fast = self.fast_path.read(body)
        ctx: MethodContext | None = None
        refusal: SoapFault | None = None
        if fast is not None:
            headers = fast.headers
        else:
            ctx, refusal = self.bridge.read(body)
            headers = ctx.in_header_doc
        addressing = read_addressing(headers)
        try:
            identity = self._identity(headers)
        except SoapFault as fault:
            return self._fault(ctx, refusal or fault, addressing)
        await admit_request(request, self.core, identity, self.version.protocol)
        received = time.perf_counter()
        self.core.commlog.record(identity, "in", body.decode("utf-8", "replace"))
        self.core.chargers.touch(identity)
        try:
            if refusal is not None:
                raise refusal
            if fast is not None:
                operation, request_object = fast.operation, fast.request
            else:
                ctx, operation, request_object = self.bridge.request(ctx)
            response = await self._process(identity, operation, request_object, addressing)
            if fast is not None:
                out, status = self.fast_path.answer(operation, response, addressing), 200
            else:
                out, status = self.bridge.answer(ctx, response, addressing), 200
        except SoapFault as fault:
            log.info("%s: SOAP request refused: %s (%s)", identity, fault.reason, fault.subcode)
            out, status = self.bridge.fault(ctx, fault, addressing), fault.http_status
        self.core.commlog.record(identity, "out", out.decode("utf-8", "replace"))
        self.core.commlog.stats.observe_answer("soap", time.perf_counter() - received)
        return _soap_response(out, status)

    async def _process(self, identity: str, operation: str, request_object: Any, addressing: Addressing) -> Any:
        # OCPP 1.6 §4.2.1: before its boot is accepted a charger may send nothing but BootNotification.
        if operation != "BootNotification" and not self.core.chargers.is_accepted(identity):
            raise SoapFault("SecurityError", "the charger is not accepted: send BootNotification first")
        callback = addressing.callback_url()
        try:
            if callback:
                await self.core.chargers.set_endpoint(identity, callback)
            return await self.central_system.handlers[operation](identity, request_object)
        except ValueError as e:  # a value the schema allows but the core cannot use
            raise SoapFault("PropertyConstraintViolation", str(e)) from None
        except StorageError as e:  # not stored (disk full, database locked): said once by the store, not per message
            raise SoapFault("InternalError", str(e), sender=False) from None
        except Exception:
            # Nothing was acknowledged: the charger keeps the message and sends it again.
            log.exception("%s: handling %s failed", identity, operation)
            raise SoapFault("InternalError", "the central system could not process this message",
                            sender=False) from None

    def _identity(self, headers: list | None) -> str:
        identity = header_text(headers, self._identity_tag)
        if identity is None:
            raise SoapFault("IdentityMismatch", "the chargeBoxIdentity header is missing")
        try:
            return validate_identity(identity)
        except ChargerError as e:
            raise SoapFault("IdentityMismatch", f"chargeBoxIdentity: {e}") from None

    def _fault(self, ctx: MethodContext | None, fault: SoapFault, addressing: Addressing) -> web.Response:
        log.info("SOAP request refused: %s (%s)", fault.reason, fault.subcode)
        return _soap_response(self.bridge.fault(ctx, fault, addressing), fault.http_status)

    def wsdl(self, request: web.Request) -> web.Response:
        if "wsdl" not in {key.lower() for key in request.query}:
            raise web.HTTPMethodNotAllowed("GET", ["POST"], text="POST SOAP requests here; GET ?wsdl for the WSDL")
        location = str(request.url.with_query(None))
        document = self._wsdl.get(location)
        if document is None:
            if len(self._wsdl) >= WSDL_LOCATIONS_KEPT:
                self._wsdl.clear()
            wsdl = Wsdl11(self.bridge.app.interface)
            wsdl.build_interface_document(location)
            document = self._wsdl[location] = tidy_namespaces(complete_wsdl(wsdl.get_interface_document()))
        return web.Response(body=document, content_type="text/xml", charset="utf-8")


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` bytes: a huge request is never read whole."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _soap_response(body: bytes, status: int) -> web.Response:
    return web.Response(body=body, status=status, content_type=CONTENT_TYPE, charset="utf-8")
