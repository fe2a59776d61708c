"""Reading one charger's communication log read-only, also while the server writes it: the last
messages, and new ones as they are committed (`appliance logs`)."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time
import zoneinfo
from typing import Iterator

from appliance.store import diagnostics as store
from appliance.store.diagnostics import LoggedMessage

__all__ = ["LoggedMessage", "follow", "parse_since", "tail"]

# The server commits log rows with its next write batch; half a second keeps `--follow` within about
# a second of the wire at a negligible cost (one indexed query).
POLL_S = 0.5
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)\s*$")
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_since(text: str, zone: zoneinfo.ZoneInfo, now: dt.datetime) -> dt.datetime:
    """'10m', '2h', '1d', '30s', or an ISO date/time (in the depot's zone unless it names one)."""
    relative = _RELATIVE.match(text)
    if relative:
        return now - dt.timedelta(seconds=float(relative[1]) * _UNITS[relative[2]])
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither a span like 10m, 2h, 1d nor a date/time like 2026-11-20T07:00") from None
    return at.replace(tzinfo=zone) if at.tzinfo is None else at


def tail(conn: sqlite3.Connection, identity: str, lines: int | None, since: dt.datetime | None) -> list[LoggedMessage]:
    return store.last_messages(conn, identity, lines, since)


def follow(conn: sqlite3.Connection, identity: str, after_id: int | None = None,
           poll_s: float = POLL_S) -> Iterator[list[LoggedMessage]]:
    """Batches of messages committed after `after_id` (default: from now on), forever. Each poll is its
    own short read, so a follower never holds the server's checkpoints back."""
    last = store.last_message_id(conn, identity) if after_id is None else after_id
    while True:
        batch = store.messages_after(conn, identity, last)
        if batch:
            last = batch[-1].id
            yield batch
        else:
            time.sleep(poll_s)
