"""Conversion between the core's aware UTC datetimes and storage's naive UTC ones."""

from __future__ import annotations

import datetime as dt

UTC = dt.timezone.utc


def to_db(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def from_db(value: dt.datetime | str | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # raw sqlite3 rows carry the text form
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
