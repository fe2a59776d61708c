"""When notifications go: the batch window, the daily summary's time, the retries' backoff. Pure."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

RETRY_FIRST_S = 30.0
RETRY_MAX_S = 1800.0  # a mail server back after a night's outage gets the queue within half an hour

_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_time_of_day(text: str) -> dt.time:
    """'HH:MM' (24-hour clock) as a time of day; ValueError says what to write."""
    found = _TIME_OF_DAY.match(text.strip())
    if not found:
        raise ValueError(f"{text!r} is not a time of day: write HH:MM, e.g. 06:30")
    return dt.time(int(found.group(1)), int(found.group(2)))


def batch_closes_at(first_at: dt.datetime, batch_s: float) -> dt.datetime:
    """A batch collects what arrives within `batch_s` of its first alarm, then goes: a window that
    moved with each new alarm could keep a depot-wide outage from ever being told."""
    return first_at + dt.timedelta(seconds=batch_s)


def latest_summary_time(now: dt.datetime, at: dt.time, zone: zoneinfo.ZoneInfo) -> tuple[dt.date, dt.datetime]:
    """The depot-local day and the UTC instant of the latest daily summary time at or before `now`.

    A time skipped by the change to summer time is read with the offset before the change (an 02:30
    summary goes at 03:30 that day), a time that happens twice as its first occurrence."""
    local_day = now.astimezone(zone).date()
    for day in (local_day, local_day - dt.timedelta(days=1)):
        instant = dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.timezone.utc)
        if instant <= now:
            return day, instant
    raise AssertionError("unreachable: yesterday's time is always before now")


def retry_delay_s(attempts: int, first_s: float = RETRY_FIRST_S, max_s: float = RETRY_MAX_S) -> float:
    """Seconds to wait after the `attempts`-th failed attempt in a row: doubling from `first_s`, at most `max_s`."""
    return min(max_s, first_s * 2 ** min(max(attempts - 1, 0), 30))
