"""Statements: the CSV an accountant imports (exact columns, local times across a DST change, Decimal
figures, quoting, totals per currency), the PDF (pages, repeated header, names and the euro sign in an
embedded font), and the query that finds each session's standing CDR for a period."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zlib
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from appliance.billing import statements
from appliance.billing.statements import (
    duration,
    kwh,
    money,
    sessions_csv,
    statement_csv,
    statement_pdf,
)
from appliance.store import migrations
from appliance.store.database import open_sqlite
from appliance.store.models import (
    ChargeDetailRecord,
    Charger,
    Company,
    Driver,
    Tag,
    Transaction,
    Vehicle,
)
from appliance.store.statements import StatementRow, statement_rows

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
HEADER = ("Session ID,Start,End,Charger,EVSE,Tag,Driver,Vehicle,Company,Energy kWh,Duration,Net,VAT,Gross,"
          "Currency,CDR ID\r\n")


def row(transaction_id: int = 1, started_at: dt.datetime = dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        stopped_at: dt.datetime = dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC), **fields) -> StatementRow:
    values = {"charger": "CP1", "evse_number": 1, "id_tag": "04A1B2C3", "driver": "Łukasz Wójcik", "vehicle": "",
              "company": "Blue Taxi", "energy_wh": 12345, "duration_s": 3600, "currency": "EUR",
              "total_excl_vat": Decimal("10.08"), "vat": Decimal("1.92"), "total_incl_vat": Decimal("12.00"),
              "cdr_id": f"cdr{transaction_id}", **fields}
    return StatementRow(transaction_id, started_at, stopped_at, **values)


# -- figures ----------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, currency, text", [
    (Decimal("12.00"), "EUR", "12.00"),
    (Decimal("12.3"), "EUR", "12.30"),  # padded to the cent
    (Decimal(12), "EUR", "12.00"),
    (Decimal("1E+1"), "EUR", "10.00"),  # never exponent notation
    (Decimal("0.1234"), "EUR", "0.1234"),  # more decimals than the cent stay: the CDR's figure is the bill
    (Decimal("-2.5"), "EUR", "-2.50"),
    (Decimal(1500), "JPY", "1500"),  # no minor unit
    (Decimal("1.5"), "KWD", "1.500"),  # three decimals
])
def test_money_is_fixed_point_with_at_least_the_minor_unit(amount, currency, text):
    assert money(amount, currency) == text


@pytest.mark.parametrize("energy_wh, text", [(0, "0.000"), (1, "0.001"), (12345, "12.345"), (1_000_000, "1000.000")])
def test_energy_is_kwh_to_the_wh(energy_wh, text):
    assert kwh(energy_wh) == text


@pytest.mark.parametrize("duration_s, text", [(0, "0:00:00"), (59, "0:00:59"), (3600, "1:00:00"),
                                              (90061, "25:01:01")])  # hours go past a day
def test_duration_is_hours_minutes_seconds(duration_s, text):
    assert duration(duration_s) == text


# -- CSV --------------------------------------------------------------------------------------

def test_session_export_has_the_accountants_columns_and_local_times_across_the_dst_change():
    # 02:30 summer time to 02:30 winter time: the same wall clock an hour apart, told apart by the offset.
    text = sessions_csv([row()], BERLIN)
    assert text == HEADER + ("1,2026-10-25T02:30:00+02:00,2026-10-25T02:30:00+01:00,CP1,1,04A1B2C3,Łukasz Wójcik,,"
                             "Blue Taxi,12.345,1:00:00,10.08,1.92,12.00,EUR,cdr1\r\n")


def test_names_with_commas_quotes_and_formula_starts_survive_a_spreadsheet():
    text = sessions_csv([row(driver='Nowak, "Luki"', company="=HYPERLINK(1)", vehicle="-7")], BERLIN)
    assert '"Nowak, ""Luki"""' in text
    line = list(csv.reader(io.StringIO(text)))[1]
    assert (line[6], line[7], line[8]) == ('Nowak, "Luki"', "'-7", "'=HYPERLINK(1)")


def test_statement_has_its_title_the_sessions_and_a_total_per_currency():
    rows = [row(1), row(2, total_excl_vat=Decimal("0.84"), vat=Decimal("0.16"), total_incl_vat=Decimal(1)),
            row(3, currency="CHF", total_excl_vat=Decimal("9.25"), vat=Decimal("0.75"), total_incl_vat=Decimal("10.00"),
                energy_wh=1, duration_s=59)]
    lines = statement_csv(rows, BERLIN, "Blue Taxi, November 2026").split("\r\n")
    assert lines[0] == '"Blue Taxi, November 2026"'
    assert lines[1] + "\r\n" == HEADER
    assert [line.split(",")[0] for line in lines[2:5]] == ["1", "2", "3"]
    assert lines[5:] == ["Total (1 session),,,,,,,,,0.001,0:00:59,9.25,0.75,10.00,CHF,",
                         "Total (2 sessions),,,,,,,,,24.690,2:00:00,10.92,2.08,13.00,EUR,", ""]


def test_an_empty_period_gives_the_header_alone():
    assert sessions_csv([], BERLIN) == HEADER
    assert statement_csv([], BERLIN, "Nobody") == "Nobody\r\n" + HEADER


# -- PDF --------------------------------------------------------------------------------------

def page_texts(pdf: bytes) -> list[str]:
    """Each page's text, a line per text object (BT ... ET): reads just what fpdf2 writes (a plain
    ToUnicode CMap of single glyphs; Flate content streams of (...) Tj runs of 2-byte glyph ids)."""
    to_unicode = dict(re.findall(rb"<([0-9A-F]{4})> <([0-9A-F]{4,8})>", pdf[pdf.index(b"beginbfchar"):]))

    def text(run: bytes) -> str:
        run = re.sub(rb"\\([0-7]{1,3}|.)", _unescape, run, flags=re.DOTALL)
        return "".join(bytes.fromhex(to_unicode[run[i:i + 2].hex().upper().encode()].decode()).decode("utf-16-be")
                       for i in range(0, len(run), 2))

    pages = []
    for number in re.findall(rb"/Contents (\d+) 0 R", pdf):
        head = re.search(rb"\n" + number + rb" 0 obj\n<<\n/Filter /FlateDecode\n/Length (\d+)\n>>\nstream\n", pdf)
        content = zlib.decompress(pdf[head.end():head.end() + int(head.group(1))])
        blocks = re.findall(rb"BT (.*?) ET", content, re.DOTALL)
        pages.append("\n".join("".join(text(r) for r in re.findall(rb"\(((?:[^()\\]|\\.)*)\) Tj", b, re.DOTALL))
                               for b in blocks))
    return pages


def _unescape(m: re.Match) -> bytes:
    code = m.group(1)
    if code[:1].isdigit():
        return bytes([int(code, 8)])
    return {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(code, code)


def pdf_of(rows, **options) -> bytes:
    return statement_pdf(rows, BERLIN, "Statement: Łukasz Wójcik", "Depot Łódź Süd", "November 2026",
                         "half-up to the cent, once per session", **options)


def test_a_long_statement_runs_over_pages_each_with_the_table_header_and_its_number():
    rows = [row(i, dt.datetime(2026, 11, 1, tzinfo=UTC) + dt.timedelta(hours=5 * i),
                dt.datetime(2026, 11, 1, 2, tzinfo=UTC) + dt.timedelta(hours=5 * i)) for i in range(120)]
    pdf = pdf_of(rows)
    pages = page_texts(pdf)
    assert pdf.startswith(b"%PDF-") and len(re.findall(rb"/Type /Page\n", pdf)) == len(pages) > 1
    for n, text in enumerate(pages, 1):
        assert "Depot Łódź Süd" in text and "Tag / driver" in text and f"page {n} of {len(pages)}" in text
    assert "Łukasz Wójcik (04A1B2C3)" in pages[0] and "12.00 €" in pages[0]
    # Totals: 120 × 12.00 € gross, 120 × 12.345 kWh; and the rounding rule beneath them.
    assert "1440.00 €" in pages[-1] and "1481.400" in pages[-1] and "half-up to the cent" in pages[-1]


def test_the_font_is_embedded_and_the_same_statement_gives_the_same_bytes():
    created_at = dt.datetime(2026, 12, 1, 6, tzinfo=UTC)
    pdf = pdf_of([row()], created_at=created_at)
    assert re.search(rb"/BaseFont /[A-Z]{6}\+DejaVuSans", pdf) and b"/FontFile2" in pdf
    assert pdf == pdf_of([row()], created_at=created_at)


def test_an_empty_period_gives_one_page_that_says_so():
    pages = page_texts(pdf_of([]))
    assert len(pages) == 1 and "No charging sessions in this period." in pages[0]


def test_totals_are_per_currency():
    totals = statements.totals([row(1), row(2, currency="CHF"), row(3)])
    assert [(t.currency, t.sessions, t.total_incl_vat) for t in totals] == [
        ("CHF", 1, Decimal("12.00")), ("EUR", 2, Decimal("24.00"))]


# -- the query --------------------------------------------------------------------------------

NOVEMBER = (dt.datetime(2026, 11, 1, tzinfo=BERLIN), dt.datetime(2026, 12, 1, tzinfo=BERLIN))
T0 = dt.datetime(2026, 10, 1)  # naive UTC, as stored


@pytest.fixture
def depot(tmp_path):
    """Blue Taxi (driver Łukasz, a pool card), Green Cabs (a taxi's card), a card of no one; sessions in,
    before, after and at the edge of November in Berlin, one re-billed, one credited away, one running."""
    db = open_sqlite(tmp_path / "s.sqlite3", "normal")
    migrations.migrate(db)
    with db.connection_context():
        blue, green = (Company.create(name=n, created_at=T0).id for n in ("Blue Taxi", "Green Cabs"))
        lukasz = Driver.create(name="Łukasz", company=blue, created_at=T0).id
        taxi = Vehicle.create(name="B-XY 123", company=green, created_at=T0).id
        tags = {t: Tag.create(id_tag=t, created_at=T0, updated_at=T0, **owner).id for t, owner in [
            ("CARD1", {"driver": lukasz}), ("TAXI", {"vehicle": taxi}), ("POOL", {"company": blue}), ("STRAY", {})]}
        charger = Charger.create(identity="CP1", protocol="ocpp1.6-json", created_at=T0).id
        for tx, tag, stopped, cdrs in [
            (1, "CARD1", "2026-10-31 23:00:00", [("a", "12.00", "10.08"), ("-a", "-12.00", "-10.08"),
                                                 ("b", "14.28", "12.00")]),  # the first instant; re-billed
            (2, "TAXI", "2026-11-15 08:00:00", [("c", "5.95", "5.00")]),
            (3, "POOL", "2026-11-30 22:59:59", [("d", "1.19", "1.00")]),  # the last second
            (4, "CARD1", "2026-10-31 22:59:59", [("e", "1.00", "0.84")]),  # October in Berlin
            (5, "CARD1", "2026-11-30 23:00:00", [("f", "1.00", "0.84")]),  # December in Berlin
            (6, "STRAY", "2026-11-10 10:00:00", [("g", "2.00", "1.68"), ("-g", "-2.00", "-1.68")]),  # credited
            (7, "CARD1", None, []),  # still charging
        ]:
            add_session(tx, charger, tags[tag], lukasz if tag == "CARD1" else None, stopped, cdrs)
    db.connect()
    yield
    db.close()


def add_session(tx: int, charger: int, tag: int, driver: int | None, stopped: str | None, cdrs) -> None:
    stopped_at = dt.datetime.fromisoformat(stopped) if stopped else None
    started_at = stopped_at - dt.timedelta(hours=1, seconds=0.5) if stopped_at else T0
    Transaction.create(id=tx, charger=charger, connector_number=2, id_tag=f"TAG{tx}", tag=tag, driver=driver,
                       auth_status="Accepted", started_at=started_at, meter_start_wh=0, stopped_at=stopped_at,
                       energy_wh=999, created_at=T0)
    for cdr_id, incl, excl in cdrs:
        credit = cdr_id.startswith("-")
        document = {"id": cdr_id, "total_energy": 7.5 + tx, "total_cost": {"incl_vat": float(incl)}}
        ChargeDetailRecord.create(cdr_id=cdr_id, transaction=tx, kind="credit" if credit else "cdr",
                                  credits=cdr_id[1:] if credit else "", document=json.dumps(document),
                                  currency="EUR", total_incl_vat=incl, total_excl_vat=excl, created_at=T0)


@pytest.mark.parametrize("company, driver, expected", [
    (None, None, [1, 2, 3]),  # 4 and 5 stopped outside, 6 was credited away, 7 runs
    ("Blue Taxi", None, [1, 3]),  # the driver's company, and a pool card enrolled to it
    ("Green Cabs", None, [2]),  # a taxi's card: the vehicle's company
    (None, "Łukasz", [1]),
    ("Green Cabs", "Łukasz", []),
    ("Nobody", None, []),
])
def test_statement_rows_are_the_sessions_stopped_in_the_period_that_are_theirs(depot, company, driver, expected):
    assert [r.transaction_id for r in statement_rows(*NOVEMBER, company=company, driver=driver)] == expected


def test_a_rebilled_session_shows_its_standing_cdr_and_whose_it_is(depot):
    first, taxi, pool = statement_rows(*NOVEMBER)
    assert first == StatementRow(
        1, dt.datetime(2026, 10, 31, 21, 59, 59, 500000, tzinfo=UTC), dt.datetime(2026, 10, 31, 23, tzinfo=UTC),
        "CP1", 2, "TAG1", "Łukasz", "", "Blue Taxi", 8500, 3601, "EUR", Decimal("12.00"), Decimal("2.28"),
        Decimal("14.28"), "b")  # energy from the CDR (8.5 kWh), not the meter (999 Wh); 3600.5 s half up
    assert (taxi.driver, taxi.vehicle, taxi.company) == ("", "B-XY 123", "Green Cabs")
    assert (pool.driver, pool.vehicle, pool.company, pool.cdr_id) == ("", "", "Blue Taxi", "d")


def test_naive_bounds_are_refused(depot):
    with pytest.raises(ValueError):
        statement_rows(dt.datetime(2026, 11, 1), dt.datetime(2026, 12, 1))
