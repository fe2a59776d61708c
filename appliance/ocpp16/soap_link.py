"""OCPP 1.6 SOAP, outbound: ChargerLink over zeep. What 1.6's ChargePointService adds to 1.5's
(TriggerMessage, smart charging, bounded texts, its own status values, the local list's spelling) is
data; the machinery is `appliance.ocpp15_soap.link`'s."""

from __future__ import annotations

from dataclasses import replace

from appliance.ocpp15_soap.cp_models import COMMON_ENUMS, CP15, CpVersion
from appliance.ocpp15_soap.link import SoapLink

CP16: CpVersion = replace(
    CP15,
    version="1.6",
    namespace="urn://Ocpp/Cp/2015/10/",
    protocol="ocpp1.6-soap",
    operations=("CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache", "ClearChargingProfile",
                "DataTransfer", "GetConfiguration", "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction",
                "RemoteStopTransaction", "GetCompositeSchedule", "ReserveNow", "Reset", "SendLocalList",
                "SetChargingProfile", "TriggerMessage", "UnlockConnector", "UpdateFirmware"),
    enums={
        **COMMON_ENUMS,
        "UnlockStatus": ("Unlocked", "UnlockFailed", "NotSupported"),
        "ConfigurationStatus": ("Accepted", "NotSupported", "RebootRequired", "Rejected"),
        "UpdateStatus": ("Accepted", "Failed", "NotSupported", "VersionMismatch"),
        "ChargingProfilePurposeType": ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"),
        "ChargingProfileKindType": ("Absolute", "Recurring", "Relative"),
        "RecurrencyKindType": ("Daily", "Weekly"),
        "ChargingRateUnitType": ("W", "A"),
        "ChargingProfileStatus": ("Accepted", "Rejected", "NotSupported"),
        "ClearChargingProfileStatus": ("Accepted", "Unknown"),
        "GetCompositeScheduleStatus": ("Accepted", "Rejected"),
        "MessageTrigger": ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
                           "Heartbeat", "MeterValues", "StatusNotification"),
        "TriggerMessageStatus": ("Accepted", "Rejected", "NotImplemented"),
    },
    text_limits={"GetDiagnosticsResponse.fileName": 255, "ChangeConfigurationRequest.key": 50,
                 "ChangeConfigurationRequest.value": 500, "DataTransferRequest.vendorId": 255,
                 "DataTransferRequest.messageId": 50, "GetConfigurationRequest.key": 50, "KeyValue.key": 50,
                 "KeyValue.value": 500, "GetConfigurationResponse.unknownKey": 50},
    elements={"SendLocalListRequest": ("listVersion", "localAuthorizationList", "updateType"),
              "SendLocalListResponse": ("status",)},
    wsdl_file="chargepoint_service_1.6.wsdl",
)


class Ocpp16SoapLink(SoapLink):
    version = CP16
    local_list_element = "localAuthorizationList"
