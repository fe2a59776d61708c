"""Tariffs and pricing: one table row per rule (every kind, fees, VAT and rounding, bands across 22:00,
06:00, midnight and both DST changes, gaps, resets), live estimates, validate() and limit_reached().

Times are written with their offset in Europe/Berlin, so that each row says which side of a DST change
it is on: "+01:00" is winter time (CET), "+02:00" summer time (CEST)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from appliance.billing.pricing import ROUNDING, MeterPoint, Usage, limit_reached, price
from appliance.billing.tariffs import PowerBand, Tariff, TimeBand, validate

BERLIN = ZoneInfo("Europe/Berlin")

FREE = Tariff("free", "Free", "free")
FLAT = Tariff("flat", "Flat", "flat", flat_price=D("5.00"))
METERED = Tariff("metered", "Energy and time", "duration_energy", connection_fee=D("1.00"),
                 price_per_kwh=D("0.40"), price_per_minute=D("0.05"))
DAY_NIGHT = Tariff("day-night", "Day and night", "time_of_day", connection_fee=D("0.50"), bands=(
    TimeBand(dt.time(6), dt.time(22), price_per_kwh=D("0.40"), price_per_minute=D("0.01"), name="day"),
    TimeBand(dt.time(22), dt.time(6), price_per_kwh=D("0.20"), name="night")))
AM_PM = Tariff("am-pm", "Mornings cheaper", "time_of_day", bands=(
    TimeBand(dt.time(0), dt.time(12), price_per_minute=D("0.01"), name="am"),
    TimeBand(dt.time(12), dt.time(0), price_per_minute=D("0.02"), name="pm")))
# A band edge at 02:30, inside the hour that a DST change skips or repeats.
EDGE_0230 = Tariff("edge", "Edge at 02:30", "time_of_day", bands=(
    TimeBand(dt.time(2, 30), dt.time(14), price_per_minute=D("0.02"), name="early"),
    TimeBand(dt.time(14), dt.time(2, 30), price_per_minute=D("0.01"), name="late")))
# Two edges in the hour skipped on 29 March: "short" lasts no time at all that day.
EDGES_IN_GAP = Tariff("gap", "Edges in the gap", "time_of_day", bands=(
    TimeBand(dt.time(2, 30), dt.time(2, 45), price_per_minute=D(1), name="short"),
    TimeBand(dt.time(2, 45), dt.time(2, 30), price_per_minute=D("0.01"), name="rest")))
POWER = Tariff("power", "Power levels", "power_levels", power_bands=(
    PowerBand(D("7.4"), D("0.10")), PowerBand(D(11), D("0.12")), PowerBand(D(22), D("0.15"))))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def usage(start: str, stop: str | None, *readings: tuple[str, int]) -> Usage:
    return Usage(at(start), at(stop) if stop else None, tuple(MeterPoint(at(t), wh) for t, wh in readings))


def hour(start: str, stop: str, start_wh: int, stop_wh: int) -> Usage:
    """A session whose only readings are at its start and stop."""
    return usage(start, stop, (start, start_wh), (stop, stop_wh))


AN_HOUR_10_KWH = hour("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", 1000, 11000)


@pytest.mark.parametrize("tariff, session, total_incl_vat", [
    (FREE, AN_HOUR_10_KWH, "0.00"),
    (FLAT, AN_HOUR_10_KWH, "5.00"),
    (FLAT, hour("2026-05-04T08:00+02:00", "2026-05-04T08:00+02:00", 0, 0), "5.00"),  # per session, even an empty one
    (METERED, AN_HOUR_10_KWH, "8.00"),  # 1.00 connection + 10 kWh * 0.40 + 60 min * 0.05
    (METERED, hour("2026-05-04T08:00+02:00", "2026-05-04T08:00+02:00", 0, 0), "1.00"),  # zero length: the fee
    (METERED, usage("2026-05-04T08:00+02:00", "2026-05-04T08:30+02:00"), "2.50"),  # no readings: time only
    (METERED, usage("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", ("2026-05-04T08:00+02:00", 0),
                    ("2026-05-04T08:20+02:00", 5000), ("2026-05-04T08:40+02:00", 100),
                    ("2026-05-04T09:00+02:00", 2100)), "6.80"),  # a meter reset: 5000 + 0 + 2000 Wh
    (METERED, usage("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", ("2026-05-04T09:00+02:00", 11000),
                    ("2026-05-04T08:00+02:00", 1000), ("2026-05-04T09:00+02:00", 11000)), "8.00"),  # any order, twice
    (METERED, usage("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", ("2026-05-04T07:30+02:00", 0),
                    ("2026-05-04T09:30+02:00", 20000)), "8.00"),  # readings outside: the session's share, 10 kWh
    (METERED, usage("2026-05-04T08:00:00+02:00", "2026-05-04T08:00:30+02:00"), "1.03"),  # 1.025 half-up, not half-even
    (METERED, usage("2026-10-25T00:00+02:00", "2026-10-26T00:00+01:00"), "76.00"),  # the 25-hour day: 1500 min
    (METERED, usage("2026-03-29T00:00+01:00", "2026-03-30T00:00+02:00"), "70.00"),  # the 23-hour day: 1380 min
    (POWER, hour("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", 0, 7400), "6.00"),  # the seed example
    (POWER, hour("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", 0, 22000), "9.00"),  # the seed example
    (POWER, hour("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", 0, 7401), "7.20"),  # just above 7.4 kW
    (POWER, hour("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", 0, 50000), "9.00"),  # above the top band
    (POWER, usage("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00"), "6.00"),  # no readings: 0 kW, lowest band
    (DAY_NIGHT, usage("2026-05-04T21:00+02:00", "2026-05-04T23:00+02:00", ("2026-05-04T21:00+02:00", 0),
                      ("2026-05-04T21:30+02:00", 2000), ("2026-05-04T23:00+02:00", 20000)),
     "6.70"),  # the gap 21:30-23:00 spread evenly over 22:00: day 8 kWh (3.20 + 0.60), night 12 kWh (2.40), fee
    (DAY_NIGHT, hour("2026-05-05T05:30+02:00", "2026-05-05T07:00+02:00", 0, 15000),
     "6.10"),  # across 06:00: night 5 kWh (1.00), day 10 kWh (4.00 + 0.60), fee 0.50
    (DAY_NIGHT, hour("2026-05-04T23:00+02:00", "2026-05-05T01:00+02:00", 0, 20000), "4.50"),  # midnight inside night
    (AM_PM, usage("2026-05-04T23:00+02:00", "2026-05-05T01:00+02:00"), "1.80"),  # midnight is an edge: 60 pm + 60 am
    (EDGE_0230, usage("2026-03-29T00:00+01:00", "2026-03-29T06:00+02:00"), "4.80"),  # 2 h late, 3 h early
    (EDGE_0230, usage("2026-10-25T00:00+02:00", "2026-10-25T06:00+01:00"), "6.90"),  # 2.5 h late, 4.5 h early
    (Tariff("yen", "Yen", "flat", currency="JPY", vat_rate=D("0.10"), flat_price=D("1234.5")), AN_HOUR_10_KWH,
     "1235"),  # no minor unit: whole yen
])
def test_total_incl_vat(tariff, session, total_incl_vat):
    assert price(tariff, session, BERLIN).total_incl_vat == D(total_incl_vat)


@pytest.mark.parametrize("tariff, session, periods", [
    (METERED, AN_HOUR_10_KWH, [("energy+time", 3600, "10000")]),
    (FLAT, hour("2026-05-04T08:00+02:00", "2026-05-04T08:00+02:00", 0, 0), [("flat", 0, "0")]),  # OCPI wants one
    (DAY_NIGHT, usage("2026-05-04T21:00+02:00", "2026-05-04T23:00+02:00", ("2026-05-04T21:00+02:00", 0),
                      ("2026-05-04T21:30+02:00", 2000), ("2026-05-04T23:00+02:00", 20000)),
     [("day", 3600, "8000"), ("night", 3600, "12000")]),
    (DAY_NIGHT, hour("2026-05-04T21:00+02:00", "2026-05-04T22:30+02:00", 0, 1000),
     [("day", 3600, "666.666"), ("night", 1800, "333.334")]),  # running totals floored: the periods add up
    (DAY_NIGHT, hour("2026-05-04T23:00+02:00", "2026-05-05T01:00+02:00", 0, 20000), [("night", 7200, "20000")]),
    (AM_PM, usage("2026-05-04T23:00+02:00", "2026-05-05T01:00+02:00"), [("pm", 3600, "0"), ("am", 3600, "0")]),
    (EDGE_0230, usage("2026-03-29T00:00+01:00", "2026-03-29T06:00+02:00"),
     [("late", 7200, "0"), ("early", 10800, "0")]),  # 02:30 never happens: "early" starts at the jump (03:00)
    (EDGE_0230, usage("2026-10-25T00:00+02:00", "2026-10-25T06:00+01:00"),
     [("late", 9000, "0"), ("early", 16200, "0")]),  # at the first 02:30 (CEST), then through the repeated hour
    (EDGES_IN_GAP, usage("2026-03-29T00:00+01:00", "2026-03-29T06:00+02:00"), [("rest", 18000, "0")]),
    (EDGES_IN_GAP, usage("2026-10-25T00:00+02:00", "2026-10-25T06:00+01:00"),  # 25 h later it is there again
     [("rest", 9000, "0"), ("short", 900, "0"), ("rest", 15300, "0")]),
    (POWER, usage("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", ("2026-05-04T08:00+02:00", 0),
                  ("2026-05-04T08:30+02:00", 3700), ("2026-05-04T09:00+02:00", 14700)),
     [("7.4 kW", 1800, "3700"), ("22 kW", 1800, "11000")]),  # each interval at its own average power
    (POWER, usage("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", ("2026-05-04T08:00+02:00", 0),
                  ("2026-05-04T08:30+02:00", 3700), ("2026-05-04T09:00+02:00", 7400)),
     [("7.4 kW", 3600, "7400")]),  # one band, one period
    (POWER, usage("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", ("2026-05-04T08:30+02:00", 0),
                  ("2026-05-04T09:00+02:00", 11000)),
     [("11 kW", 1800, "0"), ("22 kW", 1800, "11000")]),  # no reading before 08:30: the session's 11 kW average
])
def test_periods(tariff, session, periods):
    result = price(tariff, session, BERLIN).periods
    assert [(p.band, p.duration_s, p.energy_wh) for p in result] == [(b, s, D(wh)) for b, s, wh in periods]


@pytest.mark.parametrize("total, vat_rate, net, vat", [
    ("10.00", "0.19", "8.40", "1.60"),  # the example: 8.4034 net
    ("1.00", "0.19", "0.84", "0.16"),
    ("5.35", "0.07", "5.00", "0.35"),
    ("10.00", "0", "10.00", "0.00"),
    ("0.05", "1", "0.03", "0.02"),  # net 0.025 rounds half-up
    ("0.01", "0.19", "0.01", "0.00"),  # the cent is net; no VAT left to show
    ("0.00", "0.19", "0.00", "0.00"),
])
def test_vat_split(total, vat_rate, net, vat):
    result = price(Tariff("t", "T", "flat", vat_rate=D(vat_rate), flat_price=D(total)), AN_HOUR_10_KWH, BERLIN)
    assert (result.total_incl_vat, result.total_excl_vat, result.vat) == (D(total), D(net), D(vat))


def test_price_carries_the_session_totals():
    result = price(METERED, AN_HOUR_10_KWH, BERLIN)
    assert (result.tariff_id, result.currency, result.vat_rate) == ("metered", "EUR", D("0.19"))
    assert (result.energy_wh, result.duration_s, result.final) == (10000, 3600, True)
    assert "\n" not in ROUNDING and "half-up" in ROUNDING


@pytest.mark.parametrize("tariff", [FLAT, METERED, DAY_NIGHT, POWER])
def test_live_estimate_equals_the_final_price_at_the_same_moment(tariff):
    readings = (("2026-05-04T21:40+02:00", 500), ("2026-05-04T22:10+02:00", 4000))
    now = at("2026-05-04T22:20+02:00")
    live = price(tariff, usage("2026-05-04T21:30+02:00", None, *readings), BERLIN, now=now)
    final = price(tariff, usage("2026-05-04T21:30+02:00", "2026-05-04T22:20+02:00", *readings), BERLIN)
    assert live.final is False and dataclasses.replace(live, final=True) == final


@pytest.mark.parametrize("session, now, problem", [
    (usage("2026-05-04T08:00+02:00", None), None, "pass `now`"),
    (Usage(dt.datetime(2026, 5, 4, 8), at("2026-05-04T09:00+02:00"), ()), None, "started_at must be timezone-aware"),
    (usage("2026-05-04T08:00+02:00", None), dt.datetime(2026, 5, 4, 9), "now must be timezone-aware"),
])
def test_bad_sessions_are_refused(session, now, problem):
    with pytest.raises(ValueError, match=problem):
        price(METERED, session, BERLIN, now=now)


def test_an_invalid_tariff_is_refused():
    with pytest.raises(ValueError, match="tariff 'metered': price_per_kwh is negative"):
        price(dataclasses.replace(METERED, price_per_kwh=D(-1)), AN_HOUR_10_KWH, BERLIN)


def test_a_stop_before_the_start_is_a_zero_length_session():
    result = price(METERED, usage("2026-05-04T09:00+02:00", "2026-05-04T08:00+02:00"), BERLIN)
    assert (result.total_incl_vat, result.duration_s, len(result.periods)) == (D("1.00"), 0, 1)


def band(start: int, end: int, name: str, price_per_kwh: str = "0.30") -> TimeBand:
    return TimeBand(dt.time(start), dt.time(end % 24), price_per_kwh=D(price_per_kwh), name=name)


def time_of_day(*bands: TimeBand) -> Tariff:
    return Tariff("t", "T", "time_of_day", bands=bands)


@pytest.mark.parametrize("tariff, problems", [
    (FREE, []), (FLAT, []), (METERED, []), (DAY_NIGHT, []), (AM_PM, []), (EDGE_0230, []), (POWER, []),
    (time_of_day(band(22, 22, "all day")), []),  # end == start: the whole day
    (Tariff("t", "T", "subscription"),
     ["kind 'subscription' is not one of free, flat, duration_energy, time_of_day, power_levels"]),
    (Tariff("t", "T", "flat", currency="eur"),
     ["currency 'eur' is not an ISO 4217 code (three capital letters, e.g. EUR)"]),
    (Tariff("t", "T", "flat", vat_rate=D(19)), ["vat_rate 19 is outside 0..1 (19 % is 0.19)"]),
    (Tariff("t", "T", "flat", vat_rate=D("-0.19")), ["vat_rate -0.19 is outside 0..1 (19 % is 0.19)"]),
    (Tariff("t", "T", "duration_energy", price_per_kwh=D("-0.10")), ["price_per_kwh is negative (-0.10)"]),
    (Tariff("t", "T", "duration_energy", price_per_minute=0.05), ["price_per_minute must be a Decimal, not float"]),
    (Tariff("t", "T", "flat", flat_price=D("NaN")), ["flat_price is not a number (NaN)"]),
    (Tariff("t", "T", "flat", price_per_kwh=D("0.40")), ["price_per_kwh is set but a flat tariff does not use it"]),
    (Tariff("t", "T", "free", connection_fee=D(1)), ["connection_fee is set but a free tariff does not use it"]),
    (dataclasses.replace(DAY_NIGHT, price_per_kwh=D("0.30")),
     ["price_per_kwh is set but a time_of_day tariff does not use it"]),  # the bands carry the prices
    (dataclasses.replace(METERED, power_bands=POWER.power_bands),
     ["power_bands is set but a duration_energy tariff does not use it"]),
    (time_of_day(), ["a time_of_day tariff needs bands covering the whole day"]),
    (time_of_day(band(6, 21, "day"), band(22, 6, "night")), ["bands leave 21:00-22:00 uncovered"]),
    (time_of_day(band(6, 22, "day")), ["bands leave 22:00-06:00 uncovered"]),  # one gap over midnight
    (time_of_day(band(6, 22, "day"), band(21, 6, "night")), ["bands day and night overlap at 21:00-22:00"]),
    (time_of_day(band(6, 22, ""), band(22, 6, "night", "-0.20")), ["band night price_per_kwh is negative (-0.20)"]),
    (time_of_day(TimeBand(dt.time(6, tzinfo=dt.UTC), dt.time(6))),
     ["band 1: start and end must be local times of day without a time zone"]),
    (Tariff("t", "T", "power_levels"), ["a power_levels tariff needs at least one power band"]),
    (Tariff("t", "T", "power_levels", power_bands=(PowerBand(D(22), D("0.15")), PowerBand(D(11), D("0.12")))),
     ["power bands must ascend by max_power_kw: 22 kW comes before 11 kW"]),
    (Tariff("t", "T", "power_levels", power_bands=(PowerBand(D(0), D("0.15")),)),
     ["power band max_power_kw must be a positive Decimal (got Decimal('0'))"]),
    (dataclasses.replace(FLAT, max_energy_wh=0),
     ["max_energy_wh must be a positive whole number of Wh or None (got 0)"]),
    (dataclasses.replace(FLAT, max_duration_s=1.5),
     ["max_duration_s must be a positive whole number of seconds or None (got 1.5)"]),
    (Tariff("t", "T", "free", currency="€", vat_rate=D(2)),  # every problem, not just the first
     ["currency '€' is not an ISO 4217 code (three capital letters, e.g. EUR)",
      "vat_rate 2 is outside 0..1 (19 % is 0.19)"]),
])
def test_validate(tariff, problems):
    assert validate(tariff) == problems


LIMITED = dataclasses.replace(METERED, max_duration_s=7200, max_energy_wh=20000)


@pytest.mark.parametrize("tariff, session, now, reached", [
    (LIMITED, hour("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00", 0, 10000), "2026-05-04T09:00+02:00", None),
    (LIMITED, usage("2026-05-04T08:00+02:00", None), "2026-05-04T10:00+02:00", "time limit 2 h reached"),
    (LIMITED, usage("2026-05-04T08:00+02:00", None, ("2026-05-04T08:00+02:00", 0), ("2026-05-04T09:00+02:00", 20000)),
     "2026-05-04T09:00+02:00", "energy limit 20.0 kWh reached"),
    (LIMITED, usage("2026-05-04T08:00+02:00", None, ("2026-05-04T08:00+02:00", 0), ("2026-05-04T09:00+02:00", 19999)),
     "2026-05-04T09:59+02:00", None),  # nothing is counted past the last reading
    (LIMITED, usage("2026-05-04T08:00+02:00", None, ("2026-05-04T08:00+02:00", 0), ("2026-05-04T09:00+02:00", 25000)),
     "2026-05-04T11:00+02:00", "time limit 2 h reached; energy limit 20.0 kWh reached"),
    (LIMITED, usage("2026-10-25T01:30+02:00", None), "2026-10-25T02:30+01:00",
     "time limit 2 h reached"),  # the clock says 1 h; 2 h have passed
    (dataclasses.replace(METERED, max_duration_s=5400, max_energy_wh=12345),
     usage("2026-05-04T08:00+02:00", None, ("2026-05-04T08:00+02:00", 0), ("2026-05-04T09:00+02:00", 12345)),
     "2026-05-04T09:30+02:00", "time limit 1 h 30 min reached; energy limit 12.345 kWh reached"),
    (METERED, usage("2026-05-04T08:00+02:00", None), "2026-05-05T08:00+02:00", None),  # no limits
    (LIMITED, usage("2026-05-04T08:00+02:00", "2026-05-04T09:00+02:00"), "2026-05-04T23:00+02:00",
     None),  # a stopped session: its stop counts, not now
])
def test_limit_reached(tariff, session, now, reached):
    assert limit_reached(tariff, session, at(now)) == reached
