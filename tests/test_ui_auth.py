"""The web UI's guard: login, lock-out, session cookie, CSRF, roles, security headers, audit."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
import yarl

from tests.conftest import make_settings
from tests.ui_client import PASSWORD, StaffClient, staff_client, text_of


def anonymous(appliance) -> StaffClient:
    return StaffClient(appliance.url, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))


async def login_form(client: StaffClient, name: str, password: str, token: str | None = None) -> tuple[int, str]:
    status, html = await client.get("/login")
    if token is None:
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    return await client.post("/login", {"name": name, "password": password, "csrf_token": token}, csrf=False)


async def test_pages_need_a_login_and_come_back_after_it(appliance):
    await appliance.core.accounts.add("ops", "operator", PASSWORD, "tests")
    client = anonymous(appliance)
    try:
        async with client.http.get(appliance.url + "/chargers?status=offline", allow_redirects=False) as response:
            assert response.status == 303
            location = yarl.URL(response.headers["Location"])
            assert location.path == "/login" and location.query["next"] == "/chargers?status=offline"
        status, html = await client.get("/login?next=/chargers%3Fstatus%3Doffline")
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        async with client.http.post(appliance.url + "/login", allow_redirects=False, data={
                "name": "ops", "password": PASSWORD, "csrf_token": token, "next": "/chargers?status=offline"}) as response:
            assert response.status == 303 and response.headers["Location"] == "/chargers?status=offline"
            cookie = response.cookies["appliance_session"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    finally:
        await client.close()


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
async def test_after_login_only_a_page_of_the_appliance(appliance, target):
    await appliance.core.accounts.add("ops", "operator", PASSWORD, "tests")
    client = anonymous(appliance)
    try:
        status, html = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        async with client.http.post(appliance.url + "/login", allow_redirects=False, data={
                "name": "ops", "password": PASSWORD, "csrf_token": token, "next": target}) as response:
            assert response.headers["Location"] == "/"
    finally:
        await client.close()


async def test_wrong_password_and_unknown_name_get_the_same_answer(appliance):
    await appliance.core.accounts.add("ops", "operator", PASSWORD, "tests")
    client = anonymous(appliance)
    try:
        wrong = await login_form(client, "ops", "not-the-password")
        unknown = await login_form(client, "nobody", "not-the-password")
        assert wrong[0] == unknown[0] == 401
        assert "Wrong name or password." in text_of(wrong[1]) and "Wrong name or password." in text_of(unknown[1])
        assert "Log out" not in wrong[1]
    finally:
        await client.close()


async def test_the_login_form_needs_its_csrf_token(appliance):
    await appliance.core.accounts.add("ops", "operator", PASSWORD, "tests")
    client = anonymous(appliance)
    try:
        status, html = await login_form(client, "ops", PASSWORD, token="forged")
        assert status == 403 and "out of date" in text_of(html)
        assert (await appliance.core.accounts.get("ops")).last_login_at is None
    finally:
        await client.close()


async def test_repeated_failures_lock_the_account_until_unlocked(start_appliance, tmp_path):
    appliance = await start_appliance(make_settings(tmp_path / "data", ui_lockout_failures=3, ui_lockout_s=600))
    await appliance.core.accounts.add("ops", "operator", PASSWORD, "tests")
    client = anonymous(appliance)
    try:
        for _ in range(3):
            assert (await login_form(client, "ops", "guess-guess-guess"))[0] == 401
        status, html = await login_form(client, "ops", PASSWORD)  # the right one, too late
        assert status == 401 and "locked after 3 wrong passwords" in text_of(html) and "10 min" in text_of(html)
        await appliance.core.accounts.unlock("ops", "tests")
        status, html = await login_form(client, "ops", PASSWORD)
        assert status == 200 and "Log out" in html
        refused = [e for e in await appliance.core.accounts.audit_log(actor="ops") if e.action == "login refused"]
        assert [e.detail for e in refused][:2] == ["account locked", "wrong password, account locked"]
    finally:
        await client.close()


async def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(appliance, staff):
    status, html = await staff.post("/logout", {}, csrf=False)
    assert status == 403 and "security token" in text_of(html)
    status, html = await staff.post("/logout", {"csrf_token": "forged"}, csrf=False)
    assert status == 403
    assert (await staff.get("/"))[0] == 200  # still logged in: the logout was not done
    refused = (await appliance.core.accounts.audit_log(actor="admin-user"))[0]
    assert refused.outcome == "refused" and "CSRF" in refused.detail


async def test_a_viewer_reads_but_changes_nothing(appliance):
    viewer = await staff_client(appliance, "viewer")
    try:
        assert (await viewer.get("/"))[0] == 200
        status, html = await viewer.post("/chargers/new", {"identity": "CP9", "protocol": "ocpp1.6-json"})
        assert status == 403 and "needs the operator role" in text_of(html)
        assert await appliance.core.chargers.get("CP9") is None
        status, html = await viewer.get("/accounts")
        assert status == 403 and "needs the admin role" in text_of(html)
        status, html = await viewer.post("/logout", {})  # leaving is allowed
        assert status == 200 and "logged out" in text_of(html)
    finally:
        await viewer.close()


async def test_logout_ends_the_session_for_good(appliance, staff):
    cookie = next(c for c in staff.http.cookie_jar if c.key == "appliance_session").value
    await staff.post("/logout", {})
    again = anonymous(appliance)
    try:
        again.http.cookie_jar.update_cookies({"appliance_session": cookie})
        async with again.http.get(appliance.url + "/", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"].startswith("/login")
    finally:
        await again.close()
    assert [e.action for e in await appliance.core.accounts.audit_log(actor="admin-user")][:2] == [
        "logged out", "logged in"]


async def test_an_idle_session_ends(start_appliance, tmp_path):
    appliance = await start_appliance(make_settings(tmp_path / "data", ui_session_idle_s=0.5))
    client = await staff_client(appliance, "operator")
    try:
        assert (await client.get("/"))[0] == 200
        await asyncio.sleep(0.7)
        async with client.http.get(appliance.url + "/", allow_redirects=False) as response:
            assert response.status == 303
    finally:
        await client.close()


async def test_disabling_an_account_or_changing_its_password_ends_its_sessions(appliance):
    await appliance.core.accounts.add("boss", "admin", PASSWORD, "tests")
    first = await staff_client(appliance, "operator", "ops")
    second = await staff_client(appliance, "operator", "ops")
    try:
        await appliance.core.accounts.set_password("ops", "another-long-password", "boss")
        for client in (first, second):
            async with client.http.get(appliance.url + "/", allow_redirects=False) as response:
                assert response.status == 303
        third = await staff_client(appliance, "viewer", "watcher")
        await appliance.core.accounts.set_disabled("watcher", True, "boss")
        async with third.http.get(appliance.url + "/", allow_redirects=False) as response:
            assert response.status == 303
        status, html = await login_form(third, "watcher", PASSWORD)
        assert status == 401 and "disabled" in text_of(html)
        await third.close()
    finally:
        await first.close()
        await second.close()


async def test_pages_carry_security_headers_and_are_not_cached(appliance, staff):
    async with staff.http.get(appliance.url + "/") as response:
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
    async with staff.http.get(appliance.url + "/no-such-page") as response:
        assert response.status == 404 and "There is no such page here." in text_of(await response.text())


async def test_static_assets_are_served_by_the_appliance_itself(appliance, staff):
    status, html = await staff.get("/")
    for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', html):
        async with staff.http.get(appliance.url + asset) as response:
            assert response.status == 200, asset
    assert not re.search(r'(?:href|src)="https?://', html)


async def test_the_api_keeps_its_token_and_ignores_the_ui_cookie(appliance, staff):
    async with staff.http.get(appliance.url + "/api/v1/chargers") as response:
        assert response.status == 401  # a logged-in browser is not an API client
    status, _ = await appliance.api("GET", "/api/v1/chargers")
    assert status == 200


async def test_changes_through_the_api_are_audited_too(appliance):
    status, _ = await appliance.api("POST", "/api/v1/companies", {"name": "Blue Taxi"})
    assert status == 201
    status, _ = await appliance.api("POST", "/api/v1/companies", {"name": "Blue Taxi"})
    assert status == 400
    entries = await appliance.core.accounts.audit_log(actor="api:tests")
    assert [(e.action, e.outcome) for e in entries] == [("POST /api/v1/companies", "refused (400)"),
                                                        ("POST /api/v1/companies", "ok")]


@pytest.mark.parametrize("form, kept, masked", [
    ({"key": "AuthorizationKey", "value": "0123456789abcdef", "reason": "rotate"}, ["reason=rotate"], "0123456789abcdef"),
    ({"key": "SecurityCtrlr.BasicAuthPassword", "value": "s3cret-s3cret"}, ["key=SecurityCtrlr.BasicAuthPassword"],
     "s3cret-s3cret"),
    ({"password": "hunter2hunter2", "identity": "CP1"}, ["identity=CP1"], "hunter2hunter2"),
    ({"token": "abcdefabcdef", "url": "https://ho.example/"}, ["url=https://ho.example/"], "abcdefabcdef"),
    ({"new_password_again": "x" * 12, "token_type": "ISO14443"}, ["token_type=ISO14443"], "x" * 12),
])
def test_the_audit_log_never_keeps_a_secret(form, kept, masked):
    from appliance.web.ui.auth import _loggable_form

    detail = _loggable_form(dict(form, csrf_token="c" * 20))
    assert masked not in detail and "c" * 20 not in detail
    for part in kept:
        assert part in detail
