"""The appliance's own pages over HTML: head-office sync (what waits, configure, send now, tokens now),
the settings (every one, secrets masked, the addresses chargers use, the TLS fingerprint), API tokens,
staff accounts (admin only), one's own password, and the audit log of all these changes."""

from __future__ import annotations

import re

import aiohttp
from aiohttp import web

from appliance import tls
from appliance.config import describe
from appliance.web.ui import settings_pages
from tests.conftest import make_settings
from tests.test_sync import HeadOffice, finished_sessions
from tests.ui_client import PASSWORD, StaffClient, staff_client, text_of

NEW_PASSWORD = "another-long-passphrase"


def field_error(html: str, field: str) -> str:
    found = re.search(rf'<small class="error" id="e-(?:f-)?{field}">([^<]*)</small>', html)
    return found.group(1) if found else ""


def figure(html: str, label: str) -> str:
    found = re.search(rf'<span class="figure">(\d+)</span><span class="figure-label">{label}</span>', html)
    return found.group(1) if found else ""


async def log_in(appliance, name: str, password: str) -> tuple[StaffClient, str]:
    """A fresh browser logging in; (the client, the page after the login form)."""
    client = StaffClient(appliance.url, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
    status, html = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    status, html = await client.post("/login", {"name": name, "password": password, "csrf_token": token})
    return client, html


# -- sync -----------------------------------------------------------------------------------------

async def test_sync_page_shows_what_waits_and_sends_it(start_appliance, tmp_path, aiohttp_server, unused_tcp_port):
    # No scheduled sync during the test: only the buttons send.
    appliance = await start_appliance(make_settings(tmp_path / "data", sync_interval_s=3600.0))
    await finished_sessions(appliance, 2)
    staff = await staff_client(appliance, "operator")
    head = HeadOffice()
    app = web.Application()
    app.router.add_post("/cdrs", head.cdrs)
    async def tokens(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"uid": "HO-1", "type": "RFID", "valid": True, "group_id": "Night Taxi"}]})

    app.router.add_get("/tokens", tokens)
    office = await aiohttp_server(app)
    try:
        status, html = await staff.get("/sync")
        assert status == 200 and figure(html, "waiting to be sent") == "2" and "none set" in text_of(html)
        status, html = await staff.post("/sync", {"url": "ftp://head.office"})
        assert status == 400 and field_error(html, "url").startswith("The head office URL must start with https://")

        # Head office unreachable: the records stay, the page says why.
        status, html = await staff.post("/sync", {"url": f"http://127.0.0.1:{unused_tcp_port}", "token": "t0"})
        assert "Charge detail records go to" in text_of(html)
        status, html = await staff.post("/sync/now", {})
        assert "Sent 0 record(s); 2 still waiting. Head office: cannot reach head office" in text_of(html)
        assert figure(html, "of them failed at least once") == "1"

        base = str(office.make_url("")).rstrip("/")
        status, html = await staff.post("/sync", {"url": base, "token": "depot-secret"})
        assert "depot-secret" not in html and "set (never shown)" in text_of(html)
        status, html = await staff.post("/sync/now", {})
        assert "Sent 2 record(s) to head office; 0 waiting." in text_of(html)
        assert figure(html, "sent and confirmed") == "2" and figure(html, "waiting to be sent") == "0"
        assert set(head.tokens) == {"Token depot-secret"} and len(head.order) == 2
        status, html = await staff.post("/sync/pull-tokens", {})
        assert "Tokens from head office: 1 added, 0 blocked, 0 unblocked." in text_of(html)
        assert (await appliance.core.users.tag("HO-1")).company == "Night Taxi"
        # An empty token field keeps the token.
        await staff.post("/sync", {"url": base + "/", "token": ""})
        await finished_sessions_more(appliance)
        await staff.post("/sync/now", {})
        assert head.tokens[-1] == "Token depot-secret"
    finally:
        await staff.close()


async def finished_sessions_more(appliance) -> None:
    from ocpp.v16 import call as call16

    from tests.virtual_charger import connect16

    async with connect16(appliance.url, "SYNC1") as cp:
        tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="C0", meter_start=0,
                                                    timestamp="2026-11-21T10:00:00Z"))).transaction_id
        await cp.call(call16.StopTransaction(meter_stop=500, timestamp="2026-11-21T10:30:00Z", transaction_id=tx))


async def test_a_viewer_sees_sync_but_not_its_forms(appliance):
    viewer = await staff_client(appliance, "viewer")
    try:
        status, html = await viewer.get("/sync")
        assert status == 200 and "Send now" not in html and 'name="token"' not in html
        status, html = await viewer.post("/sync/now", {})
        assert status == 403
    finally:
        await viewer.close()


# -- settings ---------------------------------------------------------------------------------------

async def test_settings_page_lists_every_setting_read_only(start_appliance, tmp_path):
    appliance = await start_appliance(make_settings(tmp_path / "data", public_url="http://ops:hunter2@10.0.0.2:8180",
                                                    timezone="Europe/Berlin"))
    viewer = await staff_client(appliance, "viewer")
    try:
        status, html = await viewer.get("/settings")
        assert status == 200
        words = text_of(html)
        for name, env, *_ in describe():
            assert f'id="setting-{name}"' in html and env in html
        assert f"{tmp_path / 'data' / 'appliance.toml'}" in words and "read-only" in words
        assert "hunter2" not in html and "http://ops:•••@10.0.0.2:8180" in html
        assert "ws://ops:•••@10.0.0.2:8180/ocpp/CHARGER-ID" in html
        assert "http://ops:•••@10.0.0.2:8180/ocpp/soap/1.6" in html
        assert "Europe/Berlin" in words and "TLS off" in words.replace("TLS off:", "TLS off")
        assert not (tmp_path / "data" / "tls").exists()  # nothing made when TLS is off
        assert "<form" not in html.split("<main", 1)[1].split("</main>")[0]  # nothing to change here
    finally:
        await viewer.close()


async def test_settings_page_shows_the_certificate_fingerprint_when_tls_is_on(start_appliance, tmp_path):
    settings = make_settings(tmp_path / "data", tls=True)
    appliance = await start_appliance(settings)
    viewer = await staff_client(appliance, "viewer")
    try:
        status, html = await viewer.get("/settings")
        assert "no certificate at" in text_of(html)
        cert, key = tls.paths(settings)
        tls.generate(cert, key, ["depot.local", "127.0.0.1"])
        status, html = await viewer.get("/settings")
        assert tls.describe(cert, key).sha256_fingerprint in html and "depot.local" in html
    finally:
        await viewer.close()


def test_settings_named_like_secrets_are_masked(monkeypatch):
    class Settings:
        head_office_token = "abc123"
        empty_password = ""

    monkeypatch.setattr(settings_pages, "describe", lambda: [
        ("head_office_token", "APPLIANCE_HEAD_OFFICE_TOKEN", "", "", "a secret"),
        ("empty_password", "APPLIANCE_EMPTY_PASSWORD", "", "", "another")])
    rows = settings_pages.setting_rows(Settings())
    assert [r["value"] for r in rows] == ["••• (set)", "(not set)"]
    assert settings_pages.mask_url("https://u:p@ho.example/x?api_token=zz&a=1") == "https://u:•••@ho.example/x?api_token=•••&a=1"


# -- API tokens ---------------------------------------------------------------------------------------

async def test_admin_makes_and_revokes_api_tokens(appliance, staff):
    status, html = await staff.post("/accounts/tokens", {"name": "export"})
    assert status == 200 and "Copy it now" in html
    token = re.search(r'id="new-token" readonly value="([^"]+)"', html).group(1)
    assert (await appliance.core.tokens.check(token)).name == "export"
    status, html = await staff.get("/accounts/tokens")
    assert token not in html and "export" in html
    status, html = await staff.post("/accounts/tokens", {"name": "export"})
    assert status == 400 and field_error(html, "name") == "A token named &#39;export&#39; exists; revoke it first"
    status, html = await staff.post("/accounts/tokens/export/revoke", {})
    assert "API token export revoked." in text_of(html)
    assert await appliance.core.tokens.check(token) is None
    operator = await staff_client(appliance, "operator")
    try:
        status, html = await operator.get("/accounts/tokens")
        assert status == 403
    finally:
        await operator.close()


# -- accounts, passwords, audit -----------------------------------------------------------------------

async def test_admin_adds_accounts_and_bad_input_is_named_at_the_field(appliance, staff):
    status, html = await staff.post("/accounts", {"name": "olga", "role": "operator", "password": PASSWORD,
                                                  "password_again": PASSWORD})
    assert status == 200 and "Account olga added as operator." in text_of(html)
    status, html = await staff.post("/accounts", {"name": "vic", "role": "viewer", "password": PASSWORD,
                                                  "password_again": PASSWORD})
    assert "Account vic added as viewer." in text_of(html)
    roles = {a.name: a.role for a in await appliance.core.accounts.list()}
    assert roles == {"admin-user": "admin", "olga": "operator", "vic": "viewer"}

    bad = [({"password": "short", "password_again": "short"}, "password", "Password: at least 10 characters"),
           ({"password_again": PASSWORD + "x"}, "password_again", "Repeat the password: the two passwords differ"),
           ({"name": "bad name!"}, "name", "An account name is 1 to 64 letters"),
           ({"name": "olga"}, "name", "An account named &#39;olga&#39; exists"),
           ({"role": "root"}, "role", "Role: choose one of viewer, operator, admin")]
    for change, field, message in bad:
        form = {"name": "nina", "role": "viewer", "password": PASSWORD, "password_again": PASSWORD, **change}
        status, html = await staff.post("/accounts", form)
        assert status == 400 and field_error(html, field).startswith(message), (change, field_error(html, field))
        assert PASSWORD not in html  # a password typed is never sent back
    assert len(await appliance.core.accounts.list()) == 3


async def test_admin_changes_roles_passwords_locks_and_removes_accounts(appliance, staff):
    await appliance.core.accounts.add("olga", "operator", PASSWORD, "tests")
    status, html = await staff.post("/accounts/olga/role", {"role": "viewer"})
    assert "olga is now viewer." in text_of(html)
    status, html = await staff.post("/accounts/olga/password", {"new_password": "tiny", "password_again": "tiny"})
    assert status == 400 and "New password: at least 10 characters" in text_of(html)
    status, html = await staff.post("/accounts/olga/password", {"new_password": NEW_PASSWORD,
                                                                "password_again": NEW_PASSWORD})
    assert "olga has a new password" in text_of(html)
    client, page = await log_in(appliance, "olga", NEW_PASSWORD)
    await client.close()
    assert "Log out" in page
    status, html = await staff.post("/accounts/olga/disable", {})
    assert "olga is disabled" in text_of(html) and (await appliance.core.accounts.get("olga")).disabled
    status, html = await staff.post("/accounts/olga/enable", {})
    assert not (await appliance.core.accounts.get("olga")).disabled
    for _ in range(appliance.core.settings.ui_lockout_failures):
        client, _ = await log_in(appliance, "olga", "wrong-password!")
        await client.close()
    status, html = await staff.get("/accounts")
    assert "locked" in text_of(html) and "Unlock" in html
    status, html = await staff.post("/accounts/olga/unlock", {})
    assert "olga is unlocked" in text_of(html) and (await appliance.core.accounts.get("olga")).locked_until is None

    # The last admin cannot stop being one, nor lock themselves out.
    status, html = await staff.post("/accounts/admin-user/role", {"role": "operator"})
    assert status == 400 and "&#39;admin-user&#39; is the last admin; make another admin first" in html
    status, html = await staff.post("/accounts/admin-user/disable", {})
    assert status == 400 and "You cannot disable your own account; another admin can" in text_of(html)
    status, html = await staff.post("/accounts/olga/remove", {})
    assert "Account olga removed." in text_of(html) and await appliance.core.accounts.get("olga") is None
    status, html = await staff.post("/accounts/nobody/remove", {})
    assert status == 400 and "No account named &#39;nobody&#39;" in html


async def test_operator_and_viewer_are_refused_accounts_and_audit(appliance, staff):
    for role in ("operator", "viewer"):
        client = await staff_client(appliance, role)
        try:
            for path in ("/accounts", "/audit"):
                status, html = await client.get(path)
                assert status == 403 and "it needs the admin role" in text_of(html), (role, path)
            status, html = await client.post("/accounts", {"name": "sneaky", "role": "admin", "password": PASSWORD,
                                                           "password_again": PASSWORD})
            assert status == 403
            status, html = await client.get("/")
            assert 'href="/accounts"' not in html
        finally:
            await client.close()
    assert await appliance.core.accounts.get("sneaky") is None


async def test_anyone_changes_their_own_password_and_stays_logged_in(appliance):
    viewer = await staff_client(appliance, "viewer")
    other_browser, _ = await log_in(appliance, "viewer-user", PASSWORD)
    try:
        status, html = await viewer.post("/account/password", {"current_password": "not-my-password",
                                                                "new_password": NEW_PASSWORD,
                                                                "password_again": NEW_PASSWORD})
        assert status == 400 and field_error(html, "current_password") == "The current password is wrong"
        status, html = await viewer.post("/account/password", {"current_password": PASSWORD,
                                                                "new_password": NEW_PASSWORD,
                                                                "password_again": "different-passphrase"})
        assert status == 400 and field_error(html, "password_again").startswith("Repeat the password")
        status, html = await viewer.post("/account/password", {"current_password": PASSWORD,
                                                                "new_password": NEW_PASSWORD,
                                                                "password_again": NEW_PASSWORD})
        assert status == 200 and "Your password is changed." in text_of(html)
        status, html = await viewer.get("/")
        assert status == 200 and "Log out" in html  # this browser stays logged in
        status, html = await other_browser.get("/sessions")
        assert "Log in" in html  # the other one is logged out
        client, page = await log_in(appliance, "viewer-user", PASSWORD)
        await client.close()
        assert "wrong name or password" in text_of(page).lower()
        client, page = await log_in(appliance, "viewer-user", NEW_PASSWORD)
        await client.close()
        assert "Log out" in page
    finally:
        await viewer.close()
        await other_browser.close()


async def test_audit_page_lists_the_changes_with_filters_and_pages(appliance, staff):
    await staff.post("/accounts", {"name": "olga", "role": "operator", "password": PASSWORD,
                                   "password_again": PASSWORD})
    await staff.post("/accounts/olga/role", {"role": "viewer"})
    await staff.post("/accounts/tokens", {"name": "export"})
    status, html = await staff.get("/audit")
    words = text_of(html)
    assert status == 200
    for line in ("added account olga (operator)", "account added olga role operator", "set the role of olga to viewer",
                 "account role set to viewer olga", "created API token export", "logged in"):
        assert line in words, line
    assert PASSWORD not in html
    status, html = await staff.get("/audit?q=olga")
    assert "created API token export" not in text_of(html) and "account added olga" in text_of(html)
    status, html = await staff.get("/audit?actor=nobody")
    assert "Nothing matches." in text_of(html)
    for i in range(60):
        await appliance.core.accounts.audit("robot", f"step {i}")
    status, html = await staff.get("/audit?actor=robot")
    assert "step 59" in html and "step 9<" not in html and 'href="/audit?actor=robot&amp;page=2"' in html
    status, html = await staff.get("/audit?actor=robot&page=2")
    assert "step 9<" in html and "step 59" not in html and "← Newer" in html


async def test_these_pages_have_labelled_controls_unique_ids_and_csrf(appliance, cp, staff):
    from tests.test_ui_pages import check_page

    await appliance.core.circuits.add("Main", 63.0)
    await appliance.core.circuits.add("Row/1", 32.0, parent="Main")
    await appliance.core.circuits.assign("Row/1", "CP1")
    await appliance.core.billing.add_tariff("Std", {"kind": "flat", "currency": "EUR", "vat_rate": "0.19",
                                                    "flat_price": "2"})
    await appliance.core.billing.add_group("Depot", "Std")
    await appliance.core.accounts.add("olga", "operator", PASSWORD, "tests")
    await appliance.core.tokens.create("export")
    problems = []
    for path in ("/circuits", "/circuits/Main", "/circuits/Row%2F1", "/tariffs", "/tariffs/Std", "/statements",
                 "/sync", "/settings", "/accounts", "/accounts/tokens", "/account/password", "/audit"):
        status, html = await staff.get(path)
        assert status == 200, path
        problems += check_page(path, html)
    assert problems == []
