"""The ChargePointService's message types (what the appliance sends a SOAP charger), built for one
OCPP 1.x SOAP version.

One definition serves 1.5 and 1.6: what differs (namespace, operations, enumeration values, text
limits, the elements of a few types and their order) is data in a `CpVersion`; 1.6's is in
`appliance.ocpp16.soap_link`. Element and type names follow the official WSDLs, so a charger built
from those and the appliance exchange the same XML.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Mapping

from spyne import AnyUri, Boolean, ComplexModel, DateTime, Decimal, Enum, Unicode
from spyne.model.primitive import Int


@dataclass(frozen=True)
class CpVersion:
    """One OCPP 1.x ChargePointService, as far as it differs from the others."""

    version: str  # "1.5"
    namespace: str  # the WSDL's target namespace
    protocol: str  # the charger protocol the core knows it by
    operations: tuple[str, ...]  # what the appliance may call, in the official WSDL's order
    enums: Mapping[str, tuple[str, ...]]  # simple type name -> its values, in schema order
    text_limits: Mapping[str, int]  # "Type.element" -> maxLength (CiStringNNType), where the version bounds a text
    elements: Mapping[str, tuple[str, ...]]  # type -> its elements in schema order, for types the versions differ in
    wsdl_file: str  # the committed WSDL's name in appliance/ocpp15_soap/wsdl/


def required(model: Any) -> Any:
    return _occurs(model, min_occurs=1)


def optional(model: Any) -> Any:
    return _occurs(model, min_occurs=0)


def repeated(model: Any, min_occurs: int = 0) -> Any:
    return _occurs(model, min_occurs=min_occurs, max_occurs="unbounded")


def _occurs(model: Any, **occurrence: Any) -> Any:
    # spyne forgets a named restriction's type name when it is customized again (IdToken would turn
    # into one anonymous type per element): keep it. nillable=False: the official schemas have none.
    if getattr(model, "__orig__", None) is not None and isinstance(model.__type_name__, str):
        occurrence["type_name"] = model.__type_name__
    return model.customize(nillable=False, **occurrence)


class _Builder:
    """Fresh spyne classes for one version (spyne fixes a class's namespace on first use, so no class
    is shared between the versions' applications)."""

    def __init__(self, version: CpVersion) -> None:
        self.v = version
        self.ns = version.namespace
        self.types: dict[str, Any] = {}

    def enum(self, name: str) -> Any:
        if name not in self.types:
            self.types[name] = Enum(*self.v.enums[name], type_name=name, __namespace__=self.ns)
        return self.types[name]

    def text(self, key: str) -> Any:
        """A text element: CiStringNNType where the version bounds it ("Type.element"), else xs:string."""
        max_len = self.v.text_limits.get(key)
        if max_len is None:
            return Unicode
        name = f"CiString{max_len}Type"
        if name not in self.types:
            self.types[name] = Unicode(max_len=max_len, type_name=name, __namespace__=self.ns)
        return self.types[name]

    def named(self, name: str, base: Any, **restriction: Any) -> Any:
        if name not in self.types:
            self.types[name] = base(type_name=name, __namespace__=self.ns, **restriction)
        return self.types[name]

    def complex(self, name: str, members: list[tuple[str, Any]]) -> Any:
        """A complex type; where the version lists the type's elements, those, in its order."""
        chosen = dict(members)
        if name in self.v.elements:
            chosen = {element: chosen[element] for element in self.v.elements[name]}
        self.types[name] = ComplexModel.produce(self.ns, name, chosen)
        return self.types[name]

    def status_response(self, name: str, status_type: str) -> Any:
        return self.complex(name, [("status", required(self.enum(status_type)))])


def build_models(version: CpVersion) -> SimpleNamespace:
    """Every request and response type of the version's ChargePointService, by its WSDL type name.

    ClearCache's and GetLocalListVersion's requests are empty: spyne makes those itself.
    """
    b = _Builder(version)
    id_token = b.named("IdToken", Unicode, max_len=20)
    id_tag_info = b.complex("IdTagInfo", [
        ("status", required(b.enum("AuthorizationStatus"))),
        ("expiryDate", optional(DateTime)),
        ("parentIdTag", optional(id_token)),
    ])
    b.complex("UnlockConnectorRequest", [("connectorId", required(Int))])
    b.status_response("UnlockConnectorResponse", "UnlockStatus")
    b.complex("ResetRequest", [("type", required(b.enum("ResetType")))])
    b.status_response("ResetResponse", "ResetStatus")
    b.complex("ChangeAvailabilityRequest", [("connectorId", required(Int)),
                                            ("type", required(b.enum("AvailabilityType")))])
    b.status_response("ChangeAvailabilityResponse", "AvailabilityStatus")
    b.complex("GetDiagnosticsRequest", [
        ("location", required(AnyUri)),
        ("startTime", optional(DateTime)),
        ("stopTime", optional(DateTime)),
        ("retries", optional(Int)),
        ("retryInterval", optional(Int)),
    ])
    b.complex("GetDiagnosticsResponse", [("fileName", optional(b.text("GetDiagnosticsResponse.fileName")))])
    b.status_response("ClearCacheResponse", "ClearCacheStatus")
    b.complex("UpdateFirmwareRequest", [
        ("retrieveDate", required(DateTime)),
        ("location", required(AnyUri)),
        ("retries", optional(Int)),
        ("retryInterval", optional(Int)),
    ])
    b.complex("UpdateFirmwareResponse", [])
    b.complex("ChangeConfigurationRequest", [("key", required(b.text("ChangeConfigurationRequest.key"))),
                                             ("value", required(b.text("ChangeConfigurationRequest.value")))])
    b.status_response("ChangeConfigurationResponse", "ConfigurationStatus")
    charging_profile = _charging_profile(b) if "SetChargingProfile" in version.operations else None
    b.complex("RemoteStartTransactionRequest", [
        ("connectorId", optional(Int)),
        ("idTag", required(id_token)),
        *([("chargingProfile", optional(charging_profile))] if charging_profile else []),
    ])
    b.status_response("RemoteStartTransactionResponse", "RemoteStartStopStatus")
    b.complex("RemoteStopTransactionRequest", [("transactionId", required(Int))])
    b.status_response("RemoteStopTransactionResponse", "RemoteStartStopStatus")
    b.complex("CancelReservationRequest", [("reservationId", required(Int))])
    b.status_response("CancelReservationResponse", "CancelReservationStatus")
    b.complex("DataTransferRequest", [
        ("vendorId", required(b.text("DataTransferRequest.vendorId"))),
        ("messageId", optional(b.text("DataTransferRequest.messageId"))),
        ("data", optional(Unicode)),
    ])
    b.complex("DataTransferResponse", [("status", required(b.enum("DataTransferStatus"))),
                                       ("data", optional(Unicode))])
    b.complex("GetConfigurationRequest", [("key", repeated(b.text("GetConfigurationRequest.key")))])
    key_value = b.complex("KeyValue", [
        ("key", required(b.text("KeyValue.key"))),
        ("readonly", required(Boolean)),
        ("value", optional(b.text("KeyValue.value"))),
    ])
    b.complex("GetConfigurationResponse", [
        ("configurationKey", repeated(key_value)),
        ("unknownKey", repeated(b.text("GetConfigurationResponse.unknownKey"))),
    ])
    b.complex("GetLocalListVersionResponse", [("listVersion", required(Int))])
    b.complex("ReserveNowRequest", [
        ("connectorId", required(Int)),
        ("expiryDate", required(DateTime)),
        ("idTag", required(id_token)),
        ("parentIdTag", optional(id_token)),
        ("reservationId", required(Int)),
    ])
    b.status_response("ReserveNowResponse", "ReservationStatus")
    _send_local_list(b, id_token, id_tag_info)
    if charging_profile is not None:
        _smart_charging(b, charging_profile)
    if "TriggerMessage" in version.operations:
        b.complex("TriggerMessageRequest", [("requestedMessage", required(b.enum("MessageTrigger"))),
                                            ("connectorId", optional(Int))])
        b.status_response("TriggerMessageResponse", "TriggerMessageStatus")
    return SimpleNamespace(**b.types)


def _send_local_list(b: _Builder, id_token: Any, id_tag_info: Any) -> None:
    # 1.5 spells it AuthorisationData/localAuthorisationList and guards the list with a hash; 1.6 spells
    # it with a z and has no hash. Each version's `elements` picks its own.
    entries = {spelling: b.complex(f"Authori{spelling}ationData", [("idTag", required(id_token)),
                                                                    ("idTagInfo", optional(id_tag_info))])
               for spelling in ("s", "z")}
    b.complex("SendLocalListRequest", [
        ("updateType", required(b.enum("UpdateType"))),
        ("listVersion", required(Int)),
        ("localAuthorisationList", repeated(entries["s"])),
        ("localAuthorizationList", repeated(entries["z"])),
        ("hash", optional(Unicode)),
    ])
    b.complex("SendLocalListResponse", [("status", required(b.enum("UpdateStatus"))), ("hash", optional(Unicode))])


def _charging_profile(b: _Builder) -> Any:
    decimal_one = b.named("DecimalOne", Decimal, fraction_digits=1)
    period = b.complex("ChargingSchedulePeriod", [
        ("startPeriod", required(Int)),
        ("limit", required(decimal_one)),
        ("numberPhases", optional(Int)),
    ])
    b.complex("ChargingSchedule", [
        ("duration", optional(Int)),
        ("startSchedule", optional(DateTime)),
        ("chargingRateUnit", required(b.enum("ChargingRateUnitType"))),
        ("chargingSchedulePeriod", repeated(period, min_occurs=1)),
        ("minChargingRate", optional(decimal_one)),
    ])
    return b.complex("ChargingProfile", [
        ("chargingProfileId", required(Int)),
        ("transactionId", optional(Int)),
        ("stackLevel", required(Int)),
        ("chargingProfilePurpose", required(b.enum("ChargingProfilePurposeType"))),
        ("chargingProfileKind", required(b.enum("ChargingProfileKindType"))),
        ("recurrencyKind", optional(b.enum("RecurrencyKindType"))),
        ("validFrom", optional(DateTime)),
        ("validTo", optional(DateTime)),
        ("chargingSchedule", required(b.types["ChargingSchedule"])),
    ])


def _smart_charging(b: _Builder, charging_profile: Any) -> None:
    b.complex("SetChargingProfileRequest", [("connectorId", required(Int)),
                                            ("csChargingProfiles", required(charging_profile))])
    b.status_response("SetChargingProfileResponse", "ChargingProfileStatus")
    b.complex("ClearChargingProfileRequest", [
        ("id", optional(Int)),
        ("connectorId", optional(Int)),
        ("chargingProfilePurpose", optional(b.enum("ChargingProfilePurposeType"))),
        ("stackLevel", optional(Int)),
    ])
    b.status_response("ClearChargingProfileResponse", "ClearChargingProfileStatus")
    b.complex("GetCompositeScheduleRequest", [
        ("connectorId", required(Int)),
        ("duration", required(Int)),
        ("chargingRateUnit", optional(b.enum("ChargingRateUnitType"))),
    ])
    b.complex("GetCompositeScheduleResponse", [
        ("status", required(b.enum("GetCompositeScheduleStatus"))),
        ("connectorId", optional(Int)),
        ("scheduleStart", optional(DateTime)),
        ("chargingSchedule", optional(b.types["ChargingSchedule"])),
    ])


# Values 1.5 and 1.6 share; each version adds its own where it is defined.
COMMON_ENUMS: dict[str, tuple[str, ...]] = {
    "AuthorizationStatus": ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"),
    "ResetType": ("Hard", "Soft"),
    "ResetStatus": ("Accepted", "Rejected"),
    "AvailabilityType": ("Inoperative", "Operative"),
    "AvailabilityStatus": ("Accepted", "Rejected", "Scheduled"),
    "ClearCacheStatus": ("Accepted", "Rejected"),
    "RemoteStartStopStatus": ("Accepted", "Rejected"),
    "CancelReservationStatus": ("Accepted", "Rejected"),
    "DataTransferStatus": ("Accepted", "Rejected", "UnknownMessageId", "UnknownVendorId"),
    "ReservationStatus": ("Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"),
    "UpdateType": ("Differential", "Full"),
}

CP15 = CpVersion(
    version="1.5",
    namespace="urn://Ocpp/Cp/2012/06/",
    protocol="ocpp1.5-soap",
    # 1.5 has no TriggerMessage and no smart charging (SetChargingProfile, ClearChargingProfile,
    # GetCompositeSchedule, RemoteStartTransaction's chargingProfile).
    operations=("UnlockConnector", "Reset", "ChangeAvailability", "GetDiagnostics", "ClearCache", "UpdateFirmware",
                "ChangeConfiguration", "RemoteStartTransaction", "RemoteStopTransaction", "CancelReservation",
                "DataTransfer", "GetConfiguration", "GetLocalListVersion", "ReserveNow", "SendLocalList"),
    enums={
        **COMMON_ENUMS,
        "UnlockStatus": ("Accepted", "Rejected"),  # 1.6: Unlocked, UnlockFailed, NotSupported
        "ConfigurationStatus": ("Accepted", "Rejected", "NotSupported"),  # 1.6 adds RebootRequired
        "UpdateStatus": ("Accepted", "Failed", "HashError", "NotSupported", "VersionMismatch"),
    },
    text_limits={},  # 1.5 leaves configuration keys and values, vendor and message ids, file names unbounded
    elements={
        "RemoteStartTransactionRequest": ("idTag", "connectorId"),
        "SendLocalListRequest": ("updateType", "listVersion", "localAuthorisationList", "hash"),
        "SendLocalListResponse": ("status", "hash"),
    },
    wsdl_file="chargepoint_service_1.5.wsdl",
)
