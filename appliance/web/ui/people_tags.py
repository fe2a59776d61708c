"""Tags (RFID cards and other id tokens): the list with search and state filter, adding one by typing
or by tapping it on the box's reader (/tags/enrol), enrolling the unknown tags chargers have seen
(/tags/unknown), and a tag's page: where it was last used, changes, block and unblock.

The fixed paths come before /tags/{id_tag}: routes match in the order they are added (tag ids are
upper case, so none is ever 'enrol' or 'unknown')."""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from appliance.core.users import TAG_STATES, TOKEN_TYPES, UserGroupError
from appliance.web.keys import CORE
from appliance.web.ui.people_forms import (
    back_target,
    create_tag,
    describe_owner,
    did,
    errors_of,
    expiry_day,
    expiry_field,
    in_words,
    link,
    not_found,
    owner_choices,
    owner_field,
    owner_of,
    owner_value,
    page,
    readers_of,
    routes,
    tag_error_field,
    users_of,
)
from appliance.web.ui.render import (
    FormError,
    choice_field,
    number_field,
    redirect,
    text_field,
    zone_of,
)

LIST_LIMIT = 500  # a depot's cards fit; past that, the search narrows them
UNKNOWN_LIMIT = 100


async def tag_list_context(request: web.Request) -> dict:
    query = request.query
    q, state, company, driver, vehicle = (query.get(k, "").strip() for k in ("q", "state", "company", "driver",
                                                                              "vehicle"))
    state = state if state in TAG_STATES else ""
    users = users_of(request)
    tags = await users.find_tags(q, state or None, driver or None, vehicle or None, company or None,
                                 limit=LIST_LIMIT)
    return {"tags": tags, "q": q, "state": state, "company": company, "driver": driver, "vehicle": vehicle,
            "companies": [c.name for c in await users.companies()], "states": TAG_STATES, "limit": LIST_LIMIT,
            "query_string": request.query_string}


@routes.get("/tags")
async def tags_page(request: web.Request) -> web.Response:
    context = await tag_list_context(request)
    context["unknown_count"] = len(await request.app[CORE].transactions.unknown_tags(UNKNOWN_LIMIT))
    return await page(request, "people_tags.html", context)


@routes.get("/tags/_rows")
async def tag_rows(request: web.Request) -> web.Response:
    """The list's table alone, fetched again by app.js when a tag or the user group changes."""
    return await page(request, "_people_tag_rows.html", await tag_list_context(request))


# -- adding: typed or tapped ----------------------------------------------------------------------

async def new_tag_page(request: web.Request, enrol: bool, errors: dict | None = None, form=None,
                       status: int = 200) -> web.Response:
    if form is None:
        form = {"owner": request.query.get("owner", ""), "id_tag": request.query.get("id_tag", ""),
                "max_concurrent_tx": "1"}
    return await page(request, "people_tag_new.html", {
        "enrol": enrol, "owners": await owner_choices(request), "readers": readers_of(request) if enrol else [],
        "token_types": TOKEN_TYPES, "errors": errors or {}, "form": form}, status=status)


@routes.get("/tags/new")
async def new_tag(request: web.Request) -> web.Response:
    return await new_tag_page(request, enrol=False)


@routes.post("/tags/new")
async def add_tag(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        tag = await create_tag(request, form)
    except FormError as e:
        return await new_tag_page(request, False, errors_of(e, "id_tag"), form, status=400)
    raise redirect(link("tags", tag.id_tag), f"Tag {tag.id_tag} added for {describe_owner(owner_of(tag))}.")


@routes.get("/tags/enrol")
async def enrol_page(request: web.Request) -> web.Response:
    return await new_tag_page(request, enrol=True)


@routes.post("/tags/enrol")
async def enrol(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        tag = await create_tag(request, form)
    except FormError as e:
        return await new_tag_page(request, True, errors_of(e, "id_tag"), form, status=400)
    # Back to the form with the same owner: a driver's second card, a company's stack of pool cards.
    raise redirect(f"/tags/enrol?owner={urllib.parse.quote(owner_value(tag), safe='')}",
                   f"Card {tag.id_tag} enrolled for {describe_owner(owner_of(tag))}. Tap the next card.")


# -- unknown tags ---------------------------------------------------------------------------------

@routes.get("/tags/unknown")
async def unknown_page(request: web.Request, errors: dict | None = None, failed: str = "", form=None,
                       status: int = 200) -> web.Response:
    return await page(request, "people_unknown.html", {
        "unknown": await request.app[CORE].transactions.unknown_tags(UNKNOWN_LIMIT),
        "owners": await owner_choices(request), "errors": errors or {}, "failed": failed, "form": form or {}},
        status=status)


@routes.post("/tags/unknown")
async def assign_unknown(request: web.Request) -> web.Response:
    """Enrol a tag a charger has seen, for an owner, in one step; it then leaves the unknown list."""
    form = await request.post()
    id_tag = str(form.get("id_tag", "")).strip().upper()
    try:
        tag = await create_tag(request, form)
    except FormError as e:
        errors = {"": f"Tag {id_tag or '(none)'} was not enrolled: {e}", e.field or "owner": str(e)}
        return await unknown_page(request, errors, id_tag, form, status=400)
    raise redirect("/tags/unknown", f"Tag {tag.id_tag} enrolled for {describe_owner(owner_of(tag))}.")


# -- one tag --------------------------------------------------------------------------------------

@routes.get("/tags/{id_tag}")
async def tag_page(request: web.Request, errors: dict | None = None, form=None, status: int = 200) -> web.Response:
    users, id_tag = users_of(request), request.match_info["id_tag"]
    tag = await users.tag(id_tag)
    if tag is None:
        raise not_found(f"tag {id_tag!r}")
    sighting = (await users.sightings([tag.id_tag]))[0]
    form = form if form is not None else {
        "owner": owner_value(tag), "expires": expiry_day(tag.expires_at, zone_of(request)), "note": tag.note,
        "max_concurrent_tx": tag.max_concurrent_tx, "token_type": tag.token_type, "parent_id_tag": tag.parent_id_tag}
    return await page(request, "people_tag.html", {
        "tag": tag, "sighting": sighting, "sessions": await users.recent_sessions(id_tag=tag.id_tag),
        "owners": await owner_choices(request), "token_types": TOKEN_TYPES, "errors": errors or {}, "form": form},
        status=status)


@routes.post("/tags/{id_tag}")
async def edit_tag(request: web.Request) -> web.Response:
    users, form = users_of(request), await request.post()
    tag = await users.tag(request.match_info["id_tag"])
    if tag is None:
        raise not_found(f"tag {request.match_info['id_tag']!r}")
    try:
        owner, changes = tag_changes(form, tag, zone_of(request))
        did(request, f"changed tag {tag.id_tag}")
        await users.edit_tag(tag.id_tag, owner, **changes)
    except (FormError, UserGroupError) as e:
        did(request, f"could not change tag {tag.id_tag}: {e}")
        field = e.field if isinstance(e, FormError) else tag_error_field(str(e))
        return await tag_page(request, {field: in_words(e)}, form, status=400)
    what = ", ".join(([f"owner {describe_owner(owner)}"] if owner else []) + sorted(changes)) or "nothing"
    did(request, f"changed tag {tag.id_tag}: {what}")
    raise redirect(link("tags", tag.id_tag), f"Tag {tag.id_tag} saved." if owner or changes
                   else f"Tag {tag.id_tag}: nothing changed.")


def tag_changes(form, tag, zone) -> tuple[tuple[str, str] | None, dict]:
    """What the edit form changes: the owner (None: the same) and the other fields that differ."""
    owner = owner_field(form)
    changes: dict = {}
    expiry_text = str(form.get("expires", "")).strip()
    if expiry_text != expiry_day(tag.expires_at, zone):  # the day shown unchanged keeps an exact time
        changes["expires_at"] = expiry_field(form, zone)
    note = text_field(form, "note", "Note", required=False)
    limit = number_field(form, "max_concurrent_tx", "Sessions at once", minimum=0, maximum=99, whole=True)
    token_type = choice_field(form, "token_type", "Token type", TOKEN_TYPES)
    parent = text_field(form, "parent_id_tag", "Parent id tag", required=False, max_length=20).upper()
    for field, value, current in (("note", note, tag.note), ("max_concurrent_tx", limit, tag.max_concurrent_tx),
                                  ("token_type", token_type, tag.token_type),
                                  ("parent_id_tag", parent, tag.parent_id_tag)):
        if value != current:
            changes[field] = value
    return (owner if owner != owner_of(tag) else None), changes


@routes.post("/tags/{id_tag}/{action:block|unblock}")
async def block_tag(request: web.Request) -> web.Response:
    id_tag, action, form = request.match_info["id_tag"].upper(), request.match_info["action"], await request.post()
    did(request, f"{action}ed tag {id_tag}")
    tag = await users_of(request).set_tag_status(id_tag, "blocked" if action == "block" else "active")
    message = (f"Tag {tag.id_tag} blocked: chargers refuse it from the next tap." if action == "block"
               else f"Tag {tag.id_tag} unblocked: it may charge again.")
    raise redirect(back_target(form, link("tags", tag.id_tag)), message)
