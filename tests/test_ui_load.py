"""The load-management pages over HTML: /circuits with live per-phase bars for a connected charger,
the forms that change the plan (good input, bad input with the field's message and nothing changed),
priorities and charge-first, and what a viewer may not do."""

from __future__ import annotations

import re

from appliance.web.keys import DLM
from tests.conftest import make_settings, wait_for
from tests.ui_client import staff_client, text_of


def field_error(html: str, field: str) -> str:
    """The message shown under a form field (the macros' <small class="error" id="e-FIELD">)."""
    found = re.search(rf'<small class="error" id="e-(?:f-)?{field}">([^<]*)</small>', html)
    return found.group(1) if found else ""


async def settled(appliance) -> None:
    await appliance.core.circuits.list()
    dlm = appliance.server.app[DLM]
    dlm.poke()
    await dlm.settled()


async def test_circuits_page_shows_each_phase_live_for_a_charging_evse(appliance, cp, staff):
    await appliance.core.circuits.add("Main", 40.0)
    await appliance.core.circuits.add("Row A", 32.0, parent="Main", reserve_a=4.0)
    await appliance.core.circuits.assign("Row A", "CP1")
    started = await cp.start_transaction("CARD1")
    tx = started.transaction_id
    dlm = appliance.server.app[DLM]
    await wait_for(lambda: any(e["transaction_id"] == tx and e["limit_a"]
                               for c in dlm.circuit_status() for e in c["evses"]))
    status, html = await staff.get("/circuits")
    assert status == 200
    words = text_of(html)
    # Row A: 32 A limit, 4 A reserve leave 28 A for chargers, all of it allocated to the one session.
    assert html.count('class="bar"') == 6  # three phases on each circuit
    assert 'aria-label="L1: 28 A allocated, 0 A measured, limit 32 A, 28 A for chargers"' in html
    assert "32.0 A" in words and "28.0 A" in words and "40.0 A" in words
    assert 'style="width: 87.5%"' in html  # 28 of 32
    assert 'href="/chargers/CP1?tab=load"' in html
    assert f'href="/sessions/{tx}"' in html
    assert 'data-live-src="/circuits?fragment=live"' in html and 'data-live-on="load session meter' in html
    status, fragment = await staff.get("/circuits?fragment=live")
    assert status == 200 and "<html" not in fragment and 'class="bar"' in fragment
    status, detail = await staff.get("/circuits/Row%20A")
    assert status == 200
    assert "Circuit Row A" in text_of(detail) and "Wire a charger to Row A" in text_of(detail)
    assert 'data-live-src="/circuits/Row%20A?fragment=live"' in detail
    # The load is recorded at once: the day's chart and its table (the table in the depot's time).
    assert '<svg' in detail and 'aria-label="Load of circuit Row A over the last 24 hours"' in detail
    assert "Highest allocation and measured draw per phase" in detail
    status, fragment = await staff.get("/circuits/Row%20A?fragment=live")
    assert status == 200 and fragment.count('class="bar"') == 3


async def test_waiting_sessions_are_listed_and_can_charge_first(appliance, staff):
    from tests.conftest import add_fleet
    from tests.virtual_charger import connect16

    await add_fleet(appliance.core, {"CARD1": {}, "CARD2": {}})
    await appliance.core.circuits.add("Small", 10.0, phases=1)
    for identity in ("CP1", "CP2"):
        await appliance.core.chargers.add(identity, "ocpp1.6-json")
        await appliance.core.circuits.assign("Small", identity)
    dlm = appliance.server.app[DLM]
    async with connect16(appliance.url, "CP1") as one, connect16(appliance.url, "CP2") as two:
        first = (await one.start_transaction("CARD1")).transaction_id
        second = (await two.start_transaction("CARD2")).transaction_id
        # 10 A cannot give two cars 6 A each: the later one waits.
        await wait_for(lambda: any(e["mode"] == "waiting" for c in dlm.circuit_status() for e in c["evses"]))
        status, html = await staff.get("/circuits")
        words = text_of(html)
        assert "Waiting for power" in words and "Nobody waits" not in words
        waiting = html[html.index("Waiting for power"):html.index("Charging first")]
        assert f'href="/sessions/{second}"' in waiting and "CARD2" in waiting
        status, html = await staff.post("/circuits/charge-first", {"transaction_id": second, "on": "1"})
        assert status == 200 and f"Session {second} charges before every other." in text_of(html)
        await wait_for(lambda: any(e["transaction_id"] == first and e["mode"] == "waiting"
                                   for c in dlm.circuit_status() for e in c["evses"]))
        status, html = await staff.get("/circuits")
        charge_first = html[html.index("Charging first"):]
        assert f'href="/sessions/{second}"' in charge_first and "Back in turn" in charge_first
        status, html = await staff.post("/circuits/charge-first", {"transaction_id": second, "on": "0"})
        assert f"Session {second} takes its turn" in text_of(html)
        status, html = await staff.post("/circuits/charge-first", {"transaction_id": 999999, "on": "1"})
        assert "No session 999999" in text_of(html)


async def test_add_circuit_form_adds_it_or_says_what_is_wrong_at_the_field(appliance, staff):
    status, html = await staff.post("/circuits", {"name": "Main", "max_current_a": "63", "phases": "3",
                                                  "reserve_a": "5", "meter_measures": "other"})
    assert status == 200 and "Circuit Main added." in text_of(html)
    assert "Circuit Main" in text_of(html)  # the new circuit's page
    record = await appliance.core.circuits.get("Main")
    assert (record.max_current_a, record.phases, record.reserve_a, record.min_current_a) == (63.0, 3, 5.0, 6.0)

    bad = [({"name": "B", "max_current_a": "lots", "phases": "3"}, "max_current_a",
            "Limit per phase (A): 'lots' is not a number"),
           ({"name": "B", "max_current_a": "16", "phases": "3", "reserve_a": "16"}, "reserve_a",
            "The reserve must be less than the circuit's limit"),
           ({"name": "Main", "max_current_a": "16", "phases": "3"}, "name", "Circuit 'Main' already exists"),
           ({"name": "B", "max_current_a": "16", "phases": "3", "parent": "Nowhere"}, "parent",
            "No parent circuit 'Nowhere'"),
           ({"name": "B", "max_current_a": "16", "phases": "3", "meter_url": "ftp://meter"}, "meter_url",
            "Site meter address:"),
           ({"name": "", "max_current_a": "16", "phases": "3"}, "name", "Name: please fill this in")]
    for form, field, message in bad:
        status, html = await staff.post("/circuits", form)
        assert status == 400, form
        assert field_error(html, field).startswith(message.replace("'", "&#39;")), (form, field_error(html, field))
        assert 'value="16"' in html or form["max_current_a"] != "16"  # what was typed stays
    assert [c.name for c in await appliance.core.circuits.list()] == ["Main"]

    # A 1-phase sub-circuit on L2 under a 1-phase L1 circuit cannot be.
    await staff.post("/circuits", {"name": "Single", "max_current_a": "16", "phases": "1", "phase": "L1"})
    status, html = await staff.post("/circuits", {"name": "Sub", "max_current_a": "10", "phases": "1",
                                                  "phase": "L2", "parent": "Single"})
    assert status == 400 and "cannot carry L2" in field_error(html, "phases")


async def test_edit_assign_unassign_and_remove_a_circuit(appliance, cp, staff):
    await appliance.core.circuits.add("Main", 63.0, meter_url="http://admin:s3cret@meter.local/json#L1=a")
    status, html = await staff.get("/circuits/Main")
    assert "s3cret" not in html and "admin:***@meter.local" in html
    # Unchanged (masked) meter address keeps the real one.
    status, html = await staff.post("/circuits/Main/edit", {
        "max_current_a": "50", "phases": "3", "reserve_a": "2", "min_current_a": "6", "voltage_v": "230",
        "meter_url": "http://admin:***@meter.local/json#L1=a", "meter_measures": "total", "parent": ""})
    assert status == 200 and "Circuit Main changed." in text_of(html)
    record = await appliance.core.circuits.get("Main")
    assert (record.max_current_a, record.meter_measures) == (50.0, "total")
    assert record.meter_url == "http://admin:s3cret@meter.local/json#L1=a"
    status, html = await staff.post("/circuits/Main/edit", {"max_current_a": "0", "phases": "3"})
    assert status == 400 and field_error(html, "max_current_a") == "Limit per phase (A): at least 0.1"
    assert (await appliance.core.circuits.get("Main")).max_current_a == 50.0

    status, html = await staff.post("/circuits/Main/assign", {"wire_charger": "CP1", "wire_phases": "1",
                                                              "wire_phase": "L3", "wire_max_current_a": "16"})
    assert status == 200 and "Charger CP1 wired to circuit Main." in text_of(html)
    [member] = await appliance.core.circuits.members(circuit="Main")
    assert (member.identity, member.phases, member.phase, member.max_current_a) == ("CP1", 1, "L3", 16.0)
    status, html = await staff.post("/circuits/Main/assign", {"wire_charger": "NOPE"})
    assert status == 400 and field_error(html, "wire_charger") == "No charger &#39;NOPE&#39;"
    status, html = await staff.post("/circuits/Main/assign", {"wire_charger": "CP1", "wire_rotation": "XYZ"})
    assert status == 400 and "Phase rotation: choose one of" in field_error(html, "wire_rotation")

    status, html = await staff.post("/circuits/Main/remove", {})
    assert status == 400 and "still feeds charger(s) CP1" in text_of(html)
    status, html = await staff.post("/circuits/Main/unassign", {"charger": "CP1", "evse": "0"})
    assert "Charger CP1 is no longer wired to circuit Main" in text_of(html)
    assert await appliance.core.circuits.members(circuit="Main") == []
    status, html = await staff.post("/circuits/Main/remove", {})
    assert status == 200 and "Circuit Main removed." in text_of(html)
    assert await appliance.core.circuits.list() == []
    status, html = await staff.get("/circuits/Main")
    assert status == 404 and "no circuit" in text_of(html).lower()


async def test_priority_form_sets_a_priority_or_names_what_is_wrong(appliance, cp, staff):
    status, html = await staff.post("/circuits/priority", {"priority_kind": "company", "priority_name": "Blue Taxi",
                                                           "priority_value": "5"})
    assert status == 200 and "The company Blue Taxi now has priority 5; higher goes first." in text_of(html)
    assert await appliance.core.circuits.priorities() == [("company", "Blue Taxi", 5)]
    assert 'href="/companies/Blue%20Taxi"' in html
    status, html = await staff.post("/circuits/priority", {"priority_kind": "user", "priority_name": "bob",
                                                           "priority_value": "3"})
    assert status == 400 and field_error(html, "priority_name") == "No user &#39;bob&#39;"
    status, html = await staff.post("/circuits/priority", {"priority_kind": "user", "priority_name": "alice",
                                                           "priority_value": "101"})
    assert status == 400 and field_error(html, "priority_value") == "Priority: at most 100"
    assert await appliance.core.circuits.priorities() == [("company", "Blue Taxi", 5)]


async def test_a_viewer_sees_the_plan_but_no_forms_and_may_not_change_it(appliance, staff):
    await appliance.core.circuits.add("Main", 32.0)
    viewer = await staff_client(appliance, "viewer")
    try:
        status, html = await viewer.get("/circuits")
        assert status == 200 and "Main" in html
        assert "Add a circuit" not in html and "Set priority" not in html
        status, html = await viewer.get("/circuits/Main")
        assert status == 200 and "Change Main" not in html and "Wire charger" not in html
        status, html = await viewer.post("/circuits", {"name": "Other", "max_current_a": "16", "phases": "3"})
        assert status == 403
        assert [c.name for c in await appliance.core.circuits.list()] == ["Main"]
    finally:
        await viewer.close()


async def test_with_load_management_off_the_page_says_so_and_shows_the_plan(start_appliance, tmp_path):
    appliance = await start_appliance(make_settings(tmp_path / "off", load_management=False))
    await appliance.core.chargers.add("CP9", "ocpp1.6-json")
    await appliance.core.circuits.add("Main", 32.0)
    await appliance.core.circuits.assign("Main", "CP9")
    client = await staff_client(appliance, "operator")
    try:
        status, html = await client.get("/circuits")
        words = text_of(html)
        assert status == 200 and "Load management is off" in words
        assert "Main" in words and 'href="/chargers/CP9?tab=load"' in html and 'class="bar"' not in html
        status, html = await client.get("/circuits/Main")
        assert status == 200 and "No load recorded in the last 24 hours (load management is off)" in text_of(html)
    finally:
        await client.close()


async def test_a_charger_that_rejects_its_limits_is_flagged_and_an_operator_clears_the_flag(appliance, cp, staff):
    cp.answers["SetChargingProfile"] = "Rejected"
    await appliance.core.circuits.add("Main", 32.0)
    await appliance.core.circuits.assign("Main", "CP1")
    dlm = appliance.server.app[DLM]
    await wait_for(lambda: any(e["flag"] == "rejects" for c in dlm.circuit_status() for e in c["evses"]))
    viewer = await staff_client(appliance, "viewer")
    try:
        status, html = await viewer.get("/circuits")
        assert "rejects limits" in text_of(html) and 'action="/circuits/clear-flag"' not in html
        status, html = await viewer.post("/circuits/clear-flag", {"charger": "CP1"})
        assert status == 403
    finally:
        await viewer.close()
    status, html = await staff.get("/circuits")
    assert "rejects limits" in text_of(html) and "answered Rejected" in text_of(html)
    assert 'action="/circuits/clear-flag"' in html
    cp.answers["SetChargingProfile"] = "Accepted"  # its firmware was fixed
    status, html = await staff.post("/circuits/clear-flag", {"charger": "CP1", "evse": "1", "back": "/circuits/Main"})
    assert status == 200 and "Charger CP1: 1 flag(s) cleared; its limits are trusted again." in text_of(html)
    assert "Circuit Main" in text_of(html)  # back where the button was
    await wait_for(lambda: all(not e["flag"] for c in dlm.circuit_status() for e in c["evses"]))
    status, html = await staff.post("/circuits/clear-flag", {"charger": "CP9", "back": "//evil.example"})
    assert "There is no charger CP9." in text_of(html) and "<h1>Circuits</h1>" in html
