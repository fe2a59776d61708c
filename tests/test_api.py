"""The JSON API: token authentication, the user group and chargers, sessions, clear errors."""

from __future__ import annotations

import aiohttp

from tests.virtual_charger import connect16


async def test_healthz_needs_no_token(appliance):
    async with aiohttp.ClientSession() as session:
        async with session.get(appliance.url + "/healthz") as response:
            assert response.status == 200
            assert (await response.json())["status"] == "ok"


async def test_api_needs_a_valid_token(appliance):
    status, body = await appliance.api("GET", "/api/v1/chargers", token="")
    assert status == 401 and "token" in body["error"]
    status, _ = await appliance.api("GET", "/api/v1/chargers", token="not-a-token")
    assert status == 401


async def test_revoked_token_is_refused(appliance):
    token = await appliance.core.tokens.create("script")
    assert (await appliance.api("GET", "/api/v1/tags", token=token))[0] == 200
    await appliance.core.tokens.revoke("script")
    assert (await appliance.api("GET", "/api/v1/tags", token=token))[0] == 401


async def test_user_group_through_the_api(appliance):
    assert (await appliance.api("POST", "/api/v1/companies", {"name": "Blue Taxi"}))[0] == 201
    assert (await appliance.api("POST", "/api/v1/users", {"name": "alice", "company": "Blue Taxi"}))[0] == 201
    status, tag = await appliance.api("POST", "/api/v1/tags", {"id_tag": "04ab", "user": "alice",
                                                               "expires_at": "2030-01-01"})
    assert status == 201 and tag["id_tag"] == "04AB" and tag["company"] == "Blue Taxi"
    assert tag["expires_at"].startswith("2030-01-02T00:00:00")  # valid through 1 January
    status, blocked = await appliance.api("POST", "/api/v1/tags/04ab/block")
    assert status == 200 and blocked["status"] == "blocked"
    status, tags = await appliance.api("GET", "/api/v1/tags?status=blocked")
    assert [t["id_tag"] for t in tags] == ["04AB"]
    status, companies = await appliance.api("GET", "/api/v1/companies")
    assert companies == [{"id": 1, "name": "Blue Taxi", "drivers": 1}]


async def test_bad_input_says_what_is_wrong(appliance):
    status, body = await appliance.api("POST", "/api/v1/users", {"name": "bob", "company": "Nowhere"})
    assert (status, body["error"]) == (404, "no company 'Nowhere'")
    status, body = await appliance.api("POST", "/api/v1/chargers", {"identity": "CP 1", "protocol": "ocpp1.6-json"})
    assert status == 400 and "may not contain" in body["error"]
    status, body = await appliance.api("POST", "/api/v1/chargers", {"identity": "CP1", "protocol": "ocpp3"})
    assert status == 400 and "protocol must be one of" in body["error"]
    status, body = await appliance.api("POST", "/api/v1/tags", {"id_tag": "X1", "expires_at": "soon"})
    assert status == 400 and "'soon' is not a date" in body["error"]
    status, body = await appliance.api("GET", "/api/v1/sessions?limit=many")
    assert status == 400 and "limit" in body["error"]
    status, body = await appliance.api("GET", "/api/v1/chargers/NOPE")
    assert status == 404


async def test_malformed_json_body_is_refused(appliance):
    async with aiohttp.ClientSession() as session:
        async with session.post(appliance.url + "/api/v1/companies", data=b"{not json",
                                headers={"Authorization": f"Bearer {appliance.token}",
                                         "Content-Type": "application/json"}) as response:
            assert response.status == 400
            assert "not valid JSON" in (await response.json())["error"]


async def test_chargers_and_sessions_through_the_api(appliance):
    status, charger = await appliance.api("POST", "/api/v1/chargers", {"identity": "CP1", "protocol": "ocpp1.6-json",
                                                                       "password": "a-long-password"})
    assert status == 201 and "password_hash" not in charger
    await appliance.core.users.add_driver("alice")
    await appliance.core.users.add_tag("CARD1", "alice")
    async with connect16(appliance.url, "CP1", password="a-long-password") as cp:
        tx = (await cp.start_transaction("CARD1", meter_start=0)).transaction_id
        await cp.meter_values(tx, 2000)
        status, shown = await appliance.api("GET", "/api/v1/chargers/CP1")
        assert shown["connected"] is True and shown["vendor"] == "Virtual"
        status, active = await appliance.api("GET", "/api/v1/sessions?active=true")
        assert [s["id"] for s in active] == [tx]
        await cp.stop_transaction(tx, 3000, "CARD1")
    status, session = await appliance.api("GET", f"/api/v1/sessions/{tx}")
    assert session["energy_wh"] == 3000 and len(session["samples"]) == 3
    status, pending = await appliance.api("GET", "/api/v1/sessions?active=true")
    assert pending == []
