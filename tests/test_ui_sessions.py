"""The session pages over loopback with a virtual 1.6 charger: the list and its filters, the CSV export,
a session's page (chart, meter values, cost, CDR, signed values), remote stop and charge first."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
import zoneinfo
from decimal import Decimal

import aiohttp
import pytest
from ocpp.v16 import call as call16

from appliance.billing import pricing
from appliance.billing.tariffs import Tariff, TimeBand
from appliance.core import session_views
from appliance.core.metering import parse_number
from appliance.core.session_views import (
    SessionFilterError,
    cost_breakdown,
    meter_curves,
    parse_criteria,
)
from appliance.store.transactions import SampleRow
from tests.conftest import make_settings, wait_for
from tests.ui_client import staff_client, text_of

SVG = "{http://www.w3.org/2000/svg}"
FLAT = {"kind": "duration_energy", "currency": "EUR", "vat_rate": "0.19", "connection_fee": "1.00",
        "price_per_kwh": "0.40", "price_per_minute": "0.01"}


@pytest.fixture
def settings(tmp_path):
    # Sessions here start on fixed past dates; the appliance must not finish running ones as stuck.
    return make_settings(tmp_path / "data", timezone="Europe/Berlin", stuck_transaction_after_s=10 * 365 * 86400)


async def charge(cp, tag="CARD1", start="2026-11-20T10:00:00Z", stop="2026-11-20T10:15:00Z", meter=(1000, 6000),
                 readings=(), reason="EVDisconnected") -> int:
    """A session on the virtual charger: start, meter values [(time, Wh)], stop (unless stop is None)."""
    tx = (await cp.start_transaction(tag, meter_start=meter[0], timestamp=start)).transaction_id
    for when, wh in readings:
        await cp.meter_values(tx, wh, timestamp=when)
    if stop:
        await cp.stop_transaction(tx, meter[1], timestamp=stop, reason=reason)
    return tx


def session_ids(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'href="/sessions/(\d+)"', html)}


async def second_fleet(core) -> None:
    await core.users.add_company("Green Cabs")
    await core.users.add_driver("bob", "Green Cabs")
    await core.users.add_tag("CARD2", "bob")


# -- the list -------------------------------------------------------------------------------------------

async def test_the_list_shows_a_finished_session_with_whose_it_is_and_what_it_cost(appliance, cp, staff):
    tx = await charge(cp, readings=[("2026-11-20T10:05:00Z", 3000)])
    status, html = await staff.get("/sessions")
    assert status == 200 and session_ids(html) == {tx}
    page = text_of(html)
    assert 'href="/chargers/CP1"' in html and 'href="/drivers/alice"' in html and 'href="/companies/Blue%20Taxi"' in html
    assert "2026-11-20 11:00" in page and "2026-11-20 11:15" in page  # Berlin, UTC+1
    assert "5.00 kWh" in page and "15 min" in page and "0.00 EUR" in page and "EVDisconnected" in page
    assert "1 session " in page


async def test_a_running_session_is_marked_charging_and_its_rows_refresh_live(appliance, cp, staff):
    tx = await charge(cp, stop=None, readings=[("2026-11-20T10:05:00Z", 3000)])
    status, html = await staff.get("/sessions")
    assert 'class="badge charging"' in html and "2.00 kWh" in text_of(html)
    live = re.search(r'data-live-src="([^"]+)" data-live-on="([^"]+)"', html)
    assert live.group(1) == "/sessions/rows" and live.group(2) == "session meter"
    status, fragment = await staff.get(live.group(1))
    assert status == 200 and session_ids(fragment) == {tx} and "<html" not in fragment
    assert "≈ 0.00 EUR" in fragment  # the price so far, free without a tariff


async def test_filters_narrow_the_list_and_stay_in_the_url(appliance, cp, staff):
    await second_fleet(appliance.core)
    first = await charge(cp)
    # 23:30 UTC is already the 21st in Berlin.
    late = await charge(cp, tag="CARD2", start="2026-11-20T23:30:00Z", stop="2026-11-20T23:50:00Z")
    running = await charge(cp, tag="CARD2", start="2026-11-22T08:00:00Z", stop=None)
    cases = {
        "": {first, late, running},
        "?tag=card2": {late, running},  # typed in lower case
        "?driver=alice": {first},
        "?company=Green%20Cabs": {late, running},
        "?active=true": {running},
        "?active=false": {first, late},
        "?since=2026-11-21": {late, running},
        "?until=2026-11-20": {first},
        "?since=2026-11-21&until=2026-11-21&company=Green%20Cabs": {late},
        "?charger=CP1&active=false&driver=bob": {late},
    }
    for query, expected in cases.items():
        status, html = await staff.get("/sessions" + query)
        assert status == 200 and session_ids(html) == expected, query
    status, html = await staff.get("/sessions?since=2026-11-21&driver=bob")
    assert 'value="2026-11-21"' in html and 'id="f-driver" name="driver" type="text" value="bob"' in html
    assert 'href="/sessions.csv?driver=bob&amp;since=2026-11-21"' in html
    status, html = await staff.get("/sessions?charger=NOPE")
    assert session_ids(html) == set() and "No sessions match this filter" in text_of(html)


@pytest.mark.parametrize("query, message", [
    ("?since=2026-13-01", "From: '2026-13-01' is not a date; give it as YYYY-MM-DD"),
    ("?until=yesterday", "To: 'yesterday' is not a date"),
    ("?since=2026-11-21&until=2026-11-20", "To: 2026-11-20 is before From (2026-11-21)"),
    ("?page=two", "Page: 'two' is not a page number"),
    ("?page=0", "Page: '0' is not a page number"),
    ("?active=maybe", "Charging: 'maybe' is not one of true (charging now) or false (finished)"),
])
async def test_a_bad_filter_value_says_what_is_wrong(appliance, cp, staff, query, message):
    await charge(cp)
    status, html = await staff.get("/sessions" + query)
    assert status == 400 and message in text_of(html).replace("&#39;", "'")
    assert session_ids(html) == set()
    if "page" not in query:  # a form field of its own, marked
        assert 'aria-invalid="true"' in html
        status, html = await staff.get("/sessions.csv" + query)
        assert status == 400 and message in text_of(html).replace("&#39;", "'")


async def test_fifty_sessions_a_page_with_the_total(appliance, cp, staff):
    for minute in range(53):
        await cp.start_transaction("CARD1", meter_start=0, timestamp=f"2026-11-20T10:{minute:02d}:00Z")
    status, html = await staff.get("/sessions")
    assert len(session_ids(html)) == 50 and "53 sessions · page 1 of 2" in text_of(html)
    assert 'href="/sessions?page=2"' in html
    status, html = await staff.get("/sessions?page=2")
    assert len(session_ids(html)) == 3 and 'rel="prev"' in html
    assert 'data-live-on="session meter"' in html  # running sessions on it
    status, html = await staff.get("/sessions?page=7")
    assert status == 200 and "Page 7 is past the last page (2)" in text_of(html)


# -- the export -----------------------------------------------------------------------------------------

async def test_the_csv_export_holds_exactly_the_filtered_list(appliance, cp, staff):
    await second_fleet(appliance.core)
    await appliance.core.billing.add_tariff("standard", FLAT)
    await appliance.core.billing.add_group("yard", "standard")
    await appliance.core.billing.assign("CP1", "yard")
    first = await charge(cp, start="2026-11-20T10:00:00Z", stop="2026-11-20T11:00:00Z", meter=(1000, 11000))
    await charge(cp, tag="CARD2", start="2026-11-21T10:00:00Z", stop="2026-11-21T10:30:00Z")
    running = await charge(cp, tag="=cmd", start="2026-11-22T10:00:00Z", stop=None)
    async with staff.http.get(staff.url + "/sessions.csv?driver=alice") as response:
        assert response.status == 200 and response.content_type == "text/csv"
        assert response.headers["Content-Disposition"] == 'attachment; filename="sessions-alice-' \
            + response.headers["Content-Disposition"].split("sessions-alice-")[1]
        body = (await response.read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [int(r["session"]) for r in rows] == [first]
    row = rows[0]
    assert (row["charger"], row["id_tag"], row["driver"], row["company"]) == ("CP1", "CARD1", "alice", "Blue Taxi")
    assert (row["started"], row["stopped"]) == ("2026-11-20T11:00:00+01:00", "2026-11-20T12:00:00+01:00")
    assert (row["energy_kwh"], row["duration_s"], row["state"]) == ("10.000", "3600", "finished")
    assert (row["cost_incl_vat"], row["cost_excl_vat"], row["currency"]) == ("5.60", "4.71", "EUR")
    assert len(row["cdr_id"]) > 10
    async with staff.http.get(staff.url + "/sessions.csv?active=true") as response:
        assert 'filename="sessions-charging-' in response.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    # A tag that looks like a formula stays text in a spreadsheet; a running session has no cost yet.
    assert [(int(r["session"]), r["id_tag"], r["state"], r["cost_incl_vat"]) for r in rows] == \
        [(running, "'=CMD", "charging", "")]
    async with staff.http.get(staff.url + "/sessions.csv?since=2026-11-21&until=2026-11-21") as response:
        assert 'filename="sessions-2026-11-21-to-2026-11-21.csv"' in response.headers["Content-Disposition"]
        assert len(list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))) == 1


async def test_an_export_too_big_is_refused_with_advice(appliance, cp, staff, monkeypatch):
    from appliance.web.ui import sessions_pages

    monkeypatch.setattr(sessions_pages, "EXPORT_LIMIT", 1)
    await charge(cp)
    await charge(cp, start="2026-11-21T10:00:00Z", stop="2026-11-21T10:10:00Z")
    status, html = await staff.get("/sessions.csv")
    assert status == 400 and "This export would hold 2 sessions; at most 1 go into one file" in text_of(html)


async def test_an_export_read_in_chunks_loses_and_repeats_no_session(appliance, cp, staff, monkeypatch):
    monkeypatch.setattr(session_views, "EXPORT_CHUNK", 2)
    for meter, start in enumerate(["2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z",
                                   "2026-11-20T09:00:00Z", "2026-11-20T11:00:00Z"]):
        await cp.start_transaction("CARD1", meter_start=meter, timestamp=start)  # three start at one instant
    _, html = await staff.get("/sessions")
    listed = [int(n) for n in re.findall(r'<td data-label="Session"><a href="/sessions/(\d+)"', html)]
    async with staff.http.get(staff.url + "/sessions.csv") as response:
        rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert [int(r["session"]) for r in rows] == listed and len(listed) == 5


# -- one session ----------------------------------------------------------------------------------------

async def test_a_session_page_has_its_facts_chart_and_meter_values(appliance, cp, staff):
    readings = [(f"2026-11-20T10:{m:02d}:00Z", 1000 + 120 * m) for m in range(1, 11)]
    tx = await charge(cp, readings=readings, stop="2026-11-20T10:11:00Z", meter=(1000, 2320))
    status, html = await staff.get(f"/sessions/{tx}")
    assert status == 200
    page = text_of(html)
    for fact in ("Charger CP1 (ocpp1.6-json)", "Tag CARD1 Accepted", "Driver alice", "Company Blue Taxi",
                 "Started 2026-11-20 11:00:00", "Stopped 2026-11-20 11:11:00", "Meter start 1.000 kWh",
                 "Meter stop 2.320 kWh", "Energy 1.320 kWh", "Stop reason EVDisconnected",
                 "Stopped by the charger (EVDisconnected)"):
        assert fact in page, fact
    svg = ET.fromstring(re.search(r"<svg .*?</svg>", html, re.DOTALL).group(0))
    assert svg.find(f"{SVG}title").text == f"Power and energy of session {tx}"
    series = {g.get("data-series"): g for g in svg.iter(f"{SVG}g") if g.get("data-series")}
    assert set(series) == {"Power", "Energy"}
    assert series["Power"].find(f"{SVG}path") is not None and series["Energy"].find(f"{SVG}path") is not None
    assert "highest 7.2 kW" in svg.find(f"{SVG}desc").text and "highest 1.32 kWh" in svg.find(f"{SVG}desc").text
    # The samples' table: local times, each measurand with its phase.
    assert "2026-11-20 11:05:00 Energy.Active.Import.Register 1600 Wh" in page
    assert "Current.Import L1 16.0 A" in page and "Power.Active.Import 7200 W" in page
    assert "data-live-src" not in html  # a finished session no longer changes


async def test_a_running_session_page_refreshes_its_figures_and_chart(appliance, cp, staff):
    tx = await charge(cp, stop=None)
    status, html = await staff.get(f"/sessions/{tx}")
    assert "no meter values yet" in html and "Stop remotely" in html
    assert f'data-live-src="/sessions/{tx}/live" data-live-on="session:CP1 meter:CP1"' in html
    await cp.meter_values(tx, 2500, timestamp="2026-11-20T10:05:00Z")
    status, fragment = await staff.get(f"/sessions/{tx}/live")
    assert status == 200 and "<html" not in fragment and "no meter values yet" not in fragment
    assert "1.50 kWh" in text_of(fragment) and "7.2 kW" in text_of(fragment)
    ET.fromstring(re.search(r"<svg .*?</svg>", fragment, re.DOTALL).group(0))
    await cp.stop_transaction(tx, 3000, timestamp="2026-11-20T10:06:00Z")
    _, fragment = await staff.get(f"/sessions/{tx}/live")
    assert "The session has ended. Reload the page" in text_of(fragment) and "2.00 kWh" in text_of(fragment)


async def test_the_cost_is_broken_down_by_the_tariff_and_the_cdr_awaits_head_office(appliance, cp, staff):
    core = appliance.core
    await core.billing.add_tariff("standard", FLAT)
    await core.billing.add_group("yard", "standard")
    await core.billing.assign("CP1", "yard")
    tx = await charge(cp, start="2026-11-20T10:00:00Z", stop="2026-11-20T11:00:00Z", meter=(1000, 11000))
    _, html = await staff.get(f"/sessions/{tx}")
    page = text_of(html)
    assert "Tariff: standard (duration energy)" in page
    assert "Connection fee once per session 1.00 EUR" in page
    assert "Energy and time 11:00–12:00: 10.000 kWh × 0.40 EUR/kWh + 60.0 min × 0.01 EUR/min 4.60 EUR" in page
    assert "Total incl. VAT 5.60 EUR" in page and "VAT 19 % 0.89 EUR" in page and "Total excl. VAT 4.71 EUR" in page
    (cdr,) = await core.billing.cdrs_of(tx)
    assert cdr.cdr_id in page and "waiting no head office is set up" in page


async def test_an_unknown_session_is_a_not_found_page(appliance, staff):
    for path in ("/sessions/999999", "/sessions/999999/live", "/sessions/999999/transparency.xml"):
        status, html = await staff.get(path)
        assert status == 404 and "There is no session 999999" in text_of(html), path
    status, html = await staff.get("/sessions/abc")
    assert status == 404


# -- what operators do ----------------------------------------------------------------------------------

async def test_an_operator_stops_a_session_remotely_with_a_reason(appliance, cp, staff):
    cp.stop_on_remote_stop, cp.meter_wh = True, 4000
    tx = await charge(cp, stop=None)
    status, html = await staff.post(f"/sessions/{tx}/stop", {"reason": "car must leave the bay"})
    assert status == 200 and f"CP1 accepted the remote stop of session {tx}" in text_of(html)
    assert cp.last("RemoteStopTransaction") == {"transaction_id": tx}
    (action,) = [a for a in await appliance.core.commands.actions("CP1") if a.action == "remote_stop"]
    assert (action.actor, action.reason, action.result_status) == ("web:admin-user", "car must leave the bay",
                                                                   "Accepted")
    await wait_for(lambda: _stopped(appliance, tx))
    status, html = await staff.get(f"/sessions/{tx}")
    page = text_of(html)
    assert "Stop reason Remote" in page and "by web:admin-user: “car must leave the bay” → Accepted" in page
    assert "Stop remotely" not in page
    audit = await appliance.core.accounts.audit_log(actor="admin-user")
    assert any(e.action == f"remote stop of session {tx} on CP1" and "reason=car must leave the bay" in e.detail
               and e.outcome == "ok" for e in audit)


async def _stopped(appliance, tx) -> bool:
    record = await appliance.core.transactions.get(tx)
    return record.stopped_at is not None


async def test_a_remote_stop_needs_a_reason_and_nothing_is_sent_without_one(appliance, cp, staff):
    tx = await charge(cp, stop=None)
    status, html = await staff.post(f"/sessions/{tx}/stop", {"reason": "  "})
    assert status == 400 and "Reason: please fill this in" in text_of(html) and 'aria-invalid="true"' in html
    assert not [a for a, _ in cp.received if a == "RemoteStopTransaction"]
    assert not [a for a in await appliance.core.commands.actions("CP1") if a.action == "remote_stop"]


async def test_a_refused_remote_stop_says_so(appliance, cp, staff):
    cp.answers["RemoteStopTransaction"] = "Rejected"
    tx = await charge(cp, stop=None)
    _, html = await staff.post(f"/sessions/{tx}/stop", {"reason": "test"})
    assert f"CP1 did not stop session {tx}: Rejected" in text_of(html) and 'class="flash error"' in html


async def test_a_finished_session_is_not_stopped_again(appliance, cp, staff):
    tx = await charge(cp)
    _, html = await staff.post(f"/sessions/{tx}/stop", {"reason": "test"})
    assert f"Session {tx} has already ended; nothing was sent to CP1" in text_of(html)
    assert not [a for a, _ in cp.received if a == "RemoteStopTransaction"]


async def test_an_operator_puts_a_session_first_and_back_in_turn(appliance, cp, staff):
    tx = await charge(cp, stop=None)
    status, html = await staff.post(f"/sessions/{tx}/charge-first", {"on": "true"})
    assert f"Session {tx} now charges first" in text_of(html) and "Charge first yes: before every priority" in text_of(html)
    assert "Charge in turn again" in html
    status, html = await staff.post(f"/sessions/{tx}/charge-first", {"on": "false"})
    assert f"Session {tx} now charges in turn" in text_of(html) and "Charge first no: in turn" in text_of(html)
    status, html = await staff.post(f"/sessions/{tx}/charge-first", {"on": "sometimes"})
    assert status == 400 and "Charge first: choose one of true, false" in text_of(html)


async def test_a_viewer_sees_no_change_forms_and_cannot_stop_a_session(appliance, cp):
    tx = await charge(cp, stop=None)
    viewer = await staff_client(appliance, "viewer")
    try:
        status, html = await viewer.get(f"/sessions/{tx}")
        assert status == 200 and "Stop remotely" not in html and "/charge-first" not in html
        assert "can look but not stop sessions" in text_of(html)
        status, html = await viewer.post(f"/sessions/{tx}/stop", {"reason": "prank"})
        assert status == 403 and "it needs the operator role" in text_of(html)
        status, _ = await viewer.post(f"/sessions/{tx}/charge-first", {"on": "true"})
        assert status == 403
    finally:
        await viewer.close()
    assert not [a for a, _ in cp.received if a == "RemoteStopTransaction"]
    assert (await appliance.core.transactions.get(tx)).stopped_at is None


# -- OCPP 2.0.1: signed values and missing events -------------------------------------------------------

async def test_signed_values_and_missing_events_of_a_201_session(appliance, cs, staff):
    import base64

    from ocpp.v201 import call as call201

    ocmf = ('OCMF|{"FV":"1.0","GI":"X","GS":"S1","RD":[{"TM":"2026-11-20T10:00:00,000+0000 S","TX":"B",'
            '"RV":0.0,"RU":"kWh","ST":"G"}]}|{"SD":"3045"}')
    signed = {"signed_meter_data": base64.b64encode(ocmf.encode()).decode(),
              "signing_method": "ECDSA-secp256r1-SHA256", "encoding_method": "OCMF", "public_key": ""}
    reading = {"timestamp": "2026-11-20T10:00:00Z", "sampled_value": [
        {"value": 0, "context": "Transaction.Begin", "measurand": "Energy.Active.Import.Register",
         "unit_of_measure": {"unit": "Wh"}, "signed_meter_value": signed}]}
    await cs.call(call201.TransactionEvent(event_type="Started", timestamp="2026-11-20T10:00:00Z",
                                           trigger_reason="Authorized", seq_no=0,
                                           transaction_info={"transaction_id": "s-1"}, meter_value=[reading],
                                           evse={"id": 1, "connector_id": 1},
                                           id_token={"id_token": "CARD1", "type": "ISO14443"}))
    await cs.call(call201.TransactionEvent(event_type="Updated", timestamp="2026-11-20T10:10:00Z",
                                           trigger_reason="MeterValuePeriodic", seq_no=2,
                                           transaction_info={"transaction_id": "s-1"}))
    tx = (await appliance.core.transactions.find_remote("CS1", "s-1")).id
    _, html = await staff.get(f"/sessions/{tx}")
    page = text_of(html)
    assert "Charger's transaction id s-1" in page and "Events 1 never arrived" in page
    assert "unverifiable Transaction.Begin · OCMF" in page
    assert f'href="/sessions/{tx}/transparency.xml"' in html
    async with staff.http.get(f"{staff.url}/sessions/{tx}/transparency.xml") as response:
        assert response.status == 200 and response.content_type == "application/xml"
        ui_xml = await response.text()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {appliance.token}"}) as http, \
            http.get(f"{appliance.url}/api/v1/sessions/{tx}/transparency.xml") as response:
        assert ui_xml == await response.text()
    assert ET.fromstring(ui_xml)[0].find("signedData").text == ocmf


async def test_a_session_without_signed_values_has_no_transparency_file(appliance, cp, staff):
    tx = await charge(cp)
    status, html = await staff.get(f"/sessions/{tx}/transparency.xml")
    assert status == 404 and f"Session {tx} has no signed meter values" in text_of(html)
    status, html = await staff.get(f"/sessions/{tx}")
    assert "transparency.xml" not in html


async def test_a_charger_without_power_readings_gets_power_from_its_energy(appliance, cp, staff):
    tx = (await cp.start_transaction("CARD1", meter_start=0, timestamp="2026-11-20T10:00:00Z")).transaction_id
    for minute, kwh in ((15, "2.5"), (30, "5.0")):
        await cp.call(call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": f"2026-11-20T10:{minute}:00Z", "sampled_value": [
                {"value": kwh, "unit": "kWh", "measurand": "Energy.Active.Import.Register"}]}]))
    _, html = await staff.get(f"/sessions/{tx}")
    svg = ET.fromstring(re.search(r"<svg .*?</svg>", html, re.DOTALL).group(0))
    assert "Power (from energy): 2 values" in svg.find(f"{SVG}desc").text
    assert "highest 10 kW" in svg.find(f"{SVG}desc").text  # 2.5 kWh in a quarter of an hour
    assert "power here is the energy's rise between readings" in text_of(html)


# -- the pure parts behind the pages ---------------------------------------------------------------------

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("since, until, first, before", [
    ("2026-11-20", "", "2026-11-19T23:00:00+00:00", None),  # a Berlin day starts at 23:00 UTC in winter
    ("", "2026-11-20", None, "2026-11-20T23:00:00+00:00"),  # the To day is included
    ("2026-03-29", "2026-03-29", "2026-03-28T23:00:00+00:00", "2026-03-29T22:00:00+00:00"),  # a 23-hour day
    ("2026-10-25", "2026-10-25", "2026-10-24T22:00:00+00:00", "2026-10-25T23:00:00+00:00"),  # a 25-hour day
])
def test_filter_days_are_the_depot_s_days(since, until, first, before):
    criteria = parse_criteria(BERLIN, since=since, until=until)
    assert (criteria.started_from.isoformat() if criteria.started_from else None) == first
    assert (criteria.started_before.isoformat() if criteria.started_before else None) == before


@pytest.mark.parametrize("fields, field", [
    ({"since": "20261120"}, "since"),  # only YYYY-MM-DD, though Python reads more
    ({"until": "2026-02-30"}, "until"),
    ({"active": "yes"}, "active"),
    ({"charger": "x" * 65}, "charger"),
    ({"driver": "d" * 101}, "driver"),
])
def test_bad_filters_name_their_field(fields, field):
    with pytest.raises(SessionFilterError) as error:
        parse_criteria(BERLIN, **fields)
    assert error.value.field == field


def sample(minute, value, measurand="Energy.Active.Import.Register", unit="Wh", phase="", location=""):
    return SampleRow(T0 + dt.timedelta(minutes=minute), measurand, phase, location, "", unit, "Raw",
                     parse_number(value), value)


@pytest.mark.parametrize("samples, energy, power, derived", [
    ([], [], [], True),  # nothing yet: the chart says so
    ([sample(10, "2000"), sample(10, "7200", "Power.Active.Import", "W")], [(0, 0.0), (10, 1.0)], [(10, 7.2)], False),
    ([sample(10, "2.0", unit="kWh")], [(0, 0.0), (10, 1.0)], [(10, 6.0)], True),  # 1 kWh in 10 min: 6 kW
    # No total power: the phases add up; the grid side of the charger and unknown units are left out.
    ([sample(5, "2300", "Power.Active.Import", "W", "L1"), sample(5, "2.3", "Power.Active.Import", "kW", "L2-N"),
      sample(5, "9999", "Power.Active.Import", "W", location="Inlet"), sample(6, "5", unit="varh")],
     [], [(5, 4.6)], False),
    ([sample(5, "1500", phase="L1")], [], [], True),  # a phase's register is not the session's energy
])
def test_meter_curves(samples, energy, power, derived):
    curves = meter_curves(samples, 1000, T0)
    minutes = lambda points: [(int((at - T0).total_seconds() // 60), round(v, 3)) for at, v in points]
    assert (minutes(curves.energy_kwh), minutes(curves.power_kw), curves.power_derived) == (energy, power, derived)


def test_a_finished_session_without_samples_is_a_line_from_its_meter_start_to_its_stop():
    curves = meter_curves([], 1000, T0, T0 + dt.timedelta(hours=1), 8000)
    assert curves.energy_kwh == [(T0, 0.0), (T0 + dt.timedelta(hours=1), 7.0)]
    assert curves.power_kw == [(T0 + dt.timedelta(hours=1), 7.0)] and curves.power_derived


def test_a_time_of_day_price_is_a_line_per_band_with_its_unit_prices():
    tariff = Tariff("7", "Day and night", "time_of_day", connection_fee=Decimal("0.50"), bands=(
        TimeBand(dt.time(6), dt.time(22), price_per_kwh=Decimal("0.40"), price_per_minute=Decimal("0.01"), name="day"),
        TimeBand(dt.time(22), dt.time(6), price_per_kwh=Decimal("0.20"), name="night")))
    start = dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.UTC)  # 21:00 in Berlin
    usage = pricing.Usage(start, start + dt.timedelta(hours=2), (
        pricing.MeterPoint(start, 0), pricing.MeterPoint(start + dt.timedelta(hours=2), 20000)))
    found = cost_breakdown(pricing.price(tariff, usage, BERLIN), tariff, BERLIN)
    assert [(line.label, line.detail, line.amount) for line in found.lines] == [
        ("Connection fee", "once per session", Decimal("0.50")),
        ("day", "21:00–22:00: 10.000 kWh × 0.40 EUR/kWh + 60.0 min × 0.01 EUR/min", Decimal("4.60")),
        ("night", "22:00–23:00: 10.000 kWh × 0.20 EUR/kWh", Decimal("2.00"))]
    assert (found.total_incl_vat, found.tariff_name, found.rounded_lines) == (Decimal("7.10"), "Day and night", False)


def test_a_session_priced_without_a_tariff_is_free():
    usage = pricing.Usage(T0, T0 + dt.timedelta(hours=1), (pricing.MeterPoint(T0, 0),))
    free = Tariff("free", "free (no tariff group)", "free")
    found = cost_breakdown(pricing.price(free, usage, BERLIN), None, BERLIN)
    assert found.tariff_name == "free (no tariff group)" and found.total_incl_vat == Decimal("0.00")
    assert [line.label for line in found.lines] == ["Charging (free)"]
