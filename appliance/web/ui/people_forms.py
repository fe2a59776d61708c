"""What the people pages (companies, drivers, vehicles, tags) share: their route table, reading the
owner, expiry and priority fields, creating a tag from a form, and the helpers their templates use
(links with names quoted, a tag's state, its expiry in words in the depot's zone)."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

from aiohttp import web

from appliance.core.events import utcnow
from appliance.core.users import (
    OWNER_KINDS,
    TOKEN_TYPES,
    UserGroup,
    UserGroupError,
    expiry_from_text,
    tag_state,
)
from appliance.store.users import TagRecord
from appliance.web.keys import AUDIT_ACTION, CORE, READERS
from appliance.web.ui.render import (
    FormError,
    choice_field,
    local_time,
    number_field,
    render,
    text_field,
    zone_of,
)

routes = web.RouteTableDef()

STATE_BADGES = {"active": "active", "blocked": "blocked", "expired": "warning"}
READER_BADGES = {"connected": "online", "unplugged": "fault", "starting": "pending"}
OWNER_WORDS = {"driver": "driver", "vehicle": "vehicle", "company": "company pool of"}


def users_of(request: web.Request) -> UserGroup:
    return request.app[CORE].users


def link(kind: str, name: str) -> str:
    """/drivers/NAME and the like, the name quoted whole (a '/' in it too)."""
    return f"/{kind}/{urllib.parse.quote(str(name), safe='')}"


def did(request: web.Request, words: str) -> None:
    """What the POST did, in words, for its audit entry."""
    request[AUDIT_ACTION] = words[:200]


def in_words(error: Exception) -> str:
    """A core refusal as these pages say it: the core's (and the CLI's) 'user' is a driver here."""
    message = str(error).replace("no user ", "no driver ").replace("user name", "driver name")
    if message.startswith("user '"):
        message = "driver" + message[4:]
    return message[:1].upper() + message[1:]


def errors_of(error: Exception, field: str) -> dict[str, str]:
    """The form's errors: a FormError names its field; a core refusal goes at `field`."""
    return {getattr(error, "field", "") or field: in_words(error)}


async def page(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    """Render a people page with the helpers every one of them uses."""
    zone, now = zone_of(request), utcnow()
    values = {"link": link, "state_of": lambda tag: tag_state(tag, now), "state_badges": STATE_BADGES,
              "expiry_text": lambda tag: expiry_text(tag.expires_at, zone), "owner_of": owner_of,
              "owner_value": owner_value, "reader_badges": READER_BADGES}
    values.update(context)
    return await render(request, template, values, status=status)


def not_found(what: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=f"There is no {what} here; it may have been renamed.")


# -- a tag's owner --------------------------------------------------------------------------------

def owner_of(tag: TagRecord) -> tuple[str, str] | None:
    """(kind, name) of whoever holds the card: its driver, its vehicle, else its company's pool."""
    if tag.driver:
        return "driver", tag.driver
    if tag.vehicle:
        return "vehicle", tag.vehicle
    if tag.company:
        return "company", tag.company
    return None


def owner_value(tag: TagRecord) -> str:
    owner = owner_of(tag)
    return f"{owner[0]}:{owner[1]}" if owner else ""


def describe_owner(owner: tuple[str, str]) -> str:
    return f"{OWNER_WORDS[owner[0]]} {owner[1]}"


async def owner_choices(request: web.Request) -> dict[str, list[str]]:
    """Who may own a tag, for the owner select: drivers, vehicles, companies (their pool)."""
    users = users_of(request)
    return {"driver": [d.name for d in await users.drivers()], "vehicle": [v.name for v in await users.vehicles()],
            "company": [c.name for c in await users.companies()]}


async def company_names(request: web.Request) -> list[str]:
    return [c.name for c in await users_of(request).companies()]


def company_choice(form, names: list[str]) -> str | None:
    company = str(form.get("company", "")).strip()
    if company and company not in names:
        raise FormError(f"Company: there is no company {company!r}", "company")
    return company or None


def owner_field(form, name: str = "owner") -> tuple[str, str]:
    value = str(form.get(name, "")).strip()
    kind, _, who = value.partition(":")
    if kind not in OWNER_KINDS or not who:
        raise FormError("Owner: choose the driver, the vehicle or the company whose card it is", name)
    return kind, who


# -- fields ---------------------------------------------------------------------------------------

def expiry_field(form, zone: dt.tzinfo, name: str = "expires") -> dt.datetime | None:
    text = str(form.get(name, "")).strip()
    if not text:
        return None
    try:
        return expiry_from_text(text, zone)
    except UserGroupError as e:
        raise FormError(f"Valid through: {e}", name) from None


def priority_field(form, name: str = "priority") -> int:
    value = number_field(form, name, "Priority", required=False, minimum=-100, maximum=100, whole=True)
    return int(value or 0)


def expiry_text(expires_at: dt.datetime | None, zone: dt.tzinfo) -> str:
    """A card valid through a whole day (what a date gives) reads as that day, any other expiry as a time."""
    if expires_at is None:
        return "no expiry"
    local = expires_at.astimezone(zone)
    if local.time() == dt.time():
        return f"through {(local - dt.timedelta(days=1)).strftime('%Y-%m-%d')}"
    return f"until {local_time(expires_at, zone)}"


def expiry_day(expires_at: dt.datetime | None, zone: dt.tzinfo) -> str:
    """The date the form shows for an expiry: its last valid day in the depot's zone."""
    if expires_at is None:
        return ""
    local = expires_at.astimezone(zone)
    return (local - dt.timedelta(microseconds=1)).strftime("%Y-%m-%d")


# -- creating a tag -------------------------------------------------------------------------------

TAG_ERROR_FIELDS = (("note", "note"), ("token type", "token_type"), ("concurrent", "max_concurrent_tx"),
                    ("no user", "owner"), ("no vehicle", "owner"), ("no company", "owner"), ("owner", "owner"),
                    ("parent", "parent_id_tag"), ("tag id", "id_tag"), ("tag ", "id_tag"))


def tag_error_field(message: str) -> str:
    """The tag form's field a core refusal is about (the core names it in words)."""
    return next((field for words, field in TAG_ERROR_FIELDS if words in message), "")


async def create_tag(request: web.Request, form, owner: tuple[str, str] | None = None) -> TagRecord:
    """A tag from the tag form's fields (the owner from the form unless given); FormError names the field."""
    id_tag = text_field(form, "id_tag", "Tag id", max_length=64)
    owner = owner or owner_field(form)
    expires_at = expiry_field(form, zone_of(request))
    note = text_field(form, "note", "Note", required=False)
    limit = number_field(form, "max_concurrent_tx", "Sessions at once", required=False, minimum=0, maximum=99,
                         whole=True)
    token_type = choice_field(form, "token_type", "Token type", TOKEN_TYPES, required=False) or "ISO14443"
    parent = text_field(form, "parent_id_tag", "Parent id tag", required=False, max_length=20)
    did(request, f"added tag {id_tag.upper()} for {describe_owner(owner)}")
    try:
        return await users_of(request).add_tag(
            id_tag, expires_at=expires_at, parent_id_tag=parent, token_type=token_type,
            max_concurrent_tx=1 if limit is None else int(limit), note=note, **{owner[0]: owner[1]})
    except UserGroupError as e:
        did(request, f"could not add tag {id_tag.upper()}: {e}")
        raise FormError(in_words(e), tag_error_field(str(e))) from None


def readers_of(request: web.Request) -> list:
    """The RFID readers the server owns, with their state (none when rfid_readers is empty)."""
    return list(request.app[READERS].statuses.values()) if READERS in request.app else []


def back_target(form, default: str) -> str:
    """Where to go after a change made from a list: a path on this appliance only."""
    target = str(form.get("back", ""))
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default

