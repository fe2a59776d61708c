"""A logged-in web UI client for tests that read pages as HTML (no browser): login with a role,
GET pages, POST forms with the session's CSRF token, like a browser would."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

PASSWORD = "correct-horse-battery"


class StaffClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.url = base_url
        self.http = session
        self.csrf = ""

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        async with self.http.get(self.url + path, **kwargs) as response:
            text = await response.text()
            self._remember_csrf(text)
            return response.status, text

    async def post(self, path: str, data: dict[str, Any] | None = None, csrf: bool = True,
                   **kwargs: Any) -> tuple[int, str]:
        """Post a form as the browser would (the CSRF token included unless csrf=False); follows the
        redirect after a change, so the text is the page it leads to (with its message)."""
        fields = dict(data or {})
        if csrf:
            fields.setdefault("csrf_token", self.csrf)
        async with self.http.post(self.url + path, data=fields, **kwargs) as response:
            text = await response.text()
            self._remember_csrf(text)
            return response.status, text

    def _remember_csrf(self, html: str) -> None:
        found = re.search(r'<body data-csrf="([^"]*)"', html)
        if found and found.group(1):
            self.csrf = found.group(1)

    async def close(self) -> None:
        await self.http.close()


async def staff_client(appliance, role: str = "admin", name: str | None = None) -> StaffClient:
    """An account with `role` made in the appliance's core, logged in through the login form."""
    name = name or f"{role}-user"
    if await appliance.core.accounts.get(name) is None:
        await appliance.core.accounts.add(name, role, PASSWORD, "tests")
    # aiohttp's client keeps no cookies for IP addresses unless told to (browsers do keep them).
    client = StaffClient(appliance.url, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
    status, html = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    status, html = await client.post("/login", {"name": name, "password": PASSWORD, "csrf_token": token})
    assert status == 200 and "Log out" in html, html[:500]
    return client


def text_of(html: str) -> str:
    """The page's words without tags, spaces collapsed: for asserting what a person reads."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
