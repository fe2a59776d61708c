"""The header's search box: chargers, drivers, vehicles, companies, tags and sessions found by a word, grouped
by kind; one match goes straight to its page."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from aiohttp import web
from markupsafe import Markup, escape

from appliance.core.overview import SEARCH_MIN_LENGTH, Overview, OverviewError, SearchGroup, SearchResults
from appliance.web.keys import CORE
from appliance.web.ui.render import kwh, local_time, render

routes = web.RouteTableDef()

# kind: (heading, list page, the list page's filter for "more")
KINDS = {
    "charger": ("Chargers", "/chargers", "q"),
    "driver": ("Drivers", "/drivers", "q"),
    "vehicle": ("Vehicles", "/vehicles", "q"),
    "company": ("Companies", "/companies", "q"),
    "tag": ("Tags", "/tags", "q"),
    "session": ("Sessions", "/sessions", "tag"),
}
CONNECTION_WORDS = {"online": "online", "temporarily_unavailable": "offline", "unavailable": "offline",
                    "never_connected": "never connected"}


@dataclass(frozen=True)
class Item:
    href: str
    title: Markup
    detail: Markup
    badge: str = ""
    badge_kind: str = ""


@dataclass(frozen=True)
class Group:
    kind: str
    heading: str
    items: list[Item]
    total: int
    more_href: str  # the list page filtered by the query, when more matched than are shown


def page_of(kind: str, key: object) -> str:
    """The page of one thing, per the UI's URL scheme."""
    return f"{KINDS[kind][1]}/{urllib.parse.quote(str(key), safe='')}"


def key_of(kind: str, hit) -> object:
    return {"charger": lambda: hit.identity, "driver": lambda: hit.name, "vehicle": lambda: hit.name,
            "company": lambda: hit, "tag": lambda: hit.id_tag, "session": lambda: hit.id}[kind]()


def highlight(text: str, query: str) -> Markup:
    """`text` with the first occurrence of `query` (any case) marked."""
    at = text.lower().find(query.lower())
    if at < 0 or len(text.lower()) != len(text):  # lower() changed the length: positions would not match
        return escape(text)
    end = at + len(query)
    return escape(text[:at]) + Markup("<mark>") + escape(text[at:end]) + Markup("</mark>") + escape(text[end:])


def _joined(*parts: Markup | str) -> Markup:
    return Markup(" · ").join(escape(p) for p in parts if p)


def item_of(kind: str, hit, query: str, zone) -> Item:
    href = page_of(kind, key_of(kind, hit))
    mark = lambda text: highlight(text or "", query) if text else ""  # noqa: E731
    if kind == "charger":
        detail = _joined(mark(hit.description), mark(hit.vendor), mark(hit.model),
                         Markup("serial ") + mark(hit.serial_number) if hit.serial_number else "")
        return Item(href, mark(hit.identity), detail, *_charger_badge(hit))
    if kind == "driver":
        return Item(href, mark(hit.name), _joined(mark(hit.email), hit.company or ""))
    if kind == "vehicle":
        return Item(href, mark(hit.name), _joined(hit.company or ""))
    if kind == "company":
        return Item(href, mark(hit), Markup(""))
    if kind == "tag":
        owner = f"driver {hit.driver}" if hit.driver else f"vehicle {hit.vehicle}" if hit.vehicle else "nobody's yet"
        return Item(href, mark(hit.id_tag), _joined(owner, mark(hit.note)), hit.status)
    running = hit.stopped_at is None
    return Item(href, escape(f"Session {hit.id}"),
                _joined(f"{hit.identity} connector {hit.connector_number}", f"tag {hit.id_tag}",
                        f"started {local_time(hit.started_at, zone)}",
                        "running" if running else kwh(hit.energy_wh)),
                "charging" if running else "")


def _charger_badge(hit) -> tuple[str, str]:
    """(words, badge class): a charger not accepted shows its registration, an accepted one its connection."""
    if hit.registration != "accepted":
        return hit.registration, hit.registration
    return CONNECTION_WORDS.get(hit.connection_state, hit.connection_state), hit.connection_state


def group_of(group: SearchGroup, results: SearchResults, zone) -> Group:
    heading, list_page, filter_name = KINDS[group.kind]
    value = results.tag_query if group.kind == "session" else results.query
    more = f"{list_page}?{urllib.parse.urlencode({filter_name: value})}" if group.more > 0 and value else ""
    return Group(group.kind, heading, [item_of(group.kind, hit, results.query, zone) for hit in group.hits],
                 group.total, more)


async def _page(request: web.Request, q: str = "", groups: list[Group] | None = None, total: int = 0,
                message: str = "") -> web.Response:
    return await render(request, "search.html", {"q": q, "groups": groups or [], "total": total, "message": message,
                                                  "min_length": SEARCH_MIN_LENGTH})


@routes.get("/search")
async def search(request: web.Request) -> web.Response:
    core = request.app[CORE]
    query = request.query.get("q", "").strip()
    if not query:
        return await _page(request)
    try:
        results = await Overview(core.db, core.settings.zone).search(query)
    except OverviewError as e:
        return await _page(request, query, message=f"{str(e).capitalize()}.")
    only = results.only()
    if only is not None:
        raise web.HTTPSeeOther(page_of(only[0], key_of(*only)))
    groups = [group_of(g, results, core.settings.zone) for g in results.groups if g.total]
    return await _page(request, results.query, groups, results.total)
