"""Secrets are never logged: one scenario uses every kind of secret the appliance handles, right and
wrong, while every log record (DEBUG and up, every logger) is captured; then neither the log nor any
table of the database may contain any of them (but head office's token, in the one place it must be
kept to be sent). The CLI's token lives in server.json, readable by its owner only."""

from __future__ import annotations

import logging
import re
import secrets
import sqlite3
import stat

import aiohttp
import pytest
from aiohttp import web

from appliance.ocpp16.soap_link import CP16, Ocpp16SoapLink
from tests import backend
from tests.conftest import add_fleet, wait_for
from tests.test_cli_live import ServerProcess
from tests.ui_client import StaffClient
from tests.virtual_charger import connect16
from tests.virtual_charger201 import connect201
from tests.virtual_soap_chargepoint import serve_chargepoint
from tests.virtual_soap_client import basic_auth, post_soap, soap_request

KINDS = ("charger16", "charger16_wrong", "charger201", "soap_charger", "soap_charger_changed", "soap_wrong",
         "staff", "staff_wrong", "bad_api_token", "head_office", "authorization_key", "basic_auth_password",
         "soap_authorization_key", "ui_authorization_key")


@pytest.fixture
def secret() -> dict[str, str]:
    # Long enough for chargers (AuthorizationKey: up to 40), distinct, and found by a plain substring search.
    return {kind: f"S{secrets.token_hex(9)}" for kind in KINDS}


@pytest.fixture
async def head_office(aiohttp_server):
    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, text="head office is down for maintenance")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", unavailable)
    return str((await aiohttp_server(app)).make_url("/")).rstrip("/")


async def log_in(url: str, name: str, password: str) -> tuple[StaffClient, int]:
    client = StaffClient(url, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)))
    status, html = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    status, _ = await client.post("/login", {"name": name, "password": password, "csrf_token": token})
    if status == 200:
        await client.get("/")  # a page, for the session's CSRF token
    return client, status


@backend.sqlite_only("reads every table of the SQLite file")
async def test_no_secret_reaches_the_log_or_the_database(appliance, secret, head_office, caplog):
    caplog.set_level(logging.DEBUG)
    core, url = appliance.core, appliance.url
    await add_fleet(core)
    used = {"api_token": appliance.token}

    # Staff: a wrong password, then the right one; the session cookie is a secret too.
    await core.accounts.add("anna", "admin", secret["staff"], "tests")
    refused, status = await log_in(url, "anna", secret["staff_wrong"])
    await refused.close()
    assert status == 401
    staff, status = await log_in(url, "anna", secret["staff"])
    assert status == 200
    used["session_cookie"] = next(c.value for c in staff.http.cookie_jar if c.key == "appliance_session")

    # Chargers get passwords through the API (1.6 JSON) and the web UI (SOAP, added then changed).
    assert (await appliance.api("POST", "/api/v1/chargers", {"identity": "SEC16", "protocol": "ocpp1.6-json",
                                                              "password": secret["charger16"]}))[0] == 201
    assert (await appliance.api("GET", "/api/v1/chargers", token=secret["bad_api_token"]))[0] == 401
    await core.chargers.add("SEC201", "ocpp2.0.1", password=secret["charger201"])
    await staff.post("/chargers/new", {"identity": "SOAP1", "protocol": "ocpp1.6-soap", "password": secret["soap_charger"]})
    await staff.post("/chargers/SOAP1/password", {"password": secret["soap_charger_changed"]})

    # They connect, wrong first; and are sent security keys (AuthorizationKey, BasicAuthPassword).
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(url.replace("http", "ws") + "/ocpp/SEC16", protocols=["ocpp1.6"],
                                  headers=basic_auth("SEC16", secret["charger16_wrong"]))
    async with connect16(url, "SEC16", password=secret["charger16"]):
        result = await appliance.api("POST", "/api/v1/chargers/SEC16/commands/change_configuration",
                                     {"arguments": {"key": "AuthorizationKey", "value": secret["authorization_key"]}})
        assert result[1]["ok"], result
        await staff.post("/chargers/SEC16/commands/change_configuration",
                         {"key": "AuthorizationKey", "value": secret["ui_authorization_key"]})
    async with connect201(url, "SEC201", password=secret["charger201"]):
        result = await appliance.api("POST", "/api/v1/chargers/SEC201/commands/change_configuration", {
            "arguments": {"key": "SecurityCtrlr.BasicAuthPassword", "value": secret["basic_auth_password"]}})
        assert result[0] == 200, result
    heartbeat = soap_request("1.6", "<o:heartbeatRequest/>", identity="SOAP1")
    assert (await post_soap(url, "1.6", heartbeat, basic_auth("SOAP1", secret["soap_wrong"])))[0] == 401
    assert (await post_soap(url, "1.6", heartbeat, basic_auth("SOAP1", secret["soap_charger_changed"])))[0] == 200
    async with serve_chargepoint(CP16, "SOAP2") as cp:
        await core.chargers.add("SOAP2", "ocpp1.6-soap", endpoint_url=cp.url)
        await core.bus.drain()
        core.links.register(Ocpp16SoapLink("SOAP2", cp.url, core))
        result = await core.commands.send("SOAP2", "change_configuration",
                                          {"key": "AuthorizationKey", "value": secret["soap_authorization_key"]},
                                          actor="tests", reason="rotate")
        assert result.ok, result

    # Head office: its token is configured, then used against a head office that is down.
    assert (await appliance.api("PUT", "/api/v1/sync", {"url": head_office, "token": secret["head_office"]}))[0] == 200
    await appliance.api("POST", "/api/v1/sync/pull-tokens")
    await appliance.api("POST", "/api/v1/sync/now")
    await staff.post("/logout")
    await staff.close()

    await core.db.write(lambda: None)  # the communication log's rows are committed with the next batch
    # The keys' messages are in the communication log (masked): the search below looks where they are.
    for identity, key in (("SEC16", "AuthorizationKey"), ("SEC201", "BasicAuthPassword"), ("SOAP2", "AuthorizationKey")):
        await wait_for(lambda: _commlog_has(appliance, identity, key))
    log_text = "\n".join(logging.Formatter("%(name)s %(message)s").format(r) for r in caplog.records)
    assert "SEC16 connected" in log_text and "SOAP1" in log_text  # the capture did capture
    leaks = [f"{kind} in the log: {r.name}: {r.getMessage()[:300]}" for kind, value in {**secret, **used}.items()
             for r in appliance_records(caplog.records) if value in logging.Formatter().format(r)]
    for table, row in database_rows(core.settings.database_path):
        for kind, value in {**secret, **used}.items():
            if value in row and not (kind == "head_office" and table == "head_office"):
                leaks.append(f"{kind} in table {table}: {row[:300]}")
    assert leaks == [], "\n".join(leaks)


def appliance_records(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """The server's records: not those of the test's own virtual chargers (the ocpp library's charge-point
    side logs what it receives under "ocpp"; the appliance's sessions log under appliance.ocppj)."""
    return [r for r in records if r.name != "ocpp" and not r.name.startswith("tests")]


async def _commlog_has(appliance, identity: str, text: str) -> bool:
    return any(text in e.message for e in await appliance.core.commlog.recent(identity, limit=1000))


def database_rows(path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [(table, repr(row)) for table in tables for row in db.execute(f'SELECT * FROM "{table}"')]


async def test_the_cli_token_is_for_the_owner_only_and_never_logged(tmp_path):
    server = ServerProcess(tmp_path / "data", env={"APPLIANCE_LOG_LEVEL": "debug"}).start()
    try:
        state_path = server.state_path
        assert stat.S_IMODE(state_path.stat().st_mode) == 0o600
        token = __import__("json").loads(state_path.read_text())["token"]
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + "/api/v1/chargers", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200
    finally:
        assert server.terminate() == 0
    assert "listening on" in server.log() and token not in server.log()
