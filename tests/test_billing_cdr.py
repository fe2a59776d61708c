"""A finished session becomes a priced charge detail record in the same commit, exactly once; a later
change to a finished session is a credit for the old record and a new one."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import xml.etree.ElementTree as ET
from decimal import Decimal

import aiohttp
import pytest
from ocpp.v16 import call as call16

from appliance.core.billing import BillingError
from tests import backend
from tests.conftest import add_fleet, wait_for
from tests.virtual_charger import connect16
from tests.virtual_charger201 import connect201

FLAT = {"kind": "duration_energy", "currency": "EUR", "vat_rate": "0.19", "connection_fee": "1.00",
        "price_per_kwh": "0.40", "price_per_minute": "0.01"}


async def priced_depot(core):
    await add_fleet(core, {"CARD1": {}, "CARD2": {}})
    await core.billing.add_tariff("standard", FLAT)
    await core.billing.add_group("yard", "standard")
    await core.chargers.add("BILL1", "ocpp1.6-json")
    await core.billing.assign("BILL1", "yard")


async def test_a_finished_session_has_one_priced_cdr_and_a_replayed_stop_adds_none(appliance):
    core = appliance.core
    await priced_depot(core)
    async with connect16(appliance.url, "BILL1") as cp:
        start = await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=1000,
                                                      timestamp="2026-11-20T10:00:00Z"))
        tx = start.transaction_id
        stop = call16.StopTransaction(meter_stop=11000, timestamp="2026-11-20T11:00:00Z", transaction_id=tx)
        await cp.call(stop)
        await cp.call(stop)  # replayed after a reconnect
    cdrs = await core.billing.cdrs_of(tx)
    assert [c.kind for c in cdrs] == ["cdr"]
    doc = cdrs[0].document
    # 1.00 fee + 10 kWh x 0.40 + 60 min x 0.01 = 5.60 incl. VAT; 4.71 excl. (5.60 / 1.19 = 4.7058...)
    assert (Decimal(cdrs[0].total_incl_vat), Decimal(cdrs[0].total_excl_vat)) == (Decimal("5.60"), Decimal("4.71"))
    assert doc["total_cost"] == {"incl_vat": 5.6, "excl_vat": 4.71}
    assert (doc["total_energy"], doc["total_time"], doc["currency"]) == (10, 1, "EUR")
    assert doc["cdr_token"]["uid"] == "CARD1" and doc["cdr_location"]["id"] == "BILL1"
    assert doc["start_date_time"] == "2026-11-20T10:00:00Z" and doc["end_date_time"] == "2026-11-20T11:00:00Z"
    # a 1.6 charger says nothing of its connectors: Type 2, three-phase AC
    assert (doc["cdr_location"]["connector_standard"], doc["cdr_location"]["connector_power_type"]) == (
        "IEC_62196_T2", "AC_3_PHASE")


async def test_the_cdr_names_the_connector_the_charger_reported(appliance):
    from appliance.store import chargers as charger_store

    core = appliance.core
    await priced_depot(core)

    def dc_layout() -> None:  # what a 2.0.1 station's device model tells of a CCS 2 DC connector
        charger_store.record_layout(charger_store.identify("BILL1")[0], [(1, 150_000, 3)], [(1, 1, "cCCS2", "DC")])

    await core.db.write(dc_layout)
    async with connect16(appliance.url, "BILL1") as cp:
        start = await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=0,
                                                      timestamp="2026-11-20T10:00:00Z"))
        await cp.call(call16.StopTransaction(meter_stop=30000, timestamp="2026-11-20T10:20:00Z",
                                             transaction_id=start.transaction_id))
    location = (await core.billing.cdrs_of(start.transaction_id))[0].document["cdr_location"]
    assert (location["connector_standard"], location["connector_power_type"]) == ("IEC_62196_T2_COMBO", "DC")


async def test_a_session_stopped_again_after_it_was_closed_as_stuck_is_credited_and_billed_anew(appliance):
    core = appliance.core
    await priced_depot(core)
    async with connect16(appliance.url, "BILL1") as cp:
        start = await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD2", meter_start=0,
                                                      timestamp="2026-11-20T10:00:00Z"))
        tx = start.transaction_id
        await core.transactions.finish_stuck(silent_for=__import__("datetime").timedelta(seconds=0))
        first = await core.billing.cdrs_of(tx)
        assert [c.kind for c in first] == ["cdr"]
        await cp.call(call16.StopTransaction(meter_stop=5000, timestamp="2026-11-20T10:30:00Z", transaction_id=tx))
    cdrs = await core.billing.cdrs_of(tx)
    assert [c.kind for c in cdrs] == ["cdr", "credit", "cdr"]
    assert cdrs[1].credits == cdrs[0].cdr_id and cdrs[1].document["credit"] is True
    assert Decimal(cdrs[1].total_incl_vat) == -Decimal(cdrs[0].total_incl_vat)
    assert Decimal(cdrs[2].total_incl_vat) == Decimal("3.30")  # 1.00 + 5 kWh x 0.40 + 30 min x 0.01


async def test_signed_meter_data_goes_into_the_cdr_verbatim(appliance):
    core = appliance.core
    await add_fleet(core, {"CARD1": {}})
    await core.chargers.add("SIGN1", "ocpp2.0.1")
    ocmf = 'OCMF|{"FV":"1.0","GI":"X","GS":"S1","RD":[{"TM":"2026-11-20T10:00:00,000+0000 S","TX":"B","RV":0.0,"RU":"kWh","ST":"G"}]}|{"SD":"3045"}'
    signed = {"signed_meter_data": base64.b64encode(ocmf.encode()).decode(), "signing_method": "ECDSA-secp256r1-SHA256",
              "encoding_method": "OCMF", "public_key": ""}
    async with connect201(appliance.url, "SIGN1") as cs:
        from ocpp.v201 import call as call201
        reading = {"timestamp": "2026-11-20T10:00:00Z", "sampled_value": [
            {"value": 0, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register",
             "unit_of_measure": {"unit": "Wh"}, "signed_meter_value": signed}]}
        await cs.call(call201.TransactionEvent(event_type="Started", timestamp="2026-11-20T10:00:00Z",
                                               trigger_reason="Authorized", seq_no=0,
                                               transaction_info={"transaction_id": "s-1"}, meter_value=[reading],
                                               evse={"id": 1, "connector_id": 1},
                                               id_token={"id_token": "CARD1", "type": "ISO14443"}))
        await cs.call(call201.TransactionEvent(event_type="Ended", timestamp="2026-11-20T10:20:00Z",
                                               trigger_reason="StopAuthorized", seq_no=1,
                                               transaction_info={"transaction_id": "s-1", "stopped_reason": "Local"},
                                               evse={"id": 1, "connector_id": 1}))
    tx = (await core.transactions.find_remote("SIGN1", "s-1")).id
    cdrs = await core.billing.cdrs_of(tx)
    assert len(cdrs) == 1 and cdrs[0].total_incl_vat == "0.00"  # no tariff group: free
    signed_data = cdrs[0].document["signed_data"]
    assert signed_data["encoding_method"] == "OCMF"
    assert [v["nature"] for v in signed_data["signed_values"]] == ["Start"]
    assert signed_data["signed_values"][0]["signed_data"] == signed["signed_meter_data"]  # as the charger sent it
    # The driver's check: the transparency software's XML carries the document byte-exact.
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {appliance.token}"}) as http:
        async with http.get(f"{appliance.url}/api/v1/sessions/{tx}/transparency.xml") as response:
            assert response.status == 200
            values = ET.fromstring(await response.text())
    assert values[0].find("signedData").text == ocmf
    assert values[0].get("context") == "Transaction.Begin"
    status, signed_list = await appliance.api("GET", f"/api/v1/sessions/{tx}/signed")
    assert status == 200 and signed_list[0]["format"] == "OCMF"
    assert signed_list[0]["verification"]["status"] == "unverifiable"  # no public key was given


async def test_tariffs_groups_prices_and_cdrs_through_the_api(appliance):
    await add_fleet(appliance.core, {"CARD1": {}})
    await appliance.core.chargers.add("API1", "ocpp1.6-json")
    assert (await appliance.api("POST", "/api/v1/tariffs", {"name": "night", **FLAT}))[0] == 201
    assert (await appliance.api("POST", "/api/v1/tariff-groups", {"name": "g", "base_tariff": "night"}))[0] == 201
    assert (await appliance.api("POST", "/api/v1/tariff-groups/g/chargers", {"charger": "API1"}))[0] == 201
    async with connect16(appliance.url, "API1") as cp:
        tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=0,
                                                    timestamp="2026-11-20T10:00:00Z"))).transaction_id
        await cp.call(call16.StopTransaction(meter_stop=2500, timestamp="2026-11-20T10:10:00Z", transaction_id=tx))
    status, price = await appliance.api("GET", f"/api/v1/sessions/{tx}/price")
    assert status == 200 and price["total_incl_vat"] == "2.10" and price["final"] is True  # 1 + 1.00 + 0.10
    status, cdrs = await appliance.api("GET", "/api/v1/cdrs")
    assert [c["transaction_id"] for c in cdrs] == [tx] and cdrs[0]["sent_at"] is None
    status, error = await appliance.api("POST", "/api/v1/tariffs", {"name": "x", "kind": "flat", "flat_price": []})
    assert status == 400 and "flat_price" in error["error"]
    status, error = await appliance.api("GET", f"/api/v1/sessions/{tx}/transparency.xml")
    assert status == 404


@pytest.mark.parametrize("data, message", [
    ({"kind": "cheap"}, "kind"),
    ({"kind": "flat", "flat_price": "abc"}, "flat_price must be a number"),
    ({"kind": "time_of_day", "bands": [{"start": "25:00", "end": "06:00"}]}, "bands[0].start"),
])
async def test_a_bad_tariff_is_refused_with_the_field_named(appliance, data, message):
    with pytest.raises(BillingError, match=message.replace("[", r"\[").replace("]", r"\]")):
        await appliance.core.billing.add_tariff("bad", data)


async def priced_charger(core, identity: str, tariff: dict) -> None:
    """A charger whose sessions the tariff "budget" prices, and CARD1 to charge with."""
    await add_fleet(core, {"CARD1": {}})
    await core.billing.add_tariff("budget", tariff)
    await core.billing.add_group("limited", "budget")
    await core.chargers.add(identity, "ocpp1.6-json")
    await core.billing.assign(identity, "limited")


def minutes_into_a_session_begun_half_an_hour_ago(minutes: int) -> str:
    at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30 - minutes)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_a_session_that_reaches_its_tariffs_energy_limit_is_stopped_remotely(appliance):
    core = appliance.core
    await priced_charger(core, "LIM1", {**FLAT, "max_energy_wh": 5000})
    at = minutes_into_a_session_begun_half_an_hour_ago
    async with connect16(appliance.url, "LIM1") as cp:
        tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=0,
                                                    timestamp=at(0)))).transaction_id
        await cp.meter_values(tx, 3000, timestamp=at(10))
        await asyncio.sleep(0.2)
        assert not any(a == "RemoteStopTransaction" for a, _ in cp.received)
        await cp.meter_values(tx, 5200, timestamp=at(20))
        await wait_for(lambda: any(a == "RemoteStopTransaction" for a, _ in cp.received))
        assert cp.last("RemoteStopTransaction")["transaction_id"] == tx
        # the action log has it once the charger's answer is in (the command's row is written then)
        await wait_for(lambda: _energy_stop_logged(core, "LIM1"))


async def _energy_stop_logged(core, identity: str) -> bool:
    return any("energy" in a.reason for a in await core.commands.actions(identity))


async def limit_set_through_the_appliance(core) -> None:
    await core.billing.edit_tariff("budget", {**FLAT, "max_energy_wh": 5000})


async def limit_set_by_another_process(core) -> None:
    """Another process's connection to the same database (the CLI's) changes the tariff."""
    where = core.db.path or core.settings.database_url
    definition = json.loads(backend.query(where, "SELECT definition FROM tariff WHERE name = 'budget'")[0][0])
    assert definition.get("max_energy_wh") is None
    backend.query(where, "UPDATE tariff SET definition = ? WHERE name = 'budget'",
                  (json.dumps({**definition, "max_energy_wh": 5000}),))
    await asyncio.sleep(0.6)  # past UNLIMITED_RECHECK_S, shortened to 0.5 s for this case


@pytest.mark.parametrize("set_limit, recheck_s", [(limit_set_through_the_appliance, 60.0),
                                                  (limit_set_by_another_process, 0.5)])
async def test_a_limit_given_to_the_tariff_of_a_running_session_applies_at_its_next_meter_value(
        appliance, monkeypatch, set_limit, recheck_s):
    """A session found without a limit is not looked at again for a while (the check runs at every
    meter value, and with no tariff limited no session is looked at); a change to the tariff made
    through the appliance applies at once all the same, one by another process at the next look."""
    from appliance.core import billing as billing_module

    monkeypatch.setattr(billing_module, "UNLIMITED_RECHECK_S", recheck_s)
    core = appliance.core
    await priced_charger(core, "LIM2", FLAT)
    at = minutes_into_a_session_begun_half_an_hour_ago
    async with connect16(appliance.url, "LIM2") as cp:
        tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=0,
                                                    timestamp=at(0)))).transaction_id
        await cp.meter_values(tx, 6000, timestamp=at(10))
        await asyncio.sleep(0.2)
        assert not any(a == "RemoteStopTransaction" for a, _ in cp.received)
        await set_limit(core)
        await cp.meter_values(tx, 6100, timestamp=at(11))
        await wait_for(lambda: any(a == "RemoteStopTransaction" for a, _ in cp.received))


async def test_sessions_asking_at_once_share_one_read_of_the_tariffs(appliance):
    core = appliance.core
    await priced_charger(core, "LIM4", FLAT)
    reads = []
    read = core.db.read

    async def counted(fn, *args, **kwargs):
        reads.append(getattr(fn, "__name__", ""))
        return await read(fn, *args, **kwargs)

    core.db.read = counted
    try:
        assert await asyncio.gather(*(core.billing.limit_reached(n) for n in range(1, 201))) == [None] * 200
    finally:
        core.db.read = read
    # One read of the tariffs, and no session looked at (no tariff has a limit); other services'
    # reads meanwhile (load management's, on PostgreSQL's slower start) are not the billing's.
    assert [name for name in reads if name in ("_some_limit_sync", "check_sync")] == ["_some_limit_sync"]


async def test_a_months_statement_for_a_company_in_csv_and_pdf(appliance):
    core = appliance.core
    await priced_depot(core)
    async with connect16(appliance.url, "BILL1") as cp:
        tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=1000,
                                                    timestamp="2026-11-20T10:00:00Z"))).transaction_id
        await cp.call(call16.StopTransaction(meter_stop=11000, timestamp="2026-11-20T11:00:00Z", transaction_id=tx))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {appliance.token}"}) as http:
        async with http.get(f"{appliance.url}/api/v1/statements",
                            params={"month": "2026-11", "company": "Blue Taxi"}) as response:
            assert response.status == 200
            lines = (await response.text()).splitlines()
        async with http.get(f"{appliance.url}/api/v1/statements",
                            params={"month": "2026-11", "format": "pdf"}) as response:
            assert response.status == 200 and (await response.read()).startswith(b"%PDF")
        async with http.get(f"{appliance.url}/api/v1/statements", params={"month": "2026-13"}) as response:
            assert response.status == 400
    assert str(tx) == lines[2].split(",")[0] and "5.60" in lines[2] and "Blue Taxi" in lines[2]
    assert lines[-1].startswith("Total")
    _, other = await core.billing.statement("2026-11", company="Nobody Ltd")
    assert len(other.splitlines()) == 2  # the title and the header: no sessions of theirs


async def test_a_16_stop_carrying_signed_data_is_never_refused_and_its_data_reaches_the_cdr(appliance):
    core = appliance.core
    await priced_depot(core)
    begin = 'OCMF|{"FV":"1.0","GS":"M-1","RD":[{"TX":"B","RV":1.0,"RU":"kWh"}]}|{"SD":"00"}'
    end = 'OCMF|{"FV":"1.0","GS":"M-1","RD":[{"TX":"E","RV":11.0,"RU":"kWh"}]}|{"SD":"broken signature"}'
    async with connect16(appliance.url, "BILL1") as cp:
        tx = (await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=1000,
                                                    timestamp="2026-11-20T10:00:00Z"))).transaction_id
        answer = await cp.call(call16.StopTransaction(
            meter_stop=11000, timestamp="2026-11-20T11:00:00Z", transaction_id=tx, id_tag="CARD1",
            transaction_data=[{"timestamp": "2026-11-20T10:00:00Z", "sampled_value": [
                {"value": begin, "format": "SignedData", "context": "Transaction.Begin"}]},
                {"timestamp": "2026-11-20T11:00:00Z", "sampled_value": [
                    {"value": end, "format": "SignedData", "context": "Transaction.End"}]}]))
    assert answer.id_tag_info["status"] == "Accepted"
    signed = (await core.billing.cdrs_of(tx))[0].document["signed_data"]
    assert [v["nature"] for v in signed["signed_values"]] == ["Start", "End"]
    assert [v["signed_data"] for v in signed["signed_values"]] == [begin, end]
    status, checked = await appliance.api("GET", f"/api/v1/sessions/{tx}/signed")
    assert [c["verification"]["status"] for c in checked] == ["unverifiable", "unverifiable"]  # no meter key known
