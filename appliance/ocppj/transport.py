"""The `ocpp` library's whole transport: recv() and send(str) over an aiohttp websocket."""

from __future__ import annotations

import aiohttp
from aiohttp import web


class ConnectionClosed(ConnectionError):
    pass


class WebSocketTransport:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> str | bytes:
        while True:
            msg = await self.ws.receive()
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                return msg.data
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.ERROR):
                raise ConnectionClosed(f"websocket closed ({msg.type.name}: {msg.extra or ''})")

    async def send(self, message: str) -> None:
        if self.ws.closed:
            raise ConnectionClosed("websocket closed")
        try:
            await self.ws.send_str(message)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError) as e:
            raise ConnectionClosed(str(e)) from e

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        await self.ws.close(code=code, message=message)
