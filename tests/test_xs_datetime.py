"""xs:dateTime as SOAP requests carry it: the reader shared by the fast path and spyne's protocol."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.ocpp15_soap.xs_datetime import read_date_time

UTC = dt.timezone.utc


def offset(minutes: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(minutes=minutes))


@pytest.mark.parametrize("text, expected", [
    ("2026-11-21T10:00:00Z", dt.datetime(2026, 11, 21, 10, tzinfo=UTC)),
    ("2026-11-21T10:00:00", dt.datetime(2026, 11, 21, 10)),  # no offset: naive (the adapter takes it as UTC)
    ("2026-11-21T10:00:00-03:30", dt.datetime(2026, 11, 21, 10, tzinfo=offset(-210))),  # spyne read -02:30
    ("2026-11-21T10:00:00.5-05:30", dt.datetime(2026, 11, 21, 10, 0, 0, 500000, tzinfo=offset(-330))),
    ("2026-11-21T10:00:00+14:00", dt.datetime(2026, 11, 21, 10, tzinfo=offset(840))),
    ("2026-11-21T10:00:00.123456Z", dt.datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)),
    ("2026-11-21T10:00:00.1234567Z", dt.datetime(2026, 11, 21, 10, 0, 0, 123457, tzinfo=UTC)),  # rounded
    ("2026-11-21T10:00:00.9999999+01:00", dt.datetime(2026, 11, 21, 10, 0, 0, 999999, tzinfo=offset(60))),
    ("0001-01-01T00:00:00Z", dt.datetime(1, 1, 1, tzinfo=UTC)),
    ("2026-11-21T24:00:00Z", None),  # valid xs:dateTime, no Python datetime: spyne's to refuse
    ("-0001-01-01T00:00:00Z", None),
    ("12026-11-21T10:00:00Z", None),
])
def test_times_read(text, expected):
    read = read_date_time(text)
    assert read == expected
    if expected is not None:
        assert read.utcoffset() == expected.utcoffset()


@given(st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31)),
       st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_any_instant_written_with_an_offset_reads_back_as_the_same_instant(moment, minutes):
    sign = "-" if minutes < 0 else "+"
    text = moment.isoformat(timespec="microseconds") + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    read = read_date_time(text)
    assert read.utcoffset() == dt.timedelta(minutes=minutes)
    assert read.replace(tzinfo=None) == moment
