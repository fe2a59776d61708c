"""The dashboard's pure arithmetic: calendar periods in the depot's time zone and the part of the period
before them to compare with (around daylight-saving changes too), changes in percent, EVSE power classes,
and the power of a session now."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.overview import Change, OverviewError, change, period_bounds, power_class, power_now_w
from appliance.store.overview import PowerRow

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")  # 2024: summer time from 31 Mar 02:00, back on 27 Oct 03:00


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# (period, now, start, end, previous start, previous end (the comparison's cut)), all UTC; Berlin is
# UTC+1 in winter, UTC+2 in summer.
BOUNDS = [
    # an ordinary winter day: 12:00 local, compared with yesterday 00:00-12:00
    ("today", "2024-01-17T11:00Z", "2024-01-16T23:00Z", "2024-01-17T23:00Z", "2024-01-15T23:00Z", "2024-01-16T11:00Z"),
    # the spring-forward day has 23 hours; yesterday by this time is 12:00 winter time
    ("today", "2024-03-31T10:00Z", "2024-03-30T23:00Z", "2024-03-31T22:00Z", "2024-03-29T23:00Z", "2024-03-30T11:00Z"),
    # the day after: 08:00 summer time against 08:00 on the day that changed
    ("today", "2024-04-01T06:00Z", "2024-03-31T22:00Z", "2024-04-01T22:00Z", "2024-03-30T23:00Z", "2024-03-31T06:00Z"),
    # 02:30 the day after: 02:30 did not exist the day before, read as winter time (03:30 summer time),
    # which is 2.5 h into that day as now is 2.5 h into this one
    ("today", "2024-04-01T00:30Z", "2024-03-31T22:00Z", "2024-04-01T22:00Z", "2024-03-30T23:00Z", "2024-03-31T01:30Z"),
    # the fall-back day has 25 hours
    ("today", "2024-10-27T11:00Z", "2024-10-26T22:00Z", "2024-10-27T23:00Z", "2024-10-25T22:00Z", "2024-10-26T10:00Z"),
    # in the repeated hour (02:30 the second time, winter time): compared with 02:30 yesterday
    ("today", "2024-10-27T01:30Z", "2024-10-26T22:00Z", "2024-10-27T23:00Z", "2024-10-25T22:00Z", "2024-10-26T00:30Z"),
    # a second before midnight compares with nearly all of yesterday
    ("today", "2024-01-17T22:59:59Z", "2024-01-16T23:00Z", "2024-01-17T23:00Z", "2024-01-15T23:00Z",
     "2024-01-16T22:59:59Z"),
    # weeks start on Monday: Wednesday 10:00 summer time, the week before still in winter time
    ("week", "2024-04-03T08:00Z", "2024-03-31T22:00Z", "2024-04-07T22:00Z", "2024-03-24T23:00Z", "2024-03-27T09:00Z"),
    # Sunday evening after falling back: the week began in summer time and ends in winter time
    ("week", "2024-10-27T19:00Z", "2024-10-20T22:00Z", "2024-10-27T23:00Z", "2024-10-13T22:00Z", "2024-10-20T18:00Z"),
    # Monday at midnight: nothing of the week has passed, so nothing of last week is compared
    ("week", "2024-04-01T00:00+02:00", "2024-03-31T22:00Z", "2024-04-07T22:00Z", "2024-03-24T23:00Z",
     "2024-03-24T23:00Z"),
    # the month the clocks went forward; February is shorter than the 30.5 days gone, so all of it counts
    ("month", "2024-03-31T10:00Z", "2024-02-29T23:00Z", "2024-03-31T22:00Z", "2024-01-31T23:00Z", "2024-02-29T23:00Z"),
    # mid-November against mid-October, which was in summer time
    ("month", "2024-11-15T08:00Z", "2024-10-31T23:00Z", "2024-11-30T23:00Z", "2024-09-30T22:00Z", "2024-10-15T07:00Z"),
    # January against December of the year before
    ("month", "2025-01-10T07:00Z", "2024-12-31T23:00Z", "2025-01-31T23:00Z", "2024-11-30T23:00Z", "2024-12-10T07:00Z"),
    # the leap day: February 29th against January 29th
    ("month", "2024-02-29T11:00Z", "2024-01-31T23:00Z", "2024-02-29T23:00Z", "2023-12-31T23:00Z", "2024-01-29T11:00Z"),
]


@pytest.mark.parametrize("name, now, start, end, previous_start, previous_end", BOUNDS)
def test_period_bounds_in_berlin(name, now, start, end, previous_start, previous_end):
    period = period_bounds(name, utc(now), BERLIN)
    assert (period.start, period.end, period.previous_start, period.previous_end) == (
        utc(start), utc(end), utc(previous_start), utc(previous_end))


@pytest.mark.parametrize("name, now, compare", [
    ("today", "2024-01-17T11:00Z", "vs. yesterday by this time"),
    ("week", "2024-01-17T11:00Z", "vs. last week by this time"),
    ("month", "2024-01-17T11:00Z", "vs. last month by this time"),
    ("month", "2024-03-31T10:00Z", "vs. all of last month"),  # March 31st: February had fewer days
])
def test_the_comparison_is_named_in_words(name, now, compare):
    assert period_bounds(name, utc(now), BERLIN).compare == compare


def test_an_unknown_period_says_which_there_are():
    with pytest.raises(OverviewError, match="choose today, week or month"):
        period_bounds("year", utc("2024-01-17T11:00Z"), BERLIN)


def test_a_clock_without_zone_is_refused():
    with pytest.raises(ValueError):
        period_bounds("today", dt.datetime(2024, 1, 17, 11), BERLIN)


ZONES = [zoneinfo.ZoneInfo(z) for z in ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC")]


@settings(max_examples=300, deadline=None)
@given(now=st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 12, 31),
                        timezones=st.just(dt.timezone.utc)),
       name=st.sampled_from(["today", "week", "month"]), zone=st.sampled_from(ZONES))
def test_a_period_holds_now_and_the_previous_one_ends_before_it(now, name, zone):
    period = period_bounds(name, now, zone)
    assert period.start <= now < period.end
    assert period.previous_start <= period.previous_end <= period.start
    local_start = period.start.astimezone(zone)
    assert (local_start.hour, local_start.minute) == (0, 0)
    if name == "week":
        assert local_start.weekday() == 0
    if name == "month":
        assert local_start.day == 1


@pytest.mark.parametrize("current, previous, expected", [
    (3, 2, Change("+50 %", "up")),
    (2, 3, Change("−33 %", "down")),
    (1, 0, Change("new", "up")),  # nothing before: no percentage
    (0, 0, Change("no change", "same")),
    (4, 4, Change("±0 %", "same")),
    (0, 5, Change("−100 %", "down")),
    (1001, 1000, Change("±0 %", "same")),  # 0.1 % rounds to nothing
    (1005, 1000, Change("+1 %", "up")),  # halves round up, not to even
    (Decimal("5.60"), Decimal("3.20"), Change("+75 %", "up")),
    (Decimal("1.00"), Decimal("-2.00"), Change("+150 %", "up")),  # a credit-heavy period: against its size
])
def test_change_in_percent(current, previous, expected):
    assert change(current, previous) == expected


@pytest.mark.parametrize("power_w, label", [
    (None, "unknown"), (0, "unknown"),  # a station that reports 0 W has not said
    (3_680, "≤ 3.7 kW"), (3_700, "≤ 3.7 kW"), (3_701, "≤ 7.4 kW"), (7_360, "≤ 7.4 kW"),
    (11_000, "≤ 11 kW"), (22_000, "≤ 22 kW"), (22_080, "≤ 50 kW"), (50_000, "≤ 50 kW"),
    (150_000, "≤ 150 kW"), (150_001, "> 150 kW"), (350_000, "> 150 kW"),
])
def test_power_classes(power_w, label):
    assert power_class(power_w) == label


AT = utc("2024-01-17T11:00Z")
LATER = AT + dt.timedelta(minutes=1)


@pytest.mark.parametrize("rows, expected", [
    ([], {}),
    # the latest reading counts, in W whatever unit it came in
    ([PowerRow(1, AT, "", "W", 7000.0), PowerRow(1, LATER, "", "kW", 7.2)], {1: 7200.0}),
    # phases only: their sum
    ([PowerRow(2, AT, "L1", "W", 3600.0), PowerRow(2, AT, "L2", "W", 3700.0)], {2: 7300.0}),
    # a total beside the phases is the charger's own figure
    ([PowerRow(3, AT, "L1", "W", 3600.0), PowerRow(3, AT, "", "W", 7000.0)], {3: 7000.0}),
    # an older phase reading is not added to a newer total
    ([PowerRow(4, AT, "L1", "W", 3600.0), PowerRow(4, LATER, "", "W", 5000.0)], {4: 5000.0}),
    # a unit that is not power says nothing
    ([PowerRow(5, AT, "", "var", 100.0)], {}),
    ([PowerRow(1, AT, "", "W", 1000.0), PowerRow(2, AT, "", "W", 2000.0)], {1: 1000.0, 2: 2000.0}),
])
def test_power_now_per_session(rows, expected):
    assert power_now_w(rows) == expected
