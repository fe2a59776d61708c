"""Reports as the web UI, the API and the CLI ask for them: parse the filters, read the facts from the
store (one read), compute off the event loop, and give plain data; plus the site's load profile and the
reports staff saved."""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from appliance.analytics import metrics as mx
from appliance.analytics import periods as pd
from appliance.analytics import splitting
from appliance.store import analytics as store
from appliance.store.times import to_db

SAVED_NAME_MAX = 100
# The filters a saved report keeps (the page's form fields).
FILTERS = ("metric", "period", "compare", "grain", "by")


@dataclass(frozen=True)
class Query:
    """What a report is asked for, as people write it (each checked by `plan`)."""

    metric: str
    period: str
    compare: str = ""
    grain: str = ""
    by: str = ""

    def as_query_string(self) -> str:
        return urllib.parse.urlencode([(k, getattr(self, k)) for k in FILTERS if getattr(self, k)])

    @classmethod
    def from_mapping(cls, values: Any) -> Query:
        return cls(**{k: str(values.get(k, "") or "").strip() for k in FILTERS})


@dataclass(frozen=True)
class Plan:
    metric: mx.Metric
    period: pd.Period
    grain: str
    buckets: list[pd.Bucket]
    by: str | None
    compare: tuple[pd.Period, list[pd.Bucket]] | None


def plan(query: Query, zone: dt.tzinfo, now: dt.datetime) -> Plan:
    """The report's period, buckets and comparison; raises ReportError (or PeriodError) saying what is wrong."""
    by = query.by or None
    if by == "ac-dc":
        by = "current"
    metric = mx.check(query.metric, by)
    if not query.period:
        raise pd.PeriodError(f"a period is needed: {pd.PERIOD_HELP}")
    period = pd.parse_period(query.period, zone, now)
    grain = pd.check_grain(query.grain) if query.grain else pd.default_grain(period)
    other = pd.comparison(period, query.compare, now) if query.compare else None
    return Plan(metric, period, grain, pd.buckets(period, grain), by,
                (other, pd.buckets(other, grain)) if other else None)


class Analytics:
    """The reports of one core (its database and settings)."""

    def __init__(self, core: Any) -> None:
        self.db = core.db
        self.settings = core.settings

    async def report(self, query: Query, now: dt.datetime | None = None) -> dict[str, Any]:
        now = now or dt.datetime.now(dt.timezone.utc)
        p = plan(query, self.settings.zone, now)
        reads = [self.db.read(_read_facts, p.metric, p.by, p.period, p.buckets, now)]
        if p.compare:  # on a second reader thread, at the same time
            reads.append(self.db.read(_read_facts, p.metric, p.by, p.compare[0], p.compare[1], now))
        facts, *others = await asyncio.gather(*reads)
        compare = others[0] if others else None
        return await asyncio.to_thread(_compute, p, facts, compare, self.settings.billing_currency)

    async def load_profile(self, period: str, grain: str = "", circuit: str = "",
                           now: dt.datetime | None = None) -> dict[str, Any]:
        now = now or dt.datetime.now(dt.timezone.utc)
        p = pd.parse_period(period, self.settings.zone, now)
        grain = pd.check_grain(grain) if grain else pd.default_grain(p)
        buckets = pd.buckets(p, grain)
        known = await self.db.read(store.circuits)
        if circuit and circuit not in {c[0] for c in known}:
            names = ", ".join(c[0] for c in known) or "none yet"
            raise mx.ReportError(f"there is no circuit {circuit!r} (circuits: {names})")
        rows = await self.db.read(store.load_rows, p.start, p.end, circuit or None)
        return await asyncio.to_thread(load_profile, p, grain, buckets, known, rows, circuit)

    async def circuit_names(self) -> list[str]:
        return [c[0] for c in await self.db.read(store.circuits)]

    async def saved(self) -> list[store.SavedReportRecord]:
        return await self.db.read(store.saved_reports)

    async def save(self, name: str, query: Query, actor: str,
                   now: dt.datetime | None = None) -> store.SavedReportRecord:
        name = name.strip()
        if not name:
            raise mx.ReportError("a saved report needs a name")
        if len(name) > SAVED_NAME_MAX:
            raise mx.ReportError(f"a saved report's name has at most {SAVED_NAME_MAX} characters")
        plan(query, self.settings.zone, now or dt.datetime.now(dt.timezone.utc))  # only reports that can be made
        return await self.db.write(store.save_report, name, query.as_query_string(), actor,
                                   now or dt.datetime.now(dt.timezone.utc))

    async def delete_saved(self, report_id: int) -> bool:
        return await self.db.write(store.delete_saved_report, report_id)


@dataclass(frozen=True)
class _Facts:
    sessions: list[mx.SessionFact]
    capacity: dict[str, int]
    held_back: list[tuple[dt.datetime, int]]
    currencies: set[str]
    cells: list[tuple[int, str, int]]  # (bucket, key, value) added up in the database


def _read_facts(metric: mx.Metric, by: str | None, period: pd.Period, buckets: list[pd.Bucket],
                now: dt.datetime) -> _Facts:
    """Everything a report of one period needs, in one read (runs on a reader thread). Energy and session
    counts of the sessions that lie in one bucket are added up in the database (most of them: a month is
    tens of thousands); the others come as sessions, to be split at the edges they cross."""
    if metric.name == "held-back":
        return _Facts([], {}, store.held_back(period.start, period.end), set(), [])
    edges_text = [str(to_db(b.start)) for b in buckets] + [str(to_db(period.end))]
    in_database = metric.name in ("energy", "sessions") and by != "tariff"
    money = (store.money_between(period.start, period.end, by == "tariff")
             if metric.name.startswith("revenue") or by == "tariff" else {})
    key_of = _key_function(by, money)
    cells = []
    if in_database:
        cells = [(c.bucket, key_of(c.key), c.sessions if metric.name == "sessions" else c.energy_wh)
                 for c in store.cells(metric.name, by, edges_text)]
    rows = [] if metric.name == "sessions" and in_database else (
        store.sessions_overlapping(period.start, period.end, edges_text if in_database else None))
    now_us = splitting.to_us(now)
    facts = [mx.SessionFact(r.transaction_id, r.start_us,
                            r.stop_us if r.stop_us is not None else max(now_us, r.start_us), r.energy_wh,
                            key_of(r.__dict__),
                            money[r.transaction_id].excl_vat if r.transaction_id in money else Decimal(0),
                            money[r.transaction_id].incl_vat if r.transaction_id in money else Decimal(0))
             for r in rows]
    edges = [splitting.to_us(b.start) for b in buckets] + [splitting.to_us(period.end)]
    wanted = [f.transaction_id for f in facts if mx.needs_readings(metric, f, edges)]
    if wanted:
        readings = (store.readings(None, period.start, period.end) if metric.curves == "all"
                    else store.readings(wanted))
        offsets = {r.transaction_id: r for r in rows}
        facts = [_with_readings(f, readings.get(f.transaction_id), offsets[f.transaction_id]) for f in facts]
    capacity: dict[str, int] = {}
    if metric.kind == "ratio":
        capacity = _capacity(by, store.evses(), rows)
    currencies = {m.currency for m in money.values()} if metric.name.startswith("revenue") else set()
    return _Facts(facts, capacity, [], currencies, cells)


def _with_readings(fact: mx.SessionFact, readings, row: store.SessionRow) -> mx.SessionFact:
    """The session with its register readings as energy drawn since its start (the meter's start value)."""
    if not readings:
        return fact
    return mx.SessionFact(fact.transaction_id, fact.start_us, fact.end_us, fact.energy_wh, fact.key,
                          fact.revenue_excl_vat, fact.revenue_incl_vat,
                          tuple((at, wh - row.meter_start_wh) for at, wh in readings))


def _key_function(by: str | None, money: dict[int, store.Money]) -> Callable[[dict[str, Any]], str]:
    """The breakdown's key of a session (or of a cell of them), from SessionRow's fields as a mapping."""
    if by is None:
        return lambda f: ""
    if by == "charger":
        return lambda f: f["identity"]
    if by == "evse":
        return lambda f: f"{f['identity']}/{f['evse_number']}"
    if by == "current":
        types = store.current_types()
        return lambda f: types.get((f["charger_id"], f["connector_number"]), "AC")
    people = store.people()

    def key(f: dict[str, Any]) -> str:
        driver = people.drivers.get(f.get("driver_id")) if f.get("driver_id") else None
        vehicle = people.vehicles.get(f.get("vehicle_id")) if f.get("vehicle_id") else None
        if by == "driver":
            found = driver[0] if driver else None
        elif by == "vehicle":
            found = vehicle[0] if vehicle else None
        elif by == "tariff":
            tariff = money.get(f["transaction_id"])
            found = people.tariffs.get(tariff.tariff_id, tariff.tariff_id) if tariff and tariff.tariff_id else None
        else:  # company: the driver's, else the vehicle's, else the card's (as billing decides it)
            company_id = (driver[1] if driver else None) or (vehicle[1] if vehicle else None) or f.get("tag_company_id")
            found = people.companies.get(company_id) if company_id else None
        return found or mx.NO_KEY

    return key


def _capacity(by: str | None, evses: list[tuple[str, int]], rows: list[store.SessionRow]) -> dict[str, int]:
    """EVSEs per key of the breakdown, and in all (''): those of accepted chargers and any a session used."""
    known = set(evses) | {(r.identity, r.evse_number) for r in rows}
    capacity: dict[str, int] = defaultdict(int)
    for identity, number in known:
        capacity[""] += 1
        if by == "charger":
            capacity[identity] += 1
        elif by == "evse":
            capacity[f"{identity}/{number}"] += 1
    return dict(capacity)


def _compute(p: Plan, facts: _Facts, compare: _Facts | None, currency: str) -> dict[str, Any]:
    currencies = facts.currencies | (compare.currencies if compare else set())
    if len(currencies) > 1:
        raise mx.ReportError(f"the sessions were billed in more than one currency ({', '.join(sorted(currencies))}): "
                             "a revenue report adds up one currency only")
    currency = next(iter(currencies), currency)
    figures = mx.compute(p.metric, p.buckets, facts.sessions, facts.capacity, facts.held_back, facts.cells)
    other = None
    if p.compare and compare is not None:
        other = (p.compare[0], p.compare[1],
                 mx.compute(p.metric, p.compare[1], compare.sessions, compare.capacity, compare.held_back,
                            compare.cells))
    return mx.figures_report(p.metric, p.period, p.grain, p.buckets, figures, p.by, currency, other)


# -- the load profile -----------------------------------------------------------------------------------

def load_profile(period: pd.Period, grain: str, buckets: list[pd.Bucket], circuits: list[tuple[str, float, int]],
                 rows: list[store.LoadRow], only: str = "") -> dict[str, Any]:
    """Per circuit and bucket: the highest current measured on each phase, the highest allocated, the
    least available to the chargers, against the circuit's limit; and how close it came (the highest
    phase's share of the limit)."""
    edges = [splitting.to_us(b.start) for b in buckets] + [splitting.to_us(period.end)]
    out = []
    for name, limit_a, phases in circuits:
        if only and name != only:
            continue
        mine = [r for r in rows if r.circuit == name]
        cells: list[dict[str, Any]] = [{"measured_a": {}, "allocated_a": {}, "records": 0} for _ in buckets]
        for r in mine:
            i = bisect.bisect_right(edges, splitting.to_us(r.at)) - 1
            if not 0 <= i < len(buckets):
                continue
            cell = cells[i]
            cell["records"] += 1
            for key in ("measured_a", "allocated_a"):
                for phase, amps in getattr(r, key).items():
                    cell[key][phase] = max(cell[key].get(phase, 0.0), float(amps))
        series = []
        for b, cell in zip(buckets, cells):
            top = max(cell["measured_a"].values(), default=None)
            series.append({"label": b.label, "start": b.start, "end": b.end, "records": cell["records"],
                           "measured_a": {k: round(v, 1) for k, v in sorted(cell["measured_a"].items())},
                           "allocated_a": {k: round(v, 1) for k, v in sorted(cell["allocated_a"].items())},
                           "peak_a": round(top, 1) if top is not None else None,
                           "of_limit_pct": round(100 * top / limit_a, 1) if top is not None and limit_a else None})
        peaks = [s["peak_a"] for s in series if s["peak_a"] is not None]
        out.append({"circuit": name, "limit_a": limit_a, "phases": phases, "buckets": series,
                    "peak_a": max(peaks, default=None),
                    "of_limit_pct": round(100 * max(peaks) / limit_a, 1) if peaks and limit_a else None})
    return {"period": mx.period_data(period), "grain": grain, "circuits": out}
