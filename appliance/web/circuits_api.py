"""The JSON API of load management: circuits, wiring, priorities, charge-first, and the live view
(per circuit and phase: what it may carry, what is allocated, what is measured; each EVSE's limit)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from aiohttp import web

from appliance.core.circuits import PlanError
from appliance.dlm.site_meter import mask_url, parse_source
from appliance.web.api import body, core_of, int_query, not_found, reply
from appliance.web.keys import DLM

routes = web.RouteTableDef()

_CIRCUIT_NUMBERS = ("max_current_a", "reserve_a", "min_current_a", "voltage_v")


def _circuit_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in _CIRCUIT_NUMBERS:
        if data.get(name) is not None:
            fields[name] = _number(data, name)
    if data.get("phases") is not None:
        fields["phases"] = _whole(data, "phases")
    for name in ("phase", "meter_measures"):
        if data.get(name) is not None:
            fields[name] = str(data[name])
    if data.get("meter_url") is not None:
        fields["meter_url"] = _meter_url(str(data["meter_url"]))
    return fields


def _meter_url(url: str) -> str:
    if url:
        try:
            parse_source(url)
        except ValueError as e:
            raise PlanError(f"meter_url: {e}") from None
    return url


def _number(data: dict[str, Any], name: str) -> float:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"{name} must be a number")
    return float(value)


def _whole(data: dict[str, Any], name: str) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"{name} must be a whole number")
    return value


def _live(request: web.Request) -> dict[str, dict[str, Any]]:
    dlm = request.app.get(DLM)
    return {c["name"]: c for c in dlm.circuit_status()} if dlm is not None else {}


@routes.get("/api/v1/circuits")
async def list_circuits(request: web.Request) -> web.Response:
    live = _live(request)
    records = await core_of(request).circuits.list()
    return reply([{**_record(r), "status": live.get(r.name)} for r in records])


@routes.post("/api/v1/circuits")
async def add_circuit(request: web.Request) -> web.Response:
    data = await body(request)
    if data.get("max_current_a") is None:
        raise PlanError("max_current_a is required: the circuit's limit in A per phase")
    fields = _circuit_fields(data)
    record = await core_of(request).circuits.add(str(data.get("name", "")), fields.pop("max_current_a"),
                                                 fields.pop("phases", 3), data.get("parent"), **fields)
    return reply(_record(record), status=201)


@routes.get("/api/v1/circuits/{name}")
async def show_circuit(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    core = core_of(request)
    record = await core.circuits.get(name)
    members = await core.circuits.members(circuit=name)
    return reply({**_record(record), "members": members, "status": _live(request).get(name)})


@routes.patch("/api/v1/circuits/{name}")
async def edit_circuit(request: web.Request) -> web.Response:
    data = await body(request)
    no_parent = "parent" in data and data["parent"] is None
    record = await core_of(request).circuits.edit(request.match_info["name"], data.get("parent"), no_parent,
                                                  **_circuit_fields(data))
    return reply(_record(record))


@routes.delete("/api/v1/circuits/{name}")
async def remove_circuit(request: web.Request) -> web.Response:
    await core_of(request).circuits.remove(request.match_info["name"])
    return reply({"removed": request.match_info["name"]})


@routes.get("/api/v1/circuits/{name}/load")
async def circuit_load(request: web.Request) -> web.Response:
    """The circuit's recorded load per phase over time (since=ISO time, default the last 24 hours)."""
    since = _time_query(request, "since") or dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    until = _time_query(request, "until")
    return reply(await core_of(request).circuits.load_history(request.match_info["name"], since, until))


@routes.post("/api/v1/circuits/{name}/members")
async def assign(request: web.Request) -> web.Response:
    data = await body(request)
    options: dict[str, Any] = {}
    if data.get("phases") is not None:
        options["phases"] = _whole(data, "phases")
    for name in ("phase", "rotation", "throttle_key"):
        if data.get(name) is not None:
            options[name] = str(data[name])
    for name in ("max_current_a", "voltage_v"):
        if data.get(name) is not None:
            options[name] = _number(data, name)
    evse = _whole(data, "evse") if data.get("evse") is not None else 0
    members = await core_of(request).circuits.assign(request.match_info["name"], str(data.get("charger", "")),
                                                     evse, **options)
    return reply(members, status=201)


@routes.delete("/api/v1/chargers/{identity}/circuit")
async def unassign(request: web.Request) -> web.Response:
    evse = int_query(request, "evse", None)
    await core_of(request).circuits.unassign(request.match_info["identity"], evse)
    return reply({"unassigned": request.match_info["identity"], "evse": evse})


@routes.post("/api/v1/chargers/{identity}/load-flag/clear")
async def clear_flag(request: web.Request) -> web.Response:
    """Trust a charger's limits again (it was flagged for rejecting or ignoring them)."""
    dlm = request.app.get(DLM)
    if dlm is None:
        raise PlanError("load management is off (setting load_management)")
    identity = request.match_info["identity"]
    if await core_of(request).chargers.get(identity) is None:
        raise not_found(f"charger {identity}")
    cleared = await dlm.clear_flag(identity, int_query(request, "evse", None))
    return reply({"charger": identity, "cleared": cleared})


@routes.get("/api/v1/load-management")
async def status(request: web.Request) -> web.Response:
    dlm = request.app.get(DLM)
    if dlm is None:
        return reply({"enabled": False, "circuits": []})
    if request.query.get("settled") in ("1", "true"):
        await dlm.settled()
    return reply(dlm.status())


@routes.get("/api/v1/priorities")
async def priorities(request: web.Request) -> web.Response:
    return reply([{"kind": k, "name": n, "priority": p} for k, n, p in await core_of(request).circuits.priorities()])


@routes.put("/api/v1/priorities/{kind:company|user|vehicle}/{name}")
async def set_priority(request: web.Request) -> web.Response:
    data = await body(request)
    if data.get("priority") is None:
        raise PlanError("priority is required: a whole number, higher goes first")
    priority = _whole(data, "priority")
    kind, name = request.match_info["kind"], request.match_info["name"]
    await core_of(request).circuits.set_priority(kind, name, priority)
    return reply({"kind": kind, "name": name, "priority": priority})


@routes.post("/api/v1/sessions/{transaction_id:\\d+}/charge-first")
async def charge_first(request: web.Request) -> web.Response:
    data = await body(request)
    on = data.get("on", True)
    if not isinstance(on, bool):
        raise PlanError("on must be true or false")
    tx = int(request.match_info["transaction_id"])
    await core_of(request).circuits.set_charge_first(tx, on)
    return reply({"transaction_id": tx, "charge_first": on})


def _record(record) -> dict[str, Any]:
    out = {k: getattr(record, k) for k in ("name", "parent", "max_current_a", "phases", "phase", "reserve_a",
                                             "min_current_a", "voltage_v", "meter_measures")}
    out["meter_url"] = mask_url(record.meter_url)
    return out


def _time_query(request: web.Request, name: str) -> dt.datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"query parameter {name} must be an ISO 8601 time"}),
                                 content_type="application/json")
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
