"""The metrics and breakdowns of a report, and a report computed from sessions: pure (the store's
facts in, figures out), so each rule is tested on hand-built sessions.

Additive metrics (energy, sessions, charging and idle time, revenue) add up: the buckets of any grain
add up to the period's total, and the breakdown's rows add up to it too. Utilisation is a ratio (its
total is the period's charging time over its available time), peak power and held-back sessions are
the highest in each bucket (their total is the highest of the period).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from appliance.analytics import splitting
from appliance.analytics.periods import Bucket, Period

NO_KEY = "(none)"  # a session without a company, driver, vehicle or tariff


class ReportError(ValueError):
    """A report asked for that cannot be made; the message says what can."""


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    unit: str  # '' for money (the currency is the unit)
    kind: str  # sum, ratio, peak
    curves: str  # which sessions need their meter readings: all, crossing (a bucket edge), none
    dimensions: tuple[str, ...]  # the breakdowns it allows
    definition: str


DIMENSIONS = {
    "company": "Company",
    "driver": "Driver",
    "vehicle": "Vehicle",
    "charger": "Charger",
    "evse": "EVSE",
    "current": "AC/DC",
    "tariff": "Tariff",
}
ALL = tuple(DIMENSIONS)
METRICS = {m.name: m for m in (
    Metric("energy", "Energy", "kWh", "sum", "crossing", ALL,
           "energy drawn in each bucket: the meter's line through its readings (pro rata by time without "
           "readings), a session crossing a bucket edge split at it"),
    Metric("sessions", "Sessions", "sessions", "sum", "none", ALL,
           "sessions started in each bucket"),
    Metric("charging-time", "Charging time", "h", "sum", "all", ALL,
           "plugged-in time during which the meter advanced (all of it for a session without readings that drew "
           "energy)"),
    Metric("idle-time", "Idle while plugged in", "h", "sum", "all", ALL,
           "plugged-in time during which the meter did not advance"),
    Metric("revenue", "Revenue excl. VAT", "", "sum", "crossing", ALL,
           "the sessions' standing charge detail records, net of VAT, shared among buckets in proportion to energy"),
    Metric("revenue-incl-vat", "Revenue incl. VAT", "", "sum", "crossing", ALL,
           "as revenue, VAT included"),
    Metric("utilisation", "Utilisation", "%", "ratio", "all", ("charger", "evse"),
           "charging time ÷ available time (the bucket's length × the number of EVSEs)"),
    Metric("peak-power", "Peak charging power", "kW", "peak", "all", ALL,
           "the highest sum of the sessions' power at any instant (each session's average power between two "
           "meter readings)"),
    Metric("held-back", "Sessions held back", "sessions", "peak", "none", (),
           "the most sessions load management held back at once for lack of their minimum current "
           "(from its records of the site's main circuits)"),
)}


@dataclass(frozen=True)
class SessionFact:
    transaction_id: int
    start_us: int  # µs since the epoch (splitting.to_us)
    end_us: int  # stopped, or now for a running session
    energy_wh: int
    key: str  # its value of the breakdown (NO_KEY when it has none); '' without a breakdown
    revenue_excl_vat: Decimal = Decimal(0)
    revenue_incl_vat: Decimal = Decimal(0)
    readings: tuple[tuple[int, float], ...] = ()  # (µs, Wh drawn since the start)

    def curve(self) -> splitting.Curve:
        return splitting.make_curve(self.start_us, self.end_us, self.energy_wh, self.readings)


@dataclass
class Figures:
    """A metric over buckets: per key (of the breakdown; '' the whole) its value in each bucket, in base
    units (Wh, µs, Decimal, sessions, W; a ratio as (charging µs, available µs))."""

    keys: list[str] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=dict)


def check(metric: str, by: str | None) -> Metric:
    if metric not in METRICS:
        raise ReportError(f"metric {metric!r} is not one I know: use {', '.join(METRICS)}")
    m = METRICS[metric]
    if by is not None and by not in DIMENSIONS:
        raise ReportError(f"breakdown {by!r} is not one I know: use {', '.join(DIMENSIONS)}")
    if by is not None and by not in m.dimensions:
        allowed = f"by {' or '.join(m.dimensions)} only" if m.dimensions else "no breakdown"
        raise ReportError(f"{m.title.lower()} takes {allowed}")
    return m


def needs_readings(metric: Metric, fact: SessionFact, edges_us: Sequence[int]) -> bool:
    """Whether the session's meter readings change its figures: energy split at an edge inside it."""
    if metric.curves == "all":
        return True
    if metric.curves == "none":
        return False
    start, end = fact.start_us, fact.end_us
    return bisect.bisect_right(edges_us, start) != bisect.bisect_left(edges_us, end)


def compute(metric: Metric, buckets: Sequence[Bucket], sessions: Sequence[SessionFact],
            capacity: dict[str, int] | None = None, held_back: Sequence[tuple[dt.datetime, int]] = (),
            cells: Sequence[tuple[int, str, Any]] = ()) -> Figures:
    """The metric in each bucket, per key and for the whole (key ''). `capacity`: EVSEs per key (and '' for
    all) for utilisation; `held_back`: (time, sessions waiting) records for held-back; `cells`: (bucket,
    key, value) already added up (the database's sums of the sessions that lie in one bucket)."""
    edges = [splitting.to_us(b.start) for b in buckets] + ([splitting.to_us(buckets[-1].end)] if buckets else [])
    n = len(buckets)
    if metric.name == "held-back":
        return Figures([""], {"": _held_back(held_back, edges)})
    per_key: dict[str, list[Any]] = defaultdict(lambda: [_zero(metric)] * n)
    segments: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    for fact in sessions:
        _add(metric, fact, edges, per_key, segments)
    for i, key, value in cells:
        if 0 <= i < n:
            per_key[key][i] += value
    if metric.kind == "ratio":  # an EVSE or charger nobody used is there, at 0 %
        for k in capacity or {}:
            if k:
                per_key.setdefault(k, [0] * n)
    keys = sorted(per_key) if metric.kind != "peak" else sorted(segments)
    if metric.kind == "peak":
        values = {k: splitting.peaks(segments[k], edges) for k in keys}
        values[""] = splitting.peaks([s for k in keys for s in segments[k]], edges)
    else:
        values = {k: per_key[k] for k in keys}
        values[""] = [_sum(metric, [values[k][i] for k in keys]) for i in range(n)]
    if metric.kind == "ratio":
        lengths = [edges[i + 1] - edges[i] for i in range(n)]
        for k in values:
            evses = (capacity or {}).get(k or "", 1) or 1
            values[k] = [(charging, lengths[i] * evses) for i, charging in enumerate(values[k])]
    return Figures([k for k in keys if k != ""], values)


def _add(metric: Metric, fact: SessionFact, edges: list[int], per_key, segments) -> None:
    key = fact.key
    if metric.name == "sessions":
        start = fact.start_us
        i = bisect.bisect_right(edges, start) - 1
        if 0 <= i < len(edges) - 1:
            per_key[key][i] += 1
        return
    if not fact.readings and metric.name in ("energy", "revenue", "revenue-incl-vat"):
        # The common case, cheaply: a session inside one bucket puts all of itself there.
        start, end = fact.start_us, fact.end_us
        i = bisect.bisect_right(edges, start) - 1
        if 0 <= i < len(edges) - 1 and start < end <= edges[i + 1]:
            if metric.name == "energy":
                per_key[key][i] += fact.energy_wh
            else:
                amount = fact.revenue_incl_vat if metric.name == "revenue-incl-vat" else fact.revenue_excl_vat
                per_key[key][i] += amount.quantize(splitting.CENT, rounding=ROUND_HALF_UP)
            return
    curve = fact.curve()
    if metric.kind == "peak":
        segments[key].extend(curve.rises())
        return
    shares = splitting.split(curve, edges)
    if not shares:
        return
    row = per_key[key]
    if metric.name.startswith("revenue"):
        amount = fact.revenue_incl_vat if metric.name == "revenue-incl-vat" else fact.revenue_excl_vat
        before, after = splitting.energy_outside(curve, edges)
        weights = [before] + [s.energy_wh for s in shares] + [after]
        if sum(weights) <= 0:  # no energy: by plugged-in time
            inside = sum(s.plugged_us for s in shares)
            weights = [0] + [s.plugged_us for s in shares] + [max(0, curve.end_us - curve.start_us - inside)]
        for share, money in zip(shares, splitting.share_money(amount, weights)[1:-1]):
            row[share.index] += money
        return
    for share in shares:
        row[share.index] += {"energy": share.energy_wh, "charging-time": share.charging_us,
                             "idle-time": share.plugged_us - share.charging_us,
                             "utilisation": share.charging_us}[metric.name]


def _zero(metric: Metric) -> Any:
    return Decimal("0.00") if metric.name.startswith("revenue") else 0


def _sum(metric: Metric, values: list[Any]) -> Any:
    return sum(values, _zero(metric))


def _held_back(records: Sequence[tuple[dt.datetime, int]], edges: list[int]) -> list[int]:
    """Per bucket, the most sessions waiting at once: the records at one instant added up (one per main
    circuit), then the highest of the bucket."""
    at_once: dict[int, int] = defaultdict(int)
    for at, waiting in records:
        at_once[splitting.to_us(at)] += waiting
    out = [0] * max(len(edges) - 1, 0)
    for t, waiting in at_once.items():
        i = bisect.bisect_right(edges, t) - 1
        if 0 <= i < len(out):
            out[i] = max(out[i], waiting)
    return out


# -- from base units to what people read ------------------------------------------------------------

def total(metric: Metric, values: Sequence[Any]) -> Any:
    """The period's figure from its buckets' (base units)."""
    if metric.kind == "peak":
        return max(values, default=0)
    if metric.kind == "ratio":
        return (sum(v[0] for v in values), sum(v[1] for v in values))
    return _sum(metric, list(values))


def shown(metric: Metric, value: Any) -> Any:
    """A value in the metric's unit: kWh and hours to 3 decimals, % to 1, kW to 2, money as Decimal."""
    if value is None:
        return None
    if metric.name == "energy":
        return round(value / 1000, 3)
    if metric.name in ("charging-time", "idle-time"):
        return round(value / splitting.US_PER_S / 3600, 3)
    if metric.kind == "ratio":
        charging, available = value
        return round(100 * charging / available, 1) if available else 0.0
    if metric.name == "peak-power":
        return round(value / 1000, 2)
    return value


def figures_report(metric: Metric, period: Period, grain: str, buckets: Sequence[Bucket], figures: Figures,
                   by: str | None, currency: str, compare: tuple[Period, Sequence[Bucket], Figures] | None) -> dict:
    """The report as plain data (the API's JSON, the CLI's and the page's source): the whole per bucket,
    the breakdown per bucket and in total, and the comparison aligned bucket by bucket."""
    whole = figures.values.get("", [])
    other = compare[2].values.get("", []) if compare else []
    rows = []
    for i, b in enumerate(buckets):
        rows.append({
            "label": b.label, "start": b.start, "end": b.end, "value": shown(metric, whole[i]),
            "compare": shown(metric, other[i]) if compare and i < len(other) else None,
            "by": {k: shown(metric, figures.values[k][i]) for k in figures.keys} if by else {},
        })
    breakdown = []
    if by:
        compared = compare[2].values if compare else {}
        for k in sorted(figures.keys, key=lambda k: _order(metric, total(metric, figures.values[k])), reverse=True):
            breakdown.append({"key": k, "value": shown(metric, total(metric, figures.values[k])),
                              "compare": shown(metric, total(metric, compared[k])) if k in compared else None})
    return {
        "metric": metric.name, "title": metric.title, "unit": metric.unit or currency, "definition": metric.definition,
        "period": period_data(period), "grain": grain, "by": by, "buckets": rows,
        "total": shown(metric, total(metric, whole)),
        "compare": ({"period": period_data(compare[0]), "total": shown(metric, total(metric, other))}
                    if compare else None),
        "breakdown": breakdown,
    }


def _order(metric: Metric, value: Any) -> float:
    if metric.kind == "ratio":
        return value[0] / value[1] if value[1] else 0.0
    return float(value)


def period_data(period: Period) -> dict:
    return {"label": period.label, "first_day": period.first.isoformat(), "last_day": period.last.isoformat(),
            "start": period.start, "end": period.end}
