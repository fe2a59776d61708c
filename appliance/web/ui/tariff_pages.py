"""The tariff pages: /tariffs (every tariff in words, the tariff groups that price the chargers, forms
to add them) and /tariffs/{name} (one tariff, its JSON, and a form to change it); /statements gives
a month's statement as CSV or PDF.

Tariffs are entered through a simple form for the common case (tariff_views.py turns it into the
tariff data core.billing takes) or as the same JSON the CLI and the API take.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from typing import Any

from aiohttp import web

from appliance.core.billing import BillingError
from appliance.core.tariff_assignments import priced
from appliance.web.keys import AUDIT_ACTION, CORE
from appliance.web.ui import tariff_views as views
from appliance.web.ui.render import (
    FormError,
    choice_field,
    number_field,
    redirect,
    render,
    text_field,
)

routes = web.RouteTableDef()

MAX_DEFINITION_CHARS = 20000
# Words in a BillingError that tell which field it is about (first match wins).
SIMPLE_FIELDS = (("already exists", "name"), ("name must", "name"), ("currency", "currency"),
                 ("vat_rate", "vat_percent"), ("flat_price", "flat_fee"), ("connection_fee", "flat_fee"),
                 ("price_per_kwh", "price_per_kwh"), ("price_per_minute", "price_per_minute"),
                 ("max_duration", "max_minutes"), ("max_energy", "max_kwh"), ("band", "night_from"))
JSON_FIELDS = (("already exists", "json_name"), ("name must", "json_name"), ("", "definition"))
GROUP_FIELDS = (("already exists", "group_name"), ("name must", "group_name"), ("no tariff", "group_base"))
RULE_FIELDS = (("no tariff group", "rule_group"), ("no tariff", "rule_tariff"), ("no company", "rule_name"),
               ("no user", "rule_name"), ("one company or", "rule_name"))
ASSIGN_FIELDS = (("no charger", "assign_charger"), ("no tariff group", "assign_group"))


def tariff_url(name: str) -> str:
    return "/tariffs/" + urllib.parse.quote(name, safe="")


def billing_errors(e: BillingError, table: tuple[tuple[str, str], ...], fallback: str) -> dict[str, str]:
    message = str(e)
    for words, field in table:
        if words in message:
            return {field: message[:1].upper() + message[1:]}
    return {fallback: message[:1].upper() + message[1:]}


# -- reading --------------------------------------------------------------------------------------

async def tariffs_context(request: web.Request) -> dict[str, Any]:
    core = request.app[CORE]
    tariffs = await core.billing.tariffs()
    return {
        "tariffs": [{"record": t, "kind": views.KIND_WORDS.get(t.kind, t.kind), "summary": views.summary(t.definition)}
                    for t in tariffs],
        "tariff_names": [t.name for t in tariffs],
        "groups": await core.billing.groups(),
        "priced": await priced(core.db),
        "charger_ids": [c.identity for c in await core.chargers.list()],
        "company_names": [c.name for c in await core.users.companies()],
        "driver_names": [d.name for d in await core.users.drivers()],
        "default_currency": core.settings.billing_currency,
        "last_month": _last_month(core.settings.zone),
    }


@routes.get("/tariffs")
async def tariffs_page(request: web.Request) -> web.Response:
    return await show_tariffs(request)


async def show_tariffs(request: web.Request, errors: dict[str, str] | None = None,
                       form: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    context = {**await tariffs_context(request), "errors": errors or {}, "form": form or {}}
    return await render(request, "tariffs_list.html", context, status=status)


@routes.get("/tariffs/{name}")
async def tariff_page(request: web.Request) -> web.Response:
    return await show_tariff(request, request.match_info["name"])


async def show_tariff(request: web.Request, name: str, errors: dict[str, str] | None = None,
                      form: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    core = request.app[CORE]
    record = await core.billing.tariff(name)  # NotInBilling: a 404 page
    groups = await core.billing.groups()
    used_by = [g for g in groups if g.base_tariff == name or any(r[1] == name for r in g.rules)]
    simple = views.simple_values(record.definition)
    definition = json.dumps(record.definition, indent=2)
    context = {"record": record, "lines": views.describe(record.definition),
               "kind": views.KIND_WORDS.get(record.kind, record.kind), "definition_json": definition,
               "used_by": used_by, "simple": simple, "errors": errors or {},
               "form": form if form is not None else {**(simple or {}), "definition": definition}}
    return await render(request, "tariffs_detail.html", context, status=status)


# -- tariffs --------------------------------------------------------------------------------------

def tariff_data(form) -> tuple[dict[str, Any], tuple[tuple[str, str], ...], str]:
    """The tariff data from whichever form was sent, with how its errors find their field."""
    if form.get("mode") == "json":
        text = text_field(form, "definition", "Tariff as JSON", max_length=MAX_DEFINITION_CHARS)
        try:
            data = json.loads(text)
        except ValueError as e:
            raise FormError(f"Tariff as JSON: not valid JSON ({e})", "definition") from None
        if not isinstance(data, dict):
            raise FormError("Tariff as JSON: must be an object { … }", "definition")
        data.pop("name", None)  # the name is the form's field (the API's body may carry it)
        return data, JSON_FIELDS, "definition"
    return views.simple_tariff(form), SIMPLE_FIELDS, ""


@routes.post("/tariffs")
async def add_tariff(request: web.Request) -> web.Response:
    form = await request.post()
    name_field = "json_name" if form.get("mode") == "json" else "name"
    name = str(form.get(name_field, "")).strip()
    request[AUDIT_ACTION] = f"added tariff {name[:100]}"
    table, fallback = SIMPLE_FIELDS, ""
    try:
        name = text_field(form, name_field, "Name", max_length=100)
        data, table, fallback = tariff_data(form)
        await request.app[CORE].billing.add_tariff(name, data)
    except FormError as e:
        return await show_tariffs(request, {e.field: str(e)}, dict(form), status=400)
    except BillingError as e:
        return await show_tariffs(request, billing_errors(e, table, fallback), dict(form), status=400)
    raise redirect(tariff_url(name), f"Tariff {name} added. Put it in a tariff group to price chargers with it.")


@routes.post("/tariffs/{name}/edit")
async def edit_tariff(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    form = await request.post()
    request[AUDIT_ACTION] = f"changed tariff {name}"
    table, fallback = SIMPLE_FIELDS, ""
    try:
        data, table, fallback = tariff_data(form)
        await request.app[CORE].billing.edit_tariff(name, data)
    except FormError as e:
        return await show_tariff(request, name, {e.field: str(e)}, dict(form), status=400)
    except BillingError as e:
        return await show_tariff(request, name, billing_errors(e, table, fallback), dict(form), status=400)
    raise redirect(tariff_url(name), f"Tariff {name} changed; sessions that finish from now on are priced with it.")


# -- groups ---------------------------------------------------------------------------------------

@routes.post("/tariffs/groups")
async def add_group(request: web.Request) -> web.Response:
    form = await request.post()
    name, base = str(form.get("group_name", "")).strip(), str(form.get("group_base", ""))
    request[AUDIT_ACTION] = f"added tariff group {name[:100]} (base tariff {base[:100]})"
    try:
        name = text_field(form, "group_name", "Group name", max_length=100)
        base = text_field(form, "group_base", "Base tariff", max_length=100)
        await request.app[CORE].billing.add_group(name, base)
    except FormError as e:
        return await show_tariffs(request, {e.field: str(e)}, dict(form), status=400)
    except BillingError as e:
        return await show_tariffs(request, billing_errors(e, GROUP_FIELDS, "group_"), dict(form), status=400)
    raise redirect("/tariffs#groups", f"Tariff group {name} added with base tariff {base}.")


@routes.post("/tariffs/group-rule")
async def add_rule(request: web.Request) -> web.Response:
    form = await request.post()
    group, tariff = str(form.get("rule_group", "")), str(form.get("rule_tariff", ""))
    who, whom = str(form.get("rule_for", "")), str(form.get("rule_name", "")).strip()
    request[AUDIT_ACTION] = f"tariff group {group[:100]}: tariff {tariff[:100]} for {who} {whom[:100]}"
    try:
        group = text_field(form, "rule_group", "Group", max_length=100)
        tariff = text_field(form, "rule_tariff", "Tariff", max_length=100)
        who = choice_field(form, "rule_for", "For", ("company", "user"))
        whom = text_field(form, "rule_name", "Company or driver", max_length=100)
        await request.app[CORE].billing.add_rule(group, tariff, whom if who == "company" else None,
                                                 whom if who == "user" else None)
    except FormError as e:
        return await show_tariffs(request, {e.field: str(e)}, dict(form), status=400)
    except BillingError as e:
        return await show_tariffs(request, billing_errors(e, RULE_FIELDS, "rule_"), dict(form), status=400)
    raise redirect("/tariffs#groups", f"Tariff group {group}: {'company' if who == 'company' else 'driver'} "
                                      f"{whom} now pays tariff {tariff}.")


@routes.post("/tariffs/group-assign")
async def assign_group(request: web.Request) -> web.Response:
    form = await request.post()
    group, identity = str(form.get("assign_group", "")), str(form.get("assign_charger", ""))
    request[AUDIT_ACTION] = f"priced charger {identity[:100]} with tariff group {group[:100]}"
    try:
        group = text_field(form, "assign_group", "Group", max_length=100)
        identity = text_field(form, "assign_charger", "Charger", max_length=100)
        evse = number_field(form, "assign_evse", "EVSE", required=False, minimum=0, maximum=1000, whole=True) or 0
        await request.app[CORE].billing.assign(identity, group, evse)
    except FormError as e:
        return await show_tariffs(request, {e.field: str(e)}, dict(form), status=400)
    except BillingError as e:
        return await show_tariffs(request, billing_errors(e, ASSIGN_FIELDS, "assign_"), dict(form), status=400)
    where = f"{identity} EVSE {evse}" if evse else f"every EVSE of {identity} (without its own group)"
    raise redirect("/tariffs#groups", f"Sessions on {where} are now priced by tariff group {group}.")


# -- statements -----------------------------------------------------------------------------------

@routes.get("/statements")
async def statement(request: web.Request) -> web.StreamResponse:
    """Without ?month= the form; with it, the statement as a download (CSV or PDF)."""
    query = request.query
    if "month" not in query:
        return await show_statements(request)
    core = request.app[CORE]
    company, user = query.get("company", "").strip() or None, query.get("user", "").strip() or None
    kind = query.get("format", "csv")
    if kind not in ("csv", "pdf"):
        return await show_statements(request, {"format": "Format: choose CSV or PDF"}, status=400)
    if company and user:
        return await show_statements(request, {"": "Choose a company or a driver, not both (or neither: the "
                                                   "whole depot)."}, status=400)
    month = query.get("month", "").strip()
    try:
        _, content = await core.billing.statement(month, company, user, kind)
    except BillingError as e:
        field = "month" if "month" in str(e) else ""
        return await show_statements(request, {field: str(e)[:1].upper() + str(e)[1:]}, status=400)
    who = f"-{company or user}" if company or user else ""
    name = _file_name(f"statement-{month}{who}.{kind}")
    headers = {"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''"
                                      f"{urllib.parse.quote(f'statement-{month}{who}.{kind}')}"}
    if kind == "pdf":
        return web.Response(body=content, content_type="application/pdf", headers=headers)
    return web.Response(text=content, content_type="text/csv", charset="utf-8", headers=headers)


async def show_statements(request: web.Request, errors: dict[str, str] | None = None,
                          status: int = 200) -> web.Response:
    core = request.app[CORE]
    context = {"company_names": [c.name for c in await core.users.companies()],
               "driver_names": [d.name for d in await core.users.drivers()],
               "last_month": _last_month(core.settings.zone), "errors": errors or {},
               "form": dict(request.query)}
    return await render(request, "tariffs_statements.html", context, status=status)


def _last_month(zone) -> str:
    first = dt.datetime.now(zone).replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def _file_name(name: str) -> str:
    """The plain-ASCII fallback name of a download (the header's filename*= carries the real one)."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in name)
