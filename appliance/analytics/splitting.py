"""How one session's figures are shared out among the buckets of a report, as pure arithmetic.

A session is a curve: its energy since it started, a non-decreasing line through its meter readings
(knots), from 0 Wh at the start to its energy at the end; with no readings in between, a straight line
(pro rata by time). The rules:
- Energy in a bucket is the curve's value at the bucket's end minus at its start, each rounded to the
  Wh, so the buckets add up exactly to the session's energy within the period (the sums telescope).
- Plugged-in time is the overlap of the session with the bucket, in whole microseconds; charging time
  is the part of it where the curve rises (the meter advanced between two readings); idle time is the
  rest. Both add up exactly across buckets.
- Money (a session's revenue) is shared in proportion to energy (to plugged-in time if the session drew
  none), rounded to the cent on the running total, so the shares add up to the amount.
- A reading outside the session, earlier than a previous one or beyond the session's energy, is
  clamped into the line: energy is never negative and the line never passes the total.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
US_PER_S = 1_000_000
_US_PER_H = 3600 * US_PER_S
CENT = Decimal("0.01")


def to_us(at: dt.datetime | int) -> int:
    """Microseconds since the epoch (aware datetimes; naive ones are read as UTC; an integer is one already)."""
    if isinstance(at, int):
        return at
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return (at - _EPOCH) // dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Curve:
    start_us: int
    end_us: int  # plugged out (a running session: now)
    times_us: tuple[int, ...]  # the knots: first at start_us with 0 Wh
    energies_wh: tuple[float, ...]  # non-decreasing, the last one the session's energy

    @property
    def energy_wh(self) -> int:
        return int(round(self.energies_wh[-1]))

    def at(self, t_us: int) -> float:
        """The energy drawn by `t_us` (flat before the first knot and after the last)."""
        times, energies = self.times_us, self.energies_wh
        i = bisect.bisect_right(times, t_us)
        if i == 0:
            return 0.0
        if i == len(times):
            return energies[-1]
        t0, t1 = times[i - 1], times[i]
        e0, e1 = energies[i - 1], energies[i]
        return e0 + (e1 - e0) * (t_us - t0) / (t1 - t0)

    def rises(self) -> list[tuple[int, int, float]]:
        """The stretches where the meter advanced: (from µs, to µs, average power in W)."""
        out = []
        for t0, t1, e0, e1 in zip(self.times_us, self.times_us[1:], self.energies_wh, self.energies_wh[1:]):
            if e1 > e0 and t1 > t0:
                out.append((t0, t1, (e1 - e0) * _US_PER_H / (t1 - t0)))
        return out


def make_curve(start: dt.datetime | int, end: dt.datetime | int, energy_wh: int,
               readings: Sequence[tuple[dt.datetime | int, float]] = ()) -> Curve:
    """A session's curve from its start, its end, its energy and its meter readings (time, Wh drawn
    since the start), in any order; times as aware datetimes or µs since the epoch."""
    start_us, end_us = to_us(start), max(to_us(start), to_us(end))
    total = float(max(0, energy_wh))
    times, energies = [start_us], [0.0]
    for t_us, wh in sorted((to_us(at), wh) for at, wh in readings):
        if not start_us < t_us < end_us:
            continue
        wh = min(max(wh, energies[-1]), total)
        if t_us == times[-1]:
            energies[-1] = max(energies[-1], wh)
        else:
            times.append(t_us)
            energies.append(wh)
    if end_us > times[-1]:
        times.append(end_us)
        energies.append(total)
    else:  # a session of no length: its energy at its one instant
        energies[-1] = total
    return Curve(start_us, end_us, tuple(times), tuple(energies))


@dataclass(frozen=True)
class Share:
    """What one session puts into one bucket."""

    index: int
    energy_wh: int
    plugged_us: int
    charging_us: int


def split(curve: Curve, edges_us: Sequence[int]) -> list[Share]:
    """The session's shares of the buckets [edges[i], edges[i+1]) it overlaps (none outside them)."""
    n = len(edges_us) - 1
    if n <= 0 or curve.end_us < edges_us[0] or curve.start_us >= edges_us[-1]:
        return []
    first = max(0, bisect.bisect_right(edges_us, curve.start_us) - 1)
    last = min(n - 1, bisect.bisect_left(edges_us, curve.end_us) - 1) if curve.end_us > curve.start_us else first
    last = max(first, last)
    rises = curve.rises()
    if first == last and edges_us[first] <= curve.start_us and curve.end_us <= edges_us[first + 1]:
        # Inside one bucket (most sessions): all of it, without clipping each stretch.
        return [Share(first, curve.energy_wh, curve.end_us - curve.start_us, sum(t1 - t0 for t0, t1, _ in rises))]
    shares = []
    for i in range(first, last + 1):
        a, b = edges_us[i], edges_us[i + 1]
        lo, hi = max(a, curve.start_us), min(b, curve.end_us)
        energy = _rounded(curve, b) - _rounded(curve, a)
        plugged = max(0, hi - lo)
        charging = sum(max(0, min(hi, t1) - max(lo, t0)) for t0, t1, _ in rises) if plugged else 0
        shares.append(Share(i, energy, plugged, charging))
    return shares


def _rounded(curve: Curve, t_us: int) -> int:
    """The energy by t_us, to the Wh; exactly the session's energy at and after its end (a session of
    no length: after its one instant, so that the bucket holding that instant gets it)."""
    if curve.end_us == curve.start_us:
        return curve.energy_wh if t_us > curve.end_us else 0
    if t_us >= curve.end_us:
        return curve.energy_wh
    return int(Decimal(curve.at(t_us)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def energy_outside(curve: Curve, edges_us: Sequence[int]) -> tuple[int, int]:
    """The session's energy before the first edge and after the last (Wh)."""
    return _rounded(curve, edges_us[0]), curve.energy_wh - _rounded(curve, edges_us[-1])


def share_money(amount: Decimal, weights: Sequence[int], places: Decimal = CENT) -> list[Decimal]:
    """`amount` shared in proportion to `weights` (all zero: all of it to the first), rounded half-up on
    the running total so the shares add up to `amount` exactly (to `places`)."""
    total = sum(weights)
    if not weights:
        return []
    if total <= 0:
        return [amount.quantize(places, rounding=ROUND_HALF_UP)] + [Decimal(0).quantize(places)] * (len(weights) - 1)
    out, running, before = [], 0, Decimal(0).quantize(places)
    for w in weights:
        running += w
        cumulative = (amount * running / total).quantize(places, rounding=ROUND_HALF_UP)
        out.append(cumulative - before)
        before = cumulative
    return out


def peaks(segments: Sequence[tuple[int, int, float]], edges_us: Sequence[int]) -> list[float]:
    """The highest sum of the segments' powers at any instant of each bucket (a segment is a power
    drawn over [from, to)); 0 where nothing draws."""
    n = len(edges_us) - 1
    out = [0.0] * max(n, 0)
    if n <= 0:
        return out
    # At one instant, what ends is taken off before what starts is added: no spike from back-to-back stretches.
    events = sorted([(t0, 1, w) for t0, t1, w in segments if t1 > t0] + [(t1, 0, -w) for t0, t1, w in segments
                                                                          if t1 > t0])
    level, current = 0.0, -1
    for t, _, change in events:
        i = bisect.bisect_right(edges_us, t) - 1
        for j in range(max(current + 1, 0), min(i, n - 1) + 1):
            out[j] = max(out[j], level)  # the level at the start of a bucket the sweep just entered
        current = max(current, i)
        level = max(0.0, level + change)
        if 0 <= i < n:
            out[i] = max(out[i], level)
    for j in range(max(current + 1, 0), n):
        out[j] = max(out[j], level)
    return out
