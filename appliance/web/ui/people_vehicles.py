"""Vehicles (a taxi's fleet number or plate): the list, adding one, and a vehicle's page with the
cards that stay with it, its recent sessions and changes."""

from __future__ import annotations

from aiohttp import web

from appliance.core.circuits import PlanError
from appliance.core.users import UserGroupError
from appliance.web.keys import CORE
from appliance.web.ui.people_forms import (
    company_choice,
    company_names,
    create_tag,
    did,
    errors_of,
    link,
    not_found,
    page,
    priority_field,
    readers_of,
    routes,
    users_of,
)
from appliance.web.ui.render import FormError, redirect, text_field


@routes.get("/vehicles")
async def vehicles_page(request: web.Request, errors: dict | None = None, form=None, status: int = 200) -> web.Response:
    q, company = request.query.get("q", "").strip(), request.query.get("company", "").strip()
    vehicles = await users_of(request).vehicle_overviews(q, company or None)
    return await page(request, "people_vehicles.html", {
        "vehicles": vehicles, "q": q, "company": company, "companies": await company_names(request),
        "errors": errors or {}, "form": form or {"company": company}}, status=status)


@routes.post("/vehicles")
async def add_vehicle(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        name = text_field(form, "name", "Fleet number or plate", max_length=100)
        company = company_choice(form, await company_names(request))
        did(request, f"added vehicle {name}" + (f" to {company}" if company else ""))
        await users_of(request).add_vehicle(name, company)
    except (FormError, UserGroupError) as e:
        did(request, f"could not add vehicle: {e}")
        return await vehicles_page(request, errors_of(e, "name"), form, status=400)
    raise redirect(link("vehicles", name), f"Vehicle {name} added. Give it a card below.")


@routes.get("/vehicles/{name}")
async def vehicle_page(request: web.Request, errors: dict | None = None, form=None, status: int = 200,
                       tag_errors: dict | None = None, tag_form=None) -> web.Response:
    users, name = users_of(request), request.match_info["name"]
    vehicle = await users.vehicle_overview(name)
    if vehicle is None:
        raise not_found(f"vehicle {name!r}")
    return await page(request, "people_vehicle.html", {
        "vehicle": vehicle, "tags": await users.find_tags(vehicle=name),
        "sessions": await users.recent_sessions(vehicle=name), "companies": await company_names(request),
        "readers": readers_of(request), "errors": errors or {}, "form": form or {},
        "tag_errors": tag_errors or {}, "tag_form": tag_form or {}}, status=status)


@routes.post("/vehicles/{name}")
async def edit_vehicle(request: web.Request) -> web.Response:
    core, name, form = request.app[CORE], request.match_info["name"], await request.post()
    vehicle = await core.users.vehicle_overview(name)
    if vehicle is None:
        raise not_found(f"vehicle {name!r}")
    try:
        new_name = text_field(form, "name", "Fleet number or plate", max_length=100)
        company = company_choice(form, await company_names(request))
        priority = priority_field(form)
        did(request, f"changed vehicle {name}")
        if new_name != name or company != vehicle.company:
            await core.users.edit_vehicle(name, new_name, company, move=company != vehicle.company)
        if priority != vehicle.priority:
            await core.circuits.set_priority("vehicle", new_name, priority)
    except (FormError, UserGroupError, PlanError) as e:
        did(request, f"could not change vehicle {name}: {e}")
        return await vehicle_page(request, errors_of(e, "priority" if isinstance(e, PlanError) else "name"), form,
                                  status=400)
    did(request, f"changed vehicle {name}" + (f", renamed to {new_name}" if new_name != name else "")
        + (f", moved to {company or 'no company'}" if company != vehicle.company else ""))
    raise redirect(link("vehicles", new_name), f"Vehicle {new_name} saved.")


@routes.post("/vehicles/{name}/tags")
async def add_vehicle_tag(request: web.Request) -> web.Response:
    name, form = request.match_info["name"], await request.post()
    if await users_of(request).vehicle(name) is None:
        raise not_found(f"vehicle {name!r}")
    try:
        tag = await create_tag(request, form, ("vehicle", name))
    except FormError as e:
        return await vehicle_page(request, status=400, tag_errors=errors_of(e, "id_tag"), tag_form=form)
    raise redirect(link("vehicles", name), f"Tag {tag.id_tag} added for vehicle {name}.")
