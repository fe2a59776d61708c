"""The depot at a glance, for the web UI's dashboard and its universal search: what needs attention
(faults, lost connections, chargers waiting to be accepted), what is charging now, the sessions, energy
and cost of a period against the period before, the EVSEs by power, and finding anything by a word.

Periods are calendar periods in the depot's time zone (days, Monday-based weeks, months); the pure
arithmetic (`period_bounds`, `change`, `power_class`) takes the clock as an argument.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from appliance.core import events as ev
from appliance.core import metering
from appliance.core.authorization import normalise_id_tag
from appliance.core.chargers import LiveCharger
from appliance.store import overview as store
from appliance.store.database import Database
from appliance.store.overview import ConnectorProblem
from appliance.store.transactions import SampleRow

UTC = dt.timezone.utc
PERIODS = ("today", "week", "month")
OFFLINE_STATES = ("temporarily_unavailable", "unavailable")
# A power reading older than this says nothing about now (chargers sample every minute or so).
POWER_FRESH_FOR = dt.timedelta(minutes=10)
# Upper bounds of the EVSE power classes, in W: the usual AC steps (16 A 1-phase, 32 A 1-phase,
# 16 A 3-phase, 32 A 3-phase), then DC chargers and high-power chargers.
POWER_CLASSES = ((3_700, "≤ 3.7 kW"), (7_400, "≤ 7.4 kW"), (11_000, "≤ 11 kW"), (22_000, "≤ 22 kW"),
                 (50_000, "≤ 50 kW"), (150_000, "≤ 150 kW"))
ABOVE_ALL, UNKNOWN = "> 150 kW", "unknown"
SEARCH_GROUP_SIZE = 20
SEARCH_MIN_LENGTH = 2  # a whole number (a session id) may be shorter
_SESSION_ID = re.compile(r"[0-9]{1,18}")


class OverviewError(ValueError):
    """A period or search the overview cannot answer; the message says what to give instead."""


# -- periods -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """A calendar period that contains `now`, and the part of the period before it to compare with:
    from its start up to the same local time into it (all of it when the current one is longer)."""

    name: str  # today, week, month
    start: dt.datetime  # UTC, aware
    end: dt.datetime  # the start of the following period
    now: dt.datetime
    previous_start: dt.datetime
    previous_end: dt.datetime  # the comparison's cut

    @property
    def label(self) -> str:
        return {"today": "Today", "week": "This week", "month": "This month"}[self.name]

    @property
    def compare(self) -> str:
        """What the change is against, in words."""
        if self.name == "today":
            return "vs. yesterday by this time"
        if self.name == "week":
            return "vs. last week by this time"
        whole = self.previous_end >= self.start
        return "vs. all of last month" if whole else "vs. last month by this time"


def period_bounds(name: str, now: dt.datetime, zone: dt.tzinfo) -> Period:
    """The period `name` (today, week from Monday, month) in `zone` that contains `now` (aware).

    The comparison runs in wall-clock time: "yesterday by this time" at 10:00 is yesterday 00:00 to
    10:00 local, however many hours a daylight-saving change put in between.
    """
    if name not in PERIODS:
        raise OverviewError(f"there is no period {name!r}: choose today, week or month")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    wall = now.astimezone(zone).replace(tzinfo=None, fold=0)
    midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    if name == "today":
        start, following, previous = midnight, midnight + dt.timedelta(days=1), midnight - dt.timedelta(days=1)
    elif name == "week":
        start = midnight - dt.timedelta(days=midnight.weekday())
        following, previous = start + dt.timedelta(days=7), start - dt.timedelta(days=7)
    else:
        start = midnight.replace(day=1)
        following, previous = _add_months(start, 1), _add_months(start, -1)
    cut = min(previous + (wall - start), start)
    return Period(name, _utc(start, zone), _utc(following, zone), now, _utc(previous, zone), _utc(cut, zone))


def _add_months(first_of_month: dt.datetime, months: int) -> dt.datetime:
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return first_of_month.replace(year=index // 12, month=index % 12 + 1)


def _utc(wall: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    # fold=0: a wall time that occurs twice (autumn) means its first occurrence; one that does not
    # occur (spring) is read with the offset before the change (PEP 495), which keeps elapsed time.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


@dataclass(frozen=True)
class Change:
    text: str  # "+12 %", "−8 %", "±0 %", "new", "no change"
    direction: str  # up, down, same


def change(current: int | float | Decimal, previous: int | float | Decimal) -> Change:
    """The change from `previous` to `current` as a whole percentage; "new" when there was nothing before."""
    current, previous = Decimal(str(current)), Decimal(str(previous))
    if previous == 0:
        return Change("new", "up") if current > 0 else Change("no change", "same")
    percent = ((current - previous) * 100 / abs(previous)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if percent == 0:
        return Change("±0 %", "same")
    return Change(f"+{percent} %", "up") if percent > 0 else Change(f"−{-percent} %", "down")


def power_class(max_power_w: int | None) -> str:
    if max_power_w is None or max_power_w <= 0:
        return UNKNOWN
    return next((label for bound, label in POWER_CLASSES if max_power_w <= bound), ABOVE_ALL)


def power_now_w(rows: list[store.PowerRow]) -> dict[int, float]:
    """Per session, its power at its latest reading: the total if the charger gave one, else the sum of
    its phases (metering.power_w's rule)."""
    latest: dict[int, list[store.PowerRow]] = {}
    for row in rows:
        kept = latest.get(row.transaction_id)
        if kept is None or row.sampled_at > kept[0].sampled_at:
            latest[row.transaction_id] = [row]
        elif row.sampled_at == kept[0].sampled_at:
            kept.append(row)
    power = {}
    for transaction_id, readings in latest.items():
        value = metering.power_w([SampleRow(r.sampled_at, metering.POWER, r.phase, "", "", r.unit, "Raw", r.value,
                                            str(r.value)) for r in readings])
        if value is not None:
            power[transaction_id] = value
    return power


# -- what the dashboard shows ------------------------------------------------------------------------

@dataclass(frozen=True)
class OfflineCharger:
    identity: str
    description: str
    state: str  # temporarily_unavailable, unavailable
    last_contact_at: dt.datetime | None


@dataclass(frozen=True)
class Health:
    problems: list[ConnectorProblem]  # faulted connectors and ones reporting an error
    offline: list[OfflineCharger]  # accepted chargers not online
    pending: list[str]  # chargers waiting to be accepted
    chargers: int  # accepted chargers


@dataclass(frozen=True)
class SessionsNow:
    sessions: int
    power_w: float | None  # None: no session has a recent reading
    with_power: int  # sessions with a recent reading


@dataclass(frozen=True)
class PeriodFigures:
    period: Period
    sessions: int
    running: int
    energy_wh: int
    running_energy_wh: int
    costs: dict[str, Decimal]  # per currency, of the finished sessions' charge detail records
    priced: int  # sessions with a charge detail record
    currency: str  # the one the cost change is in
    previous_sessions: int
    previous_energy_wh: int
    previous_cost: Decimal | None  # None when the two periods' currencies differ
    sessions_change: Change
    energy_change: Change
    cost_change: Change | None

    @property
    def unpriced(self) -> int:
        """Finished sessions without a charge detail record (they count as costing nothing)."""
        return max(0, self.sessions - self.running - self.priced)


@dataclass(frozen=True)
class PowerClassCount:
    label: str
    evses: int


@dataclass(frozen=True)
class Dashboard:
    health: Health
    now: SessionsNow
    figures: PeriodFigures
    power_classes: list[PowerClassCount] = field(default_factory=list)


# -- what the search finds -----------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchGroup:
    kind: str  # charger, driver, vehicle, company, tag, session
    hits: list  # store.ChargerText, DriverText, VehicleText, str (company), TagText, SessionHit
    total: int

    @property
    def more(self) -> int:
        return self.total - len(self.hits)


@dataclass(frozen=True)
class SearchResults:
    query: str
    groups: list[SearchGroup]
    tag_query: str = ""  # the query as a tag id, when sessions were looked up by it

    @property
    def total(self) -> int:
        return sum(g.total for g in self.groups)

    def only(self) -> tuple[str, object] | None:
        """(kind, hit) when exactly one thing matched."""
        if self.total != 1:
            return None
        group = next(g for g in self.groups if g.total)
        return group.kind, group.hits[0]


def _ranked(items: list, query: str, *texts) -> tuple[list, int]:
    """Items any of whose texts contains `query` (case-folded): an exact or prefix match on the first text
    first; at most SEARCH_GROUP_SIZE of them, and how many matched in all."""
    needle = query.casefold()
    found = []
    for item in items:
        values = [(text(item) or "").casefold() for text in texts]
        if any(needle in v for v in values):
            found.append((0 if values[0] == needle else 1 if values[0].startswith(needle) else 2, values[0], item))
    found.sort(key=lambda f: (f[0], f[1]))
    return [f[2] for f in found[:SEARCH_GROUP_SIZE]], len(found)


class Overview:
    """Figures and searches over the store; `live` (the charger registry's live chargers) makes connection
    states current to the moment rather than to the last time the registry wrote them down."""

    def __init__(self, db: Database, zone: dt.tzinfo, currency: str = "EUR",
                 live: Mapping[str, LiveCharger] | None = None) -> None:
        self.db = db
        self.zone = zone
        self.currency = currency
        self.live = live if live is not None else {}

    def _live_states(self) -> dict[str, tuple[str, dt.datetime | None]]:
        return {identity: (c.state, c.last_seen_at) for identity, c in self.live.items()}

    async def dashboard(self, period: str, now: dt.datetime | None = None) -> Dashboard:
        now = now or ev.utcnow()
        bounds = period_bounds(period, now, self.zone)
        live = self._live_states()

        def read_sync() -> Dashboard:
            return Dashboard(self._health_sync(live), self._sessions_now_sync(now), self._figures_sync(bounds),
                             self._power_classes_sync())

        return await self.db.read(read_sync)

    async def health(self) -> Health:
        live = self._live_states()
        return await self.db.read(self._health_sync, live)

    async def figures(self, period: str, now: dt.datetime | None = None) -> PeriodFigures:
        return await self.db.read(self._figures_sync, period_bounds(period, now or ev.utcnow(), self.zone))

    def _health_sync(self, live: dict[str, tuple[str, dt.datetime | None]]) -> Health:
        offline, pending, accepted = [], [], 0
        for c in store.charger_states():
            state, heard = c.connection_state, c.last_contact_at
            # The registry's state is fresher than the stored one (written down on a timer); a charger it
            # only loaded at start and has never heard from stays never_connected.
            if c.identity in live and (live[c.identity][1] is not None or state != "never_connected"):
                state, heard = live[c.identity][0], live[c.identity][1] or heard
            if c.registration == "pending":
                pending.append(c.identity)
            elif c.registration == "accepted":
                accepted += 1
                if state in OFFLINE_STATES:
                    offline.append(OfflineCharger(c.identity, c.description, state, heard))
        return Health(store.connector_problems(), offline, pending, accepted)

    def _sessions_now_sync(self, now: dt.datetime) -> SessionsNow:
        power = power_now_w(store.recent_power(now - POWER_FRESH_FOR))
        return SessionsNow(store.open_sessions(), sum(power.values()) if power else None, len(power))

    def _figures_sync(self, period: Period) -> PeriodFigures:
        current = store.period_totals(period.start, period.end)
        previous = store.period_totals(period.previous_start, period.previous_end)
        costs, priced = _costs(store.period_costs(period.start, period.end))
        previous_costs, _ = _costs(store.period_costs(period.previous_start, period.previous_end))
        currency = self.currency if self.currency in costs or not costs else next(iter(costs))
        comparable = set(costs) | set(previous_costs) <= {currency}
        previous_cost = previous_costs.get(currency, Decimal(0)) if comparable else None
        return PeriodFigures(
            period, current.sessions, current.running, current.energy_wh, current.running_energy_wh, costs, priced,
            currency, previous.sessions, previous.energy_wh, previous_cost,
            change(current.sessions, previous.sessions), change(current.energy_wh, previous.energy_wh),
            change(costs.get(currency, Decimal(0)), previous_cost) if previous_cost is not None else None)

    def _power_classes_sync(self) -> list[PowerClassCount]:
        counts = {label: 0 for _, label in POWER_CLASSES} | {ABOVE_ALL: 0, UNKNOWN: 0}
        for evse in store.evse_powers():
            counts[power_class(evse.max_power_w)] += 1
        return [PowerClassCount(label, n) for label, n in counts.items()]

    # -- search -------------------------------------------------------------------------------------

    async def search(self, query: str) -> SearchResults:
        """Chargers, drivers, vehicles, companies and tags whose names contain `query` (any case), and
        sessions: the one with that number, and the latest ones of the tag with that id."""
        query = " ".join(query.split())
        if len(query) < SEARCH_MIN_LENGTH and not _SESSION_ID.fullmatch(query):
            raise OverviewError(f"search for at least {SEARCH_MIN_LENGTH} characters (or a session number)")
        if len(query) > 100:
            raise OverviewError("search for at most 100 characters")
        return await self.db.read(self._search_sync, query)

    def _search_sync(self, query: str) -> SearchResults:
        tag_query = normalise_id_tag(query) if " " not in query else ""
        groups = [
            SearchGroup("charger", *_ranked(store.charger_texts(), query, lambda c: c.identity,
                                            lambda c: c.description, lambda c: c.vendor, lambda c: c.model,
                                            lambda c: c.serial_number)),
            SearchGroup("driver", *_ranked(store.driver_texts(), query, lambda d: d.name, lambda d: d.email)),
            SearchGroup("vehicle", *_ranked(store.vehicle_texts(), query, lambda v: v.name)),
            SearchGroup("company", *_ranked(store.company_names(), query, lambda name: name)),
            SearchGroup("tag", *_ranked(store.tag_texts(), query, lambda t: t.id_tag, lambda t: t.note)),
            self._sessions_found(query, tag_query),
        ]
        return SearchResults(query, groups, tag_query)

    @staticmethod
    def _sessions_found(query: str, tag_query: str) -> SearchGroup:
        by_id = store.session_by_id(int(query)) if _SESSION_ID.fullmatch(query) else None
        hits, total = ([by_id], 1) if by_id else ([], 0)
        if tag_query:
            of_tag, count = store.sessions_of_tag(tag_query, SEARCH_GROUP_SIZE)
            hits += [s for s in of_tag if by_id is None or s.id != by_id.id][:SEARCH_GROUP_SIZE - len(hits)]
            total += count - (1 if by_id is not None and by_id.id_tag == tag_query else 0)
        return SearchGroup("session", hits, total)


def _costs(rows: list[store.CostRow]) -> tuple[dict[str, Decimal], int]:
    """Per currency, the sum of the sessions' records (a credit cancels the record it corrects, so the sum
    is each session's standing price); and how many sessions have a record."""
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, Decimal(0)) + Decimal(row.total_incl_vat)
    return totals, len({row.transaction_id for row in rows})
