"""The web UI and the API let no one in who does not belong: every registered route needs a login (UI)
or a token (API) but the few public ones, a viewer changes nothing, logins are rate limited per
address, and every request body, header and query has a limit that answers clearly."""

from __future__ import annotations

import io
import re
import urllib.parse

import aiohttp
import pytest

from appliance.web.ui.auth import ANYONE_MAY_POST
from tests.conftest import make_settings
from tests.ui_client import PASSWORD, staff_client

# What anyone may reach (SECURITY.md): the login page, liveness, the static assets, and the chargers'
# entry points, which authenticate chargers themselves.
PUBLIC = {"/login", "/healthz", "/ocpp/{charger_id}", "/ocpp/soap/1.5", "/ocpp/soap/1.6"}
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLES = ("1", "x", "CP1")


def every_route(app) -> list[tuple[str, str, str]]:
    """(method, route as registered, a URL that matches it) for every route but the static files."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info()
        if "prefix" in info:  # static files: public by design
            assert info["prefix"] == "/static"
            continue
        template = info.get("path") or info["formatter"]
        found.append((route.method, template, info.get("path") or _sample_path(info["formatter"], info["pattern"])))
    return found


def _sample_path(formatter: str, pattern: re.Pattern) -> str:
    """The formatter with each variable replaced by a value its regular expression accepts."""
    values = {}
    for name, regex in re.findall(r"\(\?P<(\w+)>((?:[^()]|\([^()]*\))*)\)", pattern.pattern):
        candidates = SAMPLES + tuple(regex.split("|")[:1])
        values[name] = next((c for c in candidates if re.fullmatch(regex, c)), None)
        assert values[name] is not None, f"no sample value for {{{name}}} in {formatter}: add one to SAMPLES"
    path = formatter.format(**values)
    assert pattern.match(path), path
    return path


async def request(session: aiohttp.ClientSession, method: str, url: str, **kwargs) -> tuple[int, str]:
    async with session.request(method, url, allow_redirects=False, **kwargs) as response:
        return response.status, response.headers.get("Location", "")


async def test_every_route_needs_a_login_or_a_token_but_the_public_ones(appliance):
    routes = every_route(appliance.server.app)
    assert PUBLIC <= {template for _, template, _ in routes}
    assert len(routes) > 100  # the walk really walks the app
    wrong = []
    async with aiohttp.ClientSession() as session:
        for method, template, path in routes:
            if template in PUBLIC:
                continue
            status, location = await request(session, method, appliance.url + path,
                                              headers={"Authorization": "Bearer not-a-token"})
            if template == "/metrics":  # off unless enabled (then its own token: tests/test_metrics.py)
                ok = status == 404
            elif path.startswith("/api/"):
                ok = status == 401
            elif method in ("GET", "HEAD"):
                ok = status == 303 and location.startswith("/login")
            else:
                ok = status in (401, 403)
            if not ok:
                wrong.append(f"{method} {template}: {status} {location}")
    assert wrong == []


async def test_a_viewer_can_change_nothing_anywhere(appliance):
    viewer = await staff_client(appliance, "viewer")
    wrong = []
    try:
        for method, template, path in every_route(appliance.server.app):
            if method not in CHANGES or template in PUBLIC or path.startswith("/api/") or path in ANYONE_MAY_POST:
                continue
            async with viewer.http.request(method, appliance.url + path, data={"csrf_token": viewer.csrf},
                                           allow_redirects=False) as response:
                if response.status != 403:
                    wrong.append(f"{method} {template}: {response.status}")
    finally:
        await viewer.close()
    assert wrong == []
    changes = [a.action for a in await appliance.core.accounts.audit_log(limit=500) if a.outcome == "ok"]
    assert set(changes) == {"account added", "logged in"}  # the viewer's own making, nothing else


async def test_the_api_refuses_a_cookie_without_a_token(appliance, staff):
    async with staff.http.post(appliance.url + "/api/v1/companies", json={"name": "Sneaky"}) as response:
        assert response.status == 401
    assert await appliance.core.users.companies() == []


async def login(session: aiohttp.ClientSession, url: str, name: str, password: str) -> tuple[int, str, str]:
    async with session.get(url + "/login") as page:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
    async with session.post(url + "/login", data={"name": name, "password": password, "csrf_token": token},
                            allow_redirects=False) as response:
        return response.status, response.headers.get("Retry-After", ""), await response.text()


def from_address(address: str) -> aiohttp.ClientSession:
    # Linux routes all of 127.0.0.0/8 to loopback: a second client address on the same box.
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)),
                                 cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_logins_are_rate_limited_per_address(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", login_attempts_per_min=3))
    await app.core.accounts.add("anna", "admin", PASSWORD, "tests")
    async with from_address("127.0.0.1") as session:
        assert [(await login(session, app.url, "anna", "wrong"))[0] for _ in range(3)] == [401, 401, 401]
        status, retry_after, page = await login(session, app.url, "anna", PASSWORD)  # even the right one
        assert status == 429 and 1 <= int(retry_after) <= 20 and "Too many login attempts" in page
    async with from_address("127.0.0.2") as session:
        assert (await login(session, app.url, "anna", PASSWORD))[0] == 303
    refusals = [a for a in await app.core.accounts.audit_log(limit=20) if "too many attempts" in a.detail]
    assert len(refusals) == 1 and refusals[0].client == "127.0.0.1"


async def test_an_oversized_body_gets_413_everywhere_and_the_server_goes_on(appliance, staff):
    url = appliance.url
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/login", data={"name": "x", "password": "p" * 100_000}) as response:
            assert response.status == 413
        headers = {"Authorization": f"Bearer {appliance.token}"}
        async with session.post(url + "/api/v1/companies", data=io.BytesIO(b"{" + b" " * (5 * 1024 * 1024) + b"}"),
                                headers={**headers, "Content-Type": "application/json"}) as response:
            assert response.status == 413 and "Maximum request body size" in (await response.json())["error"]

        async def chunks():  # no Content-Length: the limit holds while reading
            for _ in range(80):
                yield b" " * 65536

        async with session.post(url + "/api/v1/companies", data=chunks(), headers=headers) as response:
            assert response.status == 413
    form = urllib.parse.urlencode({"csrf_token": staff.csrf, "name": "Big", "notes": "n" * (2 * 1024 * 1024)})
    async with staff.http.post(url + "/companies", data=io.BytesIO(form.encode()),
                               headers={"Content-Type": "application/x-www-form-urlencoded"}) as response:
        assert response.status == 413 and "too large" in await response.text()
    assert await appliance.core.users.companies() == []
    assert (await appliance.api("POST", "/api/v1/companies", {"name": "Small"}))[0] in (200, 201)


async def test_json_nested_too_deep_is_a_bad_request(appliance):
    async with aiohttp.ClientSession() as session:
        async with session.post(appliance.url + "/api/v1/companies", data=io.BytesIO(b"[" * 200_000 + b"]" * 200_000),
                                headers={"Authorization": f"Bearer {appliance.token}",
                                         "Content-Type": "application/json"}) as response:
            assert response.status == 400 and "not valid JSON" in (await response.json())["error"]


@pytest.mark.parametrize("path, headers", [
    ("/healthz?q=" + "x" * 20_000, {}),  # the request line
    ("/healthz", {"X-Long": "y" * 20_000}),  # one header
    ("/healthz", {f"X-H{i}": "z" for i in range(200)}),  # too many headers
])
async def test_oversized_request_lines_and_headers_are_refused(appliance, path, headers):
    async with aiohttp.ClientSession() as session:
        async with session.get(appliance.url + path, headers=headers) as response:
            assert response.status in (400, 413, 414, 431)
        async with session.get(appliance.url + "/healthz") as response:
            assert response.status == 200
