"""The OCPP-J websocket endpoint `/ocpp/{charger_id}`: authentication, version, session life.

The version is chosen here, in one place, from the websocket subprotocols the charger offers.
Chargers with a password must give it by HTTP Basic auth (security profile 1; profile 2 when
the server runs TLS).
"""

from __future__ import annotations

import asyncio
import logging
from aiohttp import WSCloseCode, web

from appliance.core.chargers import ChargerError, validate_identity
from appliance.core.services import Core
from appliance.ocppj.admission import admit_request
from appliance.ocppj.session import OcppJSession
from appliance.ocppj.transport import ConnectionClosed, WebSocketTransport

log = logging.getLogger(__name__)

class OcppJEndpoint:
    def __init__(self, core: Core, versions: dict[str, type[OcppJSession]]) -> None:
        """`versions`: subprotocol -> session class, in the order of preference (newest first)."""
        self.core = core
        self.versions = versions
        self._sessions: dict[str, tuple[web.WebSocketResponse, asyncio.Task]] = {}

    def choose(self, offered: list[str]) -> str | None:
        return next((version for version in self.versions if version in offered), None)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            identity = validate_identity(request.match_info["charger_id"])
        except ChargerError as e:
            raise web.HTTPNotFound(text=str(e))
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        version = self.choose(offered)
        frame_limit = self.core.settings.ocpp_max_frame_bytes
        # Read frames up to 4x our limit so an oversize one still gets a CALLERROR, not a dropped line.
        ws = web.WebSocketResponse(protocols=(version,) if version else (), max_msg_size=4 * frame_limit + 1024,
                                   heartbeat=120, autoping=True)
        if version is None:
            # OCPP-J 1.6 §3.1.2: no common subprotocol; complete the handshake, then close.
            await ws.prepare(request)
            await ws.close(code=WSCloseCode.PROTOCOL_ERROR,
                           message=f"offer one of: {', '.join(self.versions)}".encode())
            return ws
        await admit_request(request, self.core, identity, self.versions[version].protocol)
        await ws.prepare(request)
        await self._run(identity, version, ws)
        return ws

    async def _run(self, identity: str, version: str, ws: web.WebSocketResponse) -> None:
        previous = self._sessions.get(identity)
        if previous is not None:  # the charger reconnected before we noticed the old socket die
            await previous[0].close(code=WSCloseCode.GOING_AWAY, message=b"replaced by a new connection")
        transport = WebSocketTransport(ws)
        session = self.versions[version](identity, transport, self.core)
        link = session.link_class(session)
        task = asyncio.current_task()
        self._sessions[identity] = (ws, task)
        self.core.links.register(link)
        try:
            await self.core.chargers.connected(identity, session.protocol)
            log.info("%s connected (%s)", identity, version)
            await session.start()
        except (ConnectionClosed, ConnectionResetError):
            pass
        finally:
            session.closed.set()  # commands still waiting for an answer give up now
            self.core.links.unregister(link)
            if self._sessions.get(identity, (None,))[0] is ws:
                del self._sessions[identity]
                self.core.chargers.disconnected(identity)
            log.info("%s disconnected", identity)

    async def close_all(self) -> None:
        for ws, _ in list(self._sessions.values()):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

