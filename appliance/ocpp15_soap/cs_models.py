"""The CentralSystemService's message types, built for one OCPP 1.x SOAP version.

One definition serves 1.5 and 1.6: what differs between them (namespace, enumeration values, field
names, the shape of a sampled value, text limits) is data in a `CsVersion`. Element and type names
follow the official WSDLs, so a charger built from those and the appliance exchange the same XML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Mapping

from spyne import ComplexModel, DateTime, Unicode, XmlAttribute, XmlData
from spyne.model.primitive import Int


@dataclass(frozen=True)
class CsVersion:
    """One OCPP 1.x CentralSystemService, as far as it differs from the others."""

    version: str  # "1.5"
    namespace: str  # the WSDL's target namespace
    protocol: str  # the charger protocol the core knows it by
    enums: Mapping[str, tuple[str, ...]]  # simple type name -> its values, in schema order
    text_limits: Mapping[str, int]  # "Type.field" -> maxLength, where the version bounds a free text
    boot_interval_field: str  # BootNotificationResponse's heartbeat interval
    meter_value_field: str  # MeterValuesRequest's list of MeterValue
    sampled_value_field: str  # MeterValue's list of sampled values
    sampled_value_fields: tuple[str, ...]  # a sampled value's optional qualifiers, in schema order
    sampled_value_as_attributes: bool  # 1.5: qualifiers are attributes of the value's element
    transaction_data_wrapped: bool  # 1.5: StopTransaction's transactionData holds MeterValues in `values`
    stop_reason: bool  # StopTransactionRequest has a reason
    unit_aliases: Mapping[str, str] = field(default_factory=dict)  # the version's unit -> the core's


def _occurs(model: Any, **occurrence: Any) -> Any:
    # spyne forgets a named restriction's type name when it is customized again (the official WSDLs'
    # IdToken and CiString25Type would turn into one anonymous type per field): keep it.
    if getattr(model, "__orig__", None) is not None and isinstance(model.__type_name__, str):
        occurrence["type_name"] = model.__type_name__
    return model.customize(nillable=False, **occurrence)


def _required(model: Any) -> Any:
    return _occurs(model, min_occurs=1)


def _optional(model: Any) -> Any:
    return _occurs(model, min_occurs=0)


def _repeated(model: Any, min_occurs: int = 0) -> Any:
    return _occurs(model, min_occurs=min_occurs, max_occurs="unbounded")


class _Builder:
    """Makes fresh spyne classes for one version (spyne fixes a class's namespace on first use, so
    no class is shared between the versions' applications)."""

    def __init__(self, version: CsVersion) -> None:
        self.v = version
        self.ns = version.namespace
        self.types: dict[str, Any] = {}

    def enum(self, name: str) -> Any:
        # A restricted string rather than spyne's Enum, whose parsed values are objects, not strings.
        if name not in self.types:
            self.types[name] = Unicode(values=self.v.enums[name], type_name=name, __namespace__=self.ns)
        return self.types[name]

    def text(self, max_len: int | None, name: str | None = None) -> Any:
        if max_len is None:
            return Unicode
        name = name or f"CiString{max_len}Type"
        if name not in self.types:
            self.types[name] = Unicode(max_len=max_len, type_name=name, __namespace__=self.ns)
        return self.types[name]

    def limited(self, key: str) -> Any:
        """A free text that one version bounds and another does not."""
        return self.text(self.v.text_limits.get(key))

    def complex(self, name: str, members: list[tuple[str, Any]]) -> Any:
        self.types[name] = ComplexModel.produce(self.ns, name, dict(members))
        return self.types[name]


def build_models(version: CsVersion) -> SimpleNamespace:
    """Every request and response type of the version's CentralSystemService, by its WSDL type name."""
    b = _Builder(version)
    id_token = b.text(20, "IdToken")
    id_tag_info = b.complex("IdTagInfo", [
        ("status", _required(b.enum("AuthorizationStatus"))),
        ("expiryDate", _optional(DateTime)),
        ("parentIdTag", _optional(id_token)),
    ])
    b.complex("AuthorizeRequest", [("idTag", _required(id_token))])
    b.complex("AuthorizeResponse", [("idTagInfo", _required(id_tag_info))])
    b.complex("BootNotificationRequest", [
        ("chargePointVendor", _required(b.text(20))),
        ("chargePointModel", _required(b.text(20))),
        ("chargePointSerialNumber", _optional(b.text(25))),
        ("chargeBoxSerialNumber", _optional(b.text(25))),
        ("firmwareVersion", _optional(b.text(50))),
        ("iccid", _optional(b.text(20))),
        ("imsi", _optional(b.text(20))),
        ("meterType", _optional(b.text(25))),
        ("meterSerialNumber", _optional(b.text(25))),
    ])
    b.complex("BootNotificationResponse", [
        ("status", _required(b.enum("RegistrationStatus"))),
        ("currentTime", _required(DateTime)),
        (version.boot_interval_field, _required(Int)),
    ])
    b.complex("DataTransferRequest", [
        ("vendorId", _required(b.limited("DataTransferRequest.vendorId"))),
        ("messageId", _optional(b.limited("DataTransferRequest.messageId"))),
        ("data", _optional(Unicode)),
    ])
    b.complex("DataTransferResponse", [
        ("status", _required(b.enum("DataTransferStatus"))),
        ("data", _optional(Unicode)),
    ])
    for name in ("DiagnosticsStatus", "FirmwareStatus"):
        b.complex(f"{name}NotificationRequest", [("status", _required(b.enum(name)))])
    b.complex("HeartbeatResponse", [("currentTime", _required(DateTime))])
    meter_value = _meter_value(b)
    b.complex("MeterValuesRequest", [
        ("connectorId", _required(Int)),
        ("transactionId", _optional(Int)),
        (version.meter_value_field, _repeated(meter_value)),
    ])
    b.complex("StartTransactionRequest", [
        ("connectorId", _required(Int)),
        ("idTag", _required(id_token)),
        ("timestamp", _required(DateTime)),
        ("meterStart", _required(Int)),
        ("reservationId", _optional(Int)),
    ])
    b.complex("StartTransactionResponse", [("transactionId", _required(Int)), ("idTagInfo", _required(id_tag_info))])
    b.complex("StatusNotificationRequest", [
        ("connectorId", _required(Int)),
        ("status", _required(b.enum("ChargePointStatus"))),
        ("errorCode", _required(b.enum("ChargePointErrorCode"))),
        ("info", _optional(b.limited("StatusNotificationRequest.info"))),
        ("timestamp", _optional(DateTime)),
        ("vendorId", _optional(b.limited("StatusNotificationRequest.vendorId"))),
        ("vendorErrorCode", _optional(b.limited("StatusNotificationRequest.vendorErrorCode"))),
    ])
    b.complex("StopTransactionRequest", [
        ("transactionId", _required(Int)),
        ("idTag", _optional(id_token)),
        ("timestamp", _required(DateTime)),
        ("meterStop", _required(Int)),
        *([("reason", _optional(b.enum("Reason")))] if version.stop_reason else []),
        ("transactionData", _repeated(_transaction_data(b, meter_value))),
    ])
    b.complex("StopTransactionResponse", [("idTagInfo", _optional(id_tag_info))])
    # Confirmations that carry nothing (the request of Heartbeat, too, but spyne makes that one itself).
    for name in ("DiagnosticsStatusNotification", "FirmwareStatusNotification", "MeterValues", "StatusNotification"):
        b.complex(f"{name}Response", [])
    return SimpleNamespace(**b.types)


def _meter_value(b: _Builder) -> Any:
    v = b.v
    qualifiers = {"context": "ReadingContext", "format": "ValueFormat", "measurand": "Measurand", "phase": "Phase",
                  "location": "Location", "unit": "UnitOfMeasure"}
    if v.sampled_value_as_attributes:
        # 1.5: <value context=".." unit="..">123</value>, a string with optional attributes.
        sampled = ComplexModel.produce(b.ns, "MeterValueValue", {
            "value": XmlData(Unicode),
            **{name: XmlAttribute(b.enum(qualifiers[name])) for name in v.sampled_value_fields},
        })
        sampled = _repeated(sampled, min_occurs=1)
    else:
        sampled = _repeated(b.complex("SampledValue", [
            ("value", _required(Unicode)),
            *((name, _optional(b.enum(qualifiers[name]))) for name in v.sampled_value_fields),
        ]), min_occurs=1)
    return b.complex("MeterValue", [("timestamp", _required(DateTime)), (v.sampled_value_field, sampled)])


def _transaction_data(b: _Builder, meter_value: Any) -> Any:
    if not b.v.transaction_data_wrapped:
        return meter_value
    return b.complex("TransactionData", [("values", _repeated(meter_value))])


# Values shared by 1.5 and 1.6; each version's own values are added where it is defined.
COMMON_ENUMS: dict[str, tuple[str, ...]] = {
    "AuthorizationStatus": ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"),
    "DataTransferStatus": ("Accepted", "Rejected", "UnknownMessageId", "UnknownVendorId"),
    "ValueFormat": ("Raw", "SignedData"),
}

OCPP15 = CsVersion(
    version="1.5",
    namespace="urn://Ocpp/Cs/2012/06/",
    protocol="ocpp1.5-soap",
    enums={
        **COMMON_ENUMS,
        # 1.5 has no Pending: a charger the depot has not accepted yet is answered Rejected.
        "RegistrationStatus": ("Accepted", "Rejected"),
        "ChargePointStatus": ("Available", "Occupied", "Faulted", "Unavailable", "Reserved"),
        "ChargePointErrorCode": ("ConnectorLockFailure", "HighTemperature", "Mode3Error", "NoError",
                                 "PowerMeterFailure", "PowerSwitchFailure", "ReaderFailure", "ResetFailure",
                                 "GroundFailure", "OverCurrentFailure", "UnderVoltage", "WeakSignal", "OtherError"),
        "FirmwareStatus": ("Downloaded", "DownloadFailed", "InstallationFailed", "Installed"),
        "DiagnosticsStatus": ("Uploaded", "UploadFailed"),
        "ReadingContext": ("Interruption.Begin", "Interruption.End", "Sample.Clock", "Sample.Periodic",
                           "Transaction.Begin", "Transaction.End"),
        "Measurand": ("Energy.Active.Export.Register", "Energy.Active.Import.Register",
                      "Energy.Reactive.Export.Register", "Energy.Reactive.Import.Register",
                      "Energy.Active.Export.Interval", "Energy.Active.Import.Interval",
                      "Energy.Reactive.Export.Interval", "Energy.Reactive.Import.Interval", "Power.Active.Export",
                      "Power.Active.Import", "Power.Reactive.Export", "Power.Reactive.Import", "Current.Export",
                      "Current.Import", "Voltage", "Temperature"),
        "UnitOfMeasure": ("Wh", "kWh", "varh", "kvarh", "W", "kW", "var", "kvar", "Amp", "Volt", "Celsius"),
        "Location": ("Inlet", "Outlet", "Body"),
    },
    text_limits={},  # 1.5 leaves status info, vendor ids and message ids unbounded
    boot_interval_field="heartbeatInterval",
    meter_value_field="values",
    sampled_value_field="value",
    sampled_value_fields=("context", "format", "measurand", "location", "unit"),
    sampled_value_as_attributes=True,
    transaction_data_wrapped=True,
    stop_reason=False,
    # The core reads 1.6 unit names; 1.5 spells amperes and volts out.
    unit_aliases={"Amp": "A", "Volt": "V"},
)
