"""The dashboard (placeholder until the real one lands)."""

from aiohttp import web

from appliance.web.ui.render import render

routes = web.RouteTableDef()


@routes.get("/")
async def dashboard(request: web.Request) -> web.Response:
    return await render(request, "dashboard.html", {})
