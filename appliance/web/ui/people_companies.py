"""Companies: the list with search, adding one, and a company's page (its drivers, vehicles, pool
cards and the chargers its cards are accepted at), where it is renamed and given a priority."""

from __future__ import annotations

from aiohttp import web

from appliance.core.circuits import PlanError
from appliance.core.users import UserGroupError
from appliance.web.keys import CORE
from appliance.web.ui.people_forms import (
    did,
    errors_of,
    link,
    not_found,
    page,
    priority_field,
    routes,
    users_of,
)
from appliance.web.ui.render import FormError, redirect, text_field


@routes.get("/companies")
async def companies_page(request: web.Request, errors: dict | None = None, form=None, status: int = 200) -> web.Response:
    q = request.query.get("q", "").strip()
    companies = await users_of(request).company_overviews(q)
    return await page(request, "people_companies.html", {"companies": companies, "q": q, "errors": errors or {},
                                                         "form": form or {}}, status=status)


@routes.post("/companies")
async def add_company(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        name = text_field(form, "name", "Name", max_length=100)
        did(request, f"added company {name}")
        await users_of(request).add_company(name)
    except (FormError, UserGroupError) as e:
        did(request, f"could not add company: {e}")
        return await companies_page(request, errors_of(e, "name"), form, status=400)
    raise redirect(link("companies", name), f"Company {name} added. Add its drivers, vehicles or pool cards here.")


@routes.get("/companies/{name}")
async def company_page(request: web.Request, errors: dict | None = None, form=None, status: int = 200) -> web.Response:
    users, name = users_of(request), request.match_info["name"]
    company = await users.company_overview(name)
    if company is None:
        raise not_found(f"company {name!r}")
    return await page(request, "people_company.html", {
        "company": company, "drivers": await users.driver_overviews(company=name),
        "vehicles": await users.vehicle_overviews(company=name), "pool": await users.find_tags(pool_of=name),
        "chargers": await users.chargers_for(name), "errors": errors or {}, "form": form or {}}, status=status)


@routes.post("/companies/{name}")
async def edit_company(request: web.Request) -> web.Response:
    users, name, form = users_of(request), request.match_info["name"], await request.post()
    company = await users.company_overview(name)
    if company is None:
        raise not_found(f"company {name!r}")
    try:
        new_name = text_field(form, "name", "Name", max_length=100)
        priority = priority_field(form)
        did(request, f"changed company {name}")
        if new_name != name:
            await users.rename_company(name, new_name)
        if priority != company.priority:
            await request.app[CORE].circuits.set_priority("company", new_name, priority)
    except (FormError, UserGroupError, PlanError) as e:
        did(request, f"could not change company {name}: {e}")
        return await company_page(request, errors_of(e, "priority" if isinstance(e, PlanError) else "name"), form,
                                  status=400)
    did(request, f"changed company {name}" + (f", renamed to {new_name}" if new_name != name else "")
        + f", priority {priority}")
    raise redirect(link("companies", new_name), f"Company {new_name} saved.")
