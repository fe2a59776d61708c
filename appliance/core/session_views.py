"""Sessions as depot staff look at them: filters given as text (dates in the depot's time zone),
pages with a total count, the CSV export made chunk by chunk in the reader threads, a session's
energy and power curves for its chart, and its price broken down into lines people can check."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import math
import re
import zoneinfo
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from appliance.billing import pricing
from appliance.billing.statements import kwh, local_iso, money
from appliance.billing.tariff_json import TariffFormatError, from_json
from appliance.billing.tariffs import Tariff
from appliance.core.authorization import normalise_id_tag
from appliance.core.metering import ENERGY_REGISTER, POWER
from appliance.store import billing as billing_store
from appliance.store import session_views as store
from appliance.store.database import Database
from appliance.store.session_views import RemoteStop, SessionCriteria, SessionRow
from appliance.store.transactions import SampleRow

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000  # rows in one CSV export; more is refused with a request to narrow the filter
EXPORT_CHUNK = 2000  # rows read (and formatted) per trip to a reader thread
CHART_SAMPLES = 20_000  # the newest energy and power samples a chart is drawn from
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TO_WH = {"wh": 1.0, "kwh": 1000.0, "": 1.0}
_TO_W = {"w": 1.0, "kw": 1000.0, "": 1.0}
_METERED = ("", "Outlet")  # what the car got, not the grid side of the charger

Point = tuple[dt.datetime, float]


class SessionFilterError(ValueError):
    """A filter value that cannot be used; `field` names the query parameter."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


# -- filters -----------------------------------------------------------------------------------------

def parse_criteria(zone: zoneinfo.ZoneInfo, charger: str = "", tag: str = "", driver: str = "", company: str = "",
                   active: str = "", since: str = "", until: str = "") -> SessionCriteria:
    """Filters as typed (into a form or a URL) into criteria; `since` and `until` are days in the depot's
    zone, both included. Raises SessionFilterError naming the field."""
    first, last = _date(since, "since", "From"), _date(until, "until", "To")
    if first and last and last < first:
        raise SessionFilterError(f"To: {last} is before From ({first})", "until")
    return SessionCriteria(
        charger=_text(charger, "charger", "Charger", 64), id_tag=normalise_id_tag(_text(tag, "tag", "Tag", 64)),
        driver=_text(driver, "driver", "Driver", 100), company=_text(company, "company", "Company", 100),
        active=_state(active), started_from=_midnight(first, zone) if first else None,
        started_before=_midnight(last + dt.timedelta(days=1), zone) if last else None)


def parse_page(raw: str) -> int:
    raw = (raw or "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= 10**7:
        raise SessionFilterError(f"Page: {raw[:20]!r} is not a page number (1, 2, 3 …)", "page")
    return int(raw)


def _text(value: str, field: str, label: str, max_length: int) -> str:
    value = (value or "").strip()
    if len(value) > max_length:
        raise SessionFilterError(f"{label}: at most {max_length} characters", field)
    return value


def _state(raw: str) -> bool | None:
    raw = (raw or "").strip().lower()
    if raw in ("", "any"):
        return None
    if raw in ("true", "false"):
        return raw == "true"
    raise SessionFilterError(f"Charging: {raw[:20]!r} is not one of true (charging now) or false (finished)",
                             "active")


def _date(raw: str, field: str, label: str) -> dt.date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise SessionFilterError(f"{label}: {raw[:20]!r} is not a date; give it as YYYY-MM-DD", field) from None


def _midnight(day: dt.date, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


# -- pages and the export ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SessionPage:
    rows: list[SessionRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


class SessionViews:
    def __init__(self, db: Database, zone: zoneinfo.ZoneInfo) -> None:
        self.db = db
        self.zone = zone

    async def page(self, criteria: SessionCriteria, page: int = 1, per_page: int = PAGE_SIZE) -> SessionPage:
        def page_sync() -> SessionPage:
            rows = store.find_sessions(criteria, per_page, (page - 1) * per_page)
            return SessionPage(rows, store.count_sessions(criteria), page, per_page)

        return await self.db.read(page_sync)

    async def count(self, criteria: SessionCriteria) -> int:
        return await self.db.read(store.count_sessions, criteria)

    async def row(self, transaction_id: int) -> SessionRow | None:
        return await self.db.read(store.session_row, transaction_id)

    async def export_csv(self, criteria: SessionCriteria, now: dt.datetime,
                         limit: int = EXPORT_LIMIT) -> AsyncIterator[str]:
        """The filtered list as CSV text, piece by piece: each chunk is read and formatted in a reader
        thread, so a big export never holds up the event loop."""
        yield csv_text([CSV_HEADER])
        after: tuple[dt.datetime, int] | None = None
        sent = 0
        while sent < limit:
            wanted = min(EXPORT_CHUNK, limit - sent)
            chunk, after, count = await self.db.read(self._chunk_sync, criteria, after, wanted, now)
            if count:
                yield chunk
            sent += count
            if count < wanted:
                break

    def _chunk_sync(self, criteria: SessionCriteria, after: tuple[dt.datetime, int] | None, limit: int,
                    now: dt.datetime) -> tuple[str, tuple[dt.datetime, int] | None, int]:
        rows = store.sessions_before(criteria, after, limit)
        if not rows:
            return "", after, 0
        return csv_text([csv_row(r, self.zone, now) for r in rows]), (rows[-1].started_at, rows[-1].id), len(rows)

    async def remote_stops(self, identity: str, transaction_id: int, since: dt.datetime) -> list[RemoteStop]:
        return await self.db.read(store.remote_stops, identity, transaction_id, since)

    async def latest_samples(self, transaction_id: int, limit: int = 500) -> tuple[list[SampleRow], int]:
        return await self.db.read(store.latest_samples, transaction_id, limit)

    async def chart_samples(self, transaction_id: int) -> list[SampleRow]:
        return await self.db.read(store.chart_samples, transaction_id, CHART_SAMPLES)

    async def tariff(self, price: pricing.Price) -> Tariff | None:
        """The tariff a price was made with (None for a session priced without one: free)."""
        if not price.tariff_id.isdigit():
            return None
        record = await self.db.read(billing_store.tariff_by_id, int(price.tariff_id))
        if record is None:
            return None
        try:
            return from_json(str(record.id), record.name, record.definition)
        except TariffFormatError:
            return None


CSV_HEADER = ("session", "charger", "connector", "evse", "id_tag", "driver", "vehicle", "company", "started",
              "stopped", "state", "duration_s", "energy_kwh", "cost_incl_vat", "cost_excl_vat", "currency",
              "cdr_id", "stop_reason")


def csv_row(row: SessionRow, zone: zoneinfo.ZoneInfo, now: dt.datetime) -> tuple:
    """One session as the export writes it, in the statements' forms: times in the depot's zone with
    their offset, energy in kWh with a dot, money as exact decimal text (the standing CDR's; a session
    still charging has none yet)."""
    end = row.stopped_at or now
    energy = row.energy_so_far_wh
    billed = row.billed
    return (row.id, _cell(row.charger), row.connector_number,
            row.evse_number if row.evse_number is not None else row.connector_number, _cell(row.id_tag),
            _cell(row.driver), _cell(row.vehicle), _cell(row.company), local_iso(row.started_at, zone),
            local_iso(row.stopped_at, zone) if row.stopped_at else "", "charging" if row.active else "finished",
            max(0, round((end - row.started_at).total_seconds())), kwh(energy) if energy is not None else "",
            money(billed.total_incl_vat, billed.currency) if billed else "",
            money(billed.total_excl_vat, billed.currency) if billed else "",
            billed.currency if billed else "", billed.cdr_id if billed else "", _cell(row.stop_reason))


def csv_text(rows: Sequence[Sequence]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _cell(value: str) -> str:
    """A name or tag as a spreadsheet cell: one starting like a formula is kept as text (OWASP's advice
    against CSV injection, as the statements do), everything else as given."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# -- a session's curves ------------------------------------------------------------------------------

@dataclass(frozen=True)
class MeterCurves:
    energy_kwh: list[Point]  # energy charged since the start of the session
    power_kw: list[Point]
    power_derived: bool  # the charger sent no power: it is the energy's rise per hour


def meter_curves(samples: Sequence[SampleRow], meter_start_wh: int, started_at: dt.datetime,
                 stopped_at: dt.datetime | None = None, meter_stop_wh: int | None = None) -> MeterCurves:
    """Energy (kWh since the start) and power (kW) over a session from its samples: energy from the
    whole-meter register (Wh or kWh), power from Power.Active.Import (W or kW; the sum of the phases
    where there is no total), or, when the charger sends no power, from the energy's steps."""
    energy = _energy_points(samples, meter_start_wh)
    finished = stopped_at is not None and meter_stop_wh is not None
    if energy or finished:
        energy.insert(0, (started_at, 0.0))  # the meter start and stop are readings too
    if finished:
        energy.append((stopped_at, (meter_stop_wh - meter_start_wh) / 1000))
    energy = _one_per_instant(energy)
    power = _power_points(samples)
    if power:
        return MeterCurves(energy, power, False)
    return MeterCurves(energy, _power_from_energy(energy), True)


def _energy_points(samples: Sequence[SampleRow], meter_start_wh: int) -> list[Point]:
    out = []
    for s in samples:
        factor = _TO_WH.get(s.unit.lower())
        if (s.measurand == ENERGY_REGISTER and not s.phase and s.location in _METERED and s.value is not None
                and factor is not None):
            out.append((s.sampled_at, (s.value * factor - meter_start_wh) / 1000))
    return out


def _one_per_instant(points: list[Point]) -> list[Point]:
    """Time-ordered, one value per instant (the highest: two readings at once are one register)."""
    best: dict[dt.datetime, float] = {}
    for at, value in points:
        best[at] = max(best.get(at, value), value)
    return sorted(best.items())


def _power_points(samples: Sequence[SampleRow]) -> list[Point]:
    totals: dict[dt.datetime, float] = {}
    phases: dict[dt.datetime, dict[str, float]] = {}
    for s in samples:
        factor = _TO_W.get(s.unit.lower())
        if s.measurand != POWER or s.location not in _METERED or s.value is None or factor is None:
            continue
        if s.phase:
            phases.setdefault(s.sampled_at, {})[s.phase.split("-")[0]] = s.value * factor / 1000
        else:
            totals[s.sampled_at] = s.value * factor / 1000
    for at, by_phase in phases.items():
        totals.setdefault(at, sum(by_phase.values()))
    return sorted(totals.items())


def _power_from_energy(energy: list[Point]) -> list[Point]:
    out = []
    for (t0, e0), (t1, e1) in itertools.pairwise(energy):
        hours = (t1 - t0).total_seconds() / 3600
        if hours > 0:
            out.append((t1, max(0.0, (e1 - e0) / hours)))
    return out


# -- a price, line by line ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CostLine:
    label: str
    detail: str
    amount: Decimal  # incl. VAT, rounded to the currency's minor unit for reading


@dataclass(frozen=True)
class CostBreakdown:
    tariff_name: str
    tariff_kind: str
    currency: str
    lines: list[CostLine]
    total_incl_vat: Decimal
    vat: Decimal
    vat_rate: Decimal
    total_excl_vat: Decimal
    energy_wh: int
    duration_s: int
    final: bool
    rounded_lines: bool  # the lines, each rounded, need not add up to the total to the cent


def cost_breakdown(price: pricing.Price, tariff: Tariff | None, zone: zoneinfo.ZoneInfo) -> CostBreakdown:
    """The price's fees and charging periods as lines: what each costs and at which unit prices."""
    places = Decimal(1).scaleb(-pricing.minor_units(price.currency))
    unit_prices = _unit_prices(tariff)
    lines = []
    if tariff is not None and tariff.connection_fee:
        lines.append(CostLine("Connection fee", "once per session", tariff.connection_fee.quantize(places)))
    if tariff is not None and tariff.kind == "flat":
        lines.append(CostLine("Flat price", "per session", tariff.flat_price.quantize(places)))
    for period in price.periods:
        if tariff is not None and tariff.kind == "flat" and not period.price_incl_vat:
            continue  # the flat price is the whole of it
        lines.append(CostLine(_band_label(period.band), _period_detail(period, unit_prices, price.currency, zone),
                              period.price_incl_vat.quantize(places, rounding=ROUND_HALF_UP)))
    return CostBreakdown(
        tariff_name=tariff.name if tariff else "free (no tariff group)", tariff_kind=tariff.kind if tariff else "free",
        currency=price.currency, lines=lines, total_incl_vat=price.total_incl_vat, vat=price.vat,
        vat_rate=price.vat_rate, total_excl_vat=price.total_excl_vat, energy_wh=price.energy_wh,
        duration_s=price.duration_s, final=price.final,
        rounded_lines=sum((line.amount for line in lines), Decimal(0)) != price.total_incl_vat)


def _unit_prices(tariff: Tariff | None) -> dict[str, tuple[Decimal, Decimal]]:
    """Per band label (as pricing names its periods): (price per kWh, price per minute)."""
    if tariff is None:
        return {}
    if tariff.kind == "duration_energy":
        return {"energy+time": (tariff.price_per_kwh, tariff.price_per_minute)}
    if tariff.kind == "time_of_day":
        return {band.label: (band.price_per_kwh, band.price_per_minute) for band in tariff.bands}
    if tariff.kind == "power_levels":
        return {band.label: (Decimal(0), band.price_per_minute) for band in tariff.power_bands}
    return {}


def _band_label(band: str) -> str:
    return {"energy+time": "Energy and time", "free": "Charging (free)", "flat": "Charging"}.get(band, band)


def _period_detail(period: pricing.ChargingPeriod, unit_prices: dict[str, tuple[Decimal, Decimal]],
                   currency: str, zone: zoneinfo.ZoneInfo) -> str:
    kwh = period.energy_wh / 1000
    minutes = Decimal(period.duration_s) / 60
    when = f"{period.start.astimezone(zone):%H:%M}–{period.end.astimezone(zone):%H:%M}"
    per_kwh, per_minute = unit_prices.get(period.band, (Decimal(0), Decimal(0)))
    parts = []
    if per_kwh:
        parts.append(f"{kwh:.3f} kWh × {_plain(per_kwh)} {currency}/kWh")
    if per_minute:
        parts.append(f"{minutes:.1f} min × {_plain(per_minute)} {currency}/min")
    if not parts:
        parts.append(f"{kwh:.3f} kWh, {minutes:.1f} min")
    return f"{when}: " + " + ".join(parts)


def _plain(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text if "." not in text or len(text.split(".")[1]) >= 2 else f"{value:.2f}"
