"""The JSON API of billing: tariffs, tariff groups, charge detail records, a session's price, and its
signed meter data as the transparency software's XML."""

from __future__ import annotations

from aiohttp import web

from appliance.billing.signed_meter import verify
from appliance.billing.transparency_xml import transparency_xml
from appliance.core.billing import BillingError, NotInBilling, signed_readings
from appliance.web.api import body, core_of, int_query, reply
from appliance.web.keys import SYNC

routes = web.RouteTableDef()


@routes.get("/api/v1/tariffs")
async def list_tariffs(request: web.Request) -> web.Response:
    return reply(await core_of(request).billing.tariffs())


@routes.post("/api/v1/tariffs")
async def add_tariff(request: web.Request) -> web.Response:
    data = await body(request)
    name = str(data.pop("name", ""))
    return reply(await core_of(request).billing.add_tariff(name, data), status=201)


@routes.get("/api/v1/tariffs/{name}")
async def show_tariff(request: web.Request) -> web.Response:
    return reply(await core_of(request).billing.tariff(request.match_info["name"]))


@routes.put("/api/v1/tariffs/{name}")
async def edit_tariff(request: web.Request) -> web.Response:
    return reply(await core_of(request).billing.edit_tariff(request.match_info["name"], await body(request)))


@routes.get("/api/v1/tariff-groups")
async def list_groups(request: web.Request) -> web.Response:
    return reply(await core_of(request).billing.groups())


@routes.post("/api/v1/tariff-groups")
async def add_group(request: web.Request) -> web.Response:
    data = await body(request)
    await core_of(request).billing.add_group(str(data.get("name", "")), str(data.get("base_tariff", "")))
    return reply({"name": data.get("name"), "base_tariff": data.get("base_tariff")}, status=201)


@routes.post("/api/v1/tariff-groups/{name}/rules")
async def add_rule(request: web.Request) -> web.Response:
    data = await body(request)
    await core_of(request).billing.add_rule(request.match_info["name"], str(data.get("tariff", "")),
                                            data.get("company"), data.get("user"))
    return reply({"group": request.match_info["name"], **data}, status=201)


@routes.post("/api/v1/tariff-groups/{name}/chargers")
async def assign(request: web.Request) -> web.Response:
    data = await body(request)
    evse = data.get("evse", 0)
    if isinstance(evse, bool) or not isinstance(evse, int) or evse < 0:
        raise BillingError("evse must be a whole number, 0 for every EVSE of the charger")
    await core_of(request).billing.assign(str(data.get("charger", "")), request.match_info["name"], evse)
    return reply({"group": request.match_info["name"], "charger": data.get("charger"), "evse": evse}, status=201)


@routes.get("/api/v1/cdrs")
async def list_cdrs(request: web.Request) -> web.Response:
    limit = int_query(request, "limit", 100)
    if not 1 <= limit <= 10000:
        raise BillingError("limit must be between 1 and 10000")
    return reply(await core_of(request).billing.cdrs(limit, int_query(request, "offset", 0) or 0))


@routes.get("/api/v1/sessions/{transaction_id:\\d+}/price")
async def session_price(request: web.Request) -> web.Response:
    return reply(await core_of(request).billing.estimate(int(request.match_info["transaction_id"])))


@routes.get("/api/v1/sessions/{transaction_id:\\d+}/signed")
async def session_signed(request: web.Request) -> web.Response:
    """The session's signed meter values, each with its signature checked (valid, invalid, unverifiable)."""
    tx = int(request.match_info["transaction_id"])
    readings = await core_of(request).db.read(signed_readings, tx)
    return reply([{"format": r.format, "context": r.context, "encoding": r.encoding, "data": r.data,
                   "public_key": r.public_key, "verification": verify(r)} for r in readings])


@routes.get("/api/v1/sessions/{transaction_id:\\d+}/transparency.xml")
async def session_transparency(request: web.Request) -> web.Response:
    """The session's signed meter values for the S.A.F.E. transparency software (404 if it has none)."""
    tx = int(request.match_info["transaction_id"])
    readings = await core_of(request).db.read(signed_readings, tx)
    if not readings:
        raise NotInBilling(f"no signed meter values for session {tx}")
    return web.Response(text=transparency_xml(readings, tx), content_type="application/xml",
                        headers={"Content-Disposition": f'attachment; filename="session-{tx}.xml"'})


@routes.get("/api/v1/sync")
async def sync_status(request: web.Request) -> web.Response:
    """Head-office sync: queue length, oldest unsent, last success, last error, next attempt."""
    return reply(await request.app[SYNC].status())


@routes.put("/api/v1/sync")
async def sync_configure(request: web.Request) -> web.Response:
    data = await body(request)
    token = data.get("token")
    try:
        await request.app[SYNC].configure(str(data.get("url", "")), str(token) if token is not None else None)
    except ValueError as e:
        raise BillingError(str(e)) from None
    return reply(await request.app[SYNC].status())


@routes.post("/api/v1/sync/now")
async def sync_now(request: web.Request) -> web.Response:
    sent = await request.app[SYNC].drain()
    return reply({"sent": sent, "status": await request.app[SYNC].status()})


@routes.post("/api/v1/sync/pull-tokens")
async def sync_pull_tokens(request: web.Request) -> web.Response:
    """Take the user group's tokens from head office now."""
    try:
        result = await request.app[SYNC].pull_tokens(core_of(request).users)
    except ValueError as e:
        raise BillingError(str(e)) from None
    return reply(result)


@routes.get("/api/v1/statements")
async def statement(request: web.Request) -> web.Response:
    """?month=YYYY-MM[&company=C|&user=U][&format=csv|pdf]"""
    kind = request.query.get("format", "csv")
    if kind not in ("csv", "pdf"):
        raise BillingError("format is csv or pdf")
    month = request.query.get("month", "")
    _, content = await core_of(request).billing.statement(month, request.query.get("company"),
                                                          request.query.get("user"), kind)
    name = f"statement-{month}.{kind}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if kind == "pdf":
        return web.Response(body=content, content_type="application/pdf", headers=headers)
    return web.Response(text=content, content_type="text/csv", headers=headers)
