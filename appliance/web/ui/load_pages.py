"""The load-management pages: /circuits (the circuit tree with each phase's limit, allocation and
measured draw live, each EVSE's share, who waits for power, charge-first sessions, priorities) and
/circuits/{name} (one circuit, its wiring and its load over the last day); forms to change the plan.

What is shown comes from core.circuits (the plan) and, when load management runs, from the
controller (request.app[DLM]); views are built in load_views.py.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

from aiohttp import web

from appliance.core.circuits import (
    METER_MEASURES,
    PRIORITY_KINDS,
    ROTATIONS,
    SITE_PHASES,
    PlanError,
)
from appliance.dlm.site_meter import mask_url, parse_source
from appliance.web import charts
from appliance.web.keys import AUDIT_ACTION, CORE, DLM
from appliance.web.ui import load_views as views
from appliance.web.ui.render import (
    FormError,
    choice_field,
    number_field,
    redirect,
    render,
    text_field,
)

routes = web.RouteTableDef()

LIVE_ON = "load session meter connection status"
HISTORY = dt.timedelta(hours=24)
HISTORY_BUCKET = dt.timedelta(minutes=15)
PRIORITY_LABELS = {"company": "Company", "user": "Driver", "vehicle": "Vehicle"}
# Words in a PlanError that tell which field it is about (first match wins); else it is the form's.
PLAN_ERROR_FIELDS = (
    ("name must", "name"), ("already exists", "name"), ("hang from", "parent"), ("parent", "parent"),
    ("sub-circuit", "phases"), ("has one phase", "phases"), ("1 or 3 phases", "phases"), ("1-phase", "phase"),
    ("does not carry", "phase"), ("limit must", "max_current_a"), ("maximum current", "max_current_a"),
    ("reserve", "reserve_a"), ("minimum current", "min_current_a"), ("voltage", "voltage_v"),
    ("site meter", "meter_url"), ("rotation", "rotation"), ("throttle", "throttle_key"),
    ("EVSE number", "evse"), ("no charger", "charger"), ("no company", "name"), ("no user", "name"),
    ("no vehicle", "name"), ("a priority", "value"),
)
CIRCUIT_FORM = ("name", "parent", "max_current_a", "phases", "phase", "reserve_a", "min_current_a", "voltage_v",
                "meter_url", "meter_measures")
ASSIGN_FORM = ("charger", "evse", "phases", "phase", "rotation", "max_current_a", "voltage_v", "throttle_key")


def circuit_url(name: str) -> str:
    return "/circuits/" + urllib.parse.quote(name, safe="")


def plan_errors(e: PlanError, fields: tuple[str, ...], prefix: str = "") -> dict[str, str]:
    """The core's message at the field it is about (`prefix` + name), else at the top of the form."""
    message = str(e)
    lower = message.lower()
    message = message[:1].upper() + message[1:]
    for words, name in PLAN_ERROR_FIELDS:
        if words.lower() in lower and name in fields:
            return {prefix + name: message}
    return {prefix: message} if prefix else {"": message}


# -- reading --------------------------------------------------------------------------------------

async def overview(request: web.Request) -> dict[str, Any]:
    """The plan with the live figures: what /circuits and its live fragment show."""
    core = request.app[CORE]
    dlm = request.app.get(DLM)
    records = await core.circuits.list()
    members = await core.circuits.members()
    live = {c["name"]: c for c in dlm.circuit_status()} if dlm is not None else {}
    active = await core.circuits.active_sessions(sorted({m.charger_id for m in members}))
    sessions = {s.transaction_id: s for s in active}
    waiting_since = ({tx: turn.waiting_since for tx, turn in dlm.turns.items() if turn.waiting_since}
                     if dlm is not None else {})
    return {
        "dlm_on": dlm is not None, "problems": list(dlm.problems) if dlm else [],
        "last_run_at": dlm.last_run_at if dlm else None,
        "circuits": views.circuit_views(records, members, live),
        "waiting": views.waiting_sessions(live, sessions, waiting_since),
        "charge_first": sorted((s for s in active if s.charge_first), key=lambda s: s.started_at),
        "priorities": await core.circuits.priorities(), "priority_labels": PRIORITY_LABELS,
        "live_on": LIVE_ON,
    }


async def form_choices(request: web.Request) -> dict[str, Any]:
    core = request.app[CORE]
    return {
        "circuit_names": [c.name for c in await core.circuits.list()],
        "charger_ids": [c.identity for c in await core.chargers.list()],
        "company_names": [c.name for c in await core.users.companies()],
        "driver_names": [d.name for d in await core.users.drivers()],
        "vehicle_names": [v.name for v in await core.users.vehicles()],
        "site_phases": SITE_PHASES, "rotations": ROTATIONS, "meter_measures": METER_MEASURES,
        "priority_kinds": [(k, PRIORITY_LABELS[k]) for k in PRIORITY_KINDS],
    }


@routes.get("/circuits")
async def circuits_page(request: web.Request) -> web.Response:
    if request.query.get("fragment") == "live":
        return await render(request, "_circuits_live.html", await overview(request))
    return await show_circuits(request)


async def show_circuits(request: web.Request, errors: dict[str, str] | None = None,
                        form: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    context = {**await overview(request), **await form_choices(request), "errors": errors or {}, "form": form or {}}
    return await render(request, "load_circuits.html", context, status=status)


@routes.get("/circuits/{name}")
async def circuit_page(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if request.query.get("fragment") == "live":
        return await render(request, "_circuit_live.html", await circuit_context(request, name))
    return await show_circuit(request, name)


async def circuit_context(request: web.Request, name: str) -> dict[str, Any]:
    core = request.app[CORE]
    await core.circuits.get(name)  # NotInPlan (a 404 page) for a circuit that does not exist
    context = await overview(request)
    circuit = next((c for c in context["circuits"] if c.record.name == name), None)
    if circuit is None:  # removed a moment ago
        raise web.HTTPNotFound(text=f"There is no circuit {name} (any more).")
    return {**context, "circuit": circuit}


async def show_circuit(request: web.Request, name: str, errors: dict[str, str] | None = None,
                       form: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    core = request.app[CORE]
    context = await circuit_context(request, name)
    now = dt.datetime.now(dt.timezone.utc)
    since = now - HISTORY
    records = await core.circuits.load_history(name, since)
    history = views.history_rows(records, HISTORY_BUCKET)
    record = context["circuit"].record
    edit = {"parent": record.parent or "", "max_current_a": f"{record.max_current_a:g}", "phases": record.phases,
            "phase": record.phase, "reserve_a": f"{record.reserve_a:g}", "min_current_a": f"{record.min_current_a:g}",
            "voltage_v": f"{record.voltage_v:g}", "meter_url": mask_url(record.meter_url),
            "meter_measures": record.meter_measures}
    context.update(await form_choices(request))
    context.update(history=history, history_bucket_min=int(HISTORY_BUCKET.total_seconds() // 60),
                   chart=history_chart(records, record, since, now, core.settings.zone) if records else None,
                   edit=edit, errors=errors or {}, form=form or {},
                   live_src=circuit_url(name) + "?fragment=live")
    return await render(request, "load_circuit.html", context, status=status)


def history_chart(records: list[Any], record, since: dt.datetime, now: dt.datetime, zone) -> str:
    """The day's load as lines: the busiest phase's allocation and draw against the circuit's limit
    (the table below has each phase)."""
    def busiest(values: dict[str, float]) -> float:
        return max(values.values(), default=0.0)

    series = [
        charts.Series("Allocated (busiest phase)", "A", [(r.at, busiest(r.allocated_a)) for r in records],
                      css_class="allocated", color="#6fa3d8", area=True),
        charts.Series("Measured (busiest phase)", "A", [(r.at, busiest(r.measured_a)) for r in records],
                      css_class="measured", color="#1f5fa8"),
        charts.Series("Limit", "A", [(since, record.max_current_a), (now, record.max_current_a)],
                      css_class="limit", color="#b3261e"),
    ]
    return charts.line_chart(series, zone, title=f"Load of circuit {record.name} over the last 24 hours",
                             chart_id="circuit-load", empty_text="no load recorded", x_range=(since, now),
                             gap_factor=5.0)


# -- circuits -------------------------------------------------------------------------------------

def _circuit_fields(form) -> dict[str, Any]:
    """The form's circuit fields, checked; FormError names the field."""
    phases = int(choice_field(form, "phases", "Phases", ("1", "3")))
    fields: dict[str, Any] = {
        "max_current_a": number_field(form, "max_current_a", "Limit per phase (A)", minimum=0.1, maximum=10000),
        "phases": phases,
        "phase": choice_field(form, "phase", "Site phase", SITE_PHASES, required=phases == 1) or "L1",
        "reserve_a": number_field(form, "reserve_a", "Reserve (A)", required=False, minimum=0, maximum=10000),
        "min_current_a": number_field(form, "min_current_a", "Minimum per EVSE (A)", required=False, minimum=0,
                                      maximum=100),
        "voltage_v": number_field(form, "voltage_v", "Voltage (V)", required=False, minimum=100, maximum=1000),
        "meter_measures": choice_field(form, "meter_measures", "The site meter measures", METER_MEASURES,
                                       required=False) or "other",
    }
    return {k: v for k, v in fields.items() if v is not None}


def _meter_url(form) -> str:
    url = text_field(form, "meter_url", "Site meter address", required=False, max_length=500)
    if url:
        try:
            parse_source(url)
        except ValueError as e:
            raise FormError(f"Site meter address: {e}", "meter_url") from None
    return url


@routes.post("/circuits")
async def add_circuit(request: web.Request) -> web.Response:
    form = await request.post()
    request[AUDIT_ACTION] = f"added circuit {str(form.get('name', '')).strip()[:100]}"
    try:
        name = text_field(form, "name", "Name", max_length=100)
        fields = _circuit_fields(form)
        fields["meter_url"] = _meter_url(form)
        parent = str(form.get("parent", "")).strip() or None
        await request.app[CORE].circuits.add(name, fields.pop("max_current_a"), fields.pop("phases"), parent,
                                             **fields)
    except FormError as e:
        return await show_circuits(request, {e.field: str(e)}, dict(form), status=400)
    except PlanError as e:
        return await show_circuits(request, plan_errors(e, CIRCUIT_FORM), dict(form), status=400)
    raise redirect(circuit_url(name), f"Circuit {name} added.")


@routes.post("/circuits/{name}/edit")
async def edit_circuit(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    form = await request.post()
    request[AUDIT_ACTION] = f"changed circuit {name}"
    core = request.app[CORE]
    current = await core.circuits.get(name)
    try:
        fields = _circuit_fields(form)
        url = str(form.get("meter_url", "")).strip()
        if url != mask_url(current.meter_url):  # the form shows the address masked: unchanged keeps the secret
            fields["meter_url"] = _meter_url(form)
        parent = str(form.get("parent", "")).strip()
        await core.circuits.edit(name, parent or None, not parent, **fields)
    except FormError as e:
        return await show_circuit(request, name, {e.field: str(e)}, dict(form), status=400)
    except PlanError as e:
        return await show_circuit(request, name, plan_errors(e, CIRCUIT_FORM), dict(form), status=400)
    raise redirect(circuit_url(name), f"Circuit {name} changed.")


@routes.post("/circuits/{name}/remove")
async def remove_circuit(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    request[AUDIT_ACTION] = f"removed circuit {name}"
    try:
        await request.app[CORE].circuits.remove(name)
    except PlanError as e:
        return await show_circuit(request, name, {"remove": plan_errors(e, ())[""]}, status=400)
    raise redirect("/circuits", f"Circuit {name} removed.")


# -- wiring ---------------------------------------------------------------------------------------

def _assign_options(form) -> dict[str, Any]:
    phases = choice_field(form, "wire_phases", "Phases", ("1", "3"), required=False)
    return {
        "phases": int(phases) if phases else None,
        "phase": choice_field(form, "wire_phase", "Site phase", SITE_PHASES, required=False) or None,
        "rotation": choice_field(form, "wire_rotation", "Phase rotation", ROTATIONS, required=False) or "RST",
        "max_current_a": number_field(form, "wire_max_current_a", "Maximum current (A)", required=False,
                                      minimum=0.1, maximum=1000),
        "voltage_v": number_field(form, "wire_voltage_v", "Voltage (V)", required=False, minimum=100,
                                  maximum=1000) or 230.0,
        "throttle_key": text_field(form, "wire_throttle_key", "Throttle key", required=False, max_length=50),
    }


@routes.post("/circuits/{name}/assign")
async def assign(request: web.Request) -> web.Response:
    """The assign form's fields are named wire_*: the edit form beside it has fields of the same name."""
    name = request.match_info["name"]
    form = await request.post()
    identity = str(form.get("wire_charger", "")).strip()
    evse = str(form.get("wire_evse", "")).strip() or "0"
    request[AUDIT_ACTION] = f"wired charger {identity}{f' EVSE {evse}' if evse != '0' else ''} to circuit {name}"
    try:
        identity = text_field(form, "wire_charger", "Charger", max_length=100)
        evse_number = number_field(form, "wire_evse", "EVSE", required=False, minimum=0, maximum=1000,
                                   whole=True) or 0
        await request.app[CORE].circuits.assign(name, identity, evse_number, **_assign_options(form))
    except FormError as e:
        return await show_circuit(request, name, {e.field: str(e)}, dict(form), status=400)
    except PlanError as e:
        return await show_circuit(request, name, plan_errors(e, ASSIGN_FORM, "wire_"), dict(form), status=400)
    where = f"{identity}{f' EVSE {evse_number}' if evse_number else ''}"
    raise redirect(circuit_url(name), f"Charger {where} wired to circuit {name}.")


@routes.post("/circuits/{name}/unassign")
async def unassign(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    form = await request.post()
    identity = str(form.get("charger", ""))
    evse_number = number_field(form, "evse", "EVSE", required=False, minimum=0, whole=True)
    request[AUDIT_ACTION] = f"took charger {identity}{f' EVSE {evse_number}' if evse_number else ''} off circuit {name}"
    try:
        await request.app[CORE].circuits.unassign(identity, evse_number)
    except PlanError as e:
        return await show_circuit(request, name, {"members": plan_errors(e, ())[""]}, status=400)
    raise redirect(circuit_url(name), f"Charger {identity} is no longer wired to circuit {name}; "
                                      "load management leaves it alone.")


@routes.post("/circuits/clear-flag")
async def clear_flag(request: web.Request) -> web.Response:
    form = await request.post()
    identity = str(form.get("charger", ""))
    evse_number = number_field(form, "evse", "EVSE", required=False, minimum=0, whole=True)
    back = _back(form)
    request[AUDIT_ACTION] = f"trusted charger {identity}'s limits again"
    dlm = request.app.get(DLM)
    if dlm is None:
        raise redirect(back, "Load management is off, so no charger is flagged.", kind="error")
    if await request.app[CORE].chargers.get(identity) is None:
        raise redirect(back, f"There is no charger {identity}.", kind="error")
    cleared = await dlm.clear_flag(identity, evse_number or None)
    raise redirect(back, f"Charger {identity}: {cleared} flag(s) cleared; its limits are trusted again."
                   if cleared else f"Charger {identity} had no flag to clear.")


# -- priorities and charge-first ---------------------------------------------------------------

@routes.post("/circuits/priority")
async def set_priority(request: web.Request) -> web.Response:
    """Fields are named priority_*: the add-circuit form on the same page has a name field too."""
    form = await request.post()
    kind, name = str(form.get("priority_kind", "")), str(form.get("priority_name", "")).strip()
    request[AUDIT_ACTION] = f"set the load priority of {PRIORITY_LABELS.get(kind, kind).lower()} {name}"
    try:
        kind = choice_field(form, "priority_kind", "For", PRIORITY_KINDS)
        name = text_field(form, "priority_name", "Name", max_length=100)
        priority = number_field(form, "priority_value", "Priority", minimum=-100, maximum=100, whole=True)
        await request.app[CORE].circuits.set_priority(kind, name, priority)
    except FormError as e:
        return await show_circuits(request, {e.field: str(e)}, dict(form), status=400)
    except PlanError as e:
        errors = plan_errors(e, ("name", "value"), "priority_")
        return await show_circuits(request, errors, dict(form), status=400)
    label = PRIORITY_LABELS[kind].lower()
    raise redirect("/circuits#priorities", f"The {label} {name} now has priority {priority}"
                   + (" (the default)." if priority == 0 else "; higher goes first."))


@routes.post("/circuits/charge-first")
async def charge_first(request: web.Request) -> web.Response:
    form = await request.post()
    transaction_id = number_field(form, "transaction_id", "Session", minimum=1, whole=True)
    on = str(form.get("on", "1")) == "1"
    request[AUDIT_ACTION] = f"session {transaction_id} " + ("charges first" if on else "back in turn")
    back = _back(form)
    try:
        await request.app[CORE].circuits.set_charge_first(transaction_id, on)
    except PlanError as e:
        raise redirect(back, str(e).capitalize() + ".", kind="error") from None
    raise redirect(back, f"Session {transaction_id} " + ("charges before every other." if on
                                                         else "takes its turn like every other again."))


def _back(form) -> str:
    """Where a small action returns to: a page of this area, never another site."""
    target = str(form.get("back", ""))
    return target if target.startswith("/circuits") and not target.startswith("//") else "/circuits"
