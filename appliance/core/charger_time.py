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
from array import array
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
    received = [r for _, r in readings]
    return _verdict(max(c - r for c, r in readings), max(received) - min(received))


def _verdict(largest_offset: dt.timedelta, receipts_span: dt.timedelta) -> Verdict | None:
    if abs(largest_offset) <= SKEW_LIMIT:
        return Verdict(None)
    if largest_offset > SKEW_LIMIT:
        return Verdict(largest_offset)
    return Verdict(largest_offset) if receipts_span >= BEHIND_FOR else None


class RecentReadings:
    """One charger's readings within WINDOW, kept as `judge` reads them: it needs only the largest
    offset and the first and last receipt. So the window is cut in SLICES by receipt time, and a ring
    holds, per slice, those three figures (integers, microseconds): about 1 KB a charger however often
    it sends. (Keeping each reading took ~150 bytes a reading: 70 MB for 500 chargers sending every
    2 s.) A slice goes once its last reading has left the window, so a reading may count for up to a
    slice longer than WINDOW says."""

    SLICES = 30
    __slots__ = ("_slices", "_figures")

    def __init__(self) -> None:
        ring = self.SLICES + 1  # the whole window and the slice it is entering
        self._slices = array("q", [-1]) * ring  # which slice each place of the ring holds, -1: none yet
        self._figures = array("q", [0]) * (3 * ring)  # per place: largest offset, first and last receipt

    def add(self, charger_at: dt.datetime, received_at: dt.datetime) -> None:
        received = (received_at - _EPOCH) // _US
        offset = (charger_at - received_at) // _US
        key = received * self.SLICES // (WINDOW // _US)
        place = key % len(self._slices)
        figures, at = self._figures, 3 * place
        if self._slices[place] == key:
            figures[at] = max(figures[at], offset)
            figures[at + 1] = min(figures[at + 1], received)
            figures[at + 2] = max(figures[at + 2], received)
        elif self._slices[place] < key:  # else a whole ring older than what the place holds: gone anyway
            self._slices[place] = key
            figures[at:at + 3] = array("q", (offset, received, received))

    def verdict(self) -> Verdict | None:
        """`judge` of the readings within the window."""
        figures = self._figures
        held = [3 * place for place, key in enumerate(self._slices) if key != -1]
        if not held:
            return None
        cutoff = max(figures[at + 2] for at in held) - WINDOW // _US
        held = [at for at in held if figures[at + 2] >= cutoff]
        return _verdict(dt.timedelta(microseconds=max(figures[at] for at in held)),
                        dt.timedelta(microseconds=max(figures[at + 2] for at in held) - min(figures[at + 1] for at in held)))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_US = dt.timedelta(microseconds=1)


def describe(span: dt.timedelta) -> str:
    """'3 years 12 days', '5 days', '7 h', '12 min', '40 s': the largest unit and, for years, the days."""
    seconds = round(span.total_seconds())
    for unit, size in (("year", 365 * 86400), ("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            whole, rest = divmod(seconds, size)
            text = f"{whole} {unit}" + ("s" if unit in ("year", "day") and whole != 1 else "")
            return text + (f" {describe(dt.timedelta(seconds=rest))}" if unit == "year" and rest >= 86400 else "")
    return f"{seconds} s"
