"""What each tab of a charger's page shows: one function per tab, each returning the template's
values (every read goes through the core; load figures come from the running load controller)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from appliance.core.charger_views import UNSUPPORTED, ChargerView, charger_extras
from appliance.core.chargers import command_reach
from appliance.core.local_list_plan import MOST_RECENTLY_USED_FIRST
from appliance.web.keys import CORE, DLM
from appliance.web.ui.chargers_commands import BY_COMMAND, FORMS
from appliance.web.ui.live import recent_lines

TABS = (("overview", "Overview"), ("actions", "Actions"), ("status", "Status history"), ("messages", "Messages"),
        ("diagnostics", "Diagnostics"), ("local-list", "Local list"), ("load", "Load"), ("maintenance", "Maintenance"), ("edit", "Edit"))
LIMITS = (50, 200, 1000, 5000)
REPORT_KINDS = ("event", "security_event", "charging_limit", "charging_limit_cleared", "charging_profiles",
                "ev_charging_needs", "ev_charging_schedule", "reservation", "offline_configuration")


def limit_of(request: web.Request, default: int = 200) -> int:
    raw = request.query.get("limit", "")
    return int(raw) if raw.isdigit() and int(raw) in LIMITS else default


async def status_card(request: web.Request, view: ChargerView) -> dict[str, Any]:
    """The overview's live part: state, connectors and their sessions."""
    core = request.app[CORE]
    extras = await charger_extras(core, view.record)
    known = (await core.circuits.known_evses([view.record.id])).get(view.identity, [])
    evses = {e.evse_number: e for e in known}
    return {"view": view, "extras": extras, "evses": evses, "reach": command_reach(view.record)}


async def overview(request: web.Request, view: ChargerView) -> dict[str, Any]:
    core = request.app[CORE]
    lacking = UNSUPPORTED.get(view.record.protocol, frozenset())
    group = next((g for g in await core.chargers.groups() if g.name == view.group), None)
    return {**await status_card(request, view), "access": await core.chargers.access(view.identity),
            "group_access": group.open_to if group else [],
            "supported": [f for f in FORMS if f.command not in lacking],
            "unsupported": [f for f in FORMS if f.command in lacking],
            "feed": [line for line in recent_lines(request) if line.identity == view.identity and line.text]}


async def actions(request: web.Request, view: ChargerView) -> dict[str, Any]:
    core = request.app[CORE]
    defaults: dict[str, dict[str, Any]] = {}
    if view.sessions:
        defaults["remote_stop"] = {"transaction_id": view.sessions[0].id}
    asked = request.query.get("command", "")  # a link straight to one command's form opens it
    return {"open": asked if asked in BY_COMMAND else "", "forms": FORMS, "defaults": defaults,
            "lacking": UNSUPPORTED.get(view.record.protocol, frozenset()),
            "log": await core.commands.actions(view.identity, limit_of(request, 50)),
            "log_limit": limit_of(request, 50), "limits": LIMITS, "reach": command_reach(view.record)}


async def status_history(request: web.Request, view: ChargerView) -> dict[str, Any]:
    limit = limit_of(request)
    return {"history": await request.app[CORE].chargers.status_history(view.identity, limit), "limit": limit,
            "limits": LIMITS}


async def messages(request: web.Request, view: ChargerView) -> dict[str, Any]:
    limit = limit_of(request)
    core = request.app[CORE]
    return {"messages": await core.commlog.recent(view.identity, limit), "limit": limit, "limits": LIMITS,
            "retention_days": core.settings.commlog_retention_days}


async def diagnostics(request: web.Request, view: ChargerView) -> dict[str, Any]:
    core = request.app[CORE]
    kind = request.query.get("kind", "")
    kind = kind if kind in REPORT_KINDS else ""
    component = request.query.get("component", "").strip()[:50]
    every = await core.device_model.variables(view.identity)
    return {"extras": await charger_extras(core, view.record), "kind": kind, "kinds": REPORT_KINDS,
            "reports": await core.reports.list(view.identity, kind or None, limit_of(request, 50)),
            "component": component, "components": sorted({v.component for v in every}),
            "variables": [v for v in every if not component or v.component == component]}


async def local_list(request: web.Request, view: ChargerView) -> dict[str, Any]:
    core = request.app[CORE]
    state = await core.local_lists.state(view.identity)
    desired = await core.local_lists.desired(view.identity)
    offline = await core.local_lists.offline_configuration(view.identity)
    held = {e["id_tag"]: e for e in state.entries} if state else {}
    left_out = set(state.left_out) if state else set()
    wanted = {e.id_tag: e for e in desired}
    differences = [(e, held.get(e.id_tag)) for e in desired
                   if e.id_tag not in left_out and (held.get(e.id_tag) or {}).get("status") != e.status]
    removals = sorted(set(held) - set(wanted))
    entries = [dict(e, expires_at=_time(e.get("expires_at"))) for e in state.entries] if state else []
    return {"state": state, "entries": entries, "desired": desired, "differences": differences,
            "removals": removals, "offline": offline, "left_out_rule": MOST_RECENTLY_USED_FIRST}


def _time(text: str | None) -> dt.datetime | None:
    """An ISO time kept as text (list entries, load flags) as a datetime, for the depot's clock."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


async def load(request: web.Request, view: ChargerView) -> dict[str, Any]:
    core = request.app[CORE]
    members = await core.circuits.members(identity=view.identity)
    if DLM not in request.app:
        return {"dlm_on": False, "members": members, "evses": [], "circuits": {}}
    circuits = request.app[DLM].circuit_status()
    evses = [dict(e, circuit=c["name"], flagged_at=_time(e.get("flagged_at")))
             for c in circuits for e in c["evses"] if e["charger"] == view.identity]
    return {"dlm_on": True, "members": members, "evses": evses, "circuits": {c["name"]: c for c in circuits}}


async def edit(request: web.Request, view: ChargerView) -> dict[str, Any]:
    core = request.app[CORE]
    return {"groups": await core.chargers.groups(), "companies": await core.users.companies(),
            "access": await core.chargers.access(view.identity)}


async def maintenance(request: web.Request, view: ChargerView) -> dict[str, Any]:
    """Alarms (open and past), maintenance data, the next inspection, auto-recovery, the notes."""
    core = request.app[CORE]
    record = await core.maintenance.get(view.identity)
    return {"maintenance": record, "interval_days": core.maintenance.interval_days(record),
            "interval_default": core.settings.inspection_interval_days,
            "next_inspection": core.maintenance.next_inspection(record),
            "notes": await core.maintenance.notes(view.identity, limit_of(request, 50)),
            "past_alarms": await core.alarms.list(identity=view.identity, limit=20)}


BUILDERS = {"overview": overview, "actions": actions, "status": status_history, "messages": messages,
            "diagnostics": diagnostics, "local-list": local_list, "load": load, "maintenance": maintenance,
            "edit": edit}
