"""Figures for the depot's own monitoring (`/metrics`, Prometheus text format 0.0.4).

Counters of messages and a histogram of how long answering a charger takes are kept in memory (since
the server started: Prometheus's rate() copes with the restart); the rest is read when asked for.
Written by hand: the format is a few lines of text, not worth a dependency at run time.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field

from appliance import __version__
from appliance.store import metrics as store
from appliance.store.database import Database

# Seconds from a charger's request arriving to its answer going out (the commit included).
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last: above every bucket
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)


@dataclass
class MessageStats:
    """What the OCPP code paths count: messages by direction, answer times by transport."""

    messages: Counter = field(default_factory=Counter)  # direction (in, out) -> messages
    answer_times: dict[str, Histogram] = field(default_factory=dict)  # transport (ocpp-j, soap) -> seconds

    def count(self, direction: str) -> None:
        self.messages[direction] += 1

    def observe_answer(self, transport: str, seconds: float) -> None:
        histogram = self.answer_times.get(transport)
        if histogram is None:
            histogram = self.answer_times[transport] = Histogram()
        histogram.observe(seconds)


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # gauge, counter, histogram
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)  # labels, value
    histograms: list[tuple[dict[str, str], Histogram]] = field(default_factory=list)


async def collect(db: Database, stats: MessageStats, live_states: dict[str, str], connected: int) -> list[Family]:
    """Every family; `live_states` is the connection state the server holds of a charger (newer than
    the stored one, which is written every few seconds)."""
    figures = await db.read(store.figures)
    by_state = Counter((registration, live_states.get(identity, stored))
                       for identity, registration, stored in figures.chargers)
    families = [
        Family("appliance_info", "gauge", "The appliance's version.", [({"version": __version__}, 1)]),
        Family("appliance_chargers", "gauge", "Chargers known, by registration and connection state (online, "
               "temporarily_unavailable, unavailable, never_connected).",
               [({"registration": r, "state": s}, n) for (r, s), n in sorted(by_state.items())]),
        Family("appliance_chargers_connected", "gauge", "Chargers with a live connection (OCPP-J) or link (SOAP).",
               [({}, connected)]),
        Family("appliance_sessions_active", "gauge", "Charging sessions (transactions) not finished.",
               [({}, figures.sessions_active)]),
        Family("appliance_energy_delivered_wh_total", "counter",
               "Energy delivered in every session the appliance has, finished or running, in Wh.",
               [({}, figures.energy_wh)]),
        Family("appliance_ocpp_messages_total", "counter", "OCPP messages since the server started, by direction.",
               [({"direction": d}, stats.messages[d]) for d in ("in", "out")]),
        Family("appliance_ocpp_answer_seconds", "histogram",
               "Time from a charger's request arriving to the appliance's answer, by transport.",
               histograms=[({"transport": t}, h) for t, h in sorted(stats.answer_times.items())]),
        Family("appliance_sync_queue_length", "gauge", "Charge detail records not yet confirmed by head office.",
               [({}, figures.sync_unsent)]),
        Family("appliance_alarms_open", "gauge", "Alarms open, by kind and severity.",
               [({"kind": k, "severity": s}, n) for (k, s), n in sorted(figures.alarms_open.items())]),
        Family("appliance_notifications_waiting", "gauge",
               "Notifications not yet delivered (collecting: in a batch window; pending: to be sent).",
               [({"status": s}, figures.notifications.get(s, 0)) for s in ("collecting", "pending")]),
        Family("appliance_notifications_failed", "gauge", "Notifications a server refused for good (kept 30 days).",
               [({}, figures.notifications.get("failed", 0))]),
    ]
    return families


def render(families: list[Family]) -> str:
    """The families in the Prometheus text exposition format (version 0.0.4)."""
    lines = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in family.samples:
            lines.append(f"{family.name}{_labels(labels)} {_number(value)}")
        for labels, histogram in family.histograms:
            cumulative = 0
            for bound, count in zip(histogram.buckets + (math.inf,), histogram.counts):
                cumulative += count
                lines.append(f"{family.name}_bucket{_labels({**labels, 'le': _number(bound)})} {cumulative}")
            lines.append(f"{family.name}_sum{_labels(labels)} {_number(histogram.sum)}")
            lines.append(f"{family.name}_count{_labels(labels)} {histogram.count}")
    return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape_value(str(value))}"' for name, value in labels.items()) + "}"


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))
