"""OCPP 1.6 wire forms, shared by the JSON and SOAP adapters: times, idTagInfo, meter values,
charging profiles and local list entries."""

from __future__ import annotations

import datetime as dt
from typing import Any

from appliance.core.authorization import AuthResult
from appliance.core.link import ChargingLimit, LocalListEntry
from appliance.core.metering import Sample, parse_number
from appliance.ocppj.frames import parse_datetime

# OCPP 1.6 §7.31 SampledValue: what an absent field means.
DEFAULT_MEASURAND = "Energy.Active.Import.Register"
DEFAULT_UNIT = "Wh"


def to_wire_time(value: dt.datetime | None) -> str:
    value = value or dt.datetime.now(dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The idTagInfo statuses OCPP 1.x knows; the core's others (2.0.1's) are Invalid to a 1.x charger.
STATUSES_1X = frozenset({"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"})


def id_tag_info(auth: AuthResult) -> dict[str, Any]:
    info: dict[str, Any] = {"status": auth.status.value if auth.status.value in STATUSES_1X else "Invalid"}
    if auth.expires_at is not None:
        info["expiry_date"] = to_wire_time(auth.expires_at)
    if auth.parent_id_tag:
        info["parent_id_tag"] = auth.parent_id_tag
    return info


def samples_from_meter_values(meter_values: list[dict[str, Any]]) -> list[Sample]:
    """1.6 MeterValue objects (snake_case keys) to version-neutral samples."""
    samples = []
    for meter_value in meter_values:
        at = parse_datetime(meter_value["timestamp"])
        for sv in meter_value.get("sampled_value", []):
            samples.append(sample(at, sv["value"], sv.get("measurand"), sv.get("phase"), sv.get("location"),
                                  sv.get("context"), sv.get("unit"), sv.get("format")))
    return samples


def sample(at: dt.datetime, raw: str, measurand: str | None = None, phase: str | None = None,
           location: str | None = None, context: str | None = None, unit: str | None = None,
           fmt: str | None = None) -> Sample:
    """One 1.6 SampledValue (its fields None where absent) as a version-neutral sample, with the
    defaults §7.31 gives an absent field."""
    fmt = "Raw" if fmt is None else fmt
    if unit is None:
        unit = DEFAULT_UNIT if measurand is None or "Energy" in measurand else ""
    return Sample(sampled_at=at, measurand=DEFAULT_MEASURAND if measurand is None else measurand,
                  phase=phase or "", location=location or "", context=context or "", unit=unit, format=fmt,
                  value=parse_number(raw) if fmt == "Raw" else None, raw_value=raw)


def charging_profile(limit: ChargingLimit, for_remote_start: bool = False) -> dict[str, Any]:
    """A ChargingProfile (snake_case, as the `ocpp` library takes it) holding one limit."""
    start = limit.start or dt.datetime.now(dt.timezone.utc)
    schedule: dict[str, Any] = {
        "charging_rate_unit": limit.unit,
        "charging_schedule_period": [
            {"start_period": offset, "limit": value, **({"number_phases": limit.number_phases}
                                                        if limit.number_phases else {})}
            for offset, value in limit.periods()],
        "start_schedule": to_wire_time(start),
    }
    if limit.duration_s:
        schedule["duration"] = limit.duration_s
    profile: dict[str, Any] = {
        "charging_profile_id": limit.profile_id,
        "stack_level": limit.stack_level,
        "charging_profile_purpose": "TxProfile" if for_remote_start else limit.purpose,
        "charging_profile_kind": "Absolute",
        "charging_schedule": schedule,
    }
    # OCPP 1.6 §5.16.2: a TxProfile names its transaction, except in RemoteStartTransaction.
    if limit.transaction_id is not None and not for_remote_start:
        profile["transaction_id"] = limit.transaction_id
    return profile


def local_list_entries(entries: list[LocalListEntry]) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        item: dict[str, Any] = {"id_tag": entry.id_tag}
        if entry.status is not None:
            info: dict[str, Any] = {"status": entry.status}
            if entry.expires_at is not None:
                info["expiry_date"] = to_wire_time(entry.expires_at)
            if entry.parent_id_tag:
                info["parent_id_tag"] = entry.parent_id_tag
            item["id_tag_info"] = info
        out.append(item)
    return out
