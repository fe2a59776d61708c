"""Charts drawn on the server as plain SVG text: a time axis in the depot's zone, one or two value
axes with round ticks, lines (or areas) broken where the samples have a gap, and a legend.

Pure functions of their arguments (standard library only); no script runs in the browser, so a chart
works on any phone and in a printed page. Every text is escaped and the result is well-formed XML.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

Point = tuple[dt.datetime, float]

# Time-axis steps in seconds, smallest first. Up to an hour they divide an hour, so ticks stay on round
# wall-clock times across a whole-hour DST change when counted in absolute time.
_SECOND_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
_HOUR_STEPS = (2, 3, 6, 12)
_DAY_STEPS = (1, 2, 7, 14, 30, 61, 91, 182, 365)
# Characters XML 1.0 cannot carry even escaped (control characters, lone surrogates).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Series:
    name: str
    unit: str
    points: Sequence[Point]  # (aware time, value); naive times are read as UTC
    axis: str = "left"  # left or right
    css_class: str = ""
    color: str = "#1f5fa8"
    area: bool = False  # filled down to zero (or the axis' nearest edge)


@dataclass(frozen=True)
class TimeTick:
    at: dt.datetime
    label: str  # wall-clock time in the zone
    date: str = ""  # the date, on the first tick and where the date changes


@dataclass(frozen=True)
class Plot:
    """The plot area in SVG units."""
    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height


# -- pure helpers (tested on their own) --------------------------------------------------------------

def text(value: object) -> str:
    """Any value as XML character data (also safe inside a double-quoted attribute)."""
    return escape(_NOT_XML.sub("", str(value)), {'"': "&quot;"})


def nice_ticks(low: float, high: float, max_ticks: int = 6) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) whose first is at or below
    `low` and whose last is at or above `high`; at most max_ticks + 1 of them."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("ticks need finite values")
    low, high = min(low, high), max(low, high)
    if high - low <= max(abs(low), abs(high)) * 1e-9:  # a flat line still gets an axis around it
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    # A span tiny against the values' size would make the steps float noise.
    span = max(high - low, max(abs(low), abs(high)) * 1e-6, 1e-9)
    step = _nice_step(span / max(1, max_ticks - 1))
    first, last = math.floor(low / step), math.ceil(high / step)
    while first * step > low:
        first -= 1
    while last * step < high:
        last += 1
    if last == first:
        last += 1
    return [k * step for k in range(first, last + 1)]


def _nice_step(raw: float) -> float:
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw * (1 - 1e-12):
            return factor * power
    return 10 * power


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """A tick value with as many decimals as its axis' step needs (0, 2.5, 10; never -0)."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = 0
    while decimals < 9 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    label = f"{value:.{decimals}f}"
    return label[1:] if label.startswith("-") and float(label) == 0 else label


def time_ticks(start: dt.datetime, end: dt.datetime, zone: dt.tzinfo, max_ticks: int = 6) -> list[TimeTick]:
    """Ticks on round wall-clock times in `zone` between start and end (inclusive), labelled with
    the local time; up to an hour apart they are counted in real time (a fall-back day shows 02:00
    twice, a spring-forward day none), further apart on the wall clock."""
    start, end = _aware(start), _aware(end)
    if end < start:
        start, end = end, start
    span_s = max((end - start).total_seconds(), 1.0)
    wanted = max(1, max_ticks)
    step_s = next((s for s in _SECOND_STEPS if span_s / s <= wanted), None)
    if step_s is not None:
        instants = _ticks_in_real_time(start, end, zone, step_s)
        fmt = "%H:%M:%S" if step_s < 60 else "%H:%M"
    else:
        hours = next((h for h in _HOUR_STEPS if span_s / (h * 3600) <= wanted), None)
        if hours is not None:
            instants = _ticks_on_wall_clock(start, end, zone, dt.timedelta(hours=hours))
            fmt = "%H:%M"
        else:
            days = next((d for d in _DAY_STEPS if span_s / (d * 86400) <= wanted),
                        math.ceil(span_s / 86400 / wanted))
            instants = _ticks_on_wall_clock(start, end, zone, dt.timedelta(days=days))
            fmt = ""
    return _labelled(instants, zone, fmt)


def _ticks_in_real_time(start: dt.datetime, end: dt.datetime, zone: dt.tzinfo, step_s: int) -> list[dt.datetime]:
    local = start.astimezone(zone)
    into_hour = local.minute * 60 + local.second + local.microsecond / 1e6
    first = start - dt.timedelta(seconds=into_hour % step_s)
    if first < start:
        first += dt.timedelta(seconds=step_s)
    count = int((end - first).total_seconds() // step_s) + 1
    return [first + dt.timedelta(seconds=step_s * k) for k in range(max(0, count))]


def _ticks_on_wall_clock(start: dt.datetime, end: dt.datetime, zone: dt.tzinfo,
                         step: dt.timedelta) -> list[dt.datetime]:
    local = start.astimezone(zone).replace(tzinfo=None)
    if step >= dt.timedelta(days=1):
        wall = dt.datetime.combine(local.date(), dt.time())
    else:
        hours = int(step.total_seconds() // 3600)
        wall = local.replace(hour=local.hour - local.hour % hours, minute=0, second=0, microsecond=0)
    out: list[dt.datetime] = []
    while len(out) < 400:
        instant = wall.replace(tzinfo=zone).astimezone(dt.UTC)
        exists = instant.astimezone(zone).replace(tzinfo=None) == wall  # not in a spring-forward gap
        if instant > end:
            break
        if exists and instant >= start and (not out or instant > out[-1]):
            out.append(instant)
        wall += step
    return out


def _labelled(instants: list[dt.datetime], zone: dt.tzinfo, fmt: str) -> list[TimeTick]:
    ticks, last_date = [], None
    for at in instants:
        local = at.astimezone(zone)
        date = local.strftime("%Y-%m-%d")
        if not fmt:
            ticks.append(TimeTick(at, local.strftime("%d %b"), date if date[:4] != (last_date or "")[:4] else ""))
        else:
            ticks.append(TimeTick(at, local.strftime(fmt), date if date != last_date else ""))
        last_date = date
    return ticks


def sampling_interval(points: Sequence[Point]) -> float | None:
    """The usual time between points in seconds (the median of the positive steps); None for fewer
    than two distinct times."""
    steps = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(points)]
    positive = [s for s in steps if s > 0]
    return statistics.median(positive) if positive else None


def split_at_gaps(points: Sequence[Point], factor: float = 3.0) -> list[list[Point]]:
    """Time-ordered points cut into runs wherever two neighbours are more than `factor` times the usual
    sampling interval apart: no line is drawn across a time nothing was measured."""
    if not points:
        return []
    interval = sampling_interval(points)
    runs: list[list[Point]] = [[points[0]]]
    for before, after in itertools.pairwise(points):
        if interval is not None and (after[0] - before[0]).total_seconds() > interval * factor:
            runs.append([])
        runs[-1].append(after)
    return runs


def thin(points: Sequence[Point], max_points: int) -> list[Point]:
    """At most about max_points of them, evenly picked, the first and last always kept (a long session's
    thousands of samples make no better line than a few hundred, only a heavier page)."""
    if len(points) <= max_points:
        return list(points)
    stride = math.ceil(len(points) / max(2, max_points))
    kept = list(points[::stride])
    if kept[-1] is not points[-1]:
        kept.append(points[-1])
    return kept


# Beyond any meter's reading; kept out so that an axis' arithmetic never overflows.
LARGEST = 1e15


def clean(points: Sequence[Point]) -> list[Point]:
    """Finite values (within ±LARGEST) with UTC times, in time order."""
    out = [(_aware(at), float(value)) for at, value in points
           if value is not None and math.isfinite(value) and abs(value) <= LARGEST]
    return sorted(out, key=lambda p: p[0])


def _aware(at: dt.datetime) -> dt.datetime:
    """In UTC: arithmetic between two times in one zone object is wall-clock arithmetic in Python,
    which is an hour off across a DST change."""
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


# -- the chart ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Axis:
    ticks: list[float]

    @property
    def low(self) -> float:
        return self.ticks[0]

    @property
    def high(self) -> float:
        return self.ticks[-1]

    def y(self, value: float, plot: Plot) -> float:
        share = (value - self.low) / (self.high - self.low)
        return min(plot.bottom, max(plot.top, plot.bottom - share * plot.height))


@dataclass(frozen=True)
class _TimeScale:
    start: dt.datetime
    end: dt.datetime

    def x(self, at: dt.datetime, plot: Plot) -> float:
        share = (at - self.start).total_seconds() / (self.end - self.start).total_seconds()
        return min(plot.right, max(plot.left, plot.left + share * plot.width))


def line_chart(series: Sequence[Series], zone: dt.tzinfo, *, width: int = 640, height: int = 300,
               title: str = "Chart", x_label: str = "", chart_id: str = "chart",
               empty_text: str = "no meter values yet", gap_factor: float = 3.0, max_points: int = 600,
               x_range: tuple[dt.datetime, dt.datetime] | None = None, css_class: str = "",
               font_size: int = 12) -> str:
    """An SVG line chart of the series against time: axes, round ticks, legend, <title>/<desc>.

    Series on axis "left" share the left axis, "right" ones the right axis (only drawn when used).
    `x_range` is a time span to show at least (e.g. a session's start to now); the data widen it.
    `font_size` (SVG units) should match the page's CSS for the chart's text: the legend is spaced by it.
    """
    cleaned = [(s, clean(s.points)) for s in series]
    has_right = any(s.axis == "right" for s in series)
    plot = Plot(56.0, 34.0, width - 56.0 - (56.0 if has_right else 18.0), height - 34.0 - 44.0)
    everything = [p for _, points in cleaned for p in points]
    parts = [_open(width, height, title, _description(cleaned, zone, empty_text), chart_id, css_class, font_size)]
    parts.append(f'<rect class="plot-area" x="{plot.left:.1f}" y="{plot.top:.1f}" width="{plot.width:.1f}" '
                 f'height="{plot.height:.1f}" fill="none" stroke="#d5ddd8"/>')
    if not everything and x_range is None:
        parts.append(f'<text class="empty" x="{plot.left + plot.width / 2:.1f}" y="{plot.top + plot.height / 2:.1f}" '
                     f'text-anchor="middle">{text(empty_text)}</text>')
        parts.append(_legend(cleaned, plot, font_size))
        return "".join(parts) + "</svg>"
    scale = _time_scale(everything, x_range)
    axes = {side: _Axis(nice_ticks(*_value_range([p for s, pts in cleaned if s.axis == side for p in pts])))
            for side in ("left", "right")}
    parts.append(_time_axis(scale, plot, zone, x_label))
    parts.append(_value_axis(axes["left"], plot, "left", _units(series, "left")))
    if has_right:
        parts.append(_value_axis(axes["right"], plot, "right", _units(series, "right")))
    for s, points in cleaned:
        parts.append(_draw(s, points, scale, axes[s.axis], plot, gap_factor, max_points))
    if not everything:
        parts.append(f'<text class="empty" x="{plot.left + plot.width / 2:.1f}" y="{plot.top + plot.height / 2:.1f}" '
                     f'text-anchor="middle">{text(empty_text)}</text>')
    parts.append(_legend(cleaned, plot, font_size))
    return "".join(parts) + "</svg>"


def _open(width: int, height: int, title: str, description: str, chart_id: str, css_class: str,
          font_size: int) -> str:
    cid = re.sub(r"[^A-Za-z0-9_-]", "-", chart_id) or "chart"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="{text(("chart " + css_class).strip())}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{text(title)}" '
            f'aria-describedby="{cid}-desc" font-family="system-ui, sans-serif" font-size="{font_size}">'
            f'<title id="{cid}-title">{text(title)}</title><desc id="{cid}-desc">{text(description)}</desc>')


def _description(cleaned: list[tuple[Series, list[Point]]], zone: dt.tzinfo, empty_text: str) -> str:
    said = []
    for s, points in cleaned:
        if not points:
            said.append(f"{s.name}: no values")
            continue
        values = [v for _, v in points]
        first, last = points[0][0].astimezone(zone), points[-1][0].astimezone(zone)
        said.append(f"{s.name}: {len(points)} values from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}, "
                    f"lowest {min(values):.3g} {s.unit}, highest {max(values):.3g} {s.unit}, "
                    f"last {values[-1]:.3g} {s.unit}")
    return "; ".join(said) if any(points for _, points in cleaned) else empty_text


def _time_scale(points: list[Point], x_range: tuple[dt.datetime, dt.datetime] | None) -> _TimeScale:
    times = [at for at, _ in points] + ([_aware(x_range[0]), _aware(x_range[1])] if x_range else [])
    start, end = min(times), max(times)
    if end - start < dt.timedelta(seconds=1):  # one instant: show the five minutes around it
        start, end = start - dt.timedelta(minutes=2.5), end + dt.timedelta(minutes=2.5)
    return _TimeScale(start, end)


def _value_range(points: list[Point]) -> tuple[float, float]:
    """The values' range, stretched to zero: power and energy read against a zero baseline."""
    if not points:
        return 0.0, 1.0
    values = [v for _, v in points]
    low, high = min(0.0, min(values)), max(0.0, max(values))
    return (0.0, 1.0) if low == high else (low, high)  # all zero: 0 to 1, not an axis below zero


def _units(series: Sequence[Series], side: str) -> str:
    return " / ".join(dict.fromkeys(s.unit for s in series if s.axis == side))


def _time_axis(scale: _TimeScale, plot: Plot, zone: dt.tzinfo, x_label: str) -> str:
    out = ['<g class="axis x-axis" text-anchor="middle">']
    for tick in time_ticks(scale.start, scale.end, zone, max(2, int(plot.width // 95))):
        x = scale.x(tick.at, plot)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{plot.top:.1f}" x2="{x:.1f}" y2="{plot.bottom:.1f}" '
                   f'stroke="#eef1ef"/>')
        out.append(f'<text x="{x:.1f}" y="{plot.bottom + 16:.1f}" data-at="{tick.at.isoformat()}">{text(tick.label)}')
        if tick.date:
            out.append(f'<tspan class="date" x="{x:.1f}" dy="14">{text(tick.date)}</tspan>')
        out.append("</text>")
    if x_label:
        out.append(f'<text class="axis-label" x="{plot.right:.1f}" y="{plot.bottom + 40:.1f}" '
                   f'text-anchor="end">{text(x_label)}</text>')
    out.append("</g>")
    return "".join(out)


def _value_axis(axis: _Axis, plot: Plot, side: str, unit: str) -> str:
    left = side == "left"
    x = plot.left - 6 if left else plot.right + 6
    out = [f'<g class="axis y-axis {side}" text-anchor="{"end" if left else "start"}">']
    for value in axis.ticks:
        y = axis.y(value, plot)
        if left:
            out.append(f'<line class="grid" x1="{plot.left:.1f}" y1="{y:.1f}" x2="{plot.right:.1f}" y2="{y:.1f}" '
                       f'stroke="#eef1ef"/>')
        out.append(f'<text x="{x:.1f}" y="{y + 4:.1f}">{text(tick_label(value, axis.ticks))}</text>')
    out.append(f'<text class="axis-label" x="{x:.1f}" y="{plot.top - 8:.1f}">{text(unit)}</text></g>')
    return "".join(out)


def _draw(series: Series, points: list[Point], scale: _TimeScale, axis: _Axis, plot: Plot, gap_factor: float,
          max_points: int) -> str:
    css = text(f"series {series.css_class}".strip())
    color = text(series.color)
    out = [f'<g class="{css}" data-series="{text(series.name)}">']
    runs = split_at_gaps(points, gap_factor)
    for run in runs:
        kept = thin(run, max(2, max_points * len(run) // max(1, len(points))))
        xy = [(scale.x(at, plot), axis.y(v, plot)) for at, v in kept]
        if len(xy) == 1:
            out.append(f'<circle cx="{xy[0][0]:.1f}" cy="{xy[0][1]:.1f}" r="3" fill="{color}"/>')
            continue
        line = " L".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        if series.area:
            base = axis.y(min(max(0.0, axis.low), axis.high), plot)
            out.append(f'<path class="area" d="M{xy[0][0]:.1f},{base:.1f} L{line} L{xy[-1][0]:.1f},{base:.1f} Z" '
                       f'fill="{color}" fill-opacity="0.15" stroke="none"/>')
        out.append(f'<path class="line" d="M{line}" fill="none" stroke="{color}" stroke-width="2" '
                   f'stroke-linejoin="round"/>')
    out.append("</g>")
    return "".join(out)


def _legend(cleaned: list[tuple[Series, list[Point]]], plot: Plot, font_size: int) -> str:
    out, x = ['<g class="legend">'], plot.left
    for s, points in cleaned:
        label = f"{s.name} ({s.unit})" + ("" if points else ": no values")
        out.append(f'<rect x="{x:.1f}" y="10" width="14" height="4" fill="{text(s.color)}"/>')
        out.append(f'<text x="{x + 20:.1f}" y="16">{text(label)}</text>')
        x += 34 + 0.6 * font_size * len(label)  # about a character's width
    out.append("</g>")
    return "".join(out)


# -- bars per bucket (reports) ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Bars:
    name: str
    unit: str
    values: Sequence[float | None]  # one per category; None: nothing to compare with
    color: str = "#1f5fa8"
    overlay: bool = False  # drawn as an outline over the first series' bars (a comparison)


def bar_chart(labels: Sequence[str], bars: Sequence[Bars], *, width: int = 640, height: int = 300,
              title: str = "Chart", chart_id: str = "bars", empty_text: str = "nothing in this period",
              font_size: int = 12) -> str:
    """An SVG bar chart: one bar per category (a report's buckets) for the first series, later series
    with overlay=True drawn as outlined bars over them (a comparison period, bucket by bucket)."""
    plot = Plot(56.0, 34.0, width - 74.0, height - 34.0 - 44.0)
    values = [v for b in bars for v in b.values if v is not None and math.isfinite(v)]
    description = "; ".join(
        f"{b.name}: " + ", ".join(f"{label} {v:.4g} {b.unit}" for label, v in zip(labels, b.values) if v is not None)
        for b in bars) if values else empty_text
    parts = [_open(width, height, title, description[:4000], chart_id, "bars", font_size)]
    parts.append(f'<rect class="plot-area" x="{plot.left:.1f}" y="{plot.top:.1f}" width="{plot.width:.1f}" '
                 f'height="{plot.height:.1f}" fill="none" stroke="#d5ddd8"/>')
    axis = _Axis(nice_ticks(min([0.0] + values), max([0.0] + values) or 1.0))
    parts.append(_value_axis(axis, plot, "left", " / ".join(dict.fromkeys(b.unit for b in bars))))
    slot = plot.width / max(1, len(labels))
    base = axis.y(min(max(0.0, axis.low), axis.high), plot)
    for series in bars:
        inset = 0.12 if series.overlay else 0.2
        out = [f'<g class="series{" overlay" if series.overlay else ""}" data-series="{text(series.name)}">']
        for i, value in enumerate(series.values):
            if value is None or not math.isfinite(value):
                continue
            x, y = plot.left + slot * (i + inset), axis.y(value, plot)
            style = (f'fill="none" stroke="{text(series.color)}" stroke-width="2" stroke-dasharray="4 2"'
                     if series.overlay else f'fill="{text(series.color)}"')
            out.append(f'<rect x="{x:.1f}" y="{min(y, base):.1f}" width="{slot * (1 - 2 * inset):.1f}" '
                       f'height="{abs(base - y):.1f}" {style}><title>{text(labels[i])}: {value:.4g} '
                       f'{text(series.unit)}</title></rect>')
        parts.append("".join(out) + "</g>")
    step = max(1, math.ceil(len(labels) * 0.6 * font_size * 10 / max(plot.width, 1)))
    parts.append('<g class="axis x-axis" text-anchor="middle">')
    for i in range(0, len(labels), step):
        parts.append(f'<text x="{plot.left + slot * (i + 0.5):.1f}" y="{plot.bottom + 16:.1f}">'
                     f'{text(_short(labels[i]))}</text>')
    parts.append("</g>")
    if not values:
        parts.append(f'<text class="empty" x="{plot.left + plot.width / 2:.1f}" y="{plot.top + plot.height / 2:.1f}" '
                     f'text-anchor="middle">{text(empty_text)}</text>')
    out, x = ['<g class="legend">'], plot.left
    for b in bars:
        label = f"{b.name} ({b.unit})"
        out.append(f'<rect x="{x:.1f}" y="8" width="14" height="8" fill="{text(b.color)}"/>')
        out.append(f'<text x="{x + 20:.1f}" y="16">{text(label)}</text>')
        x += 34 + 0.6 * font_size * len(label)
    parts.append("".join(out) + "</g>")
    return "".join(parts) + "</svg>"


def _short(label: str) -> str:
    """A bucket's label on the axis: an hour's time, a day without its year."""
    if len(label) >= 16 and label[10] == " ":
        return label[11:16]
    if len(label) == 10 and label[4] == "-":
        return label[5:]
    return label
