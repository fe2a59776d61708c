"""Tags tapped at a charger that nobody enrolled are recorded, so staff can assign them in one step."""

from __future__ import annotations

import json

from tests.conftest import add_fleet, run_cli, wait_for
from tests.virtual_charger import connect16
from tests.virtual_charger201 import connect201


async def unknown(appliance):
    return await appliance.core.transactions.unknown_tags()


async def test_unknown_tags_are_recorded_with_charger_time_and_count(appliance):
    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    await appliance.core.chargers.add("CS1", "ocpp2.0.1")
    async with connect16(appliance.url, "CP1") as cp, connect201(appliance.url, "CS1") as cs:
        from ocpp.v16 import call

        assert (await cp.call(call.Authorize(id_tag="04a1b2c3"))).id_tag_info["status"] == "Invalid"
        await cp.call(call.Authorize(id_tag="CARD1"))  # known: not recorded
        await cs.authorize("04A1B2C3")  # the same card, another charger
        await cs.transaction_event("Started", "t-1", 0, "Authorized", id_token="DEADBEEF", energy_wh=0)
        records = await wait_for(lambda: _when(unknown(appliance), 2))
    by_tag = {r.id_tag: r for r in records}
    assert set(by_tag) == {"04A1B2C3", "DEADBEEF"}
    assert (by_tag["04A1B2C3"].seen_count, by_tag["04A1B2C3"].charger_identity) == (2, "CS1")
    assert by_tag["04A1B2C3"].first_seen_at <= by_tag["04A1B2C3"].last_seen_at

    listed = json.loads(await run_cli(appliance.core.settings.data_dir, "tag", "unknown", "--json"))
    assert [r["id_tag"] for r in listed][0] == "DEADBEEF"  # most recent first
    await run_cli(appliance.core.settings.data_dir, "tag", "add", "04a1b2c3", "--user", "alice")
    assert [r.id_tag for r in await unknown(appliance)] == ["DEADBEEF"]
    status, body = await appliance.api("GET", "/api/v1/tags/unknown")
    assert status == 200 and [r["id_tag"] for r in body] == ["DEADBEEF"]


async def _when(coroutine, count):
    records = await coroutine
    return records if len(records) >= count else None


async def test_which_form_of_a_card_the_chargers_send(appliance):
    from appliance.rfid_reader.id_format import all_forms

    await add_fleet(appliance.core)
    await appliance.core.chargers.add("CP1", "ocpp1.6-json")
    uid = bytes.fromhex("04A1B2C3")
    async with connect16(appliance.url, "CP1") as cp:
        from ocpp.v16 import call

        await cp.call(call.Authorize(id_tag="C3B2A104"))  # this charger reports UIDs byte-reversed
        await wait_for(lambda: _when(unknown(appliance), 1))
    forms = all_forms(uid)
    seen = {s.id_tag: s for s in await appliance.core.users.sightings(list(forms.values()))}
    matching = [name for name, text in forms.items() if seen[text].last_sent_at is not None]
    assert matching == ["hex-reversed"]
    assert seen[forms["hex-reversed"]].charger_identity == "CP1" and not seen[forms["hex-reversed"]].enrolled
