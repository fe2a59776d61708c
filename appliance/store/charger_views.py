"""Queries for the staff's view of chargers: every charger with its connectors, group and open
sessions in one read (the chargers list refreshes on every status change), and what one charger's
page shows beyond the registry's record."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import JOIN

from appliance.store import chargers as charger_store
from appliance.store import transactions as tx_store
from appliance.store.chargers import ChargerRecord, ConnectorRecord
from appliance.store.models import Charger, ChargerGroup, Connector, Evse
from appliance.store.times import from_db
from appliance.store.transactions import TransactionRecord

# More open sessions than any depot has chargers' connectors: the list shows them all.
MOST_ACTIVE_SESSIONS = 100_000


@dataclass(frozen=True)
class Snapshot:
    chargers: list[ChargerRecord]
    connectors: dict[int, list[ConnectorRecord]]  # by charger id
    groups: dict[int, str]  # charger id -> its group's name (absent: in no group)
    sessions: list[TransactionRecord]  # every open session


@dataclass(frozen=True)
class ChargerExtras:
    """What a charger's page shows that the registry's record leaves out."""

    group: str
    iccid: str
    imsi: str
    meter_type: str
    meter_serial_number: str
    firmware_status_at: dt.datetime | None
    diagnostics_status_at: dt.datetime | None
    created_by: str  # 'admin', or 'boot'/'connect' for a charger recorded when it first called


def snapshot() -> Snapshot:
    return Snapshot(charger_store.list_all(), _all_connectors(), _groups(),
                    tx_store.list_transactions(None, True, None, MOST_ACTIVE_SESSIONS, 0))


def _all_connectors() -> dict[int, list[ConnectorRecord]]:
    query = (Connector.select(Connector, Evse).join(Evse, join_type=JOIN.LEFT_OUTER)
             .order_by(Connector.charger, Connector.connector_number, Connector.evse_connector_id))
    found: dict[int, list[ConnectorRecord]] = {}
    for c in query:
        found.setdefault(c.charger_id, []).append(ConnectorRecord(
            connector_number=c.connector_number, evse_number=c.evse.evse_number if c.evse_id else None,
            evse_connector_id=c.evse_connector_id, connector_type=c.connector_type, current_type=c.current_type,
            max_power_w=c.max_power_w, status=c.status, error_code=c.error_code, info=c.info,
            vendor_error_code=c.vendor_error_code, status_at=from_db(c.status_at)))
    return found


def _groups() -> dict[int, str]:
    query = Charger.select(Charger.id, ChargerGroup.name).join(ChargerGroup).where(Charger.group.is_null(False))
    return {c.id: c.group.name for c in query}


def extras(charger_id: int) -> ChargerExtras | None:
    c = (Charger.select(Charger, ChargerGroup).join(ChargerGroup, join_type=JOIN.LEFT_OUTER)
         .where(Charger.id == charger_id).first())
    if c is None:
        return None
    return ChargerExtras(
        group=c.group.name if c.group_id else "", iccid=c.iccid, imsi=c.imsi, meter_type=c.meter_type,
        meter_serial_number=c.meter_serial_number, firmware_status_at=from_db(c.firmware_status_at),
        diagnostics_status_at=from_db(c.diagnostics_status_at), created_by=c.created_by)
