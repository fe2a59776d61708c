"""Chargers authenticate, and no charger speaks for another: Basic auth bound to the id, the networks a
charger may use, passwords only over TLS where configured, and rate limits on wrong passwords and on
charger ids nobody added. Over loopback against the real app."""

from __future__ import annotations

import base64
import json
import aiohttp
import pytest

from appliance import tls
from appliance.app import create_app
from appliance.web.keys import CORE
from tests import backend
from tests.conftest import add_fleet, make_settings
from tests.test_tls import trusting
from tests.virtual_charger import connect16, ws_url
from tests.virtual_soap_client import addressing_of, basic_auth, post_soap, soap_request


async def handshake(url: str, identity: str, headers: dict[str, str] | None = None, ssl=True
                    ) -> tuple[int, dict[str, str], str]:
    """Ask to open an OCPP-J connection as `identity`, as a charger does: the status (101 when
    admitted), the answer's headers, and the refusal's text."""
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(), "Sec-WebSocket-Protocol": "ocpp1.6"}
    async with aiohttp.ClientSession() as session:
        async with session.get(ws_url(url, identity).replace("ws", "http", 1), headers={**upgrade, **(headers or {})},
                               ssl=ssl) as response:
            text = "" if response.status == 101 else await response.text()
            return response.status, dict(response.headers), text


@pytest.fixture
async def two_chargers(appliance):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP-A", "ocpp1.6-json", password="password-of-A")
    await appliance.core.chargers.add("CP-B", "ocpp1.6-json", password="password-of-B")
    return appliance


async def test_a_password_opens_only_its_own_charger(two_chargers):
    url = two_chargers.url
    assert (await handshake(url, "CP-A", basic_auth("CP-A", "password-of-A")))[0] == 101
    assert (await handshake(url, "CP-B", basic_auth("CP-A", "password-of-A")))[0] == 401  # A's credentials, B's id
    assert (await handshake(url, "CP-B", basic_auth("CP-B", "password-of-A")))[0] == 401  # B's name, A's password
    assert (await handshake(url, "CP-A", basic_auth("CP-B", "password-of-B")))[0] == 401
    status, headers, _ = await handshake(url, "CP-A")
    assert status == 401 and headers.get("WWW-Authenticate") == 'Basic realm="OCPP"'


async def test_the_id_in_the_url_is_who_speaks_for_the_whole_connection(two_chargers):
    core = two_chargers.core
    async with connect16(two_chargers.url, "CP-A", password="password-of-A") as cp:
        await cp.status_notification(1, "Charging")
        await cp.start_transaction("CARD1")
    assert [c.connector_number for c in await core.chargers.connectors("CP-A")] == [1]
    assert await core.chargers.connectors("CP-B") == []
    assert {t.charger_identity for t in await core.transactions.list()} == {"CP-A"}


async def test_a_soap_password_opens_only_its_own_charger(appliance):
    await appliance.core.chargers.add("SOAP-A", "ocpp1.6-soap", password="password-of-A")
    await appliance.core.chargers.add("SOAP-B", "ocpp1.6-soap", password="password-of-B")
    heartbeat = "<o:heartbeatRequest/>"
    status, envelope = await post_soap(appliance.url, "1.6", soap_request("1.6", heartbeat, identity="SOAP-B"),
                                       basic_auth("SOAP-A", "password-of-A"))
    assert status == 401
    status, envelope = await post_soap(appliance.url, "1.6", soap_request("1.6", heartbeat, identity="SOAP-A"),
                                       basic_auth("SOAP-A", "password-of-A"))
    assert status == 200 and addressing_of(envelope)["Action"] == "/HeartbeatResponse"


@pytest.mark.parametrize("networks, expected", [
    ("10.0.0.0/8", 403),  # the depot LAN, and the test does not come from it
    ("127.0.0.0/8", 101),
    ("CP-A=10.1.2.3, 127.0.0.0/8", 403),  # CP-A pinned to its own address
    ("CP-B=10.1.2.3", 101),  # only CP-B is pinned
])
async def test_a_charger_connects_only_from_its_networks(start_appliance, tmp_path, networks, expected):
    app = await start_appliance(make_settings(tmp_path / "d", charger_networks=networks))
    await app.core.chargers.add("CP-A", "ocpp1.6-json")
    status, _, text = await handshake(app.url, "CP-A")
    assert status == expected, text
    if expected == 403:
        assert "may not connect from 127.0.0.1" in text


async def test_a_soap_charger_is_pinned_to_its_network(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", charger_networks="SOAP-A=127.0.0.1, 10.0.0.0/8"))
    await app.core.chargers.add("SOAP-A", "ocpp1.6-soap")
    await app.core.chargers.add("SOAP-B", "ocpp1.6-soap")
    assert (await post_soap(app.url, "1.6", soap_request("1.6", "<o:heartbeatRequest/>", identity="SOAP-A")))[0] == 200
    assert (await post_soap(app.url, "1.6", soap_request("1.6", "<o:heartbeatRequest/>", identity="SOAP-B")))[0] == 403


@backend.sqlite_only("two appliances in one test (on PostgreSQL they would share its schema and its "
                     "models' database)")
async def test_passwords_only_over_tls_when_configured(start_appliance, aiohttp_server, tmp_path):
    plain = await start_appliance(make_settings(tmp_path / "plain", charger_passwords_need_tls=True))
    await plain.core.chargers.add("CP-A", "ocpp1.6-json", password="password-of-A")
    await plain.core.chargers.add("OPEN", "ocpp1.6-json")
    status, _, text = await handshake(plain.url, "CP-A", basic_auth("CP-A", "password-of-A"))
    assert status == 403 and "must connect over TLS" in text
    assert (await handshake(plain.url, "OPEN"))[0] == 101  # no password, nothing to protect

    settings = make_settings(tmp_path / "tls", tls=True, charger_passwords_need_tls=True)
    info = tls.ensure_certificate(settings)
    app = create_app(settings)
    server = await aiohttp_server(app, ssl=tls.server_context(info))
    # another id: on PostgreSQL the test's two appliances share its schema
    await app[CORE].chargers.add("CP-T", "ocpp1.6-json", password="password-of-T")
    url = str(server.make_url("/")).rstrip("/")
    assert (await handshake(url, "CP-T", basic_auth("CP-T", "password-of-T"), ssl=trusting(info)))[0] == 101


@backend.sqlite_only("two appliances in one test (on PostgreSQL they would share its schema and its "
                     "models' database)")
async def test_a_trusted_proxy_names_the_client_and_others_cannot(start_appliance, tmp_path):
    pinned = "CP-A=192.0.2.10"
    behind = await start_appliance(make_settings(tmp_path / "a", charger_networks=pinned, trusted_proxies="127.0.0.1",
                                                 charger_passwords_need_tls=True))
    await behind.core.chargers.add("CP-A", "ocpp1.6-json", password="password-of-A")
    proxied = {"X-Forwarded-For": "192.0.2.10", "X-Forwarded-Proto": "https", **basic_auth("CP-A", "password-of-A")}
    assert (await handshake(behind.url, "CP-A", proxied))[0] == 101
    assert (await handshake(behind.url, "CP-A", dict(proxied, **{"X-Forwarded-Proto": "http"})))[0] == 403
    assert (await handshake(behind.url, "CP-A", dict(proxied, **{"X-Forwarded-For": "192.0.2.11"})))[0] == 403

    # another id: on PostgreSQL the test's two appliances share its schema
    direct = await start_appliance(make_settings(tmp_path / "b", charger_networks="CP-B=192.0.2.10",
                                                 trusted_proxies="10.0.0.1"))
    await direct.core.chargers.add("CP-B", "ocpp1.6-json")
    assert (await handshake(direct.url, "CP-B", {"X-Forwarded-For": "192.0.2.10"}))[0] == 403  # not from the proxy


async def test_wrong_passwords_are_slowed_down_for_that_charger_only(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", charger_auth_failures_per_min=2))
    await app.core.chargers.add("CP-A", "ocpp1.6-json", password="password-of-A")
    await app.core.chargers.add("CP-B", "ocpp1.6-json", password="password-of-B")
    for guess in ("guess-1", "guess-2"):
        assert (await handshake(app.url, "CP-A", basic_auth("CP-A", guess)))[0] == 401
    status, headers, text = await handshake(app.url, "CP-A", basic_auth("CP-A", "password-of-A"))
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 30 and "too many wrong passwords" in text
    assert (await handshake(app.url, "CP-B", basic_auth("CP-B", "password-of-B")))[0] == 101
    assert (await handshake(app.url, "CP-A"))[0] == 429  # refused before any password counts


async def test_a_connection_without_credentials_is_no_guess(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", charger_auth_failures_per_min=1))
    await app.core.chargers.add("CP-A", "ocpp1.6-json", password="password-of-A")
    for _ in range(3):  # a client that sends credentials only when asked is not locked out
        assert (await handshake(app.url, "CP-A"))[0] == 401
    assert (await handshake(app.url, "CP-A", basic_auth("CP-A", "password-of-A")))[0] == 101


async def test_unknown_ids_from_one_address_are_rate_limited_and_not_recorded(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", unknown_chargers_per_address_per_min=2))
    await app.core.chargers.add("KNOWN", "ocpp1.6-json")
    assert [(await handshake(app.url, f"RANDOM-{i}"))[0] for i in range(2)] == [101, 101]
    status, headers, text = await handshake(app.url, "RANDOM-2")
    assert status == 429 and int(headers["Retry-After"]) >= 1 and "too many unknown chargers" in text
    assert (await handshake(app.url, "KNOWN"))[0] == 101  # chargers someone added are not affected
    assert (await handshake(app.url, "RANDOM-0"))[0] == 101  # nor those already recorded
    assert sorted(c.identity for c in await app.core.chargers.list("pending")) == ["RANDOM-0", "RANDOM-1"]


async def test_unknown_ids_stop_being_recorded_at_the_cap(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", unknown_chargers_max=2, unknown_chargers="reject"))
    assert [(await handshake(app.url, f"RANDOM-{i}"))[0] for i in range(2)] == [101, 101]
    status, _, text = await handshake(app.url, "RANDOM-2")
    assert status == 403 and "unknown_chargers_max" in text
    assert len(await app.core.chargers.list()) == 2
    await app.core.chargers.set_registration("RANDOM-0", "accepted")  # a decision frees a place
    await app.core.bus.drain()  # once the registry has heard of it
    assert (await handshake(app.url, "RANDOM-2"))[0] == 101


async def test_a_charger_behind_a_trusted_proxy_talks_as_usual(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", trusted_proxies="127.0.0.1",
                                              charger_networks="CP-A=192.0.2.10"))
    await app.core.chargers.add("CP-A", "ocpp1.6-json")
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(app.url, "CP-A"), protocols=["ocpp1.6"],
                                      headers={"X-Forwarded-For": "192.0.2.10"}) as ws:
            await ws.send_str('[2,"b","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]')
            assert json.loads((await ws.receive()).data)[2]["status"] == "Accepted"
            await ws.send_str('[2,"h","Heartbeat",{}]')
            assert json.loads((await ws.receive()).data)[:2] == [3, "h"]
