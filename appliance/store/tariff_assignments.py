"""Which tariff group prices which charger's EVSEs, for the tariffs page."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.store.models import Charger, EvseTariff, TariffGroup


@dataclass(frozen=True)
class PricedEvse:
    identity: str
    evse_number: int  # 0: every EVSE of the charger without a row of its own
    group: str


def priced_evses() -> list[PricedEvse]:
    query = (EvseTariff.select(EvseTariff.evse_number, Charger.identity, TariffGroup.name)
             .join(Charger).switch(EvseTariff).join(TariffGroup)
             .order_by(Charger.identity, EvseTariff.evse_number))
    return [PricedEvse(row.charger.identity, row.evse_number, row.group.name) for row in query]
