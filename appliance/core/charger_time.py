"""Chargers' clocks: which of a charger's times to believe, and whose clock is off.

A charger's clock may be years off (a dead RTC battery boots in 1970 or 2000), may jump when it
finally learns the time (from our BootNotification/Heartbeat currentTime, from NTP) or run in the
future. The appliance keeps its own receipt time beside every charger time, so:

- `trusted_time` keeps a charger's time unless it cannot be true: later than its receipt (beyond
  the tolerance) or before OCPP chargers kept time at all; then the receipt time stands in. A time
  in the past is kept: a charger replays messages it queued offline with the time they happened.
- `stop_time` never ends a session before it began, whatever the clock did in between, and keeps
  the duration of a clock that is wrong but steady; energy always comes from the meter registers,
  never from times.
- `judge` says from recent (charger time, receipt time) pairs whether the clock is off by more than
  SKEW_LIMIT. A clock ahead shows at once (nothing may arrive before it happened); a clock behind
  only when it stays behind for BEHIND_FOR, since a reconnecting charger's queue is behind too,
  briefly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

UTC = dt.timezone.utc
SKEW_LIMIT = dt.timedelta(minutes=5)
WINDOW = dt.timedelta(minutes=30)  # readings older than this (by receipt) no longer count
BEHIND_FOR = dt.timedelta(minutes=2)
# No OCPP 1.5+ charger existed before this: an earlier time is a clock that never got set.
EARLIEST_PLAUSIBLE = dt.datetime(2012, 1, 1, tzinfo=UTC)


def trusted_time(charger_at: dt.datetime, received_at: dt.datetime) -> dt.datetime:
    if charger_at > received_at + SKEW_LIMIT or charger_at < EARLIEST_PLAUSIBLE:
        return received_at
    return charger_at


def stop_time(started_at: dt.datetime, charger_stopped_at: dt.datetime, received_at: dt.datetime) -> dt.datetime:
    """When a session ended. The charger's time when it is not after its receipt and not before the
    start: a clock that is off but steady (both in 1970) still gives the right duration. Otherwise
    the receipt time, if that is after the start; else the start (a zero-length session)."""
    if started_at <= charger_stopped_at <= received_at + SKEW_LIMIT:
        return charger_stopped_at
    return received_at if received_at >= started_at else started_at


@dataclass(frozen=True)
class Verdict:
    offset: dt.timedelta | None  # charger's time minus the appliance's; None: in step

    @property
    def in_step(self) -> bool:
        return self.offset is None

    def differs_from(self, other: "Verdict") -> bool:
        if self.in_step or other.in_step:
            return self.in_step != other.in_step
        return abs(self.offset - other.offset) > SKEW_LIMIT

    def summary(self) -> str:
        if self.in_step:
            return "clock in step with the appliance's again"
        side = "ahead of" if self.offset > dt.timedelta(0) else "behind"
        return f"clock {describe(abs(self.offset))} {side} the appliance's"


def judge(readings: list[tuple[dt.datetime, dt.datetime]]) -> Verdict | None:
    """From (charger time, receipt time) pairs within WINDOW: in step, off by how much, or None when
    it cannot be told yet (only a short burst of old times: perhaps a queue being replayed)."""
    if not readings:
        return None
    newest = max(offset for offset in (c - r for c, r in readings))
    if abs(newest) <= SKEW_LIMIT:
        return Verdict(None)
    if newest > SKEW_LIMIT:
        return Verdict(newest)
    received = [r for _, r in readings]
    return Verdict(newest) if max(received) - min(received) >= BEHIND_FOR else None


def describe(span: dt.timedelta) -> str:
    """'3 years 12 days', '5 days', '7 h', '12 min', '40 s': the largest unit and, for years, the days."""
    seconds = round(span.total_seconds())
    for unit, size in (("year", 365 * 86400), ("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            whole, rest = divmod(seconds, size)
            text = f"{whole} {unit}" + ("s" if unit in ("year", "day") and whole != 1 else "")
            return text + (f" {describe(dt.timedelta(seconds=rest))}" if unit == "year" and rest >= 86400 else "")
    return f"{seconds} s"
