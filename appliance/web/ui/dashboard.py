"""The dashboard: what needs attention, what is charging now, a period's sessions, energy and cost against
the period before, the EVSEs by power, and the live feed. Its figures and its list of problems are
fragments that app.js fetches again when an event concerns them."""

from __future__ import annotations

from aiohttp import web

from appliance.core.overview import PERIODS, Dashboard, Overview
from appliance.web.keys import CORE
from appliance.web.ui.live import recent_lines
from appliance.web.ui.render import render
from appliance.web.ui.search import page_of

routes = web.RouteTableDef()


def overview_of(request: web.Request) -> Overview:
    core = request.app[CORE]
    return Overview(core.db, core.settings.zone, core.settings.billing_currency, core.chargers.live)


def period_of(request: web.Request) -> str:
    period = request.query.get("period", "today")
    if period not in PERIODS:
        raise web.HTTPBadRequest(text=f"There is no period {period!r} on the dashboard: choose today, week or month.")
    return period


async def _dashboard(request: web.Request) -> Dashboard:
    return await overview_of(request).dashboard(period_of(request))


@routes.get("/")
async def dashboard(request: web.Request) -> web.Response:
    board = await _dashboard(request)
    return await render(request, "dashboard.html", {"board": board, "feed": recent_lines(request),
                                                     "alarms": await request.app[CORE].alarms.open(),
                                                     "page_of": page_of})


@routes.get("/dashboard/cards")
async def dashboard_cards(request: web.Request) -> web.Response:
    return await render(request, "_dashboard_cards.html", {"board": await _dashboard(request), "page_of": page_of})


@routes.get("/dashboard/problems")
async def dashboard_problems(request: web.Request) -> web.Response:
    return await render(request, "_dashboard_problems.html", {"health": await overview_of(request).health(),
                                                               "page_of": page_of})
