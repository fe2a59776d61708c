"""Baseline for the benchmarks: a stateless CSMS built on the same libraries as the appliance with
their default settings, persisting nothing: OCPP 1.6 and 2.0.1 JSON on the `ocpp` library (schema
validation as shipped) over aiohttp websockets, and OCPP 1.5/1.6 SOAP on spyne (`stateless_soap.py`).

It serves the same URL shapes as the appliance (/ocpp/{id} with subprotocol ocpp1.6 or ocpp2.0.1,
/ocpp/soap/1.5 and /1.6, GET /healthz), so the load generators can run the same load against both.
"""

import argparse
import itertools
import logging
from datetime import datetime, timezone

from aiohttp import WSMsgType, web
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as call_result201
from ocpp.v201.enums import Action as Action201

import stateless_soap

SUBPROTOCOL = "ocpp1.6"
SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")

# Transaction ids only need to be unique for the lifetime of the process: nothing is stored.
_transaction_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class _Closed(Exception):
    """Raised from recv() when the websocket ends, to stop ChargePoint.start()."""


class WebSocketAdapter:
    """The two methods the `ocpp` library needs from a connection, over aiohttp's websocket."""

    def __init__(self, ws: web.WebSocketResponse):
        self._ws = ws

    async def recv(self) -> str:
        msg = await self._ws.receive()
        if msg.type == WSMsgType.TEXT:
            return msg.data
        raise _Closed()

    async def send(self, data: str) -> None:
        await self._ws.send_str(data)


class StatelessChargePoint(ChargePoint):
    @on(Action.boot_notification)
    def on_boot_notification(self, **kwargs):
        return call_result.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.status_notification)
    def on_status_notification(self, **kwargs):
        return call_result.StatusNotification()

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs):
        return call_result.Heartbeat(current_time=_now())

    @on(Action.start_transaction)
    def on_start_transaction(self, **kwargs):
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids),
            id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted),
        )

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs):
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **kwargs):
        return call_result.StopTransaction(
            id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted)
        )


class StatelessChargePoint201(ChargePoint201):
    @on(Action201.boot_notification)
    def on_boot_notification(self, **kwargs):
        return call_result201.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on(Action201.status_notification)
    def on_status_notification(self, **kwargs):
        return call_result201.StatusNotification()

    @on(Action201.heartbeat)
    def on_heartbeat(self, **kwargs):
        return call_result201.Heartbeat(current_time=_now())

    @on(Action201.authorize)
    def on_authorize(self, **kwargs):
        return call_result201.Authorize(id_token_info={"status": "Accepted"})

    @on(Action201.transaction_event)
    def on_transaction_event(self, **kwargs):
        # idTokenInfo answers an event that carried an idToken.
        if kwargs.get("id_token"):
            return call_result201.TransactionEvent(id_token_info={"status": "Accepted"})
        return call_result201.TransactionEvent()

    @on(Action201.meter_values)
    def on_meter_values(self, **kwargs):
        return call_result201.MeterValues()


CHARGE_POINTS = {"ocpp1.6": StatelessChargePoint, "ocpp2.0.1": StatelessChargePoint201}


async def ocpp_handler(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=SUBPROTOCOLS)
    await ws.prepare(request)
    # aiohttp completes the handshake even when no protocol matched; OCPP-J says close then.
    if ws.ws_protocol not in CHARGE_POINTS:
        await ws.close()
        return ws
    cp = CHARGE_POINTS[ws.ws_protocol](request.match_info["charge_point_id"], WebSocketAdapter(ws))
    try:
        await cp.start()
    except (_Closed, ConnectionError):
        pass
    return ws


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ocpp/{charge_point_id}", ocpp_handler)
    stateless_soap.add_routes(app)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # A deep accept backlog so a ramp of many connections is not throttled by SYN drops.
    web.run_app(make_app(), host=args.host, port=args.port, backlog=4096, print=None,
                access_log=None)


if __name__ == "__main__":
    main()
