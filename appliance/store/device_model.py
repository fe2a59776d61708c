"""Queries on chargers' OCPP 2.0.1 device models and on the reports chargers send."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from appliance.store.dialect import raw
from appliance.store.models import ChargerReport, DeviceVariable, database
from appliance.store.times import from_db, to_db


@dataclass(frozen=True)
class VariableRecord:
    """One attribute of one variable of one component, as the charger reported it."""

    component: str
    variable: str
    value: str | None = None
    component_instance: str = ""
    evse_number: int = 0
    evse_connector_id: int = 0
    variable_instance: str = ""
    attribute_type: str = "Actual"
    mutability: str = ""
    data_type: str = ""
    unit: str = ""
    max_limit: float | None = None
    values_list: str = ""
    updated_at: dt.datetime | None = None


_COLUMNS = ("component", "component_instance", "evse_number", "evse_connector_id", "variable", "variable_instance",
            "attribute_type", "value", "mutability", "data_type", "unit", "max_limit", "values_list")
_KEY = _COLUMNS[:7]


def upsert_variables(charger_id: int, variables: list[VariableRecord], now: dt.datetime) -> None:
    # One executemany: a full inventory runs to hundreds of variables.
    names = ", ".join(_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[7:])
    raw(database).executemany(
        f"INSERT INTO device_variable (charger_id, {names}, updated_at) VALUES (?, {', '.join('?' * len(_COLUMNS))}, ?) "
        f"ON CONFLICT (charger_id, {', '.join(_KEY)}) DO UPDATE SET {updates}, updated_at = excluded.updated_at",
        [(charger_id, *(getattr(v, c) for c in _COLUMNS), str(to_db(now))) for v in variables])


def variables(charger_id: int, components: tuple[str, ...] = ()) -> list[VariableRecord]:
    query = DeviceVariable.select().where(DeviceVariable.charger == charger_id)
    if components:
        query = query.where(DeviceVariable.component.in_(components))
    query = query.order_by(DeviceVariable.component, DeviceVariable.evse_number, DeviceVariable.evse_connector_id,
                           DeviceVariable.component_instance, DeviceVariable.variable, DeviceVariable.variable_instance,
                           DeviceVariable.attribute_type)
    return [VariableRecord(**{c: getattr(v, c) for c in _COLUMNS}, updated_at=from_db(v.updated_at)) for v in query]


@dataclass(frozen=True)
class ReportRecord:
    id: int
    kind: str
    reported_at: dt.datetime
    received_at: dt.datetime
    summary: str
    payload: dict[str, Any]


def add_report(charger_id: int, kind: str, reported_at: dt.datetime, received_at: dt.datetime, summary: str,
               payload: dict[str, Any]) -> int:
    return ChargerReport.insert(charger=charger_id, kind=kind, reported_at=to_db(reported_at),
                                received_at=to_db(received_at), summary=summary[:200],
                                payload=json.dumps(payload, separators=(",", ":"))).execute()


def reports(charger_id: int, kind: str | None = None, limit: int = 100) -> list[ReportRecord]:
    query = ChargerReport.select().where(ChargerReport.charger == charger_id)
    if kind:
        query = query.where(ChargerReport.kind == kind)
    query = query.order_by(ChargerReport.received_at.desc(), ChargerReport.id.desc()).limit(limit)
    return [ReportRecord(r.id, r.kind, from_db(r.reported_at), from_db(r.received_at), r.summary,
                         json.loads(r.payload)) for r in query]
