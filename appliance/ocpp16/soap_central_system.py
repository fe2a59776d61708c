"""OCPP 1.6 SOAP CentralSystemService: how 1.6 differs from 1.5; the machinery is `ocpp15_soap`'s.

1.6 renames the boot interval and the meter value lists, turns a sampled value's attributes into
elements (adding the phase), adds a stop reason, bounds free texts, and widens most enumerations.
"""

from __future__ import annotations

from dataclasses import replace

from appliance.ocpp15_soap.cs_models import COMMON_ENUMS, OCPP15, CsVersion

OCPP16 = replace(
    OCPP15,
    version="1.6",
    namespace="urn://Ocpp/Cs/2015/10/",
    protocol="ocpp1.6-soap",
    enums={
        **COMMON_ENUMS,
        "RegistrationStatus": ("Accepted", "Pending", "Rejected"),
        "ChargePointStatus": ("Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing",
                              "Reserved", "Faulted", "Unavailable"),
        "ChargePointErrorCode": ("ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature",
                                 "InternalError", "LocalListConflict", "NoError", "OtherError", "OverCurrentFailure",
                                 "OverVoltage", "PowerMeterFailure", "PowerSwitchFailure", "ReaderFailure",
                                 "ResetFailure", "UnderVoltage", "WeakSignal"),
        "FirmwareStatus": ("Downloaded", "DownloadFailed", "Downloading", "Idle", "InstallationFailed", "Installed",
                           "Installing"),
        "DiagnosticsStatus": ("Idle", "Uploaded", "UploadFailed", "Uploading"),
        "ReadingContext": ("Interruption.Begin", "Interruption.End", "Other", "Sample.Clock", "Sample.Periodic",
                           "Transaction.Begin", "Transaction.End", "Trigger"),
        "Measurand": ("Current.Export", "Current.Import", "Current.Offered", "Energy.Active.Export.Register",
                      "Energy.Active.Import.Register", "Energy.Reactive.Export.Register",
                      "Energy.Reactive.Import.Register", "Energy.Active.Export.Interval",
                      "Energy.Active.Import.Interval", "Energy.Reactive.Export.Interval",
                      "Energy.Reactive.Import.Interval", "Frequency", "Power.Active.Export", "Power.Active.Import",
                      "Power.Factor", "Power.Offered", "Power.Reactive.Export", "Power.Reactive.Import", "RPM", "SoC",
                      "Temperature", "Voltage"),
        "Phase": ("L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1"),
        "UnitOfMeasure": ("Celsius", "Fahrenheit", "Wh", "kWh", "varh", "kvarh", "W", "kW", "VA", "kVA", "var", "kvar",
                          "A", "V", "K", "Percent"),
        "Location": ("Body", "Cable", "EV", "Inlet", "Outlet"),
        "Reason": ("EmergencyStop", "EVDisconnected", "HardReset", "Local", "Other", "PowerLoss", "Reboot", "Remote",
                   "SoftReset", "UnlockCommand", "DeAuthorized"),
    },
    text_limits={"StatusNotificationRequest.info": 50, "StatusNotificationRequest.vendorId": 255,
                 "StatusNotificationRequest.vendorErrorCode": 50, "DataTransferRequest.vendorId": 255,
                 "DataTransferRequest.messageId": 50},
    boot_interval_field="interval",
    meter_value_field="meterValue",
    sampled_value_field="sampledValue",
    sampled_value_fields=("context", "format", "measurand", "phase", "location", "unit"),
    sampled_value_as_attributes=False,
    transaction_data_wrapped=False,
    stop_reason=True,
    unit_aliases={},
)
