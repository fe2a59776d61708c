"""Which tariff group prices which EVSE (core.billing.assign makes these rows; this reads them)."""

from __future__ import annotations

from appliance.store.database import Database
from appliance.store.tariff_assignments import PricedEvse, priced_evses

__all__ = ["PricedEvse", "priced"]


async def priced(db: Database) -> list[PricedEvse]:
    return await db.read(priced_evses)
