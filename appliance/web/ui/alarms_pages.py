"""The alarms pages: every alarm with its filters, one alarm with its acknowledgement form, the
dashboard's open alarms, and the changes made on a charger's maintenance tab (dates, notes,
auto-recovery)."""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from appliance.core.alarm_rules import KINDS
from appliance.core.alarms import AlarmError, AlarmNotFound
from appliance.core.chargers import ChargerNotFound
from appliance.core.maintenance import MaintenanceError, parse_date
from appliance.web.keys import AUDIT_ACTION, CORE, STAFF
from appliance.web.ui.render import FormError, redirect, render, text_field
from appliance.web.ui.search import page_of

routes = web.RouteTableDef()
NOTE_MAX = 4000


def _charger_url(identity: str, tab: str = "") -> str:
    return f"/chargers/{urllib.parse.quote(identity, safe='')}" + (f"?tab={tab}" if tab else "")


@routes.get("/alarms")
async def alarms_list(request: web.Request) -> web.Response:
    q = request.query
    state = q.get("state", "open") if q.get("state") in ("open", "all") else "open"
    kind = q.get("kind", "") if q.get("kind") in KINDS else ""
    identity = q.get("charger", "").strip()[:64]
    records = await request.app[CORE].alarms.list(state == "open", kind or None, identity or None, 500)
    return await render(request, "alarms_list.html", {"alarms": records, "state": state, "kind": kind,
                                                      "kinds": KINDS, "charger": identity, "page_of": page_of})


@routes.get("/dashboard/alarms")
async def dashboard_alarms(request: web.Request) -> web.Response:
    return await render(request, "_dashboard_alarms.html", {"alarms": await request.app[CORE].alarms.open(),
                                                            "page_of": page_of})


async def _alarm_or_404(request: web.Request):
    try:
        return await request.app[CORE].alarms.get(int(request.match_info["alarm_id"]))
    except AlarmNotFound:
        raise web.HTTPNotFound(text=f"There is no alarm {request.match_info['alarm_id']} here; the list of alarms "
                                    "has those there are.") from None


@routes.get("/alarms/{alarm_id:\\d+}")
async def alarm_page(request: web.Request) -> web.Response:
    return await render(request, "alarms_detail.html", {"alarm": await _alarm_or_404(request), "page_of": page_of})


@routes.post("/alarms/{alarm_id:\\d+}/ack")
async def acknowledge(request: web.Request) -> web.Response:
    alarm = await _alarm_or_404(request)
    form = await request.post()
    request[AUDIT_ACTION] = f"acknowledged alarm {alarm.id}"
    try:
        note = text_field(form, "note", "Note", required=False, max_length=2000)
        await request.app[CORE].alarms.acknowledge(alarm.id, request[STAFF].account.name, note)
    except (FormError, AlarmError) as e:
        return await render(request, "alarms_detail.html", {"alarm": alarm, "page_of": page_of, "form": form,
                                                            "errors": {"note": str(e)}}, status=400)
    back = str(form.get("next", ""))
    back = back if back.startswith("/") and not back.startswith("//") else f"/alarms/{alarm.id}"
    raise redirect(back, f"Alarm {alarm.id} is acknowledged: others see that you take care of it.")


# -- a charger's maintenance tab -------------------------------------------------------------------

async def _maintenance_change(request: web.Request, identity: str, **fields) -> None:
    try:
        await request.app[CORE].maintenance.update(identity, **fields)
    except ChargerNotFound:
        raise web.HTTPNotFound(text=f"There is no charger {identity} here.") from None
    except MaintenanceError as e:
        raise redirect(_charger_url(identity, "maintenance"), str(e)[:1].upper() + str(e)[1:], kind="error")


@routes.post("/chargers/{identity}/maintenance")
async def change_maintenance(request: web.Request) -> web.Response:
    identity = request.match_info["identity"]
    form = await request.post()
    request[AUDIT_ACTION] = f"changed the maintenance data of charger {identity}"
    try:
        fields = {name: parse_date(str(form.get(name, "")), label) for name, label in (
            ("manufactured_on", "Manufactured on"), ("installed_on", "Installed on"),
            ("last_inspection_on", "Last inspection on"))}
        raw = str(form.get("inspection_interval_days", "")).strip()
        if raw and not raw.isdigit():
            raise MaintenanceError(f"Inspection interval: {raw!r} is not a whole number of days (leave it empty for "
                                   "the depot's default)")
        fields["inspection_interval_days"] = int(raw) if raw else None
    except MaintenanceError as e:
        raise redirect(_charger_url(identity, "maintenance"), str(e), kind="error")
    await _maintenance_change(request, identity, **fields)
    raise redirect(_charger_url(identity, "maintenance"), f"The maintenance data of {identity} is saved.")


@routes.post("/chargers/{identity}/auto-recovery")
async def change_auto_recovery(request: web.Request) -> web.Response:
    identity = request.match_info["identity"]
    form = await request.post()
    on = str(form.get("auto_recovery", "")) == "on"
    request[AUDIT_ACTION] = f"turned auto-recovery {'on' if on else 'off'} for charger {identity}"
    await _maintenance_change(request, identity, auto_recovery=on)
    raise redirect(_charger_url(identity, "maintenance"),
                   f"Auto-recovery is {'on' if on else 'off'} for {identity}." + (
                       " A faulted connector gets a status trigger, then a soft reset, then a hard reset."
                       if on else ""))


@routes.post("/chargers/{identity}/notes")
async def add_note(request: web.Request) -> web.Response:
    identity = request.match_info["identity"]
    form = await request.post()
    request[AUDIT_ACTION] = f"recorded a maintenance note on charger {identity}"
    back = _charger_url(identity, "maintenance")
    try:
        text = text_field(form, "text", "Note", max_length=NOTE_MAX)
        await request.app[CORE].maintenance.add_note(identity, request[STAFF].account.name, text,
                                                     form.get("inspection") == "on")
    except ChargerNotFound:
        raise web.HTTPNotFound(text=f"There is no charger {identity} here.") from None
    except (FormError, MaintenanceError) as e:
        raise redirect(back, str(e), kind="error")
    raise redirect(back, f"The note is recorded in {identity}'s maintenance log.")
