"""Pricing: what a charging session costs under a tariff, as a pure function of the tariff, the session's
meter readings and the depot's time zone. No clock: a live estimate is priced up to the `now` given.

The rules (statements and CDRs rely on them):
- Energy is linear in time between two readings: a band edge inside an interval splits its energy in
  proportion to time, and a gap in the samples spreads the gap's energy evenly over it. Before the first
  and after the last reading no energy is counted (no extrapolation: a live estimate shows the energy up
  to the last reading). Readings outside start..stop only shape the line: the session gets its share.
- A meter going backwards (a reset, a swapped meter) counts no energy for that interval and counting
  goes on from the lower value: energy is never negative. Two readings at one instant: the highest counts.
- Time prices are for the whole plugged-in time, start to stop, in real elapsed time to the microsecond
  (price_per_minute * seconds / 60): the 25-hour day of a fall-back is 25 hours.
- time_of_day: a band starts, each local day, at the first instant whose wall-clock time in `zone` is
  at or after its start time. So an edge at 02:30 on the spring-forward day (a time that never happens)
  takes effect at the jump; on the fall-back day, 02:30 happens twice and the edge takes effect at the
  first; that band then runs on through the repeated hour.
- power_levels: each interval between readings is priced per minute at the band of its own average
  power (ΔE / Δt); time with no readings around it (before the first, after the last, a session without
  readings) counts at the session's average power (energy / plugged-in time).
- Periods (OCPI 2.2.1 CDR charging periods) are the runs of time under one tariff element. The flat
  price and the connection fee belong to no period.
- Arithmetic is exact (fractions). Period energies (to the mWh) and period prices (to PERIOD_PLACES
  decimals) are differences of the running totals floored at each period end, so the periods add up
  exactly; money is then rounded once, per ROUNDING.
- A stop before the start counts as a zero-length session: one empty period, fees still due.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from appliance.billing.tariffs import Tariff, validate

ROUNDING = ("computed exactly; the session total (fees plus periods, periods to 10 decimal places) rounded"
            " half-up to the currency's minor unit once; net = total / (1 + VAT rate) rounded half-up the"
            " same way; VAT = total - net")
# A period price's decimals. The running total is floored, never rounded up, so the periods' sum rounds to
# the cent exactly as the exact total would (given fees of at most this many decimals).
PERIOD_PLACES = 10
ENERGY_PLACES = 3  # a period's energy in Wh to the mWh
# ISO 4217 minor units where they are not 2.
MINOR_UNITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3}

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US_PER_S = 10**6
_US_PER_MIN = 60 * _US_PER_S
_KW_PER_WH_PER_US = 3600 * _US_PER_S // 1000  # average kW = ΔWh * this / Δµs


@dataclass(frozen=True)
class MeterPoint:
    at: dt.datetime  # UTC, aware
    energy_wh: int  # the energy register


@dataclass(frozen=True)
class Usage:
    started_at: dt.datetime
    stopped_at: dt.datetime | None  # None: still charging (live estimate up to `now`)
    points: tuple[MeterPoint, ...]  # register readings, start and stop ones where known; any order, repeats possible


@dataclass(frozen=True)
class ChargingPeriod:
    """OCPI 2.2.1 CDR charging period, so the CDR can be built straight from it."""
    start: dt.datetime  # UTC
    end: dt.datetime
    energy_wh: Decimal  # energy in this period, to the mWh (interpolated where a sample boundary falls inside)
    duration_s: int  # whole seconds; the periods add up to Price.duration_s
    band: str  # the tariff element: "day", "night", "7.4 kW", "flat", "energy+time", "free"
    price_incl_vat: Decimal  # unrounded: to PERIOD_PLACES decimals, no fees


@dataclass(frozen=True)
class Price:
    tariff_id: str
    currency: str
    total_incl_vat: Decimal  # rounded per ROUNDING
    total_excl_vat: Decimal
    vat: Decimal
    vat_rate: Decimal
    energy_wh: int  # rounded half-up to the Wh
    duration_s: int  # rounded half-up to the second
    periods: tuple[ChargingPeriod, ...]
    final: bool  # False for a live estimate


@dataclass(frozen=True)
class _Element:
    """One tariff element: what a stretch of time is priced at."""
    key: int  # stretches with the same key make one period
    band: str
    per_kwh: Fraction = Fraction(0)
    per_minute: Fraction = Fraction(0)


def minor_units(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def price(tariff: Tariff, usage: Usage, zone: zoneinfo.ZoneInfo, now: dt.datetime | None = None) -> Price:
    """The price of `usage` under `tariff`: final once the session has stopped, else a live estimate up
    to `now`. Raises ValueError for an invalid tariff or naive times."""
    problems = validate(tariff)
    if problems:
        raise ValueError(f"tariff {tariff.id!r}: " + "; ".join(problems))
    start_us, end_us = _span(usage, now)
    curve = _Curve.of(usage.points)
    periods = _periods(_stretches(tariff, curve, zone, start_us, end_us), start_us)
    unrounded = Fraction(tariff.flat_price) + Fraction(tariff.connection_fee)
    unrounded += sum((Fraction(p.price_incl_vat) for p in periods), Fraction(0))
    places = minor_units(tariff.currency)
    total = _round_half_up(unrounded, places)
    net = _round_half_up(total / (1 + Fraction(tariff.vat_rate)), places)
    return Price(tariff_id=tariff.id, currency=tariff.currency, total_incl_vat=_decimal(total, places),
                 total_excl_vat=_decimal(net, places), vat=_decimal(total - net, places), vat_rate=tariff.vat_rate,
                 energy_wh=int(_round_half_up(curve.energy_between(start_us, end_us), 0)),
                 duration_s=int(_round_half_up(Fraction(end_us - start_us, _US_PER_S), 0)),
                 periods=periods, final=usage.stopped_at is not None)


def limit_reached(tariff: Tariff, usage: Usage, now: dt.datetime) -> str | None:
    """Which of the tariff's session limits the session has reached by `now` (or its stop), e.g.
    "energy limit 20.0 kWh reached"; None while within them. Energy counts up to the last reading."""
    start_us, end_us = _span(usage, now)
    reached = []
    if tariff.max_duration_s is not None and end_us - start_us >= tariff.max_duration_s * _US_PER_S:
        reached.append(f"time limit {_duration_text(tariff.max_duration_s)} reached")
    energy_wh = _Curve.of(usage.points).energy_between(start_us, end_us)
    if tariff.max_energy_wh is not None and energy_wh >= tariff.max_energy_wh:
        reached.append(f"energy limit {_kwh_text(tariff.max_energy_wh)} kWh reached")
    return "; ".join(reached) or None


@dataclass(frozen=True)
class _Curve:
    """The meter register as a line through its readings, resets removed: `wh[i]` is the energy counted
    from the first reading to the reading at `at_us[i]` (µs since the epoch)."""
    at_us: tuple[int, ...]
    wh: tuple[Fraction, ...]

    @classmethod
    def of(cls, points: Iterable[MeterPoint]) -> _Curve:
        highest: dict[int, Fraction] = {}
        for point in points:
            at_us, register = _us(point.at, "a meter point"), Fraction(point.energy_wh)
            highest[at_us] = max(highest.get(at_us, register), register)
        at_us = sorted(highest)
        counted = [Fraction(0)]
        for before, after in itertools.pairwise(at_us):
            counted.append(counted[-1] + max(Fraction(0), highest[after] - highest[before]))  # a drop counts 0
        return cls(tuple(at_us), tuple(counted[:len(at_us)]))

    def energy_at(self, at_us: int) -> Fraction:
        i = bisect.bisect_right(self.at_us, at_us) - 1
        if i < 0:
            return Fraction(0)
        if i == len(self.at_us) - 1:
            return self.wh[i]
        t0, t1, e0, e1 = self.at_us[i], self.at_us[i + 1], self.wh[i], self.wh[i + 1]
        return e0 + (e1 - e0) * Fraction(at_us - t0, t1 - t0)

    def energy_between(self, start_us: int, end_us: int) -> Fraction:
        return self.energy_at(end_us) - self.energy_at(start_us)

    def power_kw(self, at_us: int) -> Fraction | None:
        """The average power of the interval between readings from `at_us` on; None outside the readings."""
        i = bisect.bisect_right(self.at_us, at_us) - 1
        if i < 0 or i == len(self.at_us) - 1:
            return None
        return (self.wh[i + 1] - self.wh[i]) * Fraction(_KW_PER_WH_PER_US, self.at_us[i + 1] - self.at_us[i])


@dataclass(frozen=True)
class _Stretch:
    start_us: int
    end_us: int
    element: _Element
    energy_wh: Fraction
    price: Fraction


def _stretches(tariff: Tariff, curve: _Curve, zone: zoneinfo.ZoneInfo, start_us: int, end_us: int) -> list[_Stretch]:
    """The session cut at every reading and band edge inside it, each stretch with its element, energy
    and price. A zero-length session is one empty stretch."""
    cuts = {start_us, end_us} | {t for t in curve.at_us if start_us < t < end_us}
    if tariff.kind == "time_of_day":
        edges = _band_edges(tariff, zone, start_us, end_us)
        cuts |= {t for t, _ in edges if start_us < t < end_us}
        element_at = _time_of_day_elements(tariff, edges)
    elif tariff.kind == "power_levels":
        element_at = _power_level_elements(tariff, curve, start_us, end_us)
    else:
        element_at = _constant_elements(tariff)
    bounds = sorted(cuts) if end_us > start_us else [start_us, end_us]
    stretches = []
    for a, b in itertools.pairwise(bounds):
        element, energy_wh = element_at(a), curve.energy_between(a, b)
        cost = energy_wh / 1000 * element.per_kwh + Fraction(b - a, _US_PER_MIN) * element.per_minute
        stretches.append(_Stretch(a, b, element, energy_wh, cost))
    return stretches


def _constant_elements(tariff: Tariff) -> Callable[[int], _Element]:
    element = _Element(0, tariff.kind)  # "free", "flat": the price is all in the fees
    if tariff.kind == "duration_energy":
        element = _Element(0, "energy+time", Fraction(tariff.price_per_kwh), Fraction(tariff.price_per_minute))
    return lambda at_us: element


def _time_of_day_elements(tariff: Tariff, edges: list[tuple[int, int]]) -> Callable[[int], _Element]:
    elements = [_Element(i, band.label, Fraction(band.price_per_kwh), Fraction(band.price_per_minute))
                for i, band in enumerate(tariff.bands)]
    instants = [t for t, _ in edges]
    # The band in force is the one whose edge came last; edges start the day before the session.
    return lambda at_us: elements[edges[bisect.bisect_right(instants, at_us) - 1][1]]


def _power_level_elements(tariff: Tariff, curve: _Curve, start_us: int, end_us: int) -> Callable[[int], _Element]:
    elements = [_Element(i, band.label, per_minute=Fraction(band.price_per_minute))
                for i, band in enumerate(tariff.power_bands)]
    limits_kw = [Fraction(band.max_power_kw) for band in tariff.power_bands]
    average_kw = Fraction(0)
    if end_us > start_us:
        average_kw = curve.energy_between(start_us, end_us) * Fraction(_KW_PER_WH_PER_US, end_us - start_us)

    def element_at(at_us: int) -> _Element:
        power_kw = curve.power_kw(at_us)
        power_kw = average_kw if power_kw is None else power_kw
        return elements[min(bisect.bisect_left(limits_kw, power_kw), len(elements) - 1)]  # "up to and including"
    return element_at


def _band_edges(tariff: Tariff, zone: zoneinfo.ZoneInfo, start_us: int, end_us: int) -> list[tuple[int, int]]:
    """(instant in µs, band index) of each band's start on every local day from the one before the session
    to the last, in time order."""
    first_day = _datetime(start_us).astimezone(zone).date() - dt.timedelta(days=1)
    days = (_datetime(end_us).astimezone(zone).date() - first_day).days + 1
    by_wall_time = sorted(range(len(tariff.bands)), key=lambda i: tariff.bands[i].start)
    edges = [(_first_instant_at_or_after(first_day + dt.timedelta(days=d), tariff.bands[i].start, zone), i)
             for d in range(days) for i in by_wall_time]
    # A stable sort: edges that meet at one instant (all in a skipped hour) keep wall-time order, so the
    # band starting latest is the one in force.
    return sorted(edges, key=lambda edge: edge[0])


def _first_instant_at_or_after(day: dt.date, wall: dt.time, zone: zoneinfo.ZoneInfo) -> int:
    """The first instant (µs) whose local time is at or after `wall` on `day`: for a time that happens
    twice, the first (fold=0); for one that never happens (spring forward), the jump itself."""
    naive = dt.datetime.combine(day, wall)
    at_us = _us(naive.replace(tzinfo=zone), "")
    if _datetime(at_us).astimezone(zone).replace(tzinfo=None) == naive:
        return at_us
    # In a gap fold=0 reads the wall time at the old offset (after the jump) and fold=1 at the new one
    # (before it); zoneinfo does not give the transition, so search between the two.
    before_us = _us(naive.replace(tzinfo=zone, fold=1), "")
    while at_us - before_us > 1:
        middle_us = (before_us + at_us) // 2
        if _datetime(middle_us).astimezone(zone).replace(tzinfo=None) >= naive:
            at_us = middle_us
        else:
            before_us = middle_us
    return at_us


def _periods(stretches: list[_Stretch], start_us: int) -> tuple[ChargingPeriod, ...]:
    """Runs of stretches under one element, as periods whose energy, price and seconds are differences of
    running totals, so that they add up exactly to the session's."""
    runs: list[list[_Stretch]] = []
    for stretch in stretches:
        if runs and runs[-1][-1].element.key == stretch.element.key:
            runs[-1].append(stretch)
        else:
            runs.append([stretch])
    periods = []
    energy_wh, cost, floored = Fraction(0), Fraction(0), (0, 0, 0)
    for run in runs:
        energy_wh += sum((s.energy_wh for s in run), Fraction(0))
        cost += sum((s.price for s in run), Fraction(0))
        totals = (math.floor(energy_wh * 10**ENERGY_PLACES), math.floor(cost * 10**PERIOD_PLACES),
                  int(_round_half_up(Fraction(run[-1].end_us - start_us, _US_PER_S), 0)))
        periods.append(ChargingPeriod(
            start=_datetime(run[0].start_us), end=_datetime(run[-1].end_us),
            energy_wh=_decimal(Fraction(totals[0] - floored[0], 10**ENERGY_PLACES), ENERGY_PLACES),
            duration_s=totals[2] - floored[2], band=run[0].element.band,
            price_incl_vat=_decimal(Fraction(totals[1] - floored[1], 10**PERIOD_PLACES), PERIOD_PLACES)))
        floored = totals
    return tuple(periods)


def _span(usage: Usage, now: dt.datetime | None) -> tuple[int, int]:
    end = usage.stopped_at if usage.stopped_at is not None else now
    if end is None:
        raise ValueError("the session is still charging (stopped_at is None): pass `now` for a live estimate")
    start_us = _us(usage.started_at, "started_at")
    return start_us, max(start_us, _us(end, "stopped_at" if usage.stopped_at is not None else "now"))


def _us(at: dt.datetime, what: str) -> int:
    if at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware: {at!r}")
    return (at - _EPOCH) // dt.timedelta(microseconds=1)


def _datetime(at_us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=at_us)


def _round_half_up(value: Fraction, places: int) -> Fraction:
    """`value` rounded half away from zero to `places` decimals."""
    scaled = math.floor(abs(value) * 10**places + Fraction(1, 2))
    return Fraction(scaled if value >= 0 else -scaled, 10**places)


def _decimal(value: Fraction, places: int) -> Decimal:
    """An exact Decimal with `places` decimals for a value that has no more (no context, no rounding)."""
    scaled = value * 10**places
    assert scaled.denominator == 1, value
    return Decimal(f"{scaled.numerator}e-{places}")


def _duration_text(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    parts = [(hours, "h"), (rest // 60, "min"), (rest % 60, "s")]
    return " ".join(f"{n} {unit}" for n, unit in parts if n)


def _kwh_text(energy_wh: int) -> str:
    """20000 -> "20.0", 12345 -> "12.345": no digit lost, at least one decimal."""
    text = f"{energy_wh // 1000}.{energy_wh % 1000:03d}".rstrip("0")
    return text + "0" if text.endswith(".") else text
