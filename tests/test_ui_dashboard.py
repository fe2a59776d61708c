"""The dashboard (GET /) and its live fragments: faults, lost connections and waiting chargers from real
virtual chargers, sessions running now with their power, a period's sessions, energy and cost against the
period before, EVSEs by power, and the live feed."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
import zoneinfo
from decimal import Decimal

import aiohttp
import pytest
from ocpp.v16 import call

from appliance.core.overview import Overview, period_bounds
from appliance.store.transactions import SampleRow
from tests.conftest import add_fleet, make_settings, wait_for
from tests.ui_client import staff_client, text_of
from tests.virtual_charger import connect16

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
FLAT = {"kind": "duration_energy", "currency": "EUR", "vat_rate": "0.19", "connection_fee": "1.00",
        "price_per_kwh": "0.40", "price_per_minute": "0.01"}


def tiles(html: str) -> dict[str, tuple[str, str]]:
    """The cards by their label: (link, words)."""
    found = {}
    for _, _, href, body in re.findall(r'<(a|div) class="card tile"( href="([^"]*)")?>(.*?)</\1>', html, re.S):
        label = text_of(re.search(r'<span class="figure-label">(.*?)</span>', body, re.S).group(1))
        found[label] = (href, text_of(body))
    return found


async def cards(staff, period: str = "today") -> dict[str, tuple[str, str]]:
    status, html = await staff.get(f"/dashboard/cards?period={period}")
    assert status == 200, text_of(html)
    return tiles(html)


async def problems(staff) -> str:
    status, html = await staff.get("/dashboard/problems")
    assert status == 200
    return text_of(html)


async def test_an_empty_depot_says_none_calmly_and_marks_its_live_regions(appliance, staff):
    status, html = await staff.get("/")
    assert status == 200
    found = tiles(html)
    assert found["Faults"] == ("/chargers?status=faulted", "Faults none no connector reports a fault")
    assert found["Connection lost"] == ("/chargers?status=offline", "Connection lost none no chargers accepted yet")
    assert "Waiting to be accepted" not in found
    assert found["Charging now"] == ("/sessions?active=true", "Charging now 0 sessions running no power readings")
    assert 'data-live-src="/dashboard/cards?period=today" data-live-on="connection status session meter charger"' \
        in html
    assert 'data-live-src="/dashboard/problems"' in html
    assert '<ul id="live-feed" class="feed">' in html
    words = text_of(html)
    assert "Nothing needs attention" in words and "No EVSEs known yet" in words
    assert "Nothing has happened since the appliance started" in words


async def test_a_faulted_connector_shows_in_the_fault_card_the_problem_list_and_the_feed(appliance, staff, cp):
    await cp.call(call.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted",
                                          vendor_error_code="E42", info="earth leak"))
    # Still available, but the charger reports an error: worth a look too.
    await cp.call(call.StatusNotification(connector_id=2, error_code="HighTemperature", status="Available"))
    found = await cards(staff)
    assert found["Faults"] == ("/chargers?status=faulted", "Faults 2 connectors faulted or reporting an error")
    assert found["Connection lost"][1] == "Connection lost none of 1 accepted charger, none has lost its connection"
    listed = await problems(staff)
    assert "CP1 connector 1 Faulted GroundFailure · vendor error E42 · “earth leak”" in listed
    assert "CP1 connector 2 Available HighTemperature" in listed
    status, html = await staff.get("/")
    assert '<li class="fault"><time' in html and "CP1 connector 1: Faulted (GroundFailure)" in html

    await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
    await cp.call(call.StatusNotification(connector_id=2, error_code="NoError", status="Available"))
    assert (await cards(staff))["Faults"][1] == "Faults none no connector reports a fault"


async def test_a_session_started_by_a_charger_is_active_with_its_latest_power(appliance, staff, cp):
    started = await cp.start_transaction("CARD1", meter_start=1000)
    found = await cards(staff)
    assert found["Charging now"][1] == "Charging now 1 session running no power readings in the last 10 minutes"
    stale = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=20)).isoformat()
    await cp.meter_values(started.transaction_id, 1500, timestamp=stale)
    assert "no power readings" in (await cards(staff))["Charging now"][1]  # a reading that old says nothing of now
    await cp.meter_values(started.transaction_id, 2500)
    found = await cards(staff)
    assert found["Charging now"][1] == "Charging now 1 session running 7.2 kW now"
    assert "Sessions 1 started, 1 still running new vs. yesterday by this time (0)" in found["Sessions"][1]
    assert "Energy 1.5 kWh of which 1.5 kWh in running sessions so far" in found["Energy"][1]

    await cp.stop_transaction(started.transaction_id, 4000)
    found = await cards(staff)
    assert found["Charging now"][1] == "Charging now 0 sessions running no power readings"
    assert found["Energy"][1].startswith("Energy 3.0 kWh delivered")
    assert "from the charge records of 1 finished session" in found["Cost"][1]


async def test_a_lost_charger_and_one_waiting_to_be_accepted_show_with_their_links(appliance, staff, cp):
    await appliance.core.chargers.add("CP2", "ocpp1.6-json", description="bay 2")
    async with connect16(appliance.url, "CP2"):
        pass
    async with connect16(appliance.url, "NEW1"):  # nobody added it: pending
        found = await wait_for(lambda: _when(cards(staff), lambda f: "Waiting to be accepted" in f))
    assert found["Connection lost"] == ("/chargers?status=offline", "Connection lost 1 charger not online, of 2")
    assert found["Waiting to be accepted"] == ("/chargers?status=pending",
                                               "Waiting to be accepted 1 charger asked to join: NEW1")
    listed = await problems(staff)
    assert re.search(r"CP2 bay 2 connection offline temporarily unreachable last heard from \d+ s ago", listed)
    assert "NEW1 registration pending waiting to be accepted or rejected" in listed
    status, html = await staff.get("/dashboard/problems")
    assert 'href="/chargers/CP2"' in html and 'href="/chargers/NEW1"' in html


async def _when(coroutine, predicate):
    value = await coroutine
    return value if predicate(value) else None


@pytest.fixture
async def berlin(start_appliance, tmp_path):
    """A depot in Berlin with a priced charger CP1; sessions made by hand are never closed as stuck."""
    app = await start_appliance(make_settings(tmp_path / "berlin", timezone="Europe/Berlin",
                                              stuck_transaction_after_s=1e9))
    core = app.core
    await add_fleet(core)
    await core.billing.add_tariff("standard", FLAT)
    await core.billing.add_group("yard", "standard")
    await core.chargers.add("CP1", "ocpp1.6-json")
    await core.billing.assign("CP1", "yard")
    return app


async def session(core, started_at: dt.datetime, minutes: int | None, energy_wh: int, meter_start: int = 0) -> int:
    """A session on CP1 at the given time, finished after `minutes` (None: still running, its meter at
    `energy_wh` a quarter of an hour after the start)."""
    started = await core.transactions.start("CP1", 1, "CARD1", meter_start, started_at)
    tx = started.transaction_id
    if minutes is None:
        at = started_at + dt.timedelta(minutes=15)
        await core.transactions.meter_values("CP1", 1, tx, [SampleRow(
            at, "Energy.Active.Import.Register", "", "", "", "Wh", "Raw", float(meter_start + energy_wh),
            str(meter_start + energy_wh))])
    else:
        await core.transactions.stop("CP1", tx, meter_start + energy_wh, started_at + dt.timedelta(minutes=minutes))
    return tx


def berlin_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=BERLIN)


# Tuesday 10 March 2026, 12:00 in Berlin (winter time).
NOW = berlin_time("2026-03-10 12:00")
HAND_MADE = [  # (local start, minutes or None while running, energy Wh)
    ("2026-03-10 08:00", 60, 10_000),  # today
    ("2026-03-10 11:30", None, 2_000),  # today, running
    ("2026-03-09 09:00", 60, 4_000),  # yesterday by this time; this week
    ("2026-03-09 14:00", 60, 20_000),  # yesterday after this time; this week
    ("2026-03-03 06:00", 60, 5_000),  # last week by this time (Tuesday morning)
    ("2026-03-05 10:00", 30, 1_000),  # last week after this time; this month
    ("2026-02-05 10:00", 30, 3_000),  # last month by this time
    ("2026-02-20 10:00", 30, 7_000),  # last month after this time
]


@pytest.mark.parametrize("period, sessions, running, energy_wh, previous, previous_wh, changes", [
    ("today", 2, 1, 12_000, 1, 4_000, ("+100 %", "+200 %")),
    ("week", 4, 1, 36_000, 1, 5_000, ("+300 %", "+620 %")),
    ("month", 6, 1, 42_000, 1, 3_000, ("+500 %", "+1300 %")),
])
async def test_period_figures_and_their_change_against_the_period_before(
        berlin, period, sessions, running, energy_wh, previous, previous_wh, changes):
    async with connect16(berlin.url, "CP1"):
        for start, minutes, energy in HAND_MADE:
            await session(berlin.core, berlin_time(start), minutes, energy, meter_start=50_000)
    core = berlin.core
    figures = await Overview(core.db, core.settings.zone, "EUR").figures(period, now=NOW)
    assert (figures.sessions, figures.running, figures.energy_wh, figures.running_energy_wh) == (
        sessions, running, energy_wh, 2_000)
    assert (figures.previous_sessions, figures.previous_energy_wh) == (previous, previous_wh)
    assert (figures.sessions_change.text, figures.energy_change.text) == changes


async def test_the_cost_of_a_period_comes_from_the_charge_records_of_its_finished_sessions(berlin):
    async with connect16(berlin.url, "CP1"):
        for start, minutes, energy in HAND_MADE[:4]:
            await session(berlin.core, berlin_time(start), minutes, energy)
    figures = await Overview(berlin.core.db, berlin.core.settings.zone, "EUR").figures("today", now=NOW)
    # Today: 1.00 + 10 kWh x 0.40 + 60 min x 0.01; the running session is priced when it finishes.
    # Yesterday by this time: 1.00 + 4 kWh x 0.40 + 60 min x 0.01.
    assert (figures.costs, figures.priced, figures.unpriced) == ({"EUR": Decimal("5.60")}, 1, 0)
    assert (figures.previous_cost, figures.cost_change.text) == (Decimal("3.20"), "+75 %")


async def test_the_page_shows_the_chosen_period_against_the_one_before(berlin):
    core = berlin.core
    now = dt.datetime.now(dt.timezone.utc)
    today = period_bounds("today", now, BERLIN)
    in_today = today.start + (now - today.start) / 2
    in_yesterday = today.previous_start + (today.previous_end - today.previous_start) / 2
    async with connect16(berlin.url, "CP1"):
        await session(core, in_today, 1, 3_000)
        await session(core, in_today + dt.timedelta(seconds=1), 1, 2_000, meter_start=10_000)
        await session(core, in_yesterday, 1, 4_000)
    staff = await staff_client(berlin, "admin")
    try:
        status, html = await staff.get("/")
        found = tiles(html)
        assert found["Sessions"] == ("/sessions", "Sessions 2 started +100 % vs. yesterday by this time (1)")
        assert found["Energy"][1] == "Energy 5.0 kWh delivered +25 % vs. yesterday by this time (4.0 kWh)"
        assert 'href="/?period=today" aria-current="page"' in html

        status, html = await staff.get("/?period=week")
        assert status == 200 and 'href="/?period=week" aria-current="page"' in html
        assert 'data-live-src="/dashboard/cards?period=week"' in html
        assert "This week" in text_of(html) and "vs. last week by this time" in text_of(html)

        status, html = await staff.get("/dashboard/cards?period=month")
        assert status == 200 and "<html" not in html and "vs. last month" in text_of(html)

        for path in ("/?period=year", "/dashboard/cards?period=year"):
            status, html = await staff.get(path)
            assert status == 400
            assert "There is no period 'year' on the dashboard: choose today, week or month." in unescape(text_of(html))
    finally:
        await staff.close()


async def test_evses_are_counted_by_the_power_their_station_reports(appliance, staff, cs):
    def row(label: str, count: int) -> str:
        return f'<td class="class">{label}</td><td class="num">{count}</td>'

    async def counted() -> bool:
        status, html = await staff.get("/dashboard/cards")
        return row("≤ 22 kW", 1) in html and row("≤ 50 kW", 1) in html

    await wait_for(counted)
    status, html = await staff.get("/dashboard/cards")
    assert ">unknown<" not in html and "not reported by the charger" not in html  # classes without EVSEs are left out


async def test_an_evse_whose_power_nobody_reported_counts_as_unknown(appliance, staff, cp):
    await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
    status, html = await staff.get("/dashboard/cards")
    assert '<td class="class">unknown</td><td class="num">1</td>' in html
    assert "unknown: not reported by the charger (OCPP 1.x chargers do not)" in text_of(html)


async def test_a_viewer_reads_the_dashboard_and_its_fragments_and_nobody_else_does(appliance, cp):
    viewer = await staff_client(appliance, "viewer")
    try:
        for path in ("/", "/?period=month", "/dashboard/cards?period=week", "/dashboard/problems"):
            status, html = await viewer.get(path)
            assert status == 200, path
        status, html = await viewer.get("/")
        assert re.findall(r'<form method="post"', html) == ['<form method="post"']  # logging out only
    finally:
        await viewer.close()
    async with aiohttp.ClientSession() as anonymous:
        for path in ("/", "/dashboard/cards"):
            async with anonymous.get(appliance.url + path, allow_redirects=False) as response:
                assert response.status == 303 and response.headers["Location"].startswith("/login")
