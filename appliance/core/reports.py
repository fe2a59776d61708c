"""Reports chargers send that the appliance keeps for staff and for later features (alarms, DLM):
security events, device events, charging limits set by others, charging profiles, EV charging
needs, reservation changes. Each is stored with a one-line summary and announced on the bus."""

from __future__ import annotations

import datetime as dt
from typing import Any

from appliance.core import events as ev
from appliance.core.chargers import ChargerRegistry
from appliance.store import device_model as store
from appliance.store.database import Database
from appliance.store.device_model import ReportRecord


class ChargerReports:
    def __init__(self, db: Database, bus: ev.EventBus, registry: ChargerRegistry) -> None:
        self.db = db
        self.bus = bus
        self.registry = registry

    async def record(self, identity: str, kind: str, payload: dict[str, Any], summary: str = "",
                     reported_at: dt.datetime | None = None) -> None:
        charger_pk = self.registry.live[identity].pk
        now = ev.utcnow()
        await self.db.write(store.add_report, charger_pk, kind, reported_at or now, now, summary, payload)
        self.bus.publish(ev.ChargerReported(identity, kind, summary))

    async def list(self, identity: str, kind: str | None = None, limit: int = 100) -> list[ReportRecord]:
        record = await self.registry.require(identity)
        return await self.db.read(store.reports, record.id, kind, limit)
