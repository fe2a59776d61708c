"""The JSON API under /api/v1/: the same data and actions as the CLI, for scripts and the CLI itself.

Each handler parses the request, makes one core call and returns JSON. Errors are JSON too:
{"error": "..."} with 400 (bad input), 401 (no or wrong token), 404 (no such thing).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from typing import Any

from aiohttp import web

from appliance.core.chargers import command_reach
from appliance.core.services import Core
from appliance.core.users import UserGroupError, expiry_from_text
from appliance.web.keys import CORE, READERS, TOKEN_NAME

routes = web.RouteTableDef()


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items() if k != "password_hash"}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if hasattr(value, "value") and type(value).__module__ != "builtins":  # enums
        return value.value
    return value


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(to_jsonable(data), status=status, dumps=lambda d: json.dumps(d, default=str))


async def body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": "the request body is not valid JSON"}),
                                 content_type="application/json")
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "the request body must be a JSON object"}),
                                 content_type="application/json")
    return data


def not_found(what: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=json.dumps({"error": f"no {what}"}), content_type="application/json")


def core_of(request: web.Request) -> Core:
    return request.app[CORE]


def actor_of(request: web.Request, on_behalf_of: Any = None) -> str:
    """The token is who acts; a name the caller gives (the CLI's OS user) is only added beside it."""
    actor = f"api:{request.get(TOKEN_NAME, '?')}"
    return f"{actor} ({str(on_behalf_of)[:50]})" if on_behalf_of else actor


def int_query(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"query parameter {name} must be a whole number"}),
                                 content_type="application/json")


def bool_query(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false", "1", "0"):
        raise web.HTTPBadRequest(text=json.dumps({"error": f"query parameter {name} must be true or false"}),
                                 content_type="application/json")
    return raw.lower() in ("true", "1")


# -- chargers ---------------------------------------------------------------------------------

@routes.get("/api/v1/chargers")
async def list_chargers(request: web.Request) -> web.Response:
    core = core_of(request)
    return reply([dict(to_jsonable(c), connected=core.links.get(c.identity) is not None)
                  for c in await core.chargers.list(request.query.get("registration"))])


@routes.post("/api/v1/chargers")
async def add_charger(request: web.Request) -> web.Response:
    data = await body(request)
    record = await core_of(request).chargers.add(
        str(data.get("identity", "")), str(data.get("protocol", "")), data.get("password"),
        str(data.get("description", "")))
    return reply(record, status=201)


@routes.get("/api/v1/chargers/{identity}")
async def show_charger(request: web.Request) -> web.Response:
    core = core_of(request)
    record = await core.chargers.get(request.match_info["identity"])
    if record is None:
        raise not_found("such charger")
    connectors = await core.chargers.connectors(record.identity)
    return reply(dict(to_jsonable(record), connected=core.links.get(record.identity) is not None,
                      commands=command_reach(record), connectors=to_jsonable(connectors)))


@routes.post("/api/v1/chargers/{identity}/{decision:accept|reject}")
async def decide_charger(request: web.Request) -> web.Response:
    registration = {"accept": "accepted", "reject": "rejected"}[request.match_info["decision"]]
    return reply(await core_of(request).chargers.set_registration(request.match_info["identity"], registration))


@routes.post("/api/v1/chargers/{identity}/commands/{command}")
async def send_command(request: web.Request) -> web.Response:
    data = await body(request)
    arguments = data.get("arguments", {})
    if not isinstance(arguments, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "arguments must be a JSON object"}),
                                 content_type="application/json")
    core = core_of(request)
    identity = request.match_info["identity"]
    await core.chargers.require(identity)
    result = await core.commands.send(identity, request.match_info["command"], arguments,
                                      actor=actor_of(request, data.get("on_behalf_of")),
                                      reason=str(data.get("reason", "")))
    return reply({"status": result.status, "ok": result.ok, "data": result.data, "detail": result.detail})


@routes.get("/api/v1/chargers/{identity}/local-list")
async def local_list_state(request: web.Request) -> web.Response:
    core = core_of(request)
    identity = request.match_info["identity"]
    state = await core.local_lists.state(identity)
    desired = await core.local_lists.desired(identity)
    offline = await core.local_lists.offline_configuration(identity)
    return reply({"state": state, "entries_by_the_rules": len(desired),
                  "offline_configuration": offline["answers"] if offline else None,
                  "connected": core.links.get(identity) is not None})


@routes.post("/api/v1/chargers/{identity}/local-list/sync")
async def local_list_sync(request: web.Request) -> web.Response:
    data = await body(request)
    core = core_of(request)
    await core.chargers.require(request.match_info["identity"])
    result = await core.local_lists.sync(request.match_info["identity"], full=bool(data.get("full", False)),
                                         reason=str(data.get("reason", "")) or "asked for by staff")
    return reply(dict(to_jsonable(result), status="Accepted" if result.ok else "Failed"))


@routes.get("/api/v1/chargers/{identity}/actions")
async def charger_actions(request: web.Request) -> web.Response:
    core = core_of(request)
    await core.chargers.require(request.match_info["identity"])
    return reply(await core.commands.actions(request.match_info["identity"], int_query(request, "limit", 100)))


@routes.get("/api/v1/chargers/{identity}/status-history")
async def charger_status_history(request: web.Request) -> web.Response:
    core = core_of(request)
    return reply(await core.chargers.status_history(request.match_info["identity"], int_query(request, "limit", 100)))


@routes.get("/api/v1/chargers/{identity}/messages")
async def charger_messages(request: web.Request) -> web.Response:
    core = core_of(request)
    await core.chargers.require(request.match_info["identity"])
    return reply(await core.commlog.recent(request.match_info["identity"], int_query(request, "limit", 200)))


# -- the user group ---------------------------------------------------------------------------

@routes.get("/api/v1/companies")
async def list_companies(request: web.Request) -> web.Response:
    return reply(await core_of(request).users.companies())


@routes.post("/api/v1/companies")
async def add_company(request: web.Request) -> web.Response:
    data = await body(request)
    return reply(await core_of(request).users.add_company(str(data.get("name", ""))), status=201)


@routes.get("/api/v1/users")
async def list_users(request: web.Request) -> web.Response:
    return reply(await core_of(request).users.drivers(request.query.get("company")))


@routes.post("/api/v1/users")
async def add_user(request: web.Request) -> web.Response:
    data = await body(request)
    return reply(await core_of(request).users.add_driver(str(data.get("name", "")), data.get("company"),
                                                         str(data.get("email", ""))), status=201)


@routes.get("/api/v1/tags")
async def list_tags(request: web.Request) -> web.Response:
    return reply(await core_of(request).users.tags(request.query.get("user"), request.query.get("status")))


@routes.post("/api/v1/tags")
async def add_tag(request: web.Request) -> web.Response:
    data = await body(request)
    expires = data.get("expires_at")
    core = core_of(request)
    if expires is not None and not isinstance(expires, str):
        raise UserGroupError("expires_at must be an ISO 8601 date or date-time")
    expires_at = expiry_from_text(expires, core.settings.zone) if expires else None
    record = await core.users.add_tag(
        str(data.get("id_tag", "")), data.get("user"), expires_at, str(data.get("parent_id_tag", "")),
        str(data.get("token_type", "ISO14443")), int(data.get("max_concurrent_tx", 1)), str(data.get("note", "")),
        vehicle=data.get("vehicle"))
    return reply(record, status=201)


@routes.get("/api/v1/vehicles")
async def list_vehicles(request: web.Request) -> web.Response:
    return reply(await core_of(request).users.vehicles(request.query.get("company")))


@routes.post("/api/v1/vehicles")
async def add_vehicle(request: web.Request) -> web.Response:
    data = await body(request)
    return reply(await core_of(request).users.add_vehicle(str(data.get("name", "")), data.get("company")), status=201)


@routes.get("/api/v1/tags/unknown")
async def list_unknown_tags(request: web.Request) -> web.Response:
    return reply(await core_of(request).transactions.unknown_tags(int_query(request, "limit", 100)))


@routes.get("/api/v1/tags/{id_tag}")
async def show_tag(request: web.Request) -> web.Response:
    record = await core_of(request).users.tag(request.match_info["id_tag"])
    if record is None:
        raise not_found("such tag")
    return reply(record)


@routes.post("/api/v1/tags/{id_tag}/{action:block|unblock}")
async def block_tag(request: web.Request) -> web.Response:
    status = "blocked" if request.match_info["action"] == "block" else "active"
    return reply(await core_of(request).users.set_tag_status(request.match_info["id_tag"], status))


# -- sessions (transactions) ------------------------------------------------------------------

@routes.get("/api/v1/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    core = core_of(request)
    return reply(await core.transactions.list(
        request.query.get("charger"), bool_query(request, "active"), request.query.get("tag"),
        int_query(request, "limit", 100), int_query(request, "offset", 0)))


@routes.get("/api/v1/sessions/{transaction_id:\\d+}")
async def show_session(request: web.Request) -> web.Response:
    core = core_of(request)
    transaction_id = int(request.match_info["transaction_id"])
    record = await core.transactions.get(transaction_id)
    if record is None:
        raise not_found("such session")
    return reply(dict(to_jsonable(record), samples=to_jsonable(await core.transactions.samples(transaction_id))))


# -- RFID readers the server owns (enrolment) -------------------------------------------------------

@routes.get("/api/v1/readers")
async def list_readers(request: web.Request) -> web.Response:
    return reply(list(request.app[READERS].statuses.values()))


@routes.get("/api/v1/readers/events")
async def reader_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every tap (with the tag id and whose card it is, if enrolled) and every
    change of a reader's state (unplugged, connected again)."""
    readers, core = request.app[READERS], core_of(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    queue = readers.listen()
    try:
        for status in readers.statuses.values():  # where each reader stands now, first
            await _send_event(response, {"type": "state", "reader": status.device, "state": status.state,
                                         "detail": status.detail})
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), 15)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")  # proxies and browsers keep the stream open
                continue
            if event["type"] == "end":
                break
            if event["type"] == "tap":
                known = await core.users.tag(event["id"])
                event = dict(event, enrolled=to_jsonable(known) if known else None)
            await _send_event(response, event)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        readers.unlisten(queue)
    return response


async def _send_event(response: web.StreamResponse, event: dict[str, Any]) -> None:
    await response.write(f"event: {event['type']}\ndata: {json.dumps(event, default=str)}\n\n".encode())
