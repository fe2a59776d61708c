"""What a charger says it is made of and how it is set up (the OCPP 2.0.1 device model).

Every reported variable attribute is kept, so a technician sees the charger's settings as it last
reported them; the charger's EVSEs and connectors are derived from the EVSE and Connector
components. Version-neutral in form: an adapter hands over `VariableRecord`s.
"""

from __future__ import annotations

from appliance.core import events as ev
from appliance.core.chargers import ChargerRegistry
from appliance.store import chargers as charger_store
from appliance.store import device_model as store
from appliance.store.database import Database
from appliance.store.device_model import VariableRecord

# OCPP 2.0.1 part 2 appendix ConnectorEnumType: the DC ones; the rest are AC (or not charging at all).
DC_CONNECTOR_TYPES = frozenset({"cCCS1", "cCCS2", "cG105", "cTesla", "cChaoJi", "cMCS", "cGBT-DC"})
LAYOUT_COMPONENTS = ("EVSE", "Connector")


def layout(variables: list[VariableRecord]) -> tuple[list[tuple[int, int | None, int | None]],
                                                      list[tuple[int, int, str, str]]]:
    """EVSEs (number, max power W, phases) and connectors (EVSE, connector id, type, AC/DC) that the
    EVSE and Connector components of a device model describe. Pure."""
    evses: dict[int, dict[str, int | None]] = {}
    connectors: dict[tuple[int, int], str] = {}
    for v in variables:
        if v.component == "EVSE" and v.evse_number > 0 and not v.evse_connector_id:
            evse = evses.setdefault(v.evse_number, {"power": None, "phases": None})
            if v.variable == "Power" and v.attribute_type == "Actual" and v.max_limit is not None:
                evse["power"] = round(v.max_limit)
            elif v.variable == "Power" and v.attribute_type == "MaxSet" and v.value and evse["power"] is None:
                evse["power"] = _int(v.value)
            elif v.variable == "SupplyPhases" and v.attribute_type == "Actual" and v.value:
                evse["phases"] = _int(v.value)
        elif v.component == "Connector" and v.evse_number > 0 and v.evse_connector_id > 0:
            key = (v.evse_number, v.evse_connector_id)
            if v.variable == "ConnectorType" and v.attribute_type == "Actual" and v.value:
                connectors[key] = v.value
            else:
                connectors.setdefault(key, "")
    for evse_number, _ in connectors:
        evses.setdefault(evse_number, {"power": None, "phases": None})
    return ([(n, e["power"], e["phases"]) for n, e in sorted(evses.items())],
            [(e, c, t, "DC" if t in DC_CONNECTOR_TYPES else "AC") for (e, c), t in sorted(connectors.items())])


def _int(text: str) -> int | None:
    try:
        return round(float(text))
    except ValueError:
        return None


class DeviceModel:
    def __init__(self, db: Database, registry: ChargerRegistry) -> None:
        self.db = db
        self.registry = registry

    async def record(self, identity: str, variables: list[VariableRecord]) -> None:
        """Store reported attributes (one part of a report at a time) and update the charger's layout."""
        charger_pk = self.registry.live[identity].pk

        def record_sync() -> None:
            store.upsert_variables(charger_pk, variables, ev.utcnow())
            if any(v.component in LAYOUT_COMPONENTS for v in variables):
                evses, connectors = layout(store.variables(charger_pk, LAYOUT_COMPONENTS))
                charger_store.record_layout(charger_pk, evses, connectors)

        await self.db.write(record_sync)

    async def variables(self, identity: str, components: tuple[str, ...] = ()) -> list[VariableRecord]:
        record = await self.registry.require(identity)
        return await self.db.read(store.variables, record.id, components)
