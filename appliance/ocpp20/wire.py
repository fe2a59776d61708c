"""OCPP 2.0.1 wire forms: times, idToken/idTokenInfo, meter values, device model report data."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from appliance.core.authorization import AuthResult
from appliance.core.link import ChargingLimit, LocalListEntry
from appliance.core.metering import Sample
from appliance.ocppj.frames import parse_datetime
from appliance.core.device_model import VariableRecord

# OCPP 2.0.1 part 2 §2.2 SampledValueType: what an absent field means.
DEFAULT_MEASURAND = "Energy.Active.Import.Register"
DEFAULT_CONTEXT = "Sample.Periodic"
DEFAULT_LOCATION = "Outlet"
# Units the measurands are given in when unitOfMeasure is absent (part 2 §2.47: "Wh" is the default
# only for energy; the other measurands' own base units follow from the measurand).
_BASE_UNIT = {"Energy": "Wh", "Power": "W", "Current": "A", "Voltage": "V", "Frequency": "Hz",
              "SoC": "Percent", "Temperature": "Celsius"}
# An idToken of this type identifies nobody: the charger charges without authorization.
NO_AUTHORIZATION = "NoAuthorization"


def to_wire_time(value: dt.datetime | None = None) -> str:
    value = value or dt.datetime.now(dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def id_tag_of(id_token: dict[str, Any] | None) -> str | None:
    """The tag an idToken names, or None where it names nobody."""
    if not id_token or id_token.get("type") == NO_AUTHORIZATION or not id_token.get("id_token"):
        return None
    return id_token["id_token"]


def id_token_info(auth: AuthResult) -> dict[str, Any]:
    """idTokenInfo (snake_case, as the library takes it). The core's statuses are all 2.0.1 statuses."""
    info: dict[str, Any] = {"status": auth.status.value}
    if auth.expires_at is not None:
        info["cache_expiry_date_time"] = to_wire_time(auth.expires_at)
    if auth.parent_id_tag:
        info["group_id_token"] = {"id_token": auth.parent_id_tag, "type": "Central"}
    return info


def samples_from_meter_values(meter_values: list[dict[str, Any]]) -> list[Sample]:
    """2.0.1 MeterValue objects (snake_case keys) to version-neutral samples; signed meter data is
    kept verbatim beside the number so that it stays verifiable."""
    samples = []
    for meter_value in meter_values:
        at = parse_datetime(meter_value["timestamp"])
        for sv in meter_value.get("sampled_value", []):
            measurand = sv.get("measurand", DEFAULT_MEASURAND)
            unit_of_measure = sv.get("unit_of_measure") or {}
            unit = unit_of_measure.get("unit") or _BASE_UNIT.get(measurand.split(".")[0], "")
            value = float(sv["value"]) * 10 ** unit_of_measure.get("multiplier", 0)
            signed = sv.get("signed_meter_value")
            samples.append(Sample(
                sampled_at=at, measurand=measurand, phase=sv.get("phase", ""),
                location=sv.get("location", DEFAULT_LOCATION), context=sv.get("context", DEFAULT_CONTEXT),
                unit=unit, format="SignedData" if signed else "Raw", value=value,
                raw_value=json.dumps({"value": sv["value"], "signedMeterValue": _camel(signed)}, separators=(",", ":"))
                if signed else _number_text(sv["value"])))
    return samples


def variables_from_report(report_data: list[dict[str, Any]]) -> list[VariableRecord]:
    """NotifyReport reportData (snake_case) to one record per variable attribute."""
    records = []
    for item in report_data:
        component, variable = item["component"], item["variable"]
        evse = component.get("evse") or {}
        characteristics = item.get("variable_characteristics") or {}
        for attribute in item.get("variable_attribute", []):
            records.append(VariableRecord(
                component=component["name"], component_instance=component.get("instance", ""),
                evse_number=evse.get("id", 0), evse_connector_id=evse.get("connector_id", 0),
                variable=variable["name"], variable_instance=variable.get("instance", ""),
                attribute_type=attribute.get("type", "Actual"), value=attribute.get("value"),
                mutability=attribute.get("mutability", "ReadWrite"), data_type=characteristics.get("data_type", ""),
                unit=characteristics.get("unit", ""), max_limit=_float(characteristics.get("max_limit")),
                values_list=characteristics.get("values_list", "")))
    return records


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _number_text(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _camel(signed: dict[str, Any]) -> dict[str, Any]:
    # The wire's own spelling, so the record is the charger's data exactly.
    names = {"signed_meter_data": "signedMeterData", "signing_method": "signingMethod",
             "encoding_method": "encodingMethod", "public_key": "publicKey"}
    return {names.get(k, k): v for k, v in signed.items()}


# -- outbound: what the ChargerLink puts in its requests ---------------------------------------------

# 1.6's ChargePointMaxProfile became 2.0.1's ChargingStationMaxProfile; the others kept their names.
_PURPOSES = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}


def id_token(id_tag: str) -> dict[str, Any]:
    """The IdTokenType of one of our tags: the user group's tags are RFID cards (ISO 14443)."""
    return {"id_token": id_tag, "type": "ISO14443"}


def group_id_token(parent_id_tag: str) -> dict[str, Any]:
    return {"id_token": parent_id_tag, "type": "Central"}


def profile_purpose(purpose: str) -> str:
    return _PURPOSES.get(purpose, purpose)


def charging_profile(limit: ChargingLimit, transaction_id: str | None = None,
                     for_remote_start: bool = False) -> dict[str, Any]:
    """A ChargingProfileType (snake_case) holding one limit; `transaction_id` is the charger's own.

    The single schedule takes the profile's id. The limit has at most one decimal (the schema's
    "at most one digit fraction").
    """
    periods = [{"start_period": offset, "limit": value, **({"number_phases": limit.number_phases}
                                                           if limit.number_phases else {})}
               for offset, value in limit.periods()]
    schedule: dict[str, Any] = {"id": limit.profile_id, "charging_rate_unit": limit.unit,
                                "charging_schedule_period": periods,
                                "start_schedule": to_wire_time(limit.start)}
    if limit.duration_s:
        schedule["duration"] = limit.duration_s
    profile: dict[str, Any] = {
        "id": limit.profile_id, "stack_level": limit.stack_level,
        "charging_profile_purpose": "TxProfile" if for_remote_start else profile_purpose(limit.purpose),
        "charging_profile_kind": "Absolute", "charging_schedule": [schedule]}
    # 2.0.1 F01/K01: a TxProfile names its transaction, except in RequestStartTransaction (none exists yet).
    if transaction_id is not None and not for_remote_start:
        profile["transaction_id"] = transaction_id
    return profile


def local_list_entries(entries: list[LocalListEntry]) -> list[dict[str, Any]] | None:
    """AuthorizationData for SendLocalList; an entry without status has no idTokenInfo, which removes the
    tag in a differential update. An empty list is left out (the schema wants at least one item)."""
    out = []
    for entry in entries:
        item: dict[str, Any] = {"id_token": id_token(entry.id_tag)}
        if entry.status is not None:
            info: dict[str, Any] = {"status": entry.status}
            if entry.expires_at is not None:
                info["cache_expiry_date_time"] = to_wire_time(entry.expires_at)
            if entry.parent_id_tag:
                info["group_id_token"] = group_id_token(entry.parent_id_tag)
            item["id_token_info"] = info
        out.append(item)
    return out or None
