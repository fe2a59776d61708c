"""Drivers: the list with search and a company filter, adding one, and a driver's page: their tags
(a new one typed or tapped on the box's reader), recent sessions, changes, and blocking each card."""

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


@routes.get("/drivers")
async def drivers_page(request: web.Request, errors: dict | None = None, form=None, status: int = 200) -> web.Response:
    q, company = request.query.get("q", "").strip(), request.query.get("company", "").strip()
    drivers = await users_of(request).driver_overviews(q, company or None)
    return await page(request, "people_drivers.html", {
        "drivers": drivers, "q": q, "company": company, "companies": await company_names(request),
        "errors": errors or {}, "form": form or {"company": company}}, status=status)


@routes.post("/drivers")
async def add_driver(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        name = text_field(form, "name", "Name", max_length=100)
        company = company_choice(form, await company_names(request))
        email = text_field(form, "email", "Email", required=False)
        did(request, f"added driver {name}" + (f" to {company}" if company else ""))
        await users_of(request).add_driver(name, company, email)
    except (FormError, UserGroupError) as e:
        did(request, f"could not add driver: {e}")
        return await drivers_page(request, errors_of(e, "email" if "email" in str(e) else "name"), form, status=400)
    raise redirect(link("drivers", name), f"Driver {name} added{f' to {company}' if company else ''}. "
                                          "Give them a card below.")


@routes.get("/drivers/{name}")
async def driver_page(request: web.Request, errors: dict | None = None, form=None, status: int = 200,
                      tag_errors: dict | None = None, tag_form=None) -> web.Response:
    users, name = users_of(request), request.match_info["name"]
    driver = await users.driver_overview(name)
    if driver is None:
        raise not_found(f"driver {name!r}")
    return await page(request, "people_driver.html", {
        "driver": driver, "tags": await users.tags(name), "sessions": await users.recent_sessions(driver=name),
        "companies": await company_names(request), "readers": readers_of(request),
        "errors": errors or {}, "form": form or {}, "tag_errors": tag_errors or {}, "tag_form": tag_form or {}},
        status=status)


@routes.post("/drivers/{name}")
async def edit_driver(request: web.Request) -> web.Response:
    core, name, form = request.app[CORE], request.match_info["name"], await request.post()
    driver = await core.users.driver_overview(name)
    if driver is None:
        raise not_found(f"driver {name!r}")
    try:
        new_name = text_field(form, "name", "Name", max_length=100)
        company = company_choice(form, await company_names(request))
        email = text_field(form, "email", "Email", required=False)
        priority = priority_field(form)
        did(request, f"changed driver {name}")
        if new_name != name or email != driver.email:
            await core.users.edit_driver(name, new_name, email)
        if company != driver.company:
            await core.users.move_driver(new_name, company)
        if priority != driver.priority:
            await core.circuits.set_priority("user", new_name, priority)
    except (FormError, UserGroupError, PlanError) as e:
        did(request, f"could not change driver {name}: {e}")
        field = "priority" if isinstance(e, PlanError) else "email" if "email" in str(e) else "name"
        return await driver_page(request, errors_of(e, field), form, status=400)
    moved = f", moved to {company or 'no company'}" if company != driver.company else ""
    did(request, f"changed driver {name}" + (f", renamed to {new_name}" if new_name != name else "") + moved)
    raise redirect(link("drivers", new_name), f"Driver {new_name} saved{moved}.")


@routes.post("/drivers/{name}/tags")
async def add_driver_tag(request: web.Request) -> web.Response:
    name, form = request.match_info["name"], await request.post()
    if await users_of(request).driver(name) is None:
        raise not_found(f"driver {name!r}")
    try:
        tag = await create_tag(request, form, ("driver", name))
    except FormError as e:
        return await driver_page(request, status=400, tag_errors=errors_of(e, "id_tag"), tag_form=form)
    raise redirect(link("drivers", name), f"Tag {tag.id_tag} added for {name}.")


@routes.post("/drivers/{name}/{action:block|unblock}")
async def block_driver(request: web.Request) -> web.Response:
    name, action = request.match_info["name"], request.match_info["action"]
    did(request, f"{action}ed driver {name} (each of their tags)")
    changed = await users_of(request).set_driver_tags_status(name, "blocked" if action == "block" else "active")
    if not changed:
        raise redirect(link("drivers", name), f"{name} has no {'active' if action == 'block' else 'blocked'} tags: "
                                              "nothing changed.", kind="warning")
    did(request, f"{action}ed driver {name}: tags {', '.join(changed)}")
    raise redirect(link("drivers", name), f"{action.capitalize()}ed {len(changed)} of {name}'s tags: "
                                          f"{', '.join(changed)}.")
