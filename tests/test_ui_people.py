"""The people pages of the web UI: companies, drivers, vehicles and tags made and changed through the
forms (and found in the lists and the core), bad input answered at the field with nothing saved,
blocking that reaches a charger's local list, enrolment on the box's reader, unknown tags enrolled
in one step, and a viewer who may look but not change."""

from __future__ import annotations

import datetime as dt
import os
import re

import aiohttp
import pytest
from ocpp.v16 import call

from appliance.core.users import expiry_from_text
from tests.conftest import add_fleet, make_settings, wait_for
from tests.ui_client import staff_client, text_of
from tests.virtual_charger import connect16
from tests.virtual_readers import AsciiReader


def field_error(html: str, field: str) -> str:
    found = re.search(rf'<small class="error" id="e-(?:f-)?{field}">([^<]*)</small>', html)
    return found.group(1) if found else ""


def typed(html: str, field: str) -> str:
    found = re.search(rf'id="f-{field}" name="{field}" type="[a-z]+" value="([^"]*)"', html)
    return found.group(1) if found else ""


def change_forms(html: str) -> list[str]:
    """The actions of the page's POST forms other than logging out."""
    return [a for a in re.findall(r'<form[^>]*method="post"[^>]*action="([^"]*)"', html) if a != "/logout"]


async def audited(appliance, words: str) -> bool:
    return any(words in entry.action for entry in await appliance.core.accounts.audit_log(200))


# -- companies ------------------------------------------------------------------------------------

async def test_a_company_is_added_found_renamed_and_given_a_priority(appliance, staff):
    status, html = await staff.post("/companies", {"name": "Blue Taxi"})
    assert status == 200 and "Company Blue Taxi added." in html and "<h1>Blue Taxi</h1>" in html
    assert [c.name for c in await appliance.core.users.companies()] == ["Blue Taxi"]
    await staff.post("/companies", {"name": "Red Cabs"})

    _, html = await staff.get("/companies?q=BLUE")
    assert 'href="/companies/Blue%20Taxi"' in html and "Red Cabs" not in text_of(html)
    _, html = await staff.get("/companies?q=green")
    assert "No company's name holds “green”." in text_of(html)

    status, html = await staff.post("/companies/Blue%20Taxi", {"name": "Blue Taxi Ltd", "priority": "5"})
    assert status == 200 and "Company Blue Taxi Ltd saved." in html
    assert await appliance.core.users.company("Blue Taxi") is None
    assert (await appliance.core.users.company_overview("Blue Taxi Ltd")).priority == 5
    assert ("company", "Blue Taxi Ltd", 5) in await appliance.core.circuits.priorities()
    assert await audited(appliance, "changed company Blue Taxi, renamed to Blue Taxi Ltd, priority 5")


async def test_bad_company_input_is_answered_at_the_field_and_nothing_changes(appliance, staff):
    await staff.post("/companies", {"name": "Blue Taxi"})
    status, html = await staff.post("/companies", {"name": "Blue Taxi"})
    assert status == 400 and field_error(html, "name") == "Company &#39;Blue Taxi&#39; already exists"
    assert typed(html, "name") == "Blue Taxi"
    status, html = await staff.post("/companies", {"name": "  "})
    assert status == 400 and field_error(html, "name") == "Name: please fill this in"
    await staff.post("/companies", {"name": "Red Cabs"})

    status, html = await staff.post("/companies/Blue%20Taxi", {"name": "Red Cabs", "priority": "0"})
    assert status == 400 and "already exists" in field_error(html, "name")
    status, html = await staff.post("/companies/Blue%20Taxi", {"name": "Blue Taxi", "priority": "500"})
    assert status == 400 and field_error(html, "priority") == "Priority: at most 100"
    assert typed(html, "priority") == "500"
    assert [c.name for c in await appliance.core.users.companies()] == ["Blue Taxi", "Red Cabs"]
    assert await appliance.core.circuits.priorities() == []


async def test_a_company_page_shows_its_people_cards_and_chargers(appliance, staff):
    core = appliance.core
    await add_fleet(core)
    await core.users.add_vehicle("T-12", "Blue Taxi")
    await core.users.add_tag("SPARE1", company="Blue Taxi", note="spare card")
    await core.users.add_company("Red Cabs")
    for identity in ("OPEN", "BLUE", "RED"):
        await core.chargers.add(identity, "ocpp1.6-json")
    await core.chargers.set_access("BLUE", ["Blue Taxi"])
    await core.chargers.set_access("RED", ["Red Cabs"])

    status, html = await staff.get("/companies/Blue%20Taxi")
    words = text_of(html)
    assert status == 200
    assert 'href="/drivers/alice"' in html and 'href="/vehicles/T-12"' in html
    assert "SPARE1" in words and "spare card" in words
    assert "BLUE : opened to it" in words and "OPEN : open to the whole depot" in words and "RED" not in words
    _, html = await staff.get("/companies")
    row = re.search(r"<tr>\s*<td data-label=\"Company\"><a href=\"/companies/Blue%20Taxi\">.*?</tr>", html, re.DOTALL)
    assert [int(n) for n in re.findall(r">(\d+)<", row.group(0))] == [1, 1, 2, 0]  # drivers, vehicles, tags, priority


# -- drivers and vehicles -------------------------------------------------------------------------

async def test_a_driver_is_added_found_and_changed(appliance, staff):
    await appliance.core.users.add_company("Blue Taxi")
    await appliance.core.users.add_company("Red Cabs")
    status, html = await staff.post("/drivers", {"name": "alice", "company": "Blue Taxi", "email": "a@example.com"})
    assert status == 200 and "Driver alice added to Blue Taxi." in html
    assert await audited(appliance, "added driver alice to Blue Taxi")
    await staff.post("/drivers", {"name": "bob", "company": ""})

    _, html = await staff.get("/drivers?company=Blue%20Taxi")
    assert 'href="/drivers/alice"' in html and 'href="/drivers/bob"' not in html
    _, html = await staff.get("/drivers?q=EXAMPLE")  # the email matches too
    assert 'href="/drivers/alice"' in html and 'href="/drivers/bob"' not in html

    status, html = await staff.post("/drivers/alice", {"name": "alice", "company": "Red Cabs",
                                                      "email": "alice@red.example", "priority": "3"})
    assert status == 200 and "Driver alice saved, moved to Red Cabs." in html
    driver = await appliance.core.users.driver_overview("alice")
    assert (driver.company, driver.email, driver.priority) == ("Red Cabs", "alice@red.example", 3)

    await appliance.core.users.add_tag("CARD1", "alice")
    status, html = await staff.post("/drivers/alice", {"name": "Alice Smith", "company": "Red Cabs",
                                                      "email": "alice@red.example", "priority": "3"})
    assert status == 200 and "<h1>Alice Smith</h1>" in html
    assert (await appliance.core.users.tag("CARD1")).driver == "Alice Smith"  # her cards stay hers


async def test_bad_driver_input_is_answered_at_the_field_and_nothing_changes(appliance, staff):
    await add_fleet(appliance.core)
    status, html = await staff.post("/drivers", {"name": "alice", "company": "Blue Taxi"})
    assert status == 400 and field_error(html, "name") == "Driver &#39;alice&#39; already exists"
    status, html = await staff.post("/drivers", {"name": "bob", "company": "Green Cars"})
    assert status == 400 and field_error(html, "company") == "Company: there is no company &#39;Green Cars&#39;"
    assert typed(html, "name") == "bob"
    status, html = await staff.post("/drivers", {"name": "bob", "email": "not an address"})
    assert status == 400 and "is not an email address" in field_error(html, "email")
    assert [d.name for d in await appliance.core.users.drivers()] == ["alice"]

    status, html = await staff.post("/drivers/alice", {"name": "alice", "company": "Blue Taxi", "email": "x@y",
                                                      "priority": "0"})
    assert status == 400 and "is not an email address" in field_error(html, "email")
    assert typed(html, "email") == "x@y"
    await appliance.core.users.add_driver("bob")
    status, html = await staff.post("/drivers/alice", {"name": "bob", "company": "Blue Taxi", "email": "",
                                                      "priority": "0"})
    assert status == 400 and field_error(html, "name") == "Driver &#39;bob&#39; already exists"
    alice = await appliance.core.users.driver("alice")
    assert (alice.email, alice.company) == ("", "Blue Taxi")


async def test_a_vehicle_is_added_given_a_card_and_changed(appliance, staff):
    await appliance.core.users.add_company("Blue Taxi")
    await appliance.core.users.add_company("Red Cabs")
    status, html = await staff.post("/vehicles", {"name": "T-12", "company": "Blue Taxi"})
    assert status == 200 and "Vehicle T-12 added." in html
    status, html = await staff.post("/vehicles/T-12/tags", {"id_tag": "car12", "expires": "", "note": "glovebox",
                                                           "max_concurrent_tx": "1"})
    assert status == 200 and "Tag CAR12 added for vehicle T-12." in html
    tag = await appliance.core.users.tag("CAR12")
    assert (tag.vehicle, tag.company, tag.note) == ("T-12", "Blue Taxi", "glovebox")

    status, html = await staff.post("/vehicles", {"name": "T-12"})
    assert status == 400 and "already exists" in field_error(html, "name")
    status, html = await staff.post("/vehicles/T-12", {"name": "T-12A", "company": "Red Cabs", "priority": "-2"})
    assert status == 200 and "Vehicle T-12A saved." in html
    vehicle = await appliance.core.users.vehicle_overview("T-12A")
    assert (vehicle.company, vehicle.priority, vehicle.tags) == ("Red Cabs", -2, 1)
    assert (await appliance.core.users.tag("CAR12")).company == "Red Cabs"  # the card follows its car
    _, html = await staff.get("/vehicles?q=t-12")
    assert 'href="/vehicles/T-12A"' in html


async def test_pages_of_names_that_are_not_there_say_so(appliance, staff):
    for path, words in (("/companies/Nobody", "no company"), ("/drivers/nobody", "no driver"),
                        ("/vehicles/X-1", "no vehicle"), ("/tags/NOCARD", "no tag")):
        status, html = await staff.get(path)
        assert status == 404 and words in text_of(html)


# -- tags -----------------------------------------------------------------------------------------

async def test_a_tag_is_added_found_and_changed(appliance, staff):
    core = appliance.core
    await add_fleet(core)
    await core.users.add_vehicle("T-12", "Blue Taxi")
    status, html = await staff.post("/tags/new", {"id_tag": "04a1b2c3", "owner": "driver:alice",
                                                  "expires": "2030-01-31", "note": "night shift",
                                                  "max_concurrent_tx": "2", "token_type": "ISO14443"})
    assert status == 200 and "Tag 04A1B2C3 added for driver alice." in html
    assert await audited(appliance, "added tag 04A1B2C3 for driver alice")
    tag = await core.users.tag("04A1B2C3")
    assert tag.expires_at == expiry_from_text("2030-01-31", core.settings.zone)
    assert (tag.driver, tag.note, tag.max_concurrent_tx) == ("alice", "night shift", 2)
    assert "through 2030-01-31" in text_of(html)

    _, html = await staff.get("/tags?q=NIGHT")
    assert 'href="/tags/04A1B2C3"' in html and 'href="/tags/CARD1"' not in html
    _, html = await staff.get("/tags?q=alice")  # the owner's name finds their cards
    assert 'href="/tags/04A1B2C3"' in html and 'href="/tags/CARD1"' in html

    status, html = await staff.post("/tags/04A1B2C3", {"owner": "vehicle:T-12", "expires": "2030-01-31",
                                                       "note": "stays in the car", "max_concurrent_tx": "1",
                                                       "token_type": "ISO14443", "parent_id_tag": ""})
    assert status == 200 and "Tag 04A1B2C3 saved." in html
    changed = await core.users.tag("04A1B2C3")
    assert (changed.driver, changed.vehicle, changed.note, changed.expires_at) == \
        (None, "T-12", "stays in the car", tag.expires_at)


async def test_bad_tag_input_is_answered_at_the_field_and_nothing_is_saved(appliance, staff):
    core = appliance.core
    await add_fleet(core)
    good = {"id_tag": "NEW1", "owner": "driver:alice", "expires": "", "note": "", "max_concurrent_tx": "1"}
    cases = [({"expires": "31/01/2030"}, "expires", "Valid through: &#39;31/01/2030&#39; is not a date"),
             ({"id_tag": " "}, "id_tag", "Tag id: please fill this in"),
             ({"id_tag": "CARD1"}, "id_tag", "Tag CARD1 already exists"),
             ({"id_tag": "A" * 21}, "id_tag", "A tag id must be 1 to 20 characters long"),
             ({"owner": "driver:nobody"}, "owner", "No driver &#39;nobody&#39;"),
             ({"owner": ""}, "owner", "Owner: choose the driver"),
             ({"max_concurrent_tx": "-1"}, "max_concurrent_tx", "Sessions at once: at least 0")]
    for change, field, message in cases:
        status, html = await staff.post("/tags/new", dict(good, **change))
        assert status == 400, change
        assert message in html and 'aria-invalid="true"' in html, (change, field_error(html, field))
        assert typed(html, "note") == "" and (field == "id_tag" or typed(html, "id_tag") == "NEW1")
    assert [t.id_tag for t in await core.users.tags()] == ["CARD1"]

    status, html = await staff.post("/tags/CARD1", {"owner": "driver:alice", "expires": "tomorrow",
                                                    "max_concurrent_tx": "1", "token_type": "ISO14443"})
    assert status == 400 and "is not a date" in field_error(html, "expires")
    assert (await core.users.tag("CARD1")).expires_at is None


async def test_tags_are_filtered_by_state(appliance, staff):
    core = appliance.core
    past = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    await add_fleet(core, {"LIVE1": {}, "GONE1": {"expires_at": past}, "STOP1": {}})
    await core.users.set_tag_status("STOP1", "blocked")
    for state, expected in (("active", ["LIVE1"]), ("expired", ["GONE1"]), ("blocked", ["STOP1"])):
        _, html = await staff.get(f"/tags?state={state}")
        assert re.findall(r'href="/tags/([A-Z0-9]+)"><code>', html) == expected, state
    _, html = await staff.get("/tags")
    assert '<span class="badge warning">expired</span>' in html
    status, html = await staff.get("/tags/_rows?state=blocked")  # the part app.js fetches again on a change
    assert status == 200 and "<html" not in html
    assert re.findall(r'href="/tags/([A-Z0-9]+)"><code>', html) == ["STOP1"]


async def test_an_expiry_date_is_a_whole_day_in_the_depots_time_zone(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", timezone="Europe/Berlin"))
    await add_fleet(app.core)
    staff = await staff_client(app)
    try:
        status, html = await staff.post("/drivers/alice/tags", {"id_tag": "NIGHT1", "expires": "2030-01-31",
                                                               "max_concurrent_tx": "1"})
        assert status == 200 and "Tag NIGHT1 added for alice." in html
        tag = await app.core.users.tag("NIGHT1")
        assert tag.expires_at == dt.datetime(2030, 1, 31, 23, 0, tzinfo=dt.UTC)  # midnight in Berlin
        assert "through 2030-01-31" in text_of(html)
        _, html = await staff.get("/tags/NIGHT1")
        assert 'name="expires" type="date" value="2030-01-31"' in html
    finally:
        await staff.close()


async def test_blocking_a_tag_and_a_driver_reaches_the_chargers_local_list(start_appliance, tmp_path):
    app = await start_appliance(make_settings(tmp_path / "d", local_list_sync=True))
    await add_fleet(app.core, {"CARD1": {}, "CARD2": {}})
    await app.core.chargers.add("CP1", "ocpp1.6-json")
    staff = await staff_client(app)
    try:
        async with connect16(app.url, "CP1") as cp:
            await wait_for(lambda: cp.local_list == {"CARD1": "Accepted", "CARD2": "Accepted"})
            status, html = await staff.post("/tags/CARD1/block", {"back": "/tags?q=card"})
            assert status == 200 and "Tag CARD1 blocked" in html and "<h1>Tags</h1>" in html
            assert (await app.core.users.tag("CARD1")).status == "blocked"
            await wait_for(lambda: cp.local_list.get("CARD1") == "Blocked")
            assert await audited(app, "blocked tag CARD1")

            _, html = await staff.get("/drivers/alice")
            assert 'data-confirm="Block each of alice' in html and "blocks each of their cards" in text_of(html)
            status, html = await staff.post("/drivers/alice/block")
            assert status == 200 and "Blocked 1 of alice&#39;s tags: CARD2." in html
            await wait_for(lambda: cp.local_list == {"CARD1": "Blocked", "CARD2": "Blocked"})

            status, html = await staff.post("/drivers/alice/unblock")
            assert "Unblocked 2 of alice&#39;s tags: CARD1, CARD2." in html
            assert {t.status for t in await app.core.users.tags("alice")} == {"active"}
            await wait_for(lambda: cp.local_list == {"CARD1": "Accepted", "CARD2": "Accepted"})
    finally:
        await staff.close()


# -- enrolment and unknown tags -------------------------------------------------------------------

async def test_the_enrol_page_shows_the_readers_state_and_enrols_a_card(start_appliance, tmp_path):
    reader = AsciiReader()
    link = tmp_path / "reader"
    os.symlink(reader.path, link)
    app = await start_appliance(make_settings(tmp_path / "d", rfid_readers=f"{link}=ascii"))
    await add_fleet(app.core)
    staff = await staff_client(app)
    try:
        async def page_when_connected():
            _, html = await staff.get("/tags/enrol?owner=driver%3Aalice")
            return html if "connected</span>" in html else None

        html = await wait_for(page_when_connected)
        assert re.search(r'<input id="f-id_tag" name="id_tag" type="text" value=""[^>]* data-enrol', html)
        assert '<p id="reader-status" class="tap" aria-live="polite">' in html and str(link) in html
        assert '<option value="driver:alice" selected>' in html

        status, html = await staff.post("/tags/enrol", {"id_tag": "0badcafe", "owner": "driver:alice"})
        assert status == 200 and "Card 0BADCAFE enrolled for driver alice. Tap the next card." in html
        assert '<option value="driver:alice" selected>' in html  # ready for alice's next card
        assert (await app.core.users.tag("0BADCAFE")).driver == "alice"

        _, html = await staff.get("/drivers/alice")  # a driver's page takes a tapped card too
        assert "data-enrol" in html and 'id="reader-status"' in html
    finally:
        await staff.close()
        reader.unplug()


async def test_without_a_reader_the_enrol_page_says_how_to_add_one(appliance, staff):
    _, html = await staff.get("/tags/enrol")
    assert "No card reader is configured" in text_of(html) and "rfid_readers" in html and "data-enrol" in html
    _, html = await staff.get("/drivers")
    assert "data-enrol" not in html


async def test_the_reader_event_stream_needs_a_login(appliance, staff):
    async with aiohttp.ClientSession() as anonymous, \
            anonymous.get(appliance.url + "/ui/readers/events", allow_redirects=False) as response:
        assert response.status == 303 and response.headers["Location"].startswith("/login")
    async with staff.http.get(appliance.url + "/ui/readers/events") as response:
        assert response.status == 200 and response.headers["Content-Type"] == "text/event-stream"


async def test_an_unknown_tag_tapped_at_a_charger_is_enrolled_in_one_step(appliance, staff, cp):
    assert (await cp.call(call.Authorize(id_tag="04a1b2c3"))).id_tag_info["status"] == "Invalid"
    await wait_for(lambda: appliance.core.transactions.unknown_tags())
    _, html = await staff.get("/tags/unknown")
    assert "<code>04A1B2C3</code>" in html and 'href="/chargers/CP1"' in html
    _, html = await staff.get("/tags")
    assert "1 unknown tag seen at chargers" in text_of(html)

    status, html = await staff.post("/tags/unknown", {"id_tag": "04A1B2C3", "owner": ""})
    assert status == 400 and "Tag 04A1B2C3 was not enrolled" in html
    assert await appliance.core.users.tag("04A1B2C3") is None

    status, html = await staff.post("/tags/unknown", {"id_tag": "04A1B2C3", "owner": "driver:alice"})
    assert status == 200 and "Tag 04A1B2C3 enrolled for driver alice." in html
    assert "<code>04A1B2C3</code>" not in html and "No unknown tags" in html
    assert await appliance.core.transactions.unknown_tags() == []
    assert (await cp.call(call.Authorize(id_tag="04A1B2C3"))).id_tag_info["status"] == "Accepted"


async def test_a_drivers_and_a_tags_pages_show_where_they_charged(appliance, staff, cp):
    started = await cp.start_transaction("CARD1", meter_start=1000)
    await cp.meter_values(started.transaction_id, 3500)
    _, html = await staff.get("/drivers/alice")
    assert f'href="/sessions/{started.transaction_id}"' in html and 'href="/sessions?driver=alice"' in html
    assert "charging" in html and "2.50 kWh" in html
    _, html = await staff.get("/tags/CARD1")
    assert "at CP1" in text_of(html) and f'href="/sessions/{started.transaction_id}"' in html
    _, html = await staff.get("/drivers")
    row = re.search(r'<a href="/drivers/alice">.*?</tr>', html, re.DOTALL).group(0)
    assert '<td data-label="Sessions" class="num">1</td>' in row


# -- who may change -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/companies", "/companies/Blue%20Taxi", "/drivers", "/drivers/alice", "/vehicles",
                                  "/vehicles/T-12", "/tags", "/tags/CARD1", "/tags/new", "/tags/enrol",
                                  "/tags/unknown"])
async def test_a_viewer_sees_no_change_forms(appliance, path):
    await add_fleet(appliance.core)
    await appliance.core.users.add_vehicle("T-12", "Blue Taxi")
    viewer = await staff_client(appliance, "viewer")
    try:
        status, html = await viewer.get(path)
        assert status == 200 and change_forms(html) == []
    finally:
        await viewer.close()


async def test_a_viewer_is_refused_when_posting(appliance):
    await add_fleet(appliance.core)
    viewer = await staff_client(appliance, "viewer")
    try:
        for path, data in (("/companies", {"name": "Red Cabs"}), ("/tags/CARD1/block", {}),
                           ("/drivers/alice/block", {}), ("/tags/new", {"id_tag": "X1", "owner": "driver:alice"})):
            status, html = await viewer.post(path, data)
            assert status == 403 and "it needs the operator role" in text_of(html)
        assert (await appliance.core.users.tag("CARD1")).status == "active"
        assert await appliance.core.users.company("Red Cabs") is None
        assert await appliance.core.users.tag("X1") is None
    finally:
        await viewer.close()


async def test_names_with_slashes_and_spaces_have_working_pages(appliance, staff):
    await appliance.core.users.add_company("Red/Blue Cabs")
    await appliance.core.users.add_driver("Jo Ann", "Red/Blue Cabs")
    await appliance.core.users.add_tag("A/1", "Jo Ann")
    _, html = await staff.get("/companies")
    assert 'href="/companies/Red%2FBlue%20Cabs"' in html
    status, html = await staff.get("/companies/Red%2FBlue%20Cabs")
    assert status == 200 and 'href="/drivers/Jo%20Ann"' in html
    status, html = await staff.post("/tags/A%2F1/block", {})
    assert status == 200 and "Tag A/1 blocked" in html
    assert (await appliance.core.users.tag("A/1")).status == "blocked"
