"""The report engine on hand-built sessions (pure: no database): periods and grains in Europe/Berlin
(days of 23 and 25 hours, weeks from Monday), sessions split at midnight, at a month's end and across
both daylight-saving changes, every grain adding up to the period's total, and the metrics' rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from appliance.analytics import metrics as mx
from appliance.analytics import periods as pd
from appliance.analytics import splitting as sp

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 3, 18, 10, 0, tzinfo=UTC)  # a Wednesday


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN).astimezone(UTC)


def fact(tx: int, start: dt.datetime, end: dt.datetime, wh: int, key: str = "", readings=(), excl="0", incl="0"):
    return mx.SessionFact(tx, sp.to_us(start), sp.to_us(end), wh, key, Decimal(excl), Decimal(incl),
                          tuple((sp.to_us(at), value) for at, value in readings))


def run(metric: str, period: str, grain: str, sessions, by: str | None = None, **kwargs) -> dict:
    m = mx.check(metric, by)
    p = pd.parse_period(period, BERLIN, NOW)
    buckets = pd.buckets(p, grain)
    return mx.figures_report(m, p, grain, buckets, mx.compute(m, buckets, sessions, **kwargs), by, "EUR", None)


# -- periods --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, first, last, kind", [
    ("today", "2026-03-18", "2026-03-18", "day"),
    ("yesterday", "2026-03-17", "2026-03-17", "day"),
    ("this-week", "2026-03-16", "2026-03-22", "week"),  # weeks start on Monday
    ("last-week", "2026-03-09", "2026-03-15", "week"),
    ("this-month", "2026-03-01", "2026-03-31", "month"),
    ("last-month", "2026-02-01", "2026-02-28", "month"),
    ("last-year", "2025-01-01", "2025-12-31", "year"),
    ("2026-02", "2026-02-01", "2026-02-28", "month"),
    ("2024-02", "2024-02-01", "2024-02-29", "month"),  # a leap year
    ("2026-03-29", "2026-03-29", "2026-03-29", "day"),
    ("2025", "2025-01-01", "2025-12-31", "year"),
    ("2026-03-01..2026-03-10", "2026-03-01", "2026-03-10", "custom"),  # both days included
    (" This-Month ", "2026-03-01", "2026-03-31", "month"),  # as typed
])
def test_periods_as_people_write_them(text, first, last, kind):
    p = pd.parse_period(text, BERLIN, NOW)
    assert (p.first.isoformat(), p.last.isoformat(), p.kind) == (first, last, kind)


def test_today_is_the_depots_day_not_utcs():
    late = dt.datetime(2026, 3, 18, 23, 30, tzinfo=UTC)  # already the 19th in Berlin
    assert pd.parse_period("today", BERLIN, late).first == dt.date(2026, 3, 19)


@pytest.mark.parametrize("text, words", [
    ("fortnight", "is not one I know"),
    ("2026-13", "is not a date"),
    ("2026-03-10..2026-03-01", "before the first day"),
    ("2026-03-01..", "is not a date"),
    ("", "is not one I know"),
])
def test_a_bad_period_says_what_is_accepted(text, words):
    with pytest.raises(pd.PeriodError, match=words) as e:
        pd.parse_period(text, BERLIN, NOW)
    assert "this-month" in str(e.value) or "before" in str(e.value)


@pytest.mark.parametrize("period, compare, first, last", [
    ("today", "previous", "2026-03-17", "2026-03-17"),
    ("this-week", "previous", "2026-03-09", "2026-03-15"),
    ("this-month", "previous", "2026-02-01", "2026-02-28"),  # a month: the whole month before
    ("2026-03-31", "previous", "2026-03-30", "2026-03-30"),
    ("2026-03-01..2026-03-10", "previous", "2026-02-19", "2026-02-28"),  # as many days just before
    ("this-year", "previous", "2025-01-01", "2025-12-31"),
    ("this-month", "year-before", "2025-03-01", "2025-03-31"),
    ("2024-02-29", "year-before", "2023-02-28", "2023-02-28"),
    ("this-month", "last-month", "2026-02-01", "2026-02-28"),  # any period
])
def test_comparison_periods(period, compare, first, last):
    other = pd.comparison(pd.parse_period(period, BERLIN, NOW), compare, NOW)
    assert (other.first.isoformat(), other.last.isoformat()) == (first, last)


def test_a_bad_comparison_says_what_is_accepted():
    with pytest.raises(pd.PeriodError, match="previous, year-before"):
        pd.comparison(pd.parse_period("today", BERLIN, NOW), "the other day", NOW)


@pytest.mark.parametrize("period, grain, count, first_label, last_label", [
    ("2026-03-18", "hour", 24, "2026-03-18 00:00", "2026-03-18 23:00"),
    ("2026-03-29", "hour", 23, "2026-03-29 00:00", "2026-03-29 23:00"),  # spring forward: no 02:00
    ("2026-10-25", "hour", 25, "2026-10-25 00:00", "2026-10-25 23:00"),  # fall back: 02:00 twice
    ("2026-03", "day", 31, "2026-03-01", "2026-03-31"),
    ("2026-03", "week", 6, "2026-W09", "2026-W14"),  # Sunday the 1st is a week of one day
    ("this-year", "month", 12, "2026-01", "2026-12"),
    ("2026-03-16..2026-03-29", "week", 2, "2026-W12", "2026-W13"),
])
def test_buckets(period, grain, count, first_label, last_label):
    buckets = pd.buckets(pd.parse_period(period, BERLIN, NOW), grain)
    assert (len(buckets), buckets[0].label, buckets[-1].label) == (count, first_label, last_label)


@pytest.mark.parametrize("period, grain", [
    ("2026-03-29", "hour"), ("2026-10-25", "hour"), ("2026-03", "day"), ("2026-10", "week"), ("this-year", "month"),
    ("2026-03-25..2026-04-02", "day"),
])
def test_buckets_partition_the_period_in_real_time(period, grain):
    p = pd.parse_period(period, BERLIN, NOW)
    buckets = pd.buckets(p, grain)
    assert buckets[0].start == p.start and buckets[-1].end == p.end
    assert all(a.end == b.start for a, b in zip(buckets, buckets[1:]))
    assert sum(b.seconds for b in buckets) == (p.end - p.start).total_seconds()


def test_the_hour_that_happens_twice_is_told_apart():
    labels = [b.label for b in pd.buckets(pd.parse_period("2026-10-25", BERLIN, NOW), "hour")]
    assert labels[2:4] == ["2026-10-25 02:00 CEST", "2026-10-25 02:00 CET"]
    assert len(set(labels)) == 25


def test_the_days_of_the_clock_changes_last_23_and_25_hours():
    march = {b.label: b.seconds / 3600 for b in pd.buckets(pd.parse_period("2026-03", BERLIN, NOW), "day")}
    october = {b.label: b.seconds / 3600 for b in pd.buckets(pd.parse_period("2026-10", BERLIN, NOW), "day")}
    assert (march["2026-03-28"], march["2026-03-29"], october["2026-10-25"]) == (24, 23, 25)


@pytest.mark.parametrize("grain, words", [("minute", "grain 'minute' is not one I know"), ("", "not one I know")])
def test_a_bad_grain_says_which_there_are(grain, words):
    with pytest.raises(pd.PeriodError, match=words):
        pd.buckets(pd.parse_period("today", BERLIN, NOW), grain)


def test_too_many_buckets_asks_for_a_coarser_grain():
    with pytest.raises(pd.PeriodError, match="choose the grain day"):
        pd.buckets(pd.parse_period("this-year", BERLIN, NOW), "hour")


@pytest.mark.parametrize("period, grain", [("today", "hour"), ("this-week", "day"), ("this-month", "day"),
                                            ("this-year", "month")])
def test_default_grain_follows_the_length(period, grain):
    assert pd.default_grain(pd.parse_period(period, BERLIN, NOW)) == grain


# -- sessions split at the buckets' edges ------------------------------------------------------------------

# (name, period, grain, session start, end, energy Wh, readings (Berlin time, Wh since start), expected Wh per
# non-empty bucket label)
SPLITS = [
    ("across midnight, pro rata", "2026-03-17..2026-03-18", "day",
     berlin(2026, 3, 17, 23, 0), berlin(2026, 3, 18, 1, 0), 10_000, [],
     {"2026-03-17": 5000, "2026-03-18": 5000}),
    ("across midnight, by its readings", "2026-03-17..2026-03-18", "day",
     berlin(2026, 3, 17, 23, 0), berlin(2026, 3, 18, 1, 0), 10_000, [(berlin(2026, 3, 18, 0, 0), 8000)],
     {"2026-03-17": 8000, "2026-03-18": 2000}),
    ("a reading before midnight, interpolated to it", "2026-03-17..2026-03-18", "day",
     berlin(2026, 3, 17, 22, 0), berlin(2026, 3, 18, 2, 0), 9000, [(berlin(2026, 3, 17, 23, 0), 2000),
                                                                     (berlin(2026, 3, 18, 1, 0), 8000)],
     {"2026-03-17": 5000, "2026-03-18": 4000}),
    ("over a month's end", "2026-03-31..2026-04-01", "month",
     berlin(2026, 3, 31, 20, 0), berlin(2026, 4, 1, 4, 0), 8000, [],
     {"2026-03": 4000, "2026-04": 4000}),
    ("through spring forward: 23:00 to 04:00 is 4 real hours", "2026-03-28..2026-03-29", "day",
     berlin(2026, 3, 28, 23, 0), berlin(2026, 3, 29, 4, 0), 4000, [],
     {"2026-03-28": 1000, "2026-03-29": 3000}),
    ("through fall back: 23:00 to 04:00 is 6 real hours", "2026-10-24..2026-10-25", "day",
     berlin(2026, 10, 24, 23, 0), berlin(2026, 10, 25, 4, 0), 6000, [],
     {"2026-10-24": 1000, "2026-10-25": 5000}),
    ("fall back by the hour: both 02:00 hours get theirs", "2026-10-25", "hour",
     dt.datetime(2026, 10, 25, 0, 0, tzinfo=UTC), dt.datetime(2026, 10, 25, 2, 0, tzinfo=UTC), 2000, [],
     {"2026-10-25 02:00 CEST": 1000, "2026-10-25 02:00 CET": 1000}),
    ("spring forward by the hour: 01:00 then 03:00", "2026-03-29", "hour",
     berlin(2026, 3, 29, 1, 30), berlin(2026, 3, 29, 3, 30), 3000, [],
     {"2026-03-29 01:00": 1500, "2026-03-29 03:00": 1500}),
    ("started before the period: only its part inside", "2026-03-18", "day",
     berlin(2026, 3, 17, 22, 0), berlin(2026, 3, 18, 2, 0), 8000, [],
     {"2026-03-18": 4000}),
    ("a meter reset (a reading below the last) counts nothing backwards", "2026-03-17..2026-03-18", "day",
     berlin(2026, 3, 17, 23, 0), berlin(2026, 3, 18, 1, 0), 6000, [(berlin(2026, 3, 17, 23, 30), 5000),
                                                                    (berlin(2026, 3, 18, 0, 0), 100)],
     {"2026-03-17": 5000, "2026-03-18": 1000}),
]


@pytest.mark.parametrize("name, period, grain, start, end, wh, readings, expected", SPLITS, ids=[s[0] for s in SPLITS])
def test_energy_is_split_at_bucket_edges(name, period, grain, start, end, wh, readings, expected):
    report = run("energy", period, grain, [fact(1, start, end, wh, readings=readings)])
    got = {b["label"]: round(b["value"] * 1000) for b in report["buckets"] if b["value"]}
    assert got == expected


@pytest.mark.parametrize("name, period, grain, start, end, wh, readings, expected", SPLITS, ids=[s[0] for s in SPLITS])
@pytest.mark.parametrize("metric", ["energy", "charging-time", "idle-time", "revenue"])
def test_every_grain_adds_up_to_the_periods_total(name, period, grain, start, end, wh, readings, expected, metric):
    sessions = [fact(1, start, end, wh, readings=readings, excl="10.00"),
                fact(2, start + dt.timedelta(minutes=17), end + dt.timedelta(hours=5), wh // 3, excl="3.33")]
    m, p = mx.check(metric, None), pd.parse_period(period, BERLIN, NOW)
    totals = set()
    for g in pd.GRAINS:
        try:
            buckets = pd.buckets(p, g)
        except pd.PeriodError:  # too many hours
            continue
        totals.add(mx.total(m, mx.compute(m, buckets, sessions).values[""]))  # in Wh, µs, Decimal: exact
    assert len(totals) == 1
    day = mx.compute(m, [pd.Bucket(p.start, p.end, "all")], sessions).values[""]
    assert totals == {day[0]}


def test_charging_time_is_when_the_meter_advanced_and_the_rest_is_idle():
    # Charges for an hour (its readings), then stands plugged in for two more.
    start = berlin(2026, 3, 18, 20, 0)
    session = fact(1, start, start + dt.timedelta(hours=3), 11_000,
                   readings=[(start + dt.timedelta(hours=1), 11_000)])
    charging = run("charging-time", "2026-03-18", "hour", [session])
    idle = run("idle-time", "2026-03-18", "hour", [session])
    assert (charging["total"], idle["total"]) == (1.0, 2.0)
    assert [b["value"] for b in charging["buckets"][20:23]] == [1.0, 0, 0]


def test_a_session_without_readings_that_drew_energy_charges_throughout_one_that_drew_none_idles():
    start = berlin(2026, 3, 18, 8, 0)
    sessions = [fact(1, start, start + dt.timedelta(hours=2), 5000), fact(2, start, start + dt.timedelta(hours=1), 0)]
    assert run("charging-time", "today", "day", sessions)["total"] == 2.0
    assert run("idle-time", "today", "day", sessions)["total"] == 1.0


def test_sessions_count_where_they_started_and_only_if_inside_the_period():
    sessions = [fact(1, berlin(2026, 3, 17, 23, 0), berlin(2026, 3, 18, 2, 0), 1),  # started the day before
                fact(2, berlin(2026, 3, 18, 23, 59), berlin(2026, 3, 19, 3, 0), 1),
                fact(3, berlin(2026, 3, 18, 0, 0), berlin(2026, 3, 18, 1, 0), 1)]  # the first instant
    report = run("sessions", "2026-03-18", "hour", sessions)
    assert report["total"] == 2
    assert (report["buckets"][0]["value"], report["buckets"][23]["value"]) == (1, 1)


def test_revenue_follows_energy_and_adds_up_to_the_cent():
    session = fact(1, berlin(2026, 3, 17, 23, 0), berlin(2026, 3, 18, 2, 0), 3000, excl="10.00", incl="11.90")
    excl = run("revenue", "2026-03-17..2026-03-18", "day", [session])
    incl = run("revenue-incl-vat", "2026-03-17..2026-03-18", "day", [session])
    assert [b["value"] for b in excl["buckets"]] == [Decimal("3.33"), Decimal("6.67")]
    assert [b["value"] for b in incl["buckets"]] == [Decimal("3.97"), Decimal("7.93")]
    assert excl["total"] == Decimal("10.00")


def test_revenue_of_a_session_partly_outside_the_period_is_its_share_inside():
    session = fact(1, berlin(2026, 3, 17, 23, 0), berlin(2026, 3, 18, 1, 0), 2000, excl="5.00")
    assert run("revenue", "2026-03-18", "day", [session])["total"] == Decimal("2.50")


def test_breakdown_rows_add_up_to_the_whole_and_come_biggest_first():
    start = berlin(2026, 3, 18, 10, 0)
    sessions = [fact(1, start, start + dt.timedelta(hours=1), 1000, "Blue Taxi"),
                fact(2, start, start + dt.timedelta(hours=1), 5000, "Green Cabs"),
                fact(3, start, start + dt.timedelta(hours=1), 2000, "Blue Taxi"),
                fact(4, start, start + dt.timedelta(hours=1), 500, mx.NO_KEY)]
    report = run("energy", "today", "hour", sessions, by="company")
    assert [(r["key"], r["value"]) for r in report["breakdown"]] == [
        ("Green Cabs", 5.0), ("Blue Taxi", 3.0), ("(none)", 0.5)]
    assert report["total"] == 8.5
    assert report["buckets"][10]["by"] == {"(none)": 0.5, "Blue Taxi": 3.0, "Green Cabs": 5.0}


def test_utilisation_is_charging_time_over_the_evses_time():
    start = berlin(2026, 3, 18, 0, 0)
    sessions = [fact(1, start, start + dt.timedelta(hours=6), 6000, "CP1"),
                fact(2, start, start + dt.timedelta(hours=12), 6000, "CP2")]
    report = run("utilisation", "today", "day", sessions, by="charger", capacity={"": 4, "CP1": 2, "CP2": 2})
    assert {r["key"]: r["value"] for r in report["breakdown"]} == {"CP1": 12.5, "CP2": 25.0}
    assert report["total"] == 18.8  # 18 h of 96


def test_peak_power_is_the_highest_sum_at_one_instant():
    start = berlin(2026, 3, 18, 8, 0)
    sessions = [fact(1, start, start + dt.timedelta(hours=2), 22_000),  # 11 kW
                fact(2, start + dt.timedelta(hours=1), start + dt.timedelta(hours=3), 14_800),  # 7.4 kW
                fact(3, start + dt.timedelta(hours=2), start + dt.timedelta(hours=3), 11_000)]  # 11 kW, as 1 ends
    report = run("peak-power", "today", "hour", sessions)
    assert [b["value"] for b in report["buckets"][8:11]] == [11.0, 18.4, 18.4]
    assert report["total"] == 18.4


def test_held_back_is_the_most_waiting_at_once_over_the_main_circuits():
    at = berlin(2026, 3, 18, 7, 10)
    records = [(at, 2), (at, 1), (at + dt.timedelta(minutes=1), 1), (berlin(2026, 3, 18, 9, 0), 4)]
    report = run("held-back", "today", "hour", [], held_back=records)
    assert [b["value"] for b in report["buckets"][7:10]] == [3, 0, 4]
    assert report["total"] == 4


@pytest.mark.parametrize("metric, by, words", [
    ("kilowatts", None, "metric 'kilowatts' is not one I know: use energy, sessions"),
    ("energy", "colour", "breakdown 'colour' is not one I know: use company"),
    ("utilisation", "company", "utilisation takes by charger or evse only"),
    ("held-back", "charger", "sessions held back takes no breakdown"),
])
def test_bad_metric_or_breakdown_says_what_there_is(metric, by, words):
    with pytest.raises(mx.ReportError, match=words):
        mx.check(metric, by)


def test_a_running_session_counts_up_to_now():
    start = berlin(2026, 3, 18, 9, 0)
    report = run("charging-time", "today", "hour", [fact(1, start, NOW, 2000)])
    assert report["total"] == 2.0  # 09:00 to 11:00 Berlin (NOW is 10:00 UTC)


# -- the database's bucket arithmetic -----------------------------------------------------------------------

@pytest.mark.parametrize("count", [1, 2, 3, 7, 24, 31])
def test_bucket_sql_is_bisect(count):
    import bisect
    import sqlite3

    from appliance.store.analytics import bucket_sql

    edges = [f"2026-03-{d:02d} 23:00:00" for d in range(1, count + 2)]
    probes = edges + [e[:-2] + "00.5" for e in edges] + ["2026-02-28 00:00:00", "2026-12-31 00:00:00"]
    conn = sqlite3.connect(":memory:")
    for right, expected in ((True, bisect.bisect_right), (False, bisect.bisect_left)):
        sql = f"SELECT {bucket_sql('?', edges, right)}"
        got = [conn.execute(sql.replace("?", f"'{p}'")).fetchone()[0] for p in probes]
        assert got == [expected(edges, p) for p in probes]
