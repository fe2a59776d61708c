"""Rendering web UI pages: the jinja2 environment, its filters (depot time zone, units, money),
messages carried across a redirect, and reading forms with errors that name the field."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from appliance import __version__
from appliance.web.keys import CORE, STAFF

JINJA = web.AppKey("jinja", jinja2.Environment)
FLASH_COOKIE = "appliance_flash"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# (path, label, role needed to see it, the paths that belong to it); the header's navigation.
NAVIGATION = [
    ("/", "Dashboard", "viewer", ("/dashboard",)),
    ("/alarms", "Alarms", "viewer", ("/alarms",)),
    ("/chargers", "Chargers", "viewer", ("/chargers",)),
    ("/sessions", "Sessions", "viewer", ("/sessions",)),
    ("/drivers", "Drivers & tags", "viewer", ("/drivers", "/companies", "/vehicles", "/tags")),
    ("/circuits", "Circuits", "viewer", ("/circuits",)),
    ("/tariffs", "Tariffs", "viewer", ("/tariffs", "/statements")),
    ("/reports", "Reports", "viewer", ("/reports",)),
    ("/sync", "Sync", "viewer", ("/sync",)),
    ("/settings", "Settings", "viewer", ("/settings",)),
    ("/accounts", "Accounts", "admin", ("/accounts", "/audit")),
]


class FormError(ValueError):
    """Bad form input: the message names the field and says what is wrong."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(kwh=kwh, kw=kw, amps=amps, money=money, duration=duration, number=number,
                       segment=segment)
    env.globals.update(version=__version__, navigation=NAVIGATION)
    return env


def zone_of(request: web.Request):
    return request.app[CORE].settings.zone


async def render(request: web.Request, template: str, context: dict[str, Any] | None = None,
                 status: int = 200) -> web.Response:
    """A whole page (or a fragment, for templates starting with '_') with what every page needs."""
    staff = request.get(STAFF)
    zone = zone_of(request)
    flash = _read_flash(request)
    env = request.app[JINJA]
    values = dict(
        staff=staff, csrf_token=staff.csrf_token if staff else "",
        can_change=bool(staff and staff.may("operator")), is_admin=bool(staff and staff.may("admin")),
        path=request.path, query=request.query, flash=flash, zone=str(zone),
        local=lambda value, fmt="%Y-%m-%d %H:%M": local_time(value, zone, fmt),
        ago=lambda value: ago(value), errors={}, form={},
        static=lambda name: str(request.app.router["static"].url_for(filename=name)),
    )
    values.update(context or {})
    text = env.get_template(template).render(**values)
    response = web.Response(text=text, status=status, content_type="text/html")
    if flash:
        response.del_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(location: str, message: str = "", kind: str = "ok") -> web.HTTPSeeOther:
    """See-other after a change (so a reload does not repeat it), with a message for the next page."""
    response = web.HTTPSeeOther(location)
    if message:
        response.set_cookie(FLASH_COOKIE, urllib.parse.quote(json.dumps({"kind": kind, "text": message[:500]})),
                            path="/", httponly=True, samesite="Strict", max_age=60)
    return response


def _read_flash(request: web.Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(urllib.parse.unquote(raw))
        return {"kind": str(data.get("kind", "ok")), "text": str(data.get("text", ""))}
    except (ValueError, AttributeError):
        return None


async def read_form(request: web.Request) -> MultiDictProxy:
    return await request.post()


def text_field(form, name: str, label: str, required: bool = True, max_length: int = 200) -> str:
    value = str(form.get(name, "")).strip()
    if required and not value:
        raise FormError(f"{label}: please fill this in", name)
    if len(value) > max_length:
        raise FormError(f"{label}: at most {max_length} characters", name)
    return value


def number_field(form, name: str, label: str, required: bool = True, minimum: float | None = None,
                 maximum: float | None = None, whole: bool = False) -> float | int | None:
    raw = str(form.get(name, "")).strip().replace(",", ".")
    if not raw:
        if required:
            raise FormError(f"{label}: please fill this in", name)
        return None
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise FormError(f"{label}: {raw!r} is not a {'whole ' if whole else ''}number", name) from None
    if minimum is not None and value < minimum:
        raise FormError(f"{label}: at least {minimum:g}", name)
    if maximum is not None and value > maximum:
        raise FormError(f"{label}: at most {maximum:g}", name)
    return value


def choice_field(form, name: str, label: str, choices: list[str] | tuple[str, ...], required: bool = True) -> str:
    value = str(form.get(name, "")).strip()
    if not value and not required:
        return ""
    if value not in choices:
        raise FormError(f"{label}: choose one of {', '.join(choices)}", name)
    return value


# -- filters ---------------------------------------------------------------------------------------

def segment(value: object) -> str:
    """A name as one path segment (jinja's urlencode leaves '/' alone, which would split it)."""
    return urllib.parse.quote(str(value), safe="")


def local_time(value: dt.datetime | None, zone, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "–"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(zone).strftime(fmt)


def ago(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    if value is None:
        return "never"
    now = now or dt.datetime.now(dt.timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    seconds = int((now - value).total_seconds())
    if seconds < 0:
        return "just now"
    return f"{duration(seconds)} ago" if seconds >= 60 else f"{seconds} s ago"


def duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def number(value: float | int | Decimal | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}".replace(",", "\u202f")


def kwh(wh: float | int | None, digits: int = 2) -> str:
    return "–" if wh is None else f"{number(wh / 1000, digits)} kWh"


def kw(w: float | int | None, digits: int = 1) -> str:
    return "–" if w is None else f"{number(w / 1000, digits)} kW"


def amps(a: float | int | None, digits: int = 1) -> str:
    return "–" if a is None else f"{number(a, digits)} A"


def money(amount: Decimal | float | int | str | None, currency: str = "EUR") -> str:
    if amount is None or amount == "":
        return "–"
    return f"{number(Decimal(str(amount)), 2)} {currency}"
