"""Periods and grains in the depot's time zone, as pure arithmetic (the clock comes in as `now`).

A period is a run of whole local days [first, last], held as the UTC instants of its first local
midnight and of the midnight after its last day, so a period spans 23 or 25 hours on a day the clocks
change. Its buckets partition it exactly: an hour bucket is an hour of real time (the day clocks go
back has 25 of them), a day bucket runs from local midnight to local midnight, a week starts on
Monday, a month on the 1st; the first and last bucket are cut at the period's edges.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

UTC = dt.timezone.utc
GRAINS = ("hour", "day", "week", "month")
NAMED_PERIODS = ("today", "yesterday", "this-week", "last-week", "this-month", "last-month", "this-year",
                 "last-year")
COMPARISONS = ("previous", "year-before")
MAX_BUCKETS = 1000
PERIOD_HELP = ("today, yesterday, this-week, last-week, this-month, last-month, this-year, last-year, a day "
               "(2026-03-29), a month (2026-03), a year (2026) or FROM..TO (2026-03-01..2026-03-31, both days "
               "included)")

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_YEAR = re.compile(r"^\d{4}$")


class PeriodError(ValueError):
    """A period, comparison or grain that cannot be understood; the message says what is accepted."""


@dataclass(frozen=True)
class Period:
    first: dt.date  # the first local day
    last: dt.date  # the last local day (included)
    kind: str  # day, week, month, year, custom: what "previous" means
    zone: dt.tzinfo

    @property
    def start(self) -> dt.datetime:
        return local_midnight(self.first, self.zone)

    @property
    def end(self) -> dt.datetime:
        return local_midnight(self.last + dt.timedelta(days=1), self.zone)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def label(self) -> str:
        if self.kind == "day":
            return self.first.isoformat()
        if self.kind == "month":
            return self.first.strftime("%Y-%m")
        if self.kind == "year":
            return str(self.first.year)
        return f"{self.first.isoformat()}..{self.last.isoformat()}"


@dataclass(frozen=True)
class Bucket:
    start: dt.datetime  # UTC, aware
    end: dt.datetime  # exclusive
    label: str  # in the depot's zone

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def local_midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The first instant of a local day, in UTC. Where clocks jump at midnight (a day with no 00:00),
    zoneinfo reads the missing time with the offset before the jump: the instant of the jump itself."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(UTC)


def today(now: dt.datetime, zone: dt.tzinfo) -> dt.date:
    return now.astimezone(zone).date()


def parse_period(text: str, zone: dt.tzinfo, now: dt.datetime) -> Period:
    """A period as people write it (PERIOD_HELP); raises PeriodError."""
    text = (text or "").strip().lower()
    day = today(now, zone)
    monday = day - dt.timedelta(days=day.weekday())
    month = day.replace(day=1)
    named = {
        "today": (day, day, "day"),
        "yesterday": (day - dt.timedelta(days=1), day - dt.timedelta(days=1), "day"),
        "this-week": (monday, monday + dt.timedelta(days=6), "week"),
        "last-week": (monday - dt.timedelta(days=7), monday - dt.timedelta(days=1), "week"),
        "this-month": (month, _month_end(month), "month"),
        "last-month": (_add_months(month, -1), month - dt.timedelta(days=1), "month"),
        "this-year": (day.replace(month=1, day=1), day.replace(month=12, day=31), "year"),
        "last-year": (dt.date(day.year - 1, 1, 1), dt.date(day.year - 1, 12, 31), "year"),
    }
    if text in named:
        first, last, kind = named[text]
        return Period(first, last, kind, zone)
    if ".." in text:
        since, _, until = text.partition("..")
        first, last = _date(since.strip(), text), _date(until.strip(), text)
        if last < first:
            raise PeriodError(f"period {text!r}: the last day {last} is before the first day {first}")
        return Period(first, last, "custom", zone)
    if _MONTH.match(text):
        first = _date(text + "-01", text)
        return Period(first, _month_end(first), "month", zone)
    if _YEAR.match(text) and int(text) >= 1:
        return Period(dt.date(int(text), 1, 1), dt.date(int(text), 12, 31), "year", zone)
    if _DAY.match(text):
        first = _date(text, text)
        return Period(first, first, "day", zone)
    raise PeriodError(f"period {text!r} is not one I know: use {PERIOD_HELP}")


def comparison(period: Period, text: str, now: dt.datetime) -> Period:
    """The period to compare with: 'previous' (the one before it: the day, week, month or year before;
    a custom period's as many days just before it), 'year-before' (the same days a year earlier), or
    any period (PERIOD_HELP)."""
    text = (text or "").strip().lower()
    if text == "previous":
        if period.kind == "day":
            return Period(period.first - dt.timedelta(days=1), period.last - dt.timedelta(days=1), "day", period.zone)
        if period.kind == "week":
            return Period(period.first - dt.timedelta(days=7), period.last - dt.timedelta(days=7), "week", period.zone)
        if period.kind in ("month", "year"):
            months = 1 if period.kind == "month" else 12
            first = _add_months(period.first, -months)
            return Period(first, _add_months(period.last.replace(day=1), -months + 1) - dt.timedelta(days=1),
                          period.kind, period.zone)
        return Period(period.first - dt.timedelta(days=period.days), period.first - dt.timedelta(days=1), "custom",
                      period.zone)
    if text == "year-before":
        return Period(_year_earlier(period.first), _year_earlier(period.last), period.kind, period.zone)
    try:
        return parse_period(text, period.zone, now)
    except PeriodError:
        raise PeriodError(f"comparison {text!r} is not one I know: use previous, year-before or a period "
                          f"({PERIOD_HELP})") from None


def default_grain(period: Period) -> str:
    if period.days <= 2:
        return "hour"
    if period.days <= 62:
        return "day"
    return "month"


def check_grain(grain: str) -> str:
    if grain not in GRAINS:
        raise PeriodError(f"grain {grain!r} is not one I know: use {', '.join(GRAINS)}")
    return grain


def buckets(period: Period, grain: str) -> list[Bucket]:
    """The period cut at the grain's edges in the depot's zone; the buckets partition it exactly."""
    check_grain(grain)
    zone = period.zone
    start, end = period.start, period.end
    if grain == "hour":
        count = int((end - start).total_seconds() // 3600) + 1
        if count > MAX_BUCKETS:
            raise PeriodError(f"{count} hours are too many to show: choose the grain day, week or month")
        edges = [start + dt.timedelta(hours=i) for i in range(count) if start + dt.timedelta(hours=i) < end]
        return _hour_buckets(edges + [end], zone)
    days = _day_edges(period, grain)
    if len(days) - 1 > MAX_BUCKETS:
        raise PeriodError(f"{len(days) - 1} buckets are too many to show: choose a coarser grain")
    out = []
    for first, following in zip(days, days[1:]):
        out.append(Bucket(local_midnight(first, zone), local_midnight(following, zone), _label(first, grain)))
    return out


def _day_edges(period: Period, grain: str) -> list[dt.date]:
    """The local days at which buckets start, then the day after the period."""
    edges = [period.first]
    day = period.first
    while True:
        if grain == "day":
            day = day + dt.timedelta(days=1)
        elif grain == "week":
            day = day + dt.timedelta(days=7 - day.weekday())
        else:
            day = _add_months(day.replace(day=1), 1)
        if day > period.last:
            break
        edges.append(day)
    return edges + [period.last + dt.timedelta(days=1)]


def _hour_buckets(edges: list[dt.datetime], zone: dt.tzinfo) -> list[Bucket]:
    labels = [e.astimezone(zone).strftime("%Y-%m-%d %H:%M") for e in edges[:-1]]
    # The hour clocks go back happens twice: both are told apart by their zone's abbreviation.
    twice = {label for label in labels if labels.count(label) > 1}
    return [Bucket(a, b, f"{label} {a.astimezone(zone).strftime('%Z')}" if label in twice else label)
            for a, b, label in zip(edges, edges[1:], labels)]


def _label(first: dt.date, grain: str) -> str:
    if grain == "month":
        return first.strftime("%Y-%m")
    if grain == "week":
        year, week, _ = first.isocalendar()
        return f"{year}-W{week:02d}"
    return first.isoformat()


def _date(text: str, whole: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"period {whole!r}: {text!r} is not a date (YYYY-MM-DD): use {PERIOD_HELP}") from None


def _add_months(day: dt.date, months: int) -> dt.date:
    """The first of a month `months` away from `day`'s month (day must be a 1st)."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _month_end(first: dt.date) -> dt.date:
    return _add_months(first, 1) - dt.timedelta(days=1)


def _year_earlier(day: dt.date) -> dt.date:
    """The same day a year earlier; 29 February becomes the 28th."""
    return dt.date(day.year - 1, day.month, 28 if (day.month, day.day) == (2, 29) else day.day)
