"""The session pages: the filtered list (kept in the URL, live while sessions run), its CSV export, and a
session's page with its figures, power and energy chart, meter samples, price, charge detail record,
signed meter values, and the operator's remote stop and charge-first switch."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import urllib.parse

from aiohttp import web

from appliance.billing.signed_meter import verify
from appliance.billing.transparency_xml import transparency_xml
from appliance.core.billing import BillingError, signed_readings
from appliance.core.session_views import (
    EXPORT_LIMIT,
    SessionFilterError,
    SessionViews,
    cost_breakdown,
    meter_curves,
    parse_criteria,
    parse_page,
)
from appliance.web import charts
from appliance.web.keys import AUDIT_ACTION, CORE, DLM, STAFF, SYNC
from appliance.web.ui.render import (
    FormError,
    choice_field,
    read_form,
    redirect,
    render,
    text_field,
    zone_of,
)

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

FILTERS = ("charger", "tag", "driver", "company", "active", "since", "until")
SAMPLES_SHOWN = 500
ENERGY_COLOR, POWER_COLOR = "#0b5d3b", "#1f5fa8"


def _views(request: web.Request) -> SessionViews:
    return SessionViews(request.app[CORE].db, zone_of(request))


def _filters(request: web.Request) -> dict[str, str]:
    return {name: request.query.get(name, "").strip() for name in FILTERS}


def query_string(filters: dict[str, str], **more: object) -> str:
    """The filters (only those given) and `more` as a URL query, '?…' or ''."""
    values = {k: v for k, v in {**filters, **more}.items() if v not in ("", None)}
    return "?" + urllib.parse.urlencode(values) if values else ""


# -- the list ----------------------------------------------------------------------------------------

@routes.get("/sessions")
async def sessions_list(request: web.Request) -> web.Response:
    context, status = await _listing(request)
    core = request.app[CORE]
    filters = context["filters"]
    context.update(chargers=_with(filters["charger"], [c.identity for c in await core.chargers.list()]),
                   companies=_with(filters["company"], [c.name for c in await core.users.companies()]),
                   drivers=[d.name for d in await core.users.drivers()])
    return await render(request, "sessions_list.html", context, status=status)


def _with(chosen: str, names: list[str]) -> list[str]:
    """The choices, with the one in the URL even if it is gone (a removed charger's old sessions)."""
    return names if not chosen or chosen in names else [chosen, *names]


@routes.get("/sessions/rows")
async def sessions_rows(request: web.Request) -> web.Response:
    """The list's results alone: what the list page refreshes while sessions run."""
    context, status = await _listing(request)
    return await render(request, "_sessions_rows.html", context, status=status)


async def _listing(request: web.Request) -> tuple[dict, int]:
    filters = _filters(request)
    context = {"filters": filters, "listing": None, "estimates": {}, "query_string": query_string,
               "now": dt.datetime.now(dt.UTC), "past_end": False}
    try:
        criteria = parse_criteria(zone_of(request), **filters)
        page = parse_page(request.query.get("page", ""))
    except SessionFilterError as e:
        context["errors"] = {e.field: str(e), "": f"{e} — the list is not shown until the filter is put right."}
        return context, 400
    listing = await _views(request).page(criteria, page)
    context.update(listing=listing, past_end=listing.total > 0 and page > listing.pages,
                   estimates=await _estimates(request, [r.id for r in listing.rows if r.active]))
    return context, 200


async def _estimates(request: web.Request, transaction_ids: list[int]) -> dict:
    """The price so far of running sessions (finished ones have their CDR)."""
    billing, out = request.app[CORE].billing, {}
    for tx in transaction_ids:
        try:
            out[tx] = await billing.estimate(tx)
        except (BillingError, ValueError) as e:  # a session just removed, a tariff that no longer prices
            log.info("no price estimate for session %s: %s", tx, e)
    return out


@routes.get("/sessions.csv")
async def sessions_csv(request: web.Request) -> web.StreamResponse:
    filters = _filters(request)
    try:
        criteria = parse_criteria(zone_of(request), **filters)
    except SessionFilterError as e:
        raise FormError(str(e), e.field) from None
    views = _views(request)
    total = await views.count(criteria)
    if total > EXPORT_LIMIT:
        raise FormError(f"This export would hold {total:,} sessions; at most {EXPORT_LIMIT:,} go into one file. "
                        "Narrow it, for example with the From and To dates.")
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{_csv_name(filters, zone_of(request))}"'})
    await response.prepare(request)
    try:
        await response.write("\ufeff".encode())  # Excel reads UTF-8 (names with umlauts) only after a BOM
        async for chunk in views.export_csv(criteria, dt.datetime.now(dt.UTC), EXPORT_LIMIT):
            await response.write(chunk.encode())
    except (ConnectionError, asyncio.CancelledError):
        raise  # the browser went away
    except Exception:
        # The headers are gone: no error page can follow. Cutting the connection makes the download fail
        # visibly rather than leave a file that looks whole but is not.
        log.exception("session export failed part way")
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


def _csv_name(filters: dict[str, str], zone) -> str:
    """sessions-CP1-2026-11-01-to-2026-11-30.csv: what the file holds, safe in any file system."""
    parts = ["sessions"] + [filters[k] for k in ("charger", "company", "driver", "tag") if filters[k]]
    if filters["active"]:
        parts.append("charging" if filters["active"].lower() == "true" else "finished")
    if filters["since"] or filters["until"]:
        parts += [filters["since"] or "start", "to", filters["until"] or "now"]
    else:
        parts.append(dt.datetime.now(zone).strftime("%Y-%m-%d"))
    name = "-".join(parts)
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)[:150] + ".csv"


# -- one session -------------------------------------------------------------------------------------

def _transaction_id(request: web.Request) -> int:
    return int(request.match_info["transaction_id"])


async def _session(request: web.Request):
    core, tx = request.app[CORE], _transaction_id(request)
    record = await core.transactions.get(tx)
    row = await _views(request).row(tx) if record else None
    if record is None or row is None:
        raise web.HTTPNotFound(text=f"There is no session {tx}. It may be a mistyped number.")
    return record, row


@routes.get(r"/sessions/{transaction_id:\d+}")
async def session_page(request: web.Request) -> web.Response:
    return await render(request, "sessions_detail.html", await _detail(request))


async def _detail(request: web.Request) -> dict:
    core, views = request.app[CORE], _views(request)
    record, row = await _session(request)
    readings = await core.db.read(signed_readings, record.id)
    # Checking a signature is CPU work: off the event loop.
    signed = await asyncio.get_running_loop().run_in_executor(None, lambda: [(r, verify(r)) for r in readings])
    samples, sample_count = await views.latest_samples(record.id, SAMPLES_SHOWN)
    return {
        **await _live(request, record, row), "charger": await core.chargers.get(record.charger_identity),
        "cdrs": await core.billing.cdrs_of(record.id),
        "sync": await request.app[SYNC].status() if SYNC in request.app else None,
        "signed": signed, "samples": samples, "sample_count": sample_count,
        # The action log is searched from a day before the start: the charger's clock may be off.
        "remote_stops": await views.remote_stops(record.charger_identity, record.id,
                                                 record.started_at - dt.timedelta(days=1)),
        "load_management": DLM in request.app}


async def _live(request: web.Request, record, row) -> dict:
    """What changes while the session runs: figures, price so far, chart."""
    core, views, zone = request.app[CORE], _views(request), zone_of(request)
    now = dt.datetime.now(dt.UTC)
    curves = meter_curves(await views.chart_samples(record.id), record.meter_start_wh, record.started_at,
                          record.stopped_at, record.meter_stop_wh)
    price = breakdown = None
    price_error = ""
    try:
        price = await core.billing.estimate(record.id)
        breakdown = cost_breakdown(price, await views.tariff(price), zone)
    except (BillingError, ValueError) as e:
        price_error = str(e)
    return {"record": record, "row": row, "now": now, "curves": curves, "price": price, "breakdown": breakdown,
            "fragment": False,
            "price_error": price_error, "chart": _chart(record, curves, zone, now),
            "duration_s": ((record.stopped_at or now) - record.started_at).total_seconds()}


def _chart(record, curves, zone, now: dt.datetime) -> str:
    power = "Power (from energy)" if curves.power_derived else "Power"
    return charts.line_chart(
        [charts.Series(power, "kW", curves.power_kw, axis="left", css_class="power", color=POWER_COLOR),
         charts.Series("Energy", "kWh", curves.energy_kwh, axis="right", css_class="energy", color=ENERGY_COLOR,
                       area=True)],
        zone, title=f"Power and energy of session {record.id}", chart_id=f"session-{record.id}-chart",
        css_class="session-chart", x_range=(record.started_at, record.stopped_at or now),
        empty_text="no meter values yet", width=960, height=320, font_size=14)  # sessions.css sets 14px text


@routes.get(r"/sessions/{transaction_id:\d+}/live")
async def session_live(request: web.Request) -> web.Response:
    record, row = await _session(request)
    return await render(request, "_session_live.html", {**await _live(request, record, row), "fragment": True})


@routes.get(r"/sessions/{transaction_id:\d+}/transparency.xml")
async def session_transparency(request: web.Request) -> web.Response:
    """The signed meter values for the S.A.F.E. transparency software, as the API serves them."""
    record, _ = await _session(request)
    readings = await request.app[CORE].db.read(signed_readings, record.id)
    if not readings:
        raise web.HTTPNotFound(text=f"Session {record.id} has no signed meter values.")
    try:
        xml = transparency_xml(readings, record.id)
    except ValueError as e:
        raise web.HTTPBadRequest(text=f"The signed meter values of session {record.id} cannot be written "
                                      f"as XML: {e}") from None
    return web.Response(text=xml, content_type="application/xml",
                        headers={"Content-Disposition": f'attachment; filename="session-{record.id}.xml"'})


# -- what operators do -------------------------------------------------------------------------------

@routes.post(r"/sessions/{transaction_id:\d+}/stop")
async def stop_session(request: web.Request) -> web.Response:
    record, _ = await _session(request)
    identity, tx, url = record.charger_identity, record.id, f"/sessions/{record.id}"
    request[AUDIT_ACTION] = f"remote stop of session {tx} on {identity}"
    form = await read_form(request)
    if not record.active:
        raise redirect(url, f"Session {tx} has already ended; nothing was sent to {identity}.", kind="warning")
    try:
        reason = text_field(form, "reason", "Reason", max_length=200)
    except FormError as e:
        return await render(request, "sessions_detail.html",
                            dict(await _detail(request), errors={e.field: str(e)}, form=form), status=400)
    staff = request[STAFF]
    result = await request.app[CORE].commands.send(identity, "remote_stop", {"transaction_id": tx},
                                                   actor=f"web:{staff.account.name}", reason=reason)
    if result.ok:
        raise redirect(url, f"{identity} accepted the remote stop of session {tx}; the session ends when the "
                            "charger reports it stopped.")
    detail = f" ({result.detail})" if result.detail else ""
    raise redirect(url, f"{identity} did not stop session {tx}: {result.status}{detail}.", kind="error")


@routes.post(r"/sessions/{transaction_id:\d+}/charge-first")
async def charge_first(request: web.Request) -> web.Response:
    record, _ = await _session(request)
    form = await read_form(request)
    on = choice_field(form, "on", "Charge first", ("true", "false")) == "true"
    request[AUDIT_ACTION] = f"session {record.id} {'charges first' if on else 'charges in turn'}"
    await request.app[CORE].circuits.set_charge_first(record.id, on)
    raise redirect(f"/sessions/{record.id}", f"Session {record.id} now charges first, before every priority."
                   if on else f"Session {record.id} now charges in turn, by its priority.")
