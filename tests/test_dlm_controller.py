"""The load-management controller against virtual chargers on loopback: chargers that reject or
ignore their limits, reboots, throttle keys, priorities, charge-first, turns, and a site meter."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiohttp import web
from ocpp.v16 import call as call16

from appliance.web.keys import DLM
from tests.conftest import add_fleet, make_settings, wait_for
from tests.test_dlm_depot import draw16, limit_now, tx_limit
from tests.virtual_charger import connect16
from tests.virtual_charger201 import now_wire


async def make_depot(start_appliance, tmp_path, chargers: list[str], limit_a: float = 32.0, **settings: Any):
    options = dict(dlm_min_interval_s=0.0, dlm_hysteresis_a=0.5, dlm_ignore_grace_s=0.0)
    options.update(settings)
    app = await start_appliance(make_settings(tmp_path / "data", **options))
    await add_fleet(app.core, {f"TAG-{i}": {} for i in range(1, 6)})
    await app.core.circuits.add("main", limit_a, 3)
    for identity in chargers:
        await app.core.chargers.add(identity, "ocpp1.6-json")
        await app.core.circuits.assign("main", identity, phases=3)
    return app


def evse_status(app, identity: str) -> dict[str, Any]:
    """The EVSE in the live view ({} until the controller has loaded it)."""
    return next((e for c in app.server.app[DLM].circuit_status() for e in c["evses"] if e["charger"] == identity), {})


async def start(cp, tag: str) -> int:
    answer = await cp.call(call16.StartTransaction(connector_id=1, id_tag=tag, meter_start=0, timestamp=now_wire()))
    return answer.transaction_id


def default_limit(cp) -> float | None:
    for _, p in cp.profiles.values():
        if p["charging_profile_purpose"] == "TxDefaultProfile":
            return limit_now(p, dt.datetime.now(dt.timezone.utc))
    return None


async def test_a_charger_that_rejects_its_limit_is_flagged_and_counted_at_its_maximum(start_appliance, tmp_path):
    app = await make_depot(start_appliance, tmp_path, ["OK1", "BAD1"], limit_a=40.0)
    async with connect16(app.url, "OK1") as ok, connect16(app.url, "BAD1") as bad:
        bad.answers["SetChargingProfile"] = "Rejected"
        await wait_for(lambda: evse_status(app, "BAD1").get("flag") == "rejects")
        assert "Rejected" in evse_status(app, "BAD1")["flag_detail"]
        # BAD1 may draw its 32 A at any time: OK1's car gets what is left, 8 A.
        tx = await start(ok, "TAG-1")
        await wait_for(lambda: tx_limit(ok, 1, tx) is not None)
        assert tx_limit(ok, 1, tx) == pytest.approx(8.0)
        assert evse_status(app, "BAD1")["mode"] == "held"
        # Staff vouch for it again after a firmware fix; it now takes its limit.
        bad.answers.pop("SetChargingProfile")
        status, body = await app.api("POST", "/api/v1/chargers/BAD1/load-flag/clear")
        assert (status, body["cleared"]) == (200, 1)
        await wait_for(lambda: default_limit(bad) is not None)
        await wait_for(lambda: tx_limit(ok, 1, tx) > 8.0)


async def test_a_charger_whose_car_draws_over_its_limit_is_flagged_as_ignoring_it(start_appliance, tmp_path):
    app = await make_depot(start_appliance, tmp_path, ["IGN1", "OK2"])
    async with connect16(app.url, "IGN1") as ign, connect16(app.url, "OK2") as ok:
        tx_ok, tx_ign = await start(ok, "TAG-1"), await start(ign, "TAG-2")
        await wait_for(lambda: tx_limit(ign, 1, tx_ign) and tx_limit(ok, 1, tx_ok))
        assert tx_limit(ign, 1, tx_ign) == pytest.approx(16.0)
        # Within the tolerance (2 A or 10 %) is not ignoring.
        await draw16(ign, tx_ign, {"L1": 17.5, "L2": 17.0, "L3": 16.0})
        await draw16(ign, tx_ign, {"L1": 17.5, "L2": 17.0, "L3": 16.0})
        assert evse_status(app, "IGN1")["flag"] == ""
        # Twice well over it is.
        await draw16(ign, tx_ign, {"L1": 30.0, "L2": 30.0, "L3": 30.0})
        await draw16(ign, tx_ign, {"L1": 30.0, "L2": 30.0, "L3": 30.0})
        await wait_for(lambda: evse_status(app, "IGN1")["flag"] == "ignores")
        assert "30.0 A" in evse_status(app, "IGN1")["flag_detail"]
        # Its capacity is held as drawn at its maximum: OK2's car is cut to nothing (32 A - 32 A).
        await wait_for(lambda: tx_limit(ok, 1, tx_ok) == 0.0)


async def test_a_charger_that_reboots_gets_its_profiles_again(start_appliance, tmp_path):
    app = await make_depot(start_appliance, tmp_path, ["RB1"])
    async with connect16(app.url, "RB1") as cp:
        await wait_for(lambda: default_limit(cp) is not None)
        cp.profiles.clear()  # a reboot loses them
        await cp.boot()
        await wait_for(lambda: default_limit(cp) is not None)


async def test_a_car_that_takes_less_than_offered_leaves_the_rest_to_the_others(start_appliance, tmp_path):
    app = await make_depot(start_appliance, tmp_path, ["SLOW", "FAST"])
    async with connect16(app.url, "SLOW") as slow, connect16(app.url, "FAST") as fast:
        tx_slow, tx_fast = await start(slow, "TAG-1"), await start(fast, "TAG-2")
        await wait_for(lambda: tx_limit(slow, 1, tx_slow) == 16.0 and tx_limit(fast, 1, tx_fast) == 16.0)
        # The slow car's own charger takes 10 A whatever it is offered; and on one phase only.
        await draw16(slow, tx_slow, {"L1": 10.0, "L2": 0.0, "L3": 0.0})
        await wait_for(lambda: tx_limit(fast, 1, tx_fast) == pytest.approx(20.0))
        assert tx_limit(slow, 1, tx_slow) == pytest.approx(12.0)  # what it draws plus 2 A headroom


async def test_charge_first_and_priorities_decide_who_charges_when_not_all_can(start_appliance, tmp_path):
    app = await make_depot(start_appliance, tmp_path, ["P1", "P2", "P3"], limit_a=14.0)
    core = app.core
    await core.users.add_company("Night Taxi")
    await core.users.add_driver("bob", "Night Taxi")
    await core.users.add_tag("BOB-1", "bob")
    async with connect16(app.url, "P1") as p1, connect16(app.url, "P2") as p2, connect16(app.url, "P3") as p3:
        tx1 = await start(p1, "TAG-1")
        await wait_for(lambda: tx_limit(p1, 1, tx1) == 14.0)
        tx2 = await start(p2, "TAG-2")
        # 14 A holds two minimums (6 A): both charge, 7 A each.
        await wait_for(lambda: tx_limit(p1, 1, tx1) == 7.0 and tx_limit(p2, 1, tx2) == 7.0)
        tx3 = await start(p3, "BOB-1")
        # A third does not fit: it waits at 0 A, the first two keep their turn.
        await wait_for(lambda: tx_limit(p3, 1, tx3) == 0.0)
        # Night Taxi's cars go first.
        await app.api("PUT", "/api/v1/priorities/company/Night Taxi", {"priority": 5})
        await wait_for(lambda: tx_limit(p3, 1, tx3) >= 6.0)
        assert sorted([tx_limit(p1, 1, tx1), tx_limit(p2, 1, tx2)])[0] == 0.0
        # Staff let session 2 charge first: it takes all it can before anyone's minimum.
        status, _ = await app.api("POST", f"/api/v1/sessions/{tx2}/charge-first", {"on": True})
        assert status == 200
        await wait_for(lambda: tx_limit(p2, 1, tx2) == 14.0 and tx_limit(p3, 1, tx3) == 0.0
                       and tx_limit(p1, 1, tx1) == 0.0)
        status, body = await app.api("GET", "/api/v1/load-management")
        assert sorted(body["circuits"][0]["waiting"]) == ["P1/1", "P3/1"]


async def test_waiting_sessions_take_turns(start_appliance, tmp_path):
    app = await make_depot(start_appliance, tmp_path, ["T1", "T2"], limit_a=8.0, dlm_turn_s=1.0)
    async with connect16(app.url, "T1") as t1, connect16(app.url, "T2") as t2:
        tx1 = await start(t1, "TAG-1")
        await wait_for(lambda: tx_limit(t1, 1, tx1) == 8.0)
        tx2 = await start(t2, "TAG-2")
        await wait_for(lambda: tx_limit(t2, 1, tx2) == 0.0)
        # After its turn, T1 waits and T2 charges; then back again.
        await wait_for(lambda: tx_limit(t2, 1, tx2) == 8.0 and tx_limit(t1, 1, tx1) == 0.0, timeout=5)
        await wait_for(lambda: tx_limit(t1, 1, tx1) == 8.0 and tx_limit(t2, 1, tx2) == 0.0, timeout=5)


async def test_a_throttle_key_limits_a_charger_without_smart_charging(start_appliance, tmp_path):
    app = await make_depot(start_appliance, tmp_path, [])
    await app.core.chargers.add("TH1", "ocpp1.6-json")
    await app.core.circuits.assign("main", "TH1", throttle_key="MaxCurrentA")
    async with connect16(app.url, "TH1") as cp:
        await wait_for(lambda: cp.configuration.get("MaxCurrentA") == "6")  # idle: its start current
        tx = await start(cp, "TAG-1")
        await wait_for(lambda: cp.configuration.get("MaxCurrentA") == "32")
        assert not cp.profiles
        await cp.call(call16.StopTransaction(meter_stop=10, timestamp=now_wire(), transaction_id=tx))
        await wait_for(lambda: cp.configuration.get("MaxCurrentA") == "6")


async def test_a_site_meter_reading_replaces_the_static_reserve(start_appliance, tmp_path, aiohttp_server):
    reading = {"L1": 4.0, "L2": 10.0, "L3": 2.0}

    async def meter(request: web.Request) -> web.Response:
        return web.json_response({"phases": [reading["L1"], reading["L2"], reading["L3"]]})

    meter_app = web.Application()
    meter_app.router.add_get("/status", meter)
    server = await aiohttp_server(meter_app)
    url = str(server.make_url("/status")) + "#L1=phases.0&L2=phases.1&L3=phases.2"
    app = await make_depot(start_appliance, tmp_path, ["M1"], dlm_meter_interval_s=0.05, dlm_meter_stale_s=0.5)
    await app.api("PATCH", "/api/v1/circuits/main", {"reserve_a": 1.0, "meter_url": url})
    async with connect16(app.url, "M1") as cp:
        tx = await start(cp, "TAG-1")
        # The workshop draws 10 A on L2: the 3-phase car gets 32 - 10 = 22 A.
        await wait_for(lambda: tx_limit(cp, 1, tx) == pytest.approx(22.0))
        reading["L2"] = 20.0
        await wait_for(lambda: tx_limit(cp, 1, tx) == pytest.approx(12.0))
        status, body = await app.api("GET", "/api/v1/circuits/main")
        assert body["status"]["meter"]["fresh"] is True
        assert body["status"]["reserve_now_a"]["L2"] == pytest.approx(20.0)
        # The meter goes quiet: after dlm_meter_stale_s the static reserve (1 A) applies again.
        await server.close()
        await wait_for(lambda: tx_limit(cp, 1, tx) == pytest.approx(31.0))


async def test_an_ocpp15_charger_is_counted_at_its_maximum(start_appliance, tmp_path):
    app = await make_depot(start_appliance, tmp_path, ["NEW16"])
    await app.core.chargers.add("OLD15", "ocpp1.5-soap")
    await app.core.circuits.assign("main", "OLD15", max_current_a=16.0)
    async with connect16(app.url, "NEW16") as cp:
        tx = await start(cp, "TAG-1")
        await wait_for(lambda: tx_limit(cp, 1, tx) == 16.0)
        old = evse_status(app, "OLD15")
        assert (old["control"], old["mode"], old["held_a"]) == ("none", "held", 16.0)


async def test_bad_plans_through_the_api_get_a_clear_400(start_appliance, tmp_path):
    app = await make_depot(start_appliance, tmp_path, ["API1"])
    for method, path, body, message in [
        ("POST", "/api/v1/circuits", {"name": "x"}, "max_current_a is required"),
        ("POST", "/api/v1/circuits", {"name": "x", "max_current_a": "lots"}, "max_current_a must be a number"),
        ("POST", "/api/v1/circuits", {"name": "x", "max_current_a": 10, "phases": 2}, "1 or 3 phases"),
        ("POST", "/api/v1/circuits", {"name": "x", "max_current_a": 10, "meter_url": "modbus-tcp://h"},
         "meter_url"),
        ("PATCH", "/api/v1/circuits/main", {"reserve_a": 40}, "reserve must be less"),
        ("POST", "/api/v1/circuits/main/members", {"charger": "API1", "rotation": "XYZ"}, "phase rotation"),
        ("PUT", "/api/v1/priorities/company/Blue Taxi", {"priority": 1000}, "-100 to 100"),
        ("POST", "/api/v1/sessions/1/charge-first", {"on": "yes"}, "on must be true or false"),
    ]:
        status, answer = await app.api(method, path, body)
        assert status == 400 and message in answer["error"], (path, body, answer)
    status, answer = await app.api("GET", "/api/v1/circuits/nowhere")
    assert status == 404 and "no circuit 'nowhere'" in answer["error"]
    status, answer = await app.api("DELETE", "/api/v1/circuits/main")
    assert status == 400 and "still feeds charger(s) API1" in answer["error"]
