"""What the stored messages tell of each charger's clock: (charger's time, receipt time) pairs.

Read incrementally by id from the tables that keep both times: status history, 2.0.1 transaction
events (not those the station marks offline: those are old on purpose), reports, and 1.x
transaction starts. A row whose charger time equals its receipt time had no time of the charger's
(the receipt time stood in for it) and tells nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from appliance.store.dialect import raw
from appliance.store.models import database
from appliance.store.times import from_db


@dataclass(frozen=True)
class ClockReading:
    charger_pk: int
    identity: str
    charger_at: dt.datetime
    received_at: dt.datetime


# table -> SQL of (id, charger pk, identity, charger time, receipt time) for rows with id > ?
_SOURCES = {
    "status_history": "SELECT s.id, c.id, c.identity, s.reported_at, s.received_at FROM status_history s "
                      "JOIN charger c ON c.id = s.charger_id WHERE s.id > ? AND s.reported_at != s.received_at",
    "transaction_event": "SELECT e.id, c.id, c.identity, e.timestamp, e.received_at FROM transaction_event e "
                         'JOIN "transaction" t ON t.id = e.transaction_id JOIN charger c ON c.id = t.charger_id '
                         "WHERE e.id > ? AND NOT e.offline",
    "charger_report": "SELECT r.id, c.id, c.identity, r.reported_at, r.received_at FROM charger_report r "
                      "JOIN charger c ON c.id = r.charger_id WHERE r.id > ? AND r.reported_at != r.received_at "
                      "AND r.kind != 'clock_skew'",
    "transaction": 'SELECT t.id, c.id, c.identity, t.started_at, t.created_at FROM "transaction" t '
                   "JOIN charger c ON c.id = t.charger_id WHERE t.id > ? AND t.remote_tx_id = ''",
}
# At the first read after a start, how far back to look (rows, per table).
FIRST_LOOK_BACK_ROWS = 5000


def start_ids() -> dict[str, int]:
    conn = raw(database)
    return {table: max(0, (conn.execute(f'SELECT max(id) FROM "{table}"').fetchone()[0] or 0) - FIRST_LOOK_BACK_ROWS)
            for table in _SOURCES}


def readings_since(last_ids: dict[str, int], limit: int = 10000) -> tuple[list[ClockReading], dict[str, int]]:
    """Readings from rows after `last_ids` (table -> id), and the ids to go on from."""
    conn = raw(database)
    readings, after = [], dict(last_ids)
    for table, sql in _SOURCES.items():
        for row_id, pk, identity, charger_at, received_at in conn.execute(f"{sql} ORDER BY 1 LIMIT ?",
                                                                          (last_ids.get(table, 0), limit)):
            after[table] = row_id
            readings.append(ClockReading(pk, identity, from_db(charger_at), from_db(received_at)))
    return readings, after


def last_skew_report(charger_pk: int) -> dict | None:
    """The payload of the charger's latest clock_skew report, if any."""
    row = raw(database).execute(
        "SELECT payload FROM charger_report WHERE charger_id = ? AND kind = 'clock_skew' ORDER BY id DESC LIMIT 1",
        (charger_pk,)).fetchone()
    return json.loads(row[0]) if row else None
