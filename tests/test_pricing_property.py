"""Pricing, properties (hypothesis): on random tariffs of every kind, random band layouts covering the day,
random monotone meter readings and four time zones (Lord Howe's DST is half an hour), the periods add up
and cover the session, the rounding is the stated one, an extra reading on the line changes nothing,
more energy never costs less, and a live estimate is the final price at the same moment.

Sessions start near each zone's 2026 DST changes (or on ordinary days) and run from their first
reading to their last, so the session's energy is exactly last - first register."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from fractions import Fraction
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from appliance.billing.pricing import MeterPoint, Usage, minor_units, price
from appliance.billing.tariffs import KINDS, PowerBand, Tariff, TimeBand, validate

# Each zone's 2026 clock changes (UTC), where most sessions start; UTC has none.
CHANGES = {"Europe/Berlin": [(2026, 3, 29, 1), (2026, 10, 25, 1)],
           "America/New_York": [(2026, 3, 8, 7), (2026, 11, 1, 6)],
           "Australia/Lord_Howe": [(2026, 4, 4, 15), (2026, 10, 3, 15, 30)],  # half an hour, at 02:00
           "UTC": []}
ORDINARY = [(2026, 6, 15, 12), (2026, 1, 10, 0)]
US = dt.timedelta(microseconds=1)
MONEY = st.decimals(min_value=0, max_value=2, places=4)
# Wall times: often the ones DST changes skip or repeat, and band edges people use.
WALL_TIMES = st.one_of(
    st.sampled_from([dt.time(0), dt.time(1, 45), dt.time(2), dt.time(2, 15), dt.time(2, 30), dt.time(3), dt.time(22)]),
    st.builds(dt.time, st.integers(0, 23), st.integers(0, 59), st.sampled_from([0, 0, 30])))
EXAMPLES = settings(max_examples=200, deadline=None)


@st.composite
def depot_sessions(draw) -> tuple[ZoneInfo, Usage]:
    """A zone and a session in it, starting up to 36 hours before one of its clock changes (or on an
    ordinary day), with 1 to 8 readings and now and then hours between them."""
    zone = draw(st.sampled_from(sorted(CHANGES)))
    anchor = dt.datetime(*draw(st.sampled_from(CHANGES[zone] * 3 + ORDINARY)), tzinfo=dt.UTC)
    at = anchor + dt.timedelta(seconds=draw(st.integers(-36 * 3600, 12 * 3600)),
                                                      microseconds=draw(st.sampled_from([0, 0, 250_000, 999_999])))
    register_wh = draw(st.integers(0, 10**8))
    points = [MeterPoint(at, register_wh)]
    for _ in range(draw(st.integers(0, 7))):
        gap_s = draw(st.one_of(st.integers(1, 900), st.integers(900, 6 * 3600)))  # now and then a long gap
        at += dt.timedelta(seconds=gap_s, microseconds=draw(st.sampled_from([0, 0, 0, 123_457])))
        register_wh += draw(st.integers(0, 30_000)) * gap_s // 3600  # 0 to 30 kW on average
        points.append(MeterPoint(at, register_wh))
    return ZoneInfo(zone), Usage(points[0].at, points[-1].at, tuple(draw(st.permutations(points))))


@st.composite
def band_layouts(draw) -> tuple[TimeBand, ...]:
    starts = sorted(draw(st.sets(WALL_TIMES, min_size=1, max_size=5)))
    # each band runs to the next one's start; the last over midnight to the first's (all day if alone)
    return tuple(TimeBand(start, starts[(n + 1) % len(starts)], draw(MONEY), draw(MONEY), f"b{n}")
                 for n, start in enumerate(starts))


@st.composite
def power_layouts(draw) -> tuple[PowerBand, ...]:
    power_kw = st.decimals(min_value=D("0.1"), max_value=D(30), places=1)
    limits_kw = sorted(draw(st.sets(power_kw, min_size=1, max_size=4)))
    return tuple(PowerBand(limit_kw, draw(MONEY)) for limit_kw in limits_kw)


@st.composite
def tariffs(draw, kinds=KINDS) -> Tariff:
    kind = draw(st.sampled_from(kinds))
    fields = {"currency": draw(st.sampled_from(["EUR", "EUR", "JPY", "KWD"])),
              "vat_rate": draw(st.sampled_from([D("0.19"), D("0.07"), D(0), D("0.255")]))}
    if kind == "flat":
        fields["flat_price"] = draw(MONEY)
    if kind in ("duration_energy", "time_of_day", "power_levels"):
        fields["connection_fee"] = draw(MONEY)
    if kind == "duration_energy":
        fields.update(price_per_kwh=draw(MONEY), price_per_minute=draw(MONEY))
    if kind == "time_of_day":
        fields["bands"] = draw(band_layouts())
    if kind == "power_levels":
        fields["power_bands"] = draw(power_layouts())
    tariff = Tariff("t", "T", kind, **fields)
    assert validate(tariff) == []
    return tariff


def readings(session: Usage) -> list[MeterPoint]:
    return sorted(session.points, key=lambda point: point.at)


def round_half_up(value: D, currency: str) -> D:
    return value.quantize(D(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


@EXAMPLES
@given(tariffs(), depot_sessions())
def test_periods_add_up_to_the_session_and_cover_it(tariff, zone_session):
    zone, session = zone_session
    result = price(tariff, session, zone)
    first, last = readings(session)[0], readings(session)[-1]
    assert sum(p.energy_wh for p in result.periods) == result.energy_wh == last.energy_wh - first.energy_wh
    assert result.periods[0].start == session.started_at and result.periods[-1].end == session.stopped_at
    assert all(a.end == b.start for a, b in zip(result.periods, result.periods[1:]))
    assert all(p.start < p.end for p in result.periods) or len(result.periods) == 1
    assert sum(p.duration_s for p in result.periods) == result.duration_s


@EXAMPLES
@given(tariffs(), depot_sessions())
def test_total_is_fees_plus_periods_rounded_once_and_splits_into_net_and_vat(tariff, zone_session):
    zone, session = zone_session
    result = price(tariff, session, zone)
    unrounded = tariff.flat_price + tariff.connection_fee + sum(p.price_incl_vat for p in result.periods)
    assert result.total_incl_vat == round_half_up(unrounded, tariff.currency)
    assert result.total_excl_vat + result.vat == result.total_incl_vat
    assert 0 <= result.vat <= result.total_incl_vat
    net = Fraction(result.total_incl_vat) / (1 + Fraction(tariff.vat_rate))
    assert abs(Fraction(result.total_excl_vat) - net) <= Fraction(1, 2 * 10 ** minor_units(tariff.currency))


@EXAMPLES
@given(tariffs(), depot_sessions())
def test_each_period_is_priced_at_its_band(tariff, zone_session):
    zone, session = zone_session
    for period in price(tariff, session, zone).periods:
        per_kwh, per_minute = rates(tariff, period.band)
        seconds = Fraction((period.end - period.start) // US, 10**6)
        expected = Fraction(period.energy_wh) / 1000 * per_kwh + seconds / 60 * per_minute
        assert abs(Fraction(period.price_incl_vat) - expected) < Fraction(1, 10**5)  # energies are to the mWh
        if tariff.kind == "time_of_day" and period.end > period.start:
            for instant in (period.start, period.start + (period.end - period.start) / 2, period.end - US):
                local = instant.astimezone(zone)
                if not local.fold:  # in a repeated hour the band in force is the one that started at the first pass
                    assert period.band == band_at(tariff, local.time())


def rates(tariff: Tariff, band: str) -> tuple[Fraction, Fraction]:
    if tariff.kind == "duration_energy":
        return Fraction(tariff.price_per_kwh), Fraction(tariff.price_per_minute)
    if tariff.kind == "time_of_day":
        found = next(b for b in tariff.bands if b.name == band)
        return Fraction(found.price_per_kwh), Fraction(found.price_per_minute)
    if tariff.kind == "power_levels":
        return Fraction(0), Fraction(next(b for b in tariff.power_bands if b.label == band).price_per_minute)
    return Fraction(0), Fraction(0)


def band_at(tariff: Tariff, wall: dt.time) -> str:
    """The band whose start is the latest at or before `wall`, or else the last of the day (over midnight)."""
    started = [b for b in tariff.bands if b.start <= wall]
    return max(started or tariff.bands, key=lambda b: b.start).name


@EXAMPLES
@given(depot_sessions(), MONEY, MONEY, MONEY)
def test_duration_energy_is_the_exact_formula(zone_session, fee, per_kwh, per_minute):
    zone, session = zone_session
    tariff = Tariff("t", "T", "duration_energy", connection_fee=fee, price_per_kwh=per_kwh, price_per_minute=per_minute)
    first, last = readings(session)[0], readings(session)[-1]
    minutes = Fraction((session.stopped_at - session.started_at) // US, 60 * 10**6)
    exact = Fraction(fee) + Fraction(last.energy_wh - first.energy_wh, 1000) * Fraction(per_kwh) \
        + minutes * Fraction(per_minute)
    assert price(tariff, session, zone).total_incl_vat == D(math.floor(exact * 100 + Fraction(1, 2))) / 100


@EXAMPLES
@given(tariffs(), depot_sessions(), st.data())
def test_an_extra_reading_on_the_line_changes_nothing(tariff, zone_session, data):
    zone, session = zone_session
    points = readings(session)
    assume(len(points) >= 2)
    n = data.draw(st.integers(0, len(points) - 2))
    span_us, rise_wh = (points[n + 1].at - points[n].at) // US, points[n + 1].energy_wh - points[n].energy_wh
    steps = math.gcd(span_us, rise_wh)  # a point on the line at a whole µs and a whole Wh
    assume(steps > 1)
    step = data.draw(st.integers(1, steps - 1))
    extra = MeterPoint(points[n].at + span_us // steps * step * US, points[n].energy_wh + rise_wh // steps * step)
    split = dataclasses.replace(session, points=(*session.points, extra))
    assert price(tariff, split, zone) == price(tariff, session, zone)


@EXAMPLES
@given(tariffs(("duration_energy", "time_of_day", "power_levels")), depot_sessions(), st.data())
def test_more_energy_never_costs_less(tariff, zone_session, data):
    zone, session = zone_session
    if tariff.kind == "power_levels":  # only where more power never costs less per minute
        prices = sorted(b.price_per_minute for b in tariff.power_bands)
        tariff = dataclasses.replace(tariff, power_bands=tuple(
            PowerBand(b.max_power_kw, p) for b, p in zip(tariff.power_bands, prices)))
    points = readings(session)
    assume(len(points) >= 2)
    n, extra_wh = data.draw(st.integers(1, len(points) - 1)), data.draw(st.integers(1, 50_000))
    more = tuple(p if i < n else MeterPoint(p.at, p.energy_wh + extra_wh) for i, p in enumerate(points))
    assert price(tariff, dataclasses.replace(session, points=more), zone).total_incl_vat >= \
        price(tariff, session, zone).total_incl_vat


@EXAMPLES
@given(tariffs(), depot_sessions())
def test_a_live_estimate_is_the_final_price_at_the_same_moment(tariff, zone_session):
    zone, session = zone_session
    live = price(tariff, dataclasses.replace(session, stopped_at=None), zone, now=session.stopped_at)
    assert dataclasses.replace(live, final=True) == price(tariff, session, zone)
