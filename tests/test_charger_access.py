"""Chargers open only to named companies: the rule at the charger (1.6: Invalid, 2.0.1:
NotAtThisLocation), on its local list, and through the CLI."""

from __future__ import annotations

import json

import pytest
from ocpp.v16 import call

from tests.conftest import make_settings, run_cli, wait_for
from tests.virtual_charger import connect16
from tests.virtual_charger201 import connect201


@pytest.fixture
async def depot(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", local_list_sync=True))
    core = app.core
    for company, driver, tag in (("Blue Taxi", "alice", "BLUE1"), ("Red Cabs", "bob", "RED1")):
        await core.users.add_company(company)
        await core.users.add_driver(driver, company)
        await core.users.add_tag(tag, driver)
    await core.chargers.add("BLUE-ONLY", "ocpp1.6-json")
    await core.chargers.add("BLUE-201", "ocpp2.0.1")
    await core.chargers.add("OPEN", "ocpp1.6-json")
    await core.chargers.set_access("BLUE-ONLY", ["Blue Taxi"])
    await core.chargers.set_access("BLUE-201", ["Blue Taxi"])
    return app


async def test_a_charger_open_to_one_company_refuses_the_others(depot):
    async with connect16(depot.url, "BLUE-ONLY") as blue, connect16(depot.url, "OPEN") as open_one, \
            connect201(depot.url, "BLUE-201") as station:
        assert (await blue.call(call.Authorize(id_tag="BLUE1"))).id_tag_info["status"] == "Accepted"
        assert (await blue.call(call.Authorize(id_tag="RED1"))).id_tag_info["status"] == "Invalid"  # 1.6 has no better
        assert (await blue.start_transaction("RED1")).id_tag_info["status"] == "Invalid"
        assert (await open_one.call(call.Authorize(id_tag="RED1"))).id_tag_info["status"] == "Accepted"
        assert (await station.authorize("RED1")).id_token_info["status"] == "NotAtThisLocation"
        assert (await station.authorize("BLUE1")).id_token_info["status"] == "Accepted"


async def test_each_charger_list_holds_only_who_may_charge_there_and_follows_changes(depot):
    async with connect16(depot.url, "BLUE-ONLY") as blue, connect16(depot.url, "OPEN") as open_one:
        await wait_for(lambda: blue.local_list == {"BLUE1": "Accepted"})
        await wait_for(lambda: open_one.local_list == {"BLUE1": "Accepted", "RED1": "Accepted"})
        await depot.core.chargers.set_access("BLUE-ONLY", ["Blue Taxi", "Red Cabs"])
        await wait_for(lambda: blue.local_list == {"BLUE1": "Accepted", "RED1": "Accepted"})
        await depot.core.chargers.set_access("BLUE-ONLY", [])  # open to all again: same list
        await depot.core.chargers.set_access("BLUE-ONLY", ["Red Cabs"])
        await wait_for(lambda: blue.local_list == {"RED1": "Accepted"})


async def test_access_through_the_cli(depot):
    data_dir = depot.core.settings.data_dir
    assert (await run_cli(data_dir, "charger", "access", "OPEN")).strip() == "OPEN is open to the whole depot"
    shown = json.loads(await run_cli(data_dir, "charger", "access", "OPEN", "--company", "Red Cabs", "--json"))
    assert shown["open_to"] == ["Red Cabs"]
    assert (await depot.core.chargers.access("OPEN")) == ["Red Cabs"]
    assert (await run_cli(data_dir, "charger", "access", "OPEN", "--open")).strip() == \
        "OPEN is open to the whole depot"


async def test_a_vehicles_tag_charges_where_its_company_may(depot):
    core = depot.core
    await core.users.add_vehicle("TAXI-17", "Red Cabs")
    record = await core.users.add_tag("CAR17", vehicle="TAXI-17")
    assert (record.vehicle, record.driver, record.company) == ("TAXI-17", None, "Red Cabs")
    async with connect16(depot.url, "BLUE-ONLY") as blue, connect16(depot.url, "OPEN") as open_one:
        assert (await blue.call(call.Authorize(id_tag="CAR17"))).id_tag_info["status"] == "Invalid"
        assert (await open_one.call(call.Authorize(id_tag="CAR17"))).id_tag_info["status"] == "Accepted"
        await wait_for(lambda: "CAR17" in open_one.local_list and "CAR17" not in blue.local_list)


async def test_vehicles_through_the_cli_and_api(depot):
    data_dir = depot.core.settings.data_dir
    await run_cli(data_dir, "vehicle", "add", "TAXI-9", "--company", "Blue Taxi")
    await run_cli(data_dir, "tag", "add", "car9", "--vehicle", "TAXI-9")
    [tag] = [t for t in json.loads(await run_cli(data_dir, "tag", "list", "--json")) if t["id_tag"] == "CAR9"]
    assert (tag["vehicle"], tag["company"], tag["driver"]) == ("TAXI-9", "Blue Taxi", None)
    status, body = await depot.api("POST", "/api/v1/vehicles", {"name": "TAXI-10", "company": "Red Cabs"})
    assert status == 201 and body["company"] == "Red Cabs"
    status, body = await depot.api("POST", "/api/v1/tags", {"id_tag": "CAR10", "vehicle": "TAXI-10"})
    assert status == 201 and body["vehicle"] == "TAXI-10"
    status, body = await depot.api("POST", "/api/v1/tags", {"id_tag": "BOTH", "vehicle": "TAXI-10", "user": "bob"})
    assert status == 400 and "not both" in body["error"]


async def test_a_group_of_chargers_open_to_one_company(depot):
    core = depot.core
    await core.chargers.add_group("Red bays")
    await core.chargers.set_group_access("Red bays", ["Red Cabs"])
    await core.chargers.set_group("OPEN", "Red bays")
    await core.chargers.set_group("BLUE-ONLY", "Red bays")  # its own access comes first
    async with connect16(depot.url, "OPEN") as red, connect16(depot.url, "BLUE-ONLY") as blue:
        assert (await red.call(call.Authorize(id_tag="BLUE1"))).id_tag_info["status"] == "Invalid"
        assert (await red.call(call.Authorize(id_tag="RED1"))).id_tag_info["status"] == "Accepted"
        assert (await blue.call(call.Authorize(id_tag="BLUE1"))).id_tag_info["status"] == "Accepted"
        await wait_for(lambda: red.local_list == {"RED1": "Accepted"})
        await core.chargers.set_group_access("Red bays", [])  # the group opened to all: its list follows
        await wait_for(lambda: red.local_list == {"BLUE1": "Accepted", "RED1": "Accepted"})
        await core.chargers.set_group("OPEN", None)
    [group] = await core.chargers.groups()
    assert (group.name, group.chargers, group.open_to) == ("Red bays", ["BLUE-ONLY"], [])


async def test_groups_through_the_cli(depot):
    data_dir = depot.core.settings.data_dir
    assert (await run_cli(data_dir, "charger", "group", "add", "North")).strip() == "group North added"
    await run_cli(data_dir, "charger", "group", "join", "OPEN", "North")
    assert (await run_cli(data_dir, "charger", "group", "access", "North", "--company", "Blue Taxi")).strip() == \
        "group North (1 chargers) is open to Blue Taxi"
    [group] = json.loads(await run_cli(data_dir, "charger", "group", "list", "--json"))
    assert (group["chargers"], group["open_to"]) == (["OPEN"], ["Blue Taxi"])


async def test_a_driver_moved_to_another_company_follows_on_the_lists(depot):
    async with connect16(depot.url, "BLUE-ONLY") as blue:
        await wait_for(lambda: blue.local_list == {"BLUE1": "Accepted"})
        await run_cli(depot.core.settings.data_dir, "user", "move", "bob", "--company", "Blue Taxi")
        await wait_for(lambda: blue.local_list == {"BLUE1": "Accepted", "RED1": "Accepted"})
        assert (await blue.call(call.Authorize(id_tag="RED1"))).id_tag_info["status"] == "Accepted"
        shown = json.loads(await run_cli(depot.core.settings.data_dir, "charger", "local-list", "show", "BLUE-ONLY",
                                         "--json"))
        assert (shown["entries"], shown["pending_changes"], shown["error"]) == (2, 0, "")
