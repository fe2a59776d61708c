"""Baseline for the SOAP benchmarks: a stateless OCPP 1.5/1.6 CentralSystemService on spyne as
shipped (its WsgiApplication: parsing, lxml schema validation, the operation, serialisation),
answering every operation at once and persisting nothing.

The message types are the appliance's own spyne declarations (the same schema, so the same
validation work); the WSGI application is called inline from an aiohttp handler, the cheapest way
to host spyne on the same server library as the appliance (see shared/FACTS.md). Mounted at the
appliance's paths, /ocpp/soap/1.5 and /ocpp/soap/1.6, by `stateless_csms.py`, or alone:

    python bench/stateless_soap.py --port 9000
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import itertools
import sys
import os

from aiohttp import web
from spyne import Application, Service, rpc
from spyne.protocol.soap import Soap12
from spyne.server.wsgi import WsgiApplication

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from appliance.ocpp15_soap.cs_models import OCPP15, build_models  # noqa: E402
from appliance.ocpp15_soap.cs_service import element_name  # noqa: E402
from appliance.ocpp16.soap_central_system import OCPP16  # noqa: E402

_transaction_ids = itertools.count(1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def build_wsgi(version) -> WsgiApplication:
    m = build_models(version)
    accepted = lambda: m.IdTagInfo(status="Accepted")  # noqa: E731
    answers = {
        "Authorize": lambda req: m.AuthorizeResponse(idTagInfo=accepted()),
        "BootNotification": lambda req: m.BootNotificationResponse(
            status="Accepted", currentTime=_now(), **{version.boot_interval_field: 300}),
        "DataTransfer": lambda req: m.DataTransferResponse(status="Accepted"),
        "DiagnosticsStatusNotification": lambda req: m.DiagnosticsStatusNotificationResponse(),
        "FirmwareStatusNotification": lambda req: m.FirmwareStatusNotificationResponse(),
        "Heartbeat": lambda req: m.HeartbeatResponse(currentTime=_now()),
        "MeterValues": lambda req: m.MeterValuesResponse(),
        "StartTransaction": lambda req: m.StartTransactionResponse(transactionId=next(_transaction_ids),
                                                                   idTagInfo=accepted()),
        "StatusNotification": lambda req: m.StatusNotificationResponse(),
        "StopTransaction": lambda req: m.StopTransactionResponse(idTagInfo=accepted()),
    }
    service = type("CentralSystemService", (Service,), {name: _operation(name, m, answer)
                                                        for name, answer in answers.items()})
    app = Application([service], tns=version.namespace, name="CentralSystemService",
                      in_protocol=Soap12(validator="lxml"), out_protocol=Soap12())
    return WsgiApplication(app)


def _operation(name, m, answer):
    request = getattr(m, f"{name}Request", None)
    response = getattr(m, f"{name}Response")

    def operation(ctx, *args):
        return answer(args[0] if args else None)

    operation.__name__ = operation.__qualname__ = name
    return rpc(*([request] if request else []), _args=("request",) if request else (), _returns=response,
               _body_style="bare", _in_message_name=element_name(name, "Request"),
               _out_message_name=element_name(name, "Response"))(operation)


def wsgi_handler(wsgi: WsgiApplication):
    """An aiohttp handler calling the WSGI application inline (no thread: it never blocks)."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        environ = {
            "REQUEST_METHOD": request.method, "PATH_INFO": request.path, "QUERY_STRING": request.query_string,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": request.host.split(":")[0], "SERVER_PORT": str(request.url.port or 80),
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": request.scheme, "wsgi.version": (1, 0), "wsgi.multithread": False,
            "wsgi.multiprocess": False, "wsgi.run_once": False, "HTTP_HOST": request.host,
        }
        started = {}

        def start_response(status, headers, exc_info=None):
            started["status"], started["headers"] = status, headers

        chunks = wsgi(environ, start_response)
        out = b"".join(c if isinstance(c, bytes) else c.encode("utf-8") for c in chunks)
        headers = {k: v for k, v in started["headers"] if k.lower() not in ("content-length",)}
        return web.Response(body=out, status=int(started["status"].split()[0]), headers=headers)

    return handle


def add_routes(app: web.Application) -> None:
    for version in (OCPP15, OCPP16):
        handler = wsgi_handler(build_wsgi(version))
        app.router.add_route("*", f"/ocpp/soap/{version.version}", handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/healthz", lambda request: web.Response(text="ok"))
    add_routes(app)
    web.run_app(app, host=args.host, port=args.port, backlog=4096, print=None, access_log=None)


if __name__ == "__main__":
    main()
