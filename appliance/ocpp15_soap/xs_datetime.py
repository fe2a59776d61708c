"""xs:dateTime as the SOAP service reads it: by Python's own parser, with spyne's rounding.

spyne adds an offset's hours and minutes with their signs apart, so a charger in Newfoundland
(-03:30) would be read as at -02:30, an hour off. Python reads offsets right and is several
times faster; spyne's one habit kept is rounding a fraction finer than a microsecond.
"""

from __future__ import annotations

import datetime as dt
import re

_FRACTION = re.compile(r"\.(\d+)")


def read_date_time(text: str) -> dt.datetime | None:
    """A lexically valid xs:dateTime (the schema checked it) as a datetime, naive when it has no
    offset; None for one Python cannot hold (a year before 1 or after 9999, or 24:00:00)."""
    fraction = _FRACTION.search(text)
    microsecond = None
    if fraction is not None and len(fraction.group(1)) > 6:
        microsecond = min(999999, round(float("0." + fraction.group(1)) * 1e6))
        text = text[:fraction.start()] + text[fraction.end():]
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if microsecond is None else value.replace(microsecond=microsecond)
