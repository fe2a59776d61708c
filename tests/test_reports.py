"""Reports end to end on a hand-built depot in Europe/Berlin (the real database: SQLite or PostgreSQL):
the API (JSON and CSV, breakdowns, comparison, clear errors), `appliance report` on the command line,
the reports page over HTML (chart, breakdown, CSV of what is shown, saved reports by role) and the
circuits' load profile."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from click.testing import CliRunner

from appliance.cli import cli
from appliance.store import analytics as report_store
from appliance.store.models import (
    ChargeDetailRecord,
    Charger,
    Circuit,
    CircuitLoad,
    Company,
    Connector,
    Driver,
    MeterSample,
    Tag,
    Tariff,
    Transaction,
    Vehicle,
)
from appliance.store.times import to_db
from tests.conftest import make_settings
from tests.ui_client import staff_client, text_of

BERLIN = ZoneInfo("Europe/Berlin")
TWO_DAYS = "period=2026-03-17..2026-03-18&grain=day"


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN).astimezone(dt.timezone.utc)


def build_depot() -> None:
    """Blue Taxi (driver alice), Green Cabs (taxi TAXI7), chargers CP1 (EVSE 1 AC, 2 DC) and CP2; three
    sessions: alice's across midnight (8 kWh before it by its readings, 2 after), the taxi's on DC
    (re-billed: a credit and a new record), and a stray card's without a record; a circuit's load."""
    now = to_db(berlin(2026, 3, 1, 0, 0))
    blue, green = (Company.create(name=n, created_at=now).id for n in ("Blue Taxi", "Green Cabs"))
    alice = Driver.create(name="alice", company=blue, created_at=now).id
    taxi = Vehicle.create(name="TAXI7", company=green, created_at=now).id
    card = Tag.create(id_tag="CARD1", driver=alice, created_at=now, updated_at=now).id
    taxi_card = Tag.create(id_tag="TAXI", vehicle=taxi, created_at=now, updated_at=now).id
    cp1, cp2 = (Charger.create(identity=i, protocol="ocpp1.6-json", registration="accepted", created_at=now).id
                for i in ("CP1", "CP2"))
    for charger, number, current in ((cp1, 1, "AC"), (cp1, 2, "DC"), (cp2, 1, "AC")):
        Connector.create(charger=charger, connector_number=number, current_type=current)
    standard = Tariff.create(name="Standard", kind="flat", created_at=now, updated_at=now).id

    def session(charger, connector, id_tag, tag, driver, start, stop, wh, readings=(), cdrs=()):
        tx = Transaction.create(charger=charger, connector_number=connector, id_tag=id_tag, tag=tag, driver=driver,
                                auth_status="Accepted", started_at=to_db(start), meter_start_wh=1000,
                                stopped_at=to_db(stop), meter_stop_wh=1000 + wh, energy_wh=wh, created_at=now).id
        for at, value in readings:
            MeterSample.create(charger=charger, connector_number=connector, transaction=tx, sampled_at=to_db(at),
                               value=value, raw_value=str(value), unit="Wh")
        for cdr_id, kind, credits, incl, excl in cdrs:
            ChargeDetailRecord.create(cdr_id=cdr_id, transaction=tx, kind=kind, credits=credits, currency="EUR",
                                      document=json.dumps({"id": cdr_id, "tariffs": [{"id": str(standard)}]}),
                                      total_incl_vat=incl, total_excl_vat=excl, created_at=now)

    session(cp1, 1, "CARD1", card, alice, berlin(2026, 3, 17, 23), berlin(2026, 3, 18, 1), 10_000,
            readings=[(berlin(2026, 3, 17, 23), 1000), (berlin(2026, 3, 18, 0), 9000),
                      (berlin(2026, 3, 18, 1), 11_000)],
            cdrs=[("a", "cdr", "", "11.90", "10.00")])
    session(cp1, 2, "TAXI", taxi_card, None, berlin(2026, 3, 18, 10), berlin(2026, 3, 18, 11), 30_000,
            cdrs=[("b", "cdr", "", "5.00", "4.20"), ("-b", "credit", "b", "-5.00", "-4.20"),
                  ("c", "cdr", "", "10.71", "9.00")])
    session(cp2, 1, "STRAY", None, None, berlin(2026, 3, 18, 12), berlin(2026, 3, 18, 13), 5000)
    main = Circuit.create(name="Main", max_current_a=100, created_at=now, updated_at=now).id
    for hour, l1, waiting in ((10, 80.0, 0), (10.5, 95.5, 2), (12, 40.0, 0)):
        CircuitLoad.create(circuit=main, at=to_db(berlin(2026, 3, 18, 0) + dt.timedelta(hours=hour)),
                           available_a=json.dumps({"L1": 100, "L2": 100, "L3": 100}),
                           allocated_a=json.dumps({"L1": l1, "L2": 10, "L3": 10}),
                           measured_a=json.dumps({"L1": l1, "L2": 12.5, "L3": 9}), waiting=waiting)


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path / "data", timezone="Europe/Berlin")


@pytest.fixture
async def depot(appliance):
    await appliance.core.db.write(build_depot)
    return appliance


async def get(appliance, path: str) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {appliance.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(appliance.url + path, headers=headers) as response:
            return response.status, response.content_type, await response.text()


# -- the API --------------------------------------------------------------------------------------------

async def test_energy_by_company_per_day(depot):
    status, report = await depot.api("GET", f"/api/v1/reports/energy?{TWO_DAYS}&by=company")
    assert status == 200, report
    assert [(b["label"], b["value"]) for b in report["buckets"]] == [("2026-03-17", 8.0), ("2026-03-18", 37.0)]
    assert report["total"] == 45.0 and report["unit"] == "kWh"
    assert [(r["key"], r["value"]) for r in report["breakdown"]] == [
        ("Green Cabs", 30.0), ("Blue Taxi", 10.0), ("(none)", 5.0)]
    assert report["buckets"][0]["by"] == {"(none)": 0.0, "Blue Taxi": 8.0, "Green Cabs": 0.0}


@pytest.mark.parametrize("query, expected", [
    ("by=driver", [("(none)", 35.0), ("alice", 10.0)]),
    ("by=vehicle", [("(none)", 15.0), ("TAXI7", 30.0)]),
    ("by=charger", [("CP1", 40.0), ("CP2", 5.0)]),
    ("by=evse", [("CP1/1", 10.0), ("CP1/2", 30.0), ("CP2/1", 5.0)]),
    ("by=current", [("AC", 15.0), ("DC", 30.0)]),
    ("by=ac-dc", [("AC", 15.0), ("DC", 30.0)]),
    ("by=tariff", [("(none)", 5.0), ("Standard", 40.0)]),
])
async def test_every_breakdown(depot, query, expected):
    status, report = await depot.api("GET", f"/api/v1/reports/energy?{TWO_DAYS}&{query}")
    assert status == 200, report
    assert sorted((r["key"], r["value"]) for r in report["breakdown"]) == expected


async def test_revenue_counts_each_sessions_standing_record_and_follows_energy(depot):
    status, report = await depot.api("GET", f"/api/v1/reports/revenue?{TWO_DAYS}")
    assert status == 200, report
    # alice's 10.00 split 8:2 by her readings; the taxi's re-billed record 9.00, not 4.20 + 9.00
    assert [Decimal(b["value"]) for b in report["buckets"]] == [Decimal("8.00"), Decimal("11.00")]
    assert (Decimal(report["total"]), report["unit"]) == (Decimal("19.00"), "EUR")
    status, report = await depot.api("GET", f"/api/v1/reports/revenue-incl-vat?{TWO_DAYS}")
    assert Decimal(report["total"]) == Decimal("22.61")


async def test_sessions_time_utilisation_peak_and_held_back(depot):
    async def total(metric: str, query: str = "period=2026-03-18"):
        status, report = await depot.api("GET", f"/api/v1/reports/{metric}?{query}")
        assert status == 200, report
        return report

    assert (await total("sessions"))["total"] == 2  # alice's started the day before
    assert (await total("charging-time"))["total"] == 3.0  # 1 h of alice's, the taxi's, the stray's
    assert (await total("idle-time"))["total"] == 0.0
    utilisation = await total("utilisation", "period=2026-03-18&by=evse")
    assert {r["key"]: r["value"] for r in utilisation["breakdown"]} == {"CP1/1": 4.2, "CP1/2": 4.2, "CP2/1": 4.2}
    assert (await total("peak-power"))["total"] == 30.0
    held = await total("held-back", "period=2026-03-18&grain=hour")
    assert held["total"] == 2 and held["buckets"][10]["value"] == 2


async def test_comparison_is_aligned_bucket_by_bucket(depot):
    status, report = await depot.api("GET", "/api/v1/reports/energy?period=2026-03-18&grain=day&compare=previous")
    assert status == 200, report
    assert report["compare"]["period"]["label"] == "2026-03-17"
    assert (report["buckets"][0]["value"], report["buckets"][0]["compare"]) == (37.0, 8.0)
    assert (report["total"], report["compare"]["total"]) == (37.0, 8.0)


async def test_csv_has_a_row_per_bucket_a_column_per_key_and_the_totals(depot):
    status, kind, text = await get(depot, f"/api/v1/reports/energy?{TWO_DAYS}&by=charger&format=csv")
    assert (status, kind) == (200, "text/csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["bucket", "from", "to", "CP1 (kWh)", "CP2 (kWh)", "Energy (kWh)"]
    assert rows[1] == ["2026-03-17", "2026-03-17T00:00+01:00", "2026-03-18T00:00+01:00", "8.0", "0.0", "8.0"]
    assert rows[-1][0] == "total" and rows[-1][3:] == ["40.0", "5.0", "45.0"]


@pytest.mark.parametrize("query, words", [
    ("/api/v1/reports/kilowatts?period=today", "metric 'kilowatts' is not one I know: use energy"),
    ("/api/v1/reports/energy?period=fortnight", "period 'fortnight' is not one I know"),
    ("/api/v1/reports/energy?period=today&grain=minute", "grain 'minute' is not one I know: use hour, day"),
    ("/api/v1/reports/energy?period=today&by=colour", "breakdown 'colour' is not one I know: use company"),
    ("/api/v1/reports/utilisation?period=today&by=driver", "utilisation takes by charger or evse only"),
    ("/api/v1/reports/energy?period=today&compare=then", "comparison 'then' is not one I know"),
    ("/api/v1/reports/energy?period=today&format=xls", "format 'xls' is not one I know"),
    ("/api/v1/reports/load-profile?period=today&circuit=Nope", "there is no circuit 'Nope' (circuits: Main)"),
])
async def test_bad_requests_say_what_is_wrong(depot, query, words):
    status, body = await depot.api("GET", query)
    assert status == 400 and words in body["error"], body


async def test_a_report_needs_a_token(depot):
    status, body = await depot.api("GET", "/api/v1/reports/energy?period=today", token="wrong")
    assert status == 401


async def test_load_profile_per_circuit_against_its_limit(depot):
    status, profile = await depot.api("GET", "/api/v1/reports/load-profile?period=2026-03-18&grain=hour")
    assert status == 200, profile
    [main] = profile["circuits"]
    assert (main["circuit"], main["limit_a"], main["peak_a"], main["of_limit_pct"]) == ("Main", 100.0, 95.5, 95.5)
    ten = main["buckets"][10]
    assert (ten["measured_a"], ten["records"]) == ({"L1": 95.5, "L2": 12.5, "L3": 9.0}, 2)
    assert main["buckets"][11]["peak_a"] is None  # nothing recorded


# -- the CLI ------------------------------------------------------------------------------------------

@pytest.fixture
def offline(settings):
    """The depot in a data directory with no server running; the CLI opens it directly."""
    import asyncio

    from appliance.core.services import open_core

    async def build():
        core = open_core(settings)
        try:
            await core.db.write(build_depot)
        finally:
            await core.close()

    asyncio.run(build())
    return lambda *args: CliRunner().invoke(cli, ["--data-dir", str(settings.data_dir), "report", *args],
                                            env={"APPLIANCE_TIMEZONE": "Europe/Berlin"})


def test_cli_csv_is_the_apis(offline):
    result = offline("energy", "--period", "2026-03-17..2026-03-18", "--grain", "day", "--by", "company", "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][3:] == ["Green Cabs (kWh)", "Blue Taxi (kWh)", "(none) (kWh)", "Energy (kWh)"]
    assert rows[-1][3:] == ["30.0", "10.0", "5.0", "45.0"]


def test_cli_table_and_json(offline):
    result = offline("sessions", "--period", "2026-03-18", "--compare", "previous")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["bucket", "from", "to", "Sessions", "(sessions)", "2026-03-17", "(sessions)"]
    assert lines[-1].split()[0] == "total" and lines[-1].split()[-2:] == ["2", "1"]
    data = json.loads(offline("energy", "--period", "2026-03-18", "--json").stdout)
    assert data["total"] == 37.0 and len(data["buckets"]) == 24


@pytest.mark.parametrize("args, words", [
    (("watts", "--period", "today"), "metric 'watts' is not one I know"),
    (("energy", "--period", "someday"), "period 'someday' is not one I know"),
    (("energy", "--grain", "decade"), "grain 'decade' is not one I know"),
    (("energy", "--by", "colour"), "breakdown 'colour' is not one I know"),
    (("energy", "--csv", "--json"), "give --csv or --json, not both"),
    (("load-profile", "--by", "company"), "load-profile takes --period, --grain and --circuit only"),
])
def test_cli_errors_are_one_clear_line(offline, args, words):
    result = offline(*args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output and words in result.stderr, result.stderr


def test_cli_load_profile(offline):
    result = offline("load-profile", "--period", "2026-03-18", "--grain", "day", "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[1][:2] == ["Main", "2026-03-18"] and rows[1][-3:] == ["95.5", "100.0", "95.5"]


# -- the page -------------------------------------------------------------------------------------------

PAGE = "/reports?metric=energy&period=custom&from=2026-03-17&to=2026-03-18&grain=day&by=company&compare=previous"


async def test_page_shows_chart_breakdown_and_buckets_and_its_csv_is_what_is_shown(depot, staff):
    status, html = await staff.get(PAGE)
    assert status == 200
    words = text_of(html)
    assert "Energy, 2026-03-17..2026-03-18 against 2026-03-15..2026-03-16" in words
    assert "Total: 45.0 kWh" in words
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart bars"' in html
    assert "Green Cabs 30.0" in words and "Blue Taxi 10.0" in words
    assert 'aria-current="page"' in html.split('href="/reports"')[1][:40]  # the nav entry
    status, csv_text = await staff.get(PAGE + "&format=csv")
    rows = list(csv.reader(io.StringIO(csv_text)))
    shown = text_of(html)
    for row in rows:  # every cell of the CSV is on the page, row by row
        assert " ".join(cell for cell in row if cell) in shown, row


async def test_bad_filters_are_named_at_their_field(depot, staff):
    status, html = await staff.get("/reports?metric=energy&period=custom&from=2026-03-18&to=2026-03-01")
    assert status == 400
    assert 'id="e-f-period">Period &#39;2026-03-18..2026-03-01&#39;: the last day 2026-03-01 is before' in html


async def test_saved_reports_are_kept_with_their_filters_by_operators(depot, staff):
    form = {"metric": "energy", "period": "2026-03-17..2026-03-18", "grain": "day", "by": "company", "compare": "",
            "name": "March by company"}
    status, html = await staff.post("/reports/saved", form)
    assert status == 200 and "Report &#39;March by company&#39; saved." in html
    [saved] = await depot.core.db.read(report_store.saved_reports)
    assert saved.query == "metric=energy&period=2026-03-17..2026-03-18&grain=day&by=company"
    status, html = await staff.get("/reports")
    assert f'href="/reports?{saved.query.replace("&", "&amp;")}">March by company</a>' in html
    status, html = await staff.get(f"/reports?{saved.query}")
    assert 'value="custom" selected' in html and 'value="2026-03-17"' in html and "Total: 45.0 kWh" in text_of(html)

    viewer = await staff_client(depot, "viewer")
    try:
        status, html = await viewer.get("/reports")
        assert "March by company" in html and "Save report" not in html
        status, _ = await viewer.post(f"/reports/saved/{saved.id}/delete", {})
        assert status == 403
        status, _ = await viewer.post("/reports/saved", {**form, "name": "mine"})
        assert status == 403
    finally:
        await viewer.close()

    status, html = await staff.post(f"/reports/saved/{saved.id}/delete", {})
    assert "Saved report deleted." in html and "March by company" not in html


async def test_a_report_that_cannot_be_made_is_not_saved(depot, staff):
    status, html = await staff.post("/reports/saved", {"metric": "energy", "period": "someday", "name": "x"})
    assert "The report was not saved: period &#39;someday&#39; is not one I know" in html


async def test_load_profile_page(depot, staff):
    status, html = await staff.get("/reports/load?period=2026-03-18&grain=hour&circuit=Main")
    assert status == 200
    words = text_of(html)
    assert "Main: limit 100.0 A per phase, highest 95.5 A (95.5 % of the limit)" in words
    assert 'id="load-0-desc"' in html
    status, html = await staff.get("/reports/load?period=2026-03-18&circuit=Nope")
    assert status == 400 and "There is no circuit &#39;Nope&#39;" in html


async def test_the_day_clocks_go_back_has_25_hours_that_add_up_to_the_day(depot):
    def add_night_session() -> None:
        cp2 = Charger.get(Charger.identity == "CP2").id
        # 01:30 CEST to 02:30 CET: two real hours at 2 kW, half an hour of it at 01:00, the whole first 02:00
        # hour (CEST) and half of the second (CET).
        Transaction.create(charger=cp2, connector_number=1, id_tag="NIGHT", auth_status="Accepted",
                           started_at=dt.datetime(2026, 10, 24, 23, 30), meter_start_wh=0,
                           stopped_at=dt.datetime(2026, 10, 25, 1, 30), meter_stop_wh=4000, energy_wh=4000,
                           created_at=dt.datetime(2026, 10, 24, 23, 30))

    await depot.core.db.write(add_night_session)
    status, hours = await depot.api("GET", "/api/v1/reports/energy?period=2026-10-25&grain=hour")
    assert status == 200, hours
    assert len(hours["buckets"]) == 25
    assert [(b["label"], b["value"]) for b in hours["buckets"][1:4]] == [
        ("2026-10-25 01:00", 1.0), ("2026-10-25 02:00 CEST", 2.0), ("2026-10-25 02:00 CET", 1.0)]
    status, day = await depot.api("GET", "/api/v1/reports/energy?period=2026-10-25&grain=day")
    assert day["total"] == hours["total"] == sum(b["value"] for b in hours["buckets"]) == 4.0
