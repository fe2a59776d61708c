"""Tariffs: what a charging session costs, as plain data, and the rules a tariff must keep (`validate`).

Prices are entered including VAT, as `Decimal`, in the tariff's currency. `pricing.price` applies a
tariff to a session; nothing here reads a clock, a file or the database.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from decimal import Decimal

KINDS = ("free", "flat", "duration_energy", "time_of_day", "power_levels")

# The price fields each kind uses. Any other one set on it would be silently ignored by pricing, so
# validate() reports it: the person editing the tariff meant something by it.
USES: dict[str, frozenset[str]] = {
    "free": frozenset(),
    "flat": frozenset({"flat_price"}),
    "duration_energy": frozenset({"connection_fee", "price_per_kwh", "price_per_minute"}),
    "time_of_day": frozenset({"connection_fee", "bands"}),
    "power_levels": frozenset({"connection_fee", "power_bands"}),
}
_PRICE_FIELDS = ("flat_price", "connection_fee", "price_per_kwh", "price_per_minute")
_DAY_US = 24 * 3600 * 10**6


@dataclass(frozen=True)
class TimeBand:
    """time_of_day: a band of the local day; end <= start means it runs over midnight (22:00-06:00),
    and end == start means the whole day."""
    start: dt.time
    end: dt.time
    price_per_kwh: Decimal = Decimal(0)
    price_per_minute: Decimal = Decimal(0)
    name: str = ""  # "day", "night"

    @property
    def label(self) -> str:
        return self.name or f"{_clock(_time_us(self.start))}-{_clock(_time_us(self.end))}"


@dataclass(frozen=True)
class PowerBand:
    """power_levels: applies to an average power up to and including max_power_kw; above the
    highest band, the highest band's price."""
    max_power_kw: Decimal
    price_per_minute: Decimal

    @property
    def label(self) -> str:
        return f"{self.max_power_kw.normalize():f} kW"  # "7.4 kW", "22 kW"


@dataclass(frozen=True)
class Tariff:
    id: str
    name: str
    kind: str
    currency: str = "EUR"  # ISO 4217
    vat_rate: Decimal = Decimal("0.19")
    flat_price: Decimal = Decimal(0)  # flat: per session
    connection_fee: Decimal = Decimal(0)  # duration_energy, time_of_day, power_levels: once per session
    price_per_kwh: Decimal = Decimal(0)  # duration_energy
    price_per_minute: Decimal = Decimal(0)  # duration_energy
    bands: tuple[TimeBand, ...] = ()  # time_of_day: must cover the whole day without overlap
    power_bands: tuple[PowerBand, ...] = ()  # power_levels: ascending max_power_kw
    max_duration_s: int | None = None
    max_energy_wh: int | None = None


def validate(tariff: Tariff) -> list[str]:
    """Every problem with the tariff, as sentences for the person editing it; [] when it is usable."""
    problems = []
    if tariff.kind not in KINDS:
        problems.append(f"kind {tariff.kind!r} is not one of {', '.join(KINDS)}")
    currency = tariff.currency
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isascii()
            and currency.isalpha() and currency.isupper()):
        problems.append(f"currency {currency!r} is not an ISO 4217 code (three capital letters, e.g. EUR)")
    problems += _vat_problems(tariff.vat_rate)
    for field in _PRICE_FIELDS:
        problems += _price_problems(field, getattr(tariff, field))
    problems += _unused_field_problems(tariff)
    problems += _limit_problems(tariff)
    if tariff.kind == "time_of_day":
        problems += _time_band_problems(tariff.bands)
    if tariff.kind == "power_levels":
        problems += _power_band_problems(tariff.power_bands)
    return problems


def _price_problems(what: str, value: object) -> list[str]:
    if not isinstance(value, Decimal):
        return [f"{what} must be a Decimal, not {type(value).__name__}"]  # a float is not an exact price
    if not value.is_finite():
        return [f"{what} is not a number ({value})"]
    return [f"{what} is negative ({value})"] if value < 0 else []


def _vat_problems(rate: object) -> list[str]:
    if isinstance(rate, Decimal) and rate.is_finite() and not 0 <= rate <= 1:
        return [f"vat_rate {rate} is outside 0..1 (19 % is 0.19)"]
    return _price_problems("vat_rate", rate)


def _unused_field_problems(tariff: Tariff) -> list[str]:
    if tariff.kind not in USES:
        return []
    return [f"{field} is set but a {tariff.kind} tariff does not use it"
            for field in (*_PRICE_FIELDS, "bands", "power_bands")
            if field not in USES[tariff.kind] and getattr(tariff, field)]


def _limit_problems(tariff: Tariff) -> list[str]:
    problems = []
    for field, unit in (("max_duration_s", "seconds"), ("max_energy_wh", "Wh")):
        value = getattr(tariff, field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            problems.append(f"{field} must be a positive whole number of {unit} or None (got {value!r})")
    return problems


def _time_band_problems(bands: tuple[TimeBand, ...]) -> list[str]:
    if not bands:
        return ["a time_of_day tariff needs bands covering the whole day"]
    problems = []
    for n, band in enumerate(bands, 1):
        if not all(isinstance(t, dt.time) and t.tzinfo is None for t in (band.start, band.end)):
            problems.append(f"band {n}: start and end must be local times of day without a time zone")
            continue
        for field in ("price_per_kwh", "price_per_minute"):
            problems += _price_problems(f"band {band.label} {field}", getattr(band, field))
    return problems or _coverage_problems(bands)


def _coverage_problems(bands: tuple[TimeBand, ...]) -> list[str]:
    """Gaps and overlaps, found by sweeping the bands' stretches of the day (µs since midnight) in order."""
    stretches = sorted(s for band in bands for s in _stretches(band))
    gaps, overlaps = [], []
    covered_to, covering = 0, ""
    for start, end, label in stretches:
        if start > covered_to:
            gaps.append((covered_to, start))
        elif start < covered_to:
            overlaps.append(f"bands {covering} and {label} overlap at {_clock(start)}-{_clock(min(end, covered_to))}")
        if end > covered_to:
            covered_to, covering = end, label
    if covered_to < _DAY_US:
        gaps.append((covered_to, _DAY_US))
    if len(gaps) > 1 and gaps[0][0] == 0 and gaps[-1][1] == _DAY_US:
        gaps = [(gaps[-1][0], gaps[0][1]), *gaps[1:-1]]  # one gap over midnight, not two
    return [f"bands leave {_clock(start)}-{_clock(end)} uncovered" for start, end in gaps] + overlaps


def _stretches(band: TimeBand) -> list[tuple[int, int, str]]:
    start, end = _time_us(band.start), _time_us(band.end)
    if end > start:
        return [(start, end, band.label)]
    return [(s, e, band.label) for s, e in ((start, _DAY_US), (0, end)) if e > s]  # over midnight


def _power_band_problems(power_bands: tuple[PowerBand, ...]) -> list[str]:
    if not power_bands:
        return ["a power_levels tariff needs at least one power band"]
    problems = []
    for band in power_bands:
        kw = band.max_power_kw
        if not isinstance(kw, Decimal) or not kw.is_finite() or kw <= 0:
            problems.append(f"power band max_power_kw must be a positive Decimal (got {kw!r})")
            continue
        problems += _price_problems(f"power band {band.label} price_per_minute", band.price_per_minute)
    if problems:
        return problems
    return [f"power bands must ascend by max_power_kw: {first.label} comes before {second.label}"
            for first, second in itertools.pairwise(power_bands) if second.max_power_kw <= first.max_power_kw]


def _time_us(t: dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 10**6 + t.microsecond


def _clock(us_of_day: int) -> str:
    """"06:00", "24:00" (the end of the day), "06:00:30" when seconds matter."""
    seconds = us_of_day // 10**6
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}" + (f":{rest % 60:02d}" if rest % 60 else "")
