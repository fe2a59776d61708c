"""The API of notifications: how they are configured and how the queue stands, and a test message
sent now (what `appliance notify test` asks a running server for)."""

from __future__ import annotations

from aiohttp import web

from appliance.web.api import actor_of, body, reply
from appliance.web.keys import NOTIFIER

routes = web.RouteTableDef()


@routes.get("/api/v1/notify")
async def notify_status(request: web.Request) -> web.Response:
    return reply(await request.app[NOTIFIER].status())


@routes.post("/api/v1/notify/test")
async def notify_test(request: web.Request) -> web.Response:
    data = await body(request)
    results = await request.app[NOTIFIER].send_test(actor_of(request, data.get("on_behalf_of")))
    if not results:
        return reply({"error": "no recipients are configured: appliance notify set --to ADDRESS or --webhook URL"},
                     status=400)
    return reply({"ok": all(r.ok for r in results), "results": results})
