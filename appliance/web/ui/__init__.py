"""The web UI for depot staff: server-rendered pages (jinja2), a little JavaScript for live updates,
every asset served by the appliance itself (the box may have no internet).

One module per area registers its routes; auth.py guards them all.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from appliance.web import api
from appliance.web.ui import auth, live
from appliance.web.ui.render import JINJA, make_environment

STATIC = Path(__file__).resolve().parent.parent / "static"
AREAS: list[web.RouteTableDef] = [auth.routes, live.routes]


def setup_ui(app: web.Application) -> None:
    from appliance.web.ui import (accounts_pages, alarms_pages, chargers_pages, dashboard, load_pages, people_pages,
                                  reports_pages, search, sessions_pages, settings_pages, tariff_pages)

    app[JINJA] = make_environment()
    app.router.add_static("/static/", STATIC, name="static", append_version=True)
    app.router.add_get("/ui/readers/events", api.reader_events)  # the enrolment page's taps
    for routes in AREAS + [dashboard.routes, chargers_pages.routes, sessions_pages.routes, people_pages.routes,
                           load_pages.routes, tariff_pages.routes, reports_pages.routes, settings_pages.routes,
                           accounts_pages.routes, search.routes, alarms_pages.routes]:
        app.router.add_routes(routes)
