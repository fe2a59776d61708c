"""The chargers pages: the list with status at a glance and its filters, adding a charger (and what
to type into it), one charger's page with its tabs, and every change made there: registration,
commands, local list sync, load flags, description, group, access, password.

The tabs' contents are read in chargers_tabs, the command forms in chargers_commands.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import web

from appliance.core.charger_views import STATUS_FILTERS, ChargerView, charger_at_a_glance, chargers_at_a_glance, matches
from appliance.core.chargers import PROTOCOLS, ChargerError, ChargerNotFound, validate_endpoint, validate_identity
from appliance.core.commands import CommandError
from appliance.web.keys import AUDIT_ACTION, CORE, DLM, STAFF
from appliance.web.ui import chargers_tabs as tabs
from appliance.web.ui.chargers_commands import BY_COMMAND, outcome, read_command
from appliance.web.ui.chargers_setup import password_choice, setup_sheet
from appliance.web.ui.render import FormError, choice_field, redirect, render, text_field, zone_of

routes = web.RouteTableDef()

RESERVED = ("new",)  # /chargers/new is the add page, so a charger cannot be called that here
DESCRIPTION_MAX = 200


def _staff_name(request: web.Request) -> str:
    return request[STAFF].account.name


def _charger_url(identity: str, tab: str = "") -> str:
    return f"/chargers/{urllib.parse.quote(identity, safe='')}" + (f"?tab={tab}" if tab else "")


async def _view_or_404(request: web.Request, identity: str) -> ChargerView:
    try:
        return await charger_at_a_glance(request.app[CORE], identity)
    except ChargerNotFound:
        raise web.HTTPNotFound(text=f"There is no charger {identity} here. It may have been removed, or the "
                                    "address is mistyped.") from None


# -- the list -------------------------------------------------------------------------------------

def _filters(request: web.Request) -> tuple[dict[str, str], str]:
    """The list's filters from the query, and a message for one that makes no sense (then ignored)."""
    q = request.query
    filters = {"status": q.get("status", ""), "protocol": q.get("protocol", ""), "group": q.get("group", ""),
               "q": q.get("q", "").strip()[:100]}
    problem = ""
    if filters["status"] and filters["status"] not in STATUS_FILTERS:
        problem = f"There is no status filter {filters['status']!r}; showing every status."
        filters["status"] = ""
    if filters["protocol"] and filters["protocol"] not in PROTOCOLS:
        problem = f"There is no protocol {filters['protocol']!r}; showing every protocol."
        filters["protocol"] = ""
    return filters, problem


@routes.get("/chargers")
async def chargers_list(request: web.Request) -> web.Response:
    core = request.app[CORE]
    filters, problem = _filters(request)
    views = await chargers_at_a_glance(core)
    shown = [v for v in views if matches(v, filters["status"], filters["protocol"], filters["group"], filters["q"])]
    kept = {k: v for k, v in filters.items() if v}
    context = {"views": shown, "total": len(views), "filters": filters, "filtered": bool(kept),
               "problem": problem, "status_filters": STATUS_FILTERS, "protocols": PROTOCOLS,
               "groups": [g.name for g in await core.chargers.groups()],
               "live_src": "/chargers?" + urllib.parse.urlencode({**kept, "part": "table"}),
               "back": "/chargers" + ("?" + urllib.parse.urlencode(kept) if kept else "")}
    if request.query.get("part") == "table":
        return await render(request, "_chargers_table.html", context)
    return await render(request, "chargers_list.html", context)


# -- adding a charger ----------------------------------------------------------------------------------

@routes.get("/chargers/new")
async def new_charger_page(request: web.Request) -> web.Response:
    return await _new_form(request, {"generate": "yes", "protocol": "ocpp1.6-json"}, {})


async def _new_form(request: web.Request, form: Any, errors: dict[str, str], status: int = 200) -> web.Response:
    return await render(request, "chargers_new.html", {"form": form, "errors": errors, "protocols": PROTOCOLS},
                        status=status)


@routes.post("/chargers/new")
async def add_charger(request: web.Request) -> web.Response:
    form = await request.post()
    identity = str(form.get("identity", "")).strip()
    request[AUDIT_ACTION] = f"added charger {identity}"
    try:
        identity, protocol, description, password = _read_new(form)
        record = await request.app[CORE].chargers.add(identity, protocol, password, description)
    except FormError as e:
        return await _new_form(request, form, {e.field: str(e)}, status=400)
    except ChargerError as e:
        field = "identity" if "already exists" in str(e) else ""
        return await _new_form(request, form, {field: f"{str(e)[:1].upper()}{str(e)[1:]}."}, status=400)
    sheet = await setup_sheet(request, record, password)
    return await render(request, "chargers_setup.html", {"sheet": sheet, "added": True})


def _read_new(form) -> tuple[str, str, str, str | None]:
    identity = text_field(form, "identity", "Charger id", max_length=48)
    try:
        validate_identity(identity)
    except ChargerError as e:
        raise FormError(f"Charger id: {str(e)[:1].lower()}{str(e)[1:]}", "identity") from None
    if identity.lower() in RESERVED:
        raise FormError(f"Charger id: {identity!r} is the name of the add-a-charger page; choose another", "identity")
    protocol = choice_field(form, "protocol", "Protocol", PROTOCOLS)
    description = text_field(form, "description", "Description", required=False, max_length=DESCRIPTION_MAX)
    return identity, protocol, description, password_choice(form)


# -- one charger -------------------------------------------------------------------------------------

@routes.get("/chargers/{identity}")
async def charger_page(request: web.Request) -> web.Response:
    view = await _view_or_404(request, request.match_info["identity"])
    if request.query.get("part") == "status":
        return await render(request, "_chargers_status.html", await tabs.status_card(request, view))
    tab = request.query.get("tab", "overview")
    return await _page(request, view, tab if tab in tabs.BUILDERS else "overview")


async def _page(request: web.Request, view: ChargerView, tab: str, extra: dict[str, Any] | None = None,
                status: int = 200) -> web.Response:
    context = await tabs.BUILDERS[tab](request, view)
    context.update({"view": view, "tab": tab, "tabs": tabs.TABS, "dlm_on": DLM in request.app,
                    "open_alarms": await request.app[CORE].alarms.open(view.identity),
                    "url": _charger_url(view.identity), **(extra or {})})
    return await render(request, "chargers_detail.html", context, status=status)


@routes.post("/chargers/{identity}/registration")
async def decide_registration(request: web.Request) -> web.Response:
    identity = request.match_info["identity"]
    form = await request.post()
    decision = choice_field(form, "registration", "Registration", ("accepted", "rejected"))
    request[AUDIT_ACTION] = f"{'accepted' if decision == 'accepted' else 'rejected'} charger {identity}"
    await _view_or_404(request, identity)
    await request.app[CORE].chargers.set_registration(identity, decision)
    back = str(form.get("next", ""))
    back = back if back.startswith("/chargers") and not back.startswith("//") else _charger_url(identity)
    if decision == "accepted":
        wait = request.app[CORE].settings.pending_retry_interval_s
        raise redirect(back, f"{identity} is accepted. A waiting charger learns it at its next boot "
                             f"notification (it retries every {wait} s).")
    raise redirect(back, f"{identity} is rejected: its boot notifications are refused.")


@routes.post("/chargers/{identity}/commands/{command}")
async def send_command(request: web.Request) -> web.Response:
    identity, command = request.match_info["identity"], request.match_info["command"]
    spec = BY_COMMAND.get(command)
    if spec is None:
        raise web.HTTPNotFound(text=f"There is no command {command!r}.")
    request[AUDIT_ACTION] = f"sent {command} to charger {identity}"
    view = await _view_or_404(request, identity)
    form = await request.post()
    core = request.app[CORE]
    try:
        arguments, reason = read_command(spec, form, zone_of(request))
        result = await core.commands.send(identity, command, arguments, actor=f"web:{_staff_name(request)}",
                                          reason=reason)
    except FormError as e:
        return await _command_error(request, view, command, form, {e.field: str(e)})
    except CommandError as e:
        return await _command_error(request, view, command, form, {"": f"Not sent: {e}"})
    request[AUDIT_ACTION] = f"sent {command} to charger {identity}: {result.status}"
    view = await charger_at_a_glance(core, identity)  # the command may have changed what the page shows
    return await _page(request, view, "actions", {"outcome": outcome(identity, spec, result), "open": command})


async def _command_error(request: web.Request, view: ChargerView, command: str, form,
                         errors: dict[str, str]) -> web.Response:
    return await _page(request, view, "actions", {"open": command, "form": form, "errors": errors}, status=400)


@routes.post("/chargers/{identity}/local-list/sync")
async def sync_local_list(request: web.Request) -> web.Response:
    identity = request.match_info["identity"]
    form = await request.post()
    full = form.get("full") == "yes"
    request[AUDIT_ACTION] = f"synced the local list of charger {identity}{' in full' if full else ''}"
    await _view_or_404(request, identity)
    reason = str(form.get("reason", "")).strip()[:200] or f"asked for by {_staff_name(request)} in the web UI"
    result = await request.app[CORE].local_lists.sync(identity, full=full, reason=reason)
    back = _charger_url(identity, "local-list")
    if not result.ok:
        raise redirect(back, f"The local list of {identity} is not in step: {result.error}", kind="error")
    left = f"; {len(result.left_out)} tags did not fit ({result.rule})" if result.left_out else ""
    raise redirect(back, f"The local list of {identity} is in step: version {result.version}, {result.entries} "
                         f"tags, {result.updates_sent} update(s) sent{left}.")


@routes.post("/chargers/{identity}/load-flag/clear")
async def clear_load_flag(request: web.Request) -> web.Response:
    identity = request.match_info["identity"]
    form = await request.post()
    request[AUDIT_ACTION] = f"trusted the charging limits of charger {identity} again"
    await _view_or_404(request, identity)
    back = _charger_url(identity, "load")
    if DLM not in request.app:
        raise redirect(back, "Load management is off (setting load_management): there is no flag to clear.",
                       kind="error")
    raw = str(form.get("evse", "")).strip()
    evse = int(raw) if raw.isdigit() else None
    cleared = await request.app[DLM].clear_flag(identity, evse)
    if not cleared:
        raise redirect(back, f"{identity} had no flag to clear.", kind="warning")
    raise redirect(back, f"{identity}'s limits are trusted again ({cleared} EVSE(s)); load management sends "
                         "them its limits as before.")


# -- editing -------------------------------------------------------------------------------------------

async def _edit_error(request: web.Request, identity: str, form, error: FormError | ChargerError) -> web.Response:
    view = await _view_or_404(request, identity)
    field = error.field if isinstance(error, FormError) else ""
    text = str(error)
    return await _page(request, view, "edit", {"form": form, "errors": {field: text[:1].upper() + text[1:]}},
                       status=400)


@routes.post("/chargers/{identity}/description")
async def change_description(request: web.Request) -> web.Response:
    identity = request.match_info["identity"]
    form = await request.post()
    request[AUDIT_ACTION] = f"changed the description of charger {identity}"
    await _view_or_404(request, identity)
    try:
        description = text_field(form, "description", "Description", required=False, max_length=DESCRIPTION_MAX)
    except FormError as e:
        return await _edit_error(request, identity, form, e)
    await request.app[CORE].chargers.update(identity, "description", description=description)
    raise redirect(_charger_url(identity, "edit"), f"The description of {identity} is saved.")


@routes.post("/chargers/{identity}/endpoint")
async def change_endpoint(request: web.Request) -> web.Response:
    identity = request.match_info["identity"]
    form = await request.post()
    request[AUDIT_ACTION] = f"changed the command address of charger {identity}"
    await _view_or_404(request, identity)
    url = str(form.get("endpoint_url", "")).strip()
    try:
        if url:
            url = validate_endpoint(url)
    except ChargerError as e:
        return await _edit_error(request, identity, form, FormError(f"Command address: {e}", "endpoint_url"))
    await request.app[CORE].chargers.update(identity, "endpoint", endpoint_url=url)
    raise redirect(_charger_url(identity, "edit"), f"{identity} is commanded at {url}." if url else
                   f"{identity} has no configured command address: it is commanded where it says it is.")


@routes.post("/chargers/{identity}/group")
async def change_group(request: web.Request) -> web.Response:
    identity = request.match_info["identity"]
    form = await request.post()
    core = request.app[CORE]
    await _view_or_404(request, identity)
    new_group = str(form.get("new_group", "")).strip()
    group = new_group or str(form.get("group", "")).strip()
    request[AUDIT_ACTION] = f"put charger {identity} in group {group}" if group else f"took {identity} out of its group"
    try:
        if new_group:
            await core.chargers.add_group(new_group)
        await core.chargers.set_group(identity, group or None)
    except ChargerError as e:
        return await _edit_error(request, identity, form, FormError(f"Group: {e}", "new_group" if new_group else
                                                                    "group"))
    raise redirect(_charger_url(identity, "edit"), f"{identity} is in group {group}." if group else
                   f"{identity} is in no group.")


@routes.post("/chargers/{identity}/access")
async def change_access(request: web.Request) -> web.Response:
    identity = request.match_info["identity"]
    form = await request.post()
    companies = [str(c) for c in form.getall("company", []) if str(c).strip()]
    request[AUDIT_ACTION] = (f"opened charger {identity} only to {', '.join(companies)}" if companies
                             else f"opened charger {identity} to the whole depot")
    await _view_or_404(request, identity)
    try:
        names = await request.app[CORE].chargers.set_access(identity, companies)
    except ChargerError as e:
        return await _edit_error(request, identity, form, FormError(f"Access: {e}", "company"))
    raise redirect(_charger_url(identity, "edit"), f"{identity} is open to {', '.join(names)} only; its local list "
                   "follows." if names else f"{identity} is open to the whole depot; its local list follows.")


@routes.post("/chargers/{identity}/password")
async def change_password(request: web.Request) -> web.Response:
    identity = request.match_info["identity"]
    form = await request.post()
    request[AUDIT_ACTION] = f"changed the password of charger {identity}"
    await _view_or_404(request, identity)
    try:
        password = password_choice(form)
    except FormError as e:
        return await _edit_error(request, identity, form, e)
    if password is None:
        request[AUDIT_ACTION] = f"removed the password of charger {identity}"
    record = await request.app[CORE].chargers.update(identity, "password", password=password)
    sheet = await setup_sheet(request, record, password)
    return await render(request, "chargers_setup.html", {"sheet": sheet, "added": False})
