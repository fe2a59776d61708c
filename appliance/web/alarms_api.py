"""The JSON API of alarms and the maintenance log: list and show alarms, acknowledge one; a charger's
maintenance data, its notes, and its auto-recovery switch."""

from __future__ import annotations

import json

from aiohttp import web

from appliance.core.maintenance import MaintenanceError, parse_date
from appliance.web.api import actor_of, body, bool_query, core_of, int_query, reply

routes = web.RouteTableDef()


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


@routes.get("/api/v1/alarms")
async def list_alarms(request: web.Request) -> web.Response:
    """?open=true|false (default: open ones only), ?kind=, ?charger=, ?limit= (default 100)."""
    open_only = bool_query(request, "open")
    records = await core_of(request).alarms.list(
        True if open_only is None else open_only, request.query.get("kind"), request.query.get("charger"),
        max(1, min(int_query(request, "limit", 100), 10000)))
    return reply([r.as_json() for r in records])


@routes.get("/api/v1/alarms/{alarm_id:\\d+}")
async def show_alarm(request: web.Request) -> web.Response:
    return reply((await core_of(request).alarms.get(int(request.match_info["alarm_id"]))).as_json())


@routes.post("/api/v1/alarms/{alarm_id:\\d+}/ack")
async def acknowledge_alarm(request: web.Request) -> web.Response:
    """Body: {"note": "...", "by": "who"} (both optional; the token is who acknowledges, `by` is added)."""
    data = await body(request)
    record = await core_of(request).alarms.acknowledge(int(request.match_info["alarm_id"]),
                                                       actor_of(request, data.get("by")), str(data.get("note") or ""))
    return reply(record.as_json())


@routes.get("/api/v1/chargers/{identity}/maintenance")
async def show_maintenance(request: web.Request) -> web.Response:
    core = core_of(request)
    record = await core.maintenance.get(request.match_info["identity"])
    return reply({**record.__dict__, "inspection_interval_in_force_days": core.maintenance.interval_days(record),
                  "next_inspection_on": core.maintenance.next_inspection(record),
                  "notes": await core.maintenance.notes(record.identity)})


@routes.post("/api/v1/chargers/{identity}/maintenance")
async def update_maintenance(request: web.Request) -> web.Response:
    """Body: any of manufactured_on, installed_on, last_inspection_on (YYYY-MM-DD or null),
    inspection_interval_days (a number, or null for the setting), auto_recovery (true/false)."""
    data = await body(request)
    fields = {}
    for name in ("manufactured_on", "installed_on", "last_inspection_on"):
        if name in data:
            fields[name] = parse_date(str(data[name] or ""), name)
    if "inspection_interval_days" in data:
        value = data["inspection_interval_days"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _bad("inspection_interval_days must be a whole number of days, or null for the setting")
        fields["inspection_interval_days"] = value
    if "auto_recovery" in data:
        if not isinstance(data["auto_recovery"], bool):
            raise _bad("auto_recovery must be true or false")
        fields["auto_recovery"] = data["auto_recovery"]
    if not fields:
        raise MaintenanceError("nothing to change: give manufactured_on, installed_on, last_inspection_on, "
                               "inspection_interval_days or auto_recovery")
    return reply(await core_of(request).maintenance.update(request.match_info["identity"], **fields))


@routes.post("/api/v1/chargers/{identity}/notes")
async def add_note(request: web.Request) -> web.Response:
    """Body: {"text": "...", "inspection": false, "by": "who"}."""
    data = await body(request)
    note = await core_of(request).maintenance.add_note(
        request.match_info["identity"], actor_of(request, data.get("by")), str(data.get("text") or ""),
        bool(data.get("inspection")))
    return reply(note, status=201)
