"""What the load-management pages show, built from the plan (core.circuits) and, when load management
runs, the controller's live figures: the circuit tree, each phase's bar, each EVSE's share, who waits.

Plain functions of their inputs (no request, no I/O) so the pages and their fragments share them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from appliance.core.circuits import CircuitRecord, MemberRecord, carried_phases
from appliance.dlm.site_meter import mask_url

MODES = {"charging": "charging", "waiting": "waiting for power", "idle": "idle", "held": "not controlled"}
FLAGS = {"rejects": "rejects limits", "ignores": "ignores limits"}


@dataclass
class PhaseRow:
    phase: str
    limit_a: float
    available_a: float | None = None  # the limit less the reserves below it: what chargers may share
    allocated_a: float | None = None
    measured_a: float | None = None
    reserve_now_a: float | None = None

    @property
    def live(self) -> bool:
        return self.allocated_a is not None

    def percent(self, value: float | None) -> float:
        """Width on a bar whose full length is the most of limit, allocation and draw (an overload shows)."""
        scale = max(self.limit_a, self.allocated_a or 0.0, self.measured_a or 0.0)
        return round(100.0 * (value or 0.0) / scale, 1) if scale > 0 else 0.0

    @property
    def words(self) -> str:
        """The bar for someone who cannot see it."""
        parts = [f"{_a(self.allocated_a)} allocated", f"{_a(self.measured_a)} measured",
                 f"limit {_a(self.limit_a)}"]
        if self.available_a is not None and self.available_a != self.limit_a:
            parts.append(f"{_a(self.available_a)} for chargers")
        return f"{self.phase}: " + ", ".join(parts)


@dataclass
class CircuitView:
    record: CircuitRecord
    depth: int
    members: list[MemberRecord]
    children: list[str]
    phases: list[PhaseRow]
    live: dict[str, Any] | None  # the controller's status of it; None when it has none (yet)
    evses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def meter_url(self) -> str:
        return mask_url(self.record.meter_url)

    @property
    def meter(self) -> dict[str, Any] | None:
        return self.live.get("meter") if self.live else None

    @property
    def overloaded(self) -> bool:
        return bool(self.live and self.live.get("overloaded"))


def tree(records: list[CircuitRecord]) -> list[tuple[CircuitRecord, int]]:
    """The circuits depth first from each main breaker, each with how deep it hangs."""
    names = {r.name for r in records}
    below: dict[str | None, list[CircuitRecord]] = {}
    for r in records:
        below.setdefault(r.parent if r.parent in names else None, []).append(r)
    out: list[tuple[CircuitRecord, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(below.get(parent, []), key=lambda c: c.name):
            out.append((r, depth))
            if depth < 50:  # the core refuses cycles; this only guards the page
                walk(r.name, depth + 1)

    walk(None, 0)
    return out


def circuit_views(records: list[CircuitRecord], members: list[MemberRecord],
                  live: dict[str, dict[str, Any]]) -> list[CircuitView]:
    wired: dict[str, list[MemberRecord]] = {}
    for m in members:
        wired.setdefault(m.circuit, []).append(m)
    children: dict[str, list[str]] = {}
    for r in records:
        if r.parent:
            children.setdefault(r.parent, []).append(r.name)
    return [CircuitView(r, depth, wired.get(r.name, []), sorted(children.get(r.name, [])),
                        phase_rows(r, live.get(r.name)), live.get(r.name),
                        [evse_view(e) for e in (live.get(r.name) or {}).get("evses", [])])
            for r, depth in tree(records)]


def phase_rows(record: CircuitRecord, live: dict[str, Any] | None) -> list[PhaseRow]:
    if live is None:
        return [PhaseRow(p, record.max_current_a) for p in carried_phases(record.phases, record.phase)]
    return [PhaseRow(p, record.max_current_a, live["available_a"].get(p), live["allocated_a"].get(p, 0.0),
                     live["measured_a"].get(p, 0.0), live["reserve_now_a"].get(p, record.reserve_a))
            for p in live["phases"]]


def evse_view(status: dict[str, Any]) -> dict[str, Any]:
    measured = status.get("measured_a") or {}
    flagged = status.get("flagged_at")
    return {**status, "flagged_since": dt.datetime.fromisoformat(flagged) if flagged else None, "mode_words": MODES.get(status["mode"], status["mode"]),
            "flag_words": FLAGS.get(status["flag"], status["flag"]),
            "measured_words": ", ".join(f"{p} {a:g} A" for p, a in sorted(measured.items())) or "–"}


def waiting_sessions(live: dict[str, dict[str, Any]], sessions: dict[int, Any],
                     waiting_since: dict[int, float]) -> list[dict[str, Any]]:
    """Every session waiting for power, the longest waiting first (a session counts once, though its
    circuit's parents list it too)."""
    found: dict[int, dict[str, Any]] = {}
    for circuit in live.values():
        for e in circuit.get("evses", []):
            tx = e.get("transaction_id")
            if e["mode"] != "waiting" or tx is None or tx in found:
                continue
            session = sessions.get(tx)
            since = waiting_since.get(tx)
            found[tx] = {"transaction_id": tx, "charger": e["charger"], "evse": e["evse"], "circuit": circuit["name"],
                         "id_tag": session.id_tag if session else "", "priority": e.get("priority"),
                         "started_at": session.started_at if session else None,
                         "since": dt.datetime.fromtimestamp(since, dt.timezone.utc) if since else None}
    return sorted(found.values(), key=lambda w: w["since"] or w["started_at"] or dt.datetime.max.replace(
        tzinfo=dt.timezone.utc))


@dataclass
class HistoryRow:
    start: dt.datetime
    allocated_a: dict[str, float]  # the highest in the stretch
    measured_a: dict[str, float]
    sessions: int
    waiting: int


def history_rows(records: list[Any], bucket: dt.timedelta) -> list[HistoryRow]:
    """The recorded load in stretches of `bucket` (newest first), each with its peaks: a day of
    once-a-minute records is too long a table to read."""
    rows: dict[dt.datetime, HistoryRow] = {}
    step = bucket.total_seconds()
    for r in records:
        start = dt.datetime.fromtimestamp(r.at.timestamp() // step * step, dt.timezone.utc)
        row = rows.setdefault(start, HistoryRow(start, {}, {}, 0, 0))
        _peak(row.allocated_a, r.allocated_a)
        _peak(row.measured_a, r.measured_a)
        row.sessions, row.waiting = max(row.sessions, r.sessions), max(row.waiting, r.waiting)
    return sorted(rows.values(), key=lambda h: h.start, reverse=True)


def _peak(into: dict[str, float], values: dict[str, float]) -> None:
    for phase, amps in values.items():
        into[phase] = max(into.get(phase, 0.0), amps)


def _a(value: float | None) -> str:
    return "–" if value is None else f"{value:g} A"
