"""OCPP 2.0.1 device-model variables named as one configuration key, and the 1.6 keys they replace.

A key is written `COMPONENT[:INSTANCE][@EVSE[:CONNECTOR]].VARIABLE[:INSTANCE]`, e.g.
`OCPPCommCtrlr.HeartbeatInterval`, `EVSE@1.Power`, `Connector@2:1.ConnectorType`,
`DeviceDataCtrlr.ItemsPerMessage:GetReport`. The common OCPP 1.6 key names are accepted too, so a
script written for 1.6 chargers works unchanged. Pure: no I/O, no wire library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# OCPP 1.6 configuration keys and the 2.0.1 variables that took their place (2.0.1 part 2, appendix 3).
ALIASES = {
    "HeartbeatInterval": "OCPPCommCtrlr.HeartbeatInterval",
    "WebSocketPingInterval": "OCPPCommCtrlr.WebSocketPingInterval",
    "ResetRetries": "OCPPCommCtrlr.ResetRetries",
    "TransactionMessageAttempts": "OCPPCommCtrlr.MessageAttempts:TransactionEvent",
    "TransactionMessageRetryInterval": "OCPPCommCtrlr.MessageAttemptInterval:TransactionEvent",
    "MeterValueSampleInterval": "SampledDataCtrlr.TxUpdatedInterval",
    "MeterValuesSampledData": "SampledDataCtrlr.TxUpdatedMeasurands",
    "StopTxnSampledData": "SampledDataCtrlr.TxEndedMeasurands",
    "ClockAlignedDataInterval": "AlignedDataCtrlr.Interval",
    "MeterValuesAlignedData": "AlignedDataCtrlr.Measurands",
    "StopTxnAlignedData": "AlignedDataCtrlr.TxEndedMeasurands",
    "ConnectionTimeOut": "TxCtrlr.EVConnectionTimeOut",
    "StopTransactionOnInvalidId": "TxCtrlr.StopTxOnInvalidId",
    "StopTransactionOnEVSideDisconnect": "TxCtrlr.StopTxOnEVSideDisconnect",
    "MaxEnergyOnInvalidId": "TxCtrlr.MaxEnergyOnInvalidId",
    "LocalPreAuthorize": "AuthCtrlr.LocalPreAuthorize",
    "LocalAuthorizeOffline": "AuthCtrlr.LocalAuthorizeOffline",
    "AllowOfflineTxForUnknownId": "AuthCtrlr.OfflineTxForUnknownIdEnabled",
    "AuthorizeRemoteTxRequests": "AuthCtrlr.AuthorizeRemoteStart",
    "AuthorizationCacheEnabled": "AuthCacheCtrlr.Enabled",
    "LocalAuthListEnabled": "LocalAuthListCtrlr.Enabled",
    "SendLocalListMaxLength": "LocalAuthListCtrlr.ItemsPerMessage",
    "ReserveConnectorZeroSupported": "ReservationCtrlr.NonEvseSpecific",
    "ChargeProfileMaxStackLevel": "SmartChargingCtrlr.ProfileStackLevel",
    "ChargingScheduleAllowedChargingRateUnit": "SmartChargingCtrlr.RateUnit",
    "ChargingScheduleMaxPeriods": "SmartChargingCtrlr.PeriodsPerSchedule",
    "MaxChargingProfilesInstalled": "SmartChargingCtrlr.Entries:ChargingProfiles",
    "GetConfigurationMaxKeys": "DeviceDataCtrlr.ItemsPerMessage:GetVariables",
    "AuthorizationKey": "SecurityCtrlr.BasicAuthPassword",
    "SecurityProfile": "SecurityCtrlr.SecurityProfile",
}
_ALIASES_FOLDED = {k.lower(): v for k, v in ALIASES.items()}  # 2.0.1 names are case-insensitive
# Standard names in their spec spelling: a key written in any case goes out in this one, for stations that
# compare names case-sensitively (against the spec) and for the logs, which mask BasicAuthPassword.
_STANDARD_NAMES = {name.lower(): name for target in ALIASES.values() for name in re.split(r"[.:]", target)} | {
    name.lower(): name for name in ("ChargingStation", "EVSE", "Connector", "AvailabilityState", "Power",
                                    "SupplyPhases", "ConnectorType", "Model", "VendorName", "Enabled")}

MAX_NAME_LENGTH = 50  # ComponentType/VariableType name and instance: string(50)
_KEY = re.compile(r"""
    (?P<component>[^.:@\s]+) (?: : (?P<component_instance>[^.:@\s]+) )?
    (?: @ (?P<evse>\d+) (?: : (?P<connector>\d+) )? )?
    \. (?P<variable>[^:\s]+) (?: : (?P<variable_instance>\S+) )?
""", re.VERBOSE)
KEY_FORM = "COMPONENT[:INSTANCE][@EVSE[:CONNECTOR]].VARIABLE[:INSTANCE]"


@dataclass(frozen=True)
class VariableKey:
    component: str
    variable: str
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    variable_instance: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """ComponentType and VariableType (snake_case, as the `ocpp` library takes them)."""
        component: dict[str, Any] = {"name": self.component}
        if self.component_instance is not None:
            component["instance"] = self.component_instance
        if self.evse_id is not None:
            component["evse"] = {"id": self.evse_id}
            if self.connector_id is not None:
                component["evse"]["connector_id"] = self.connector_id
        variable: dict[str, Any] = {"name": self.variable}
        if self.variable_instance is not None:
            variable["instance"] = self.variable_instance
        return {"component": component, "variable": variable}

    def same_as(self, other: VariableKey) -> bool:
        """Equal as the charger sees it: names and instances are "Case Insensitive" (ComponentType, VariableType)."""
        return _folded(self) == _folded(other)


def parse_key(text: str) -> VariableKey:
    """A written key (or a 1.6 alias) as a VariableKey; raises ValueError saying what is wrong."""
    if "." not in text:
        alias = _ALIASES_FOLDED.get(text.lower())
        if alias is None:
            raise ValueError(f"{text!r} is not an OCPP 2.0.1 variable nor a 1.6 key with a 2.0.1 equivalent; "
                             f"write {KEY_FORM}, e.g. OCPPCommCtrlr.HeartbeatInterval")
        text = alias
    match = _KEY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a key of the form {KEY_FORM}")
    evse, connector = match["evse"], match["connector"]
    if (evse is not None and int(evse) < 1) or (connector is not None and int(connector) < 1):
        raise ValueError(f"{text!r}: EVSE and connector numbers start at 1")
    key = VariableKey(_standard(match["component"]), _standard(match["variable"]), match["component_instance"],
                      int(evse) if evse is not None else None, int(connector) if connector is not None else None,
                      match["variable_instance"])
    too_long = [name for name in (key.component, key.variable, key.component_instance, key.variable_instance)
                if name is not None and len(name) > MAX_NAME_LENGTH]
    if too_long:
        raise ValueError(f"{text!r}: {too_long[0]!r} is longer than {MAX_NAME_LENGTH} characters")
    return key


def format_key(key: VariableKey) -> str:
    text = key.component
    if key.component_instance is not None:
        text += f":{key.component_instance}"
    if key.evse_id is not None:
        text += f"@{key.evse_id}"
        if key.connector_id is not None:
            text += f":{key.connector_id}"
    text += f".{key.variable}"
    if key.variable_instance is not None:
        text += f":{key.variable_instance}"
    return text


def key_from_wire(component: dict[str, Any], variable: dict[str, Any]) -> VariableKey:
    """The key of a ComponentType and VariableType as the charger reports them (snake_case)."""
    evse = component.get("evse") or {}
    return VariableKey(component["name"], variable["name"], component.get("instance"), evse.get("id"),
                       evse.get("connector_id"), variable.get("instance"))


def configuration_from_report(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NotifyReport parts (snake_case payloads) as OCPP 1.6 GetConfiguration keys: key, readonly, value.

    Only the Actual attribute is a configuration value (an absent type means Actual); an absent
    mutability means ReadWrite and an absent value a WriteOnly variable (2.0.1 VariableAttributeType).
    """
    keys = []
    for part in sorted(parts, key=lambda p: p.get("seq_no", 0)):
        for data in part.get("report_data") or []:
            actual = next((a for a in data["variable_attribute"] if a.get("type", "Actual") == "Actual"), None)
            if actual is None:
                continue
            entry: dict[str, Any] = {"key": format_key(key_from_wire(data["component"], data["variable"])),
                                     "readonly": actual.get("mutability", "ReadWrite") == "ReadOnly"}
            if "value" in actual:
                entry["value"] = actual["value"]
            keys.append(entry)
    return keys


def _standard(name: str) -> str:
    return _STANDARD_NAMES.get(name.lower(), name)


def _folded(key: VariableKey) -> tuple[Any, ...]:
    return (key.component.lower(), (key.component_instance or "").lower(), key.evse_id, key.connector_id,
            key.variable.lower(), (key.variable_instance or "").lower())
