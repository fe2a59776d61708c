"""Every page of the web UI, crawled as an admin from the navigation: it answers, each form control
has a label, each form that changes something carries the CSRF token, and no link leads to a page
that fails."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.conftest import add_fleet, wait_for
from tests.virtual_charger import connect16

START = ["/", "/chargers", "/sessions", "/companies", "/drivers", "/vehicles", "/tags", "/tags/enrol",
         "/tags/unknown", "/circuits", "/tariffs", "/sync", "/settings", "/accounts", "/audit", "/account/password",
         "/search?q=CP"]


class PageFacts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.label_for: set[str] = set()
        self.controls: list[dict[str, str]] = []
        self.forms: list[dict] = []
        self._label_depth = 0
        self._form: dict | None = None
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "a" and a.get("href", "").startswith("/") and not a["href"].startswith("/static/"):
            self.links.append(a["href"])
        if tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        if tag == "form":
            self._form = {"method": a.get("method", "get").lower(), "action": a.get("action", ""), "csrf": False}
            self.forms.append(self._form)
        if tag in ("input", "select", "textarea"):
            if tag == "input" and a.get("type") == "hidden":
                if a.get("name") == "csrf_token" and self._form is not None:
                    self._form["csrf"] = bool(a.get("value"))
                return
            if tag == "input" and a.get("type") in ("submit", "button", "reset", "image"):
                return
            self.controls.append(dict(a, _tag=tag, _wrapped="yes" if self._label_depth else ""))

    def handle_endtag(self, tag):
        if tag == "label":
            self._label_depth = max(0, self._label_depth - 1)
        if tag == "form":
            self._form = None


def check_page(path: str, html: str) -> list[str]:
    facts = PageFacts()
    facts.feed(html)
    problems = []
    for control in facts.controls:
        labelled = (control.get("id") in facts.label_for or control["_wrapped"] or control.get("aria-label")
                    or control.get("aria-labelledby") or control.get("title"))
        if not labelled:
            problems.append(f"{path}: {control['_tag']} name={control.get('name')!r} has no label")
    problems += [f"{path}: id {i!r} is used twice" for i in sorted({i for i in facts.ids if facts.ids.count(i) > 1})]
    for form in facts.forms:
        if form["method"] == "post" and not form["csrf"]:
            problems.append(f"{path}: form posting to {form['action']!r} has no CSRF token")
    return problems


async def test_every_page_answers_with_labelled_controls_and_csrf_on_forms(appliance, staff):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as charger:
        await charger.start_transaction("CARD1", 1, meter_start=0)
        await wait_for(lambda: appliance.core.transactions.list(active=True))
        seen: set[str] = set()
        queue = list(START) + ["/chargers/CP1", "/companies/Blue%20Taxi", "/drivers/alice", "/tags/CARD1"]
        problems: list[str] = []
        while queue and len(seen) < 250:
            path = queue.pop(0)
            if path in seen or path.startswith(("/logout", "/sessions.csv", "/statements")) or path.endswith(".xml"):
                continue
            seen.add(path)
            status, html = await staff.get(path)
            if status != 200:
                problems.append(f"{path}: answered {status}")
                continue
            if "<html" not in html[:200] and not path.startswith("/dashboard/"):
                continue  # fragments and downloads
            problems += check_page(path, html)
            facts = PageFacts()
            facts.feed(html)
            queue += [re.sub(r"#.*$", "", link) for link in facts.links if link not in seen]
        assert not problems, "\n".join(problems[:40])
        assert len(seen) > 25
