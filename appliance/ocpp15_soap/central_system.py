"""OCPP 1.x SOAP, inbound: each CentralSystemService request translated into one core call.

Version quirks resolved here, from the version's data: 1.x integer transaction ids are our
transaction ids; 1.5 has no Pending registration and spells units Amp/Volt; 1.5 sampled values are
attributes of a value element where 1.6 has elements. Each sampled value goes through the 1.6 wire
helper `sample`, so both versions (and JSON) give an absent field the same meaning.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any, Awaitable, Callable

from appliance.core.authorization import AuthResult
from appliance.core.chargers import BootInfo
from appliance.core.metering import Sample
from appliance.core.services import Core
from appliance.ocpp15_soap.cs_models import CsVersion
from appliance.ocpp15_soap.cs_service import OPERATIONS
from appliance.ocpp16.wire import id_tag_info, sample
from appliance.ocppj.frames import parse_datetime

Handler = Callable[[str, Any], Awaitable[Any]]


class CentralSystem:
    """The handlers of one version's CentralSystemService: `await handler(identity, request)`."""

    def __init__(self, core: Core, version: CsVersion, models: SimpleNamespace) -> None:
        self.core = core
        self.v = version
        self.m = models
        # on_boot_notification for BootNotification; a missing handler fails here, at start.
        self.handlers: dict[str, Handler] = {
            name: getattr(self, "on" + "".join("_" + c.lower() if c.isupper() else c for c in name))
            for name in OPERATIONS}

    async def on_boot_notification(self, identity: str, req: Any) -> Any:
        info = BootInfo(
            vendor=req.chargePointVendor, model=req.chargePointModel,
            serial_number=req.chargePointSerialNumber or req.chargeBoxSerialNumber or "",
            firmware_version=req.firmwareVersion or "", iccid=req.iccid or "", imsi=req.imsi or "",
            meter_type=req.meterType or "", meter_serial_number=req.meterSerialNumber or "")
        outcome = await self.core.chargers.boot(identity, self.v.protocol, info)
        statuses = self.v.enums["RegistrationStatus"]
        # OCPP 1.5 knows no Pending: the charger is told Rejected and boots again after the interval.
        status = outcome.status if outcome.status in statuses else "Rejected"
        return self.m.BootNotificationResponse(status=status, currentTime=outcome.current_time,
                                               **{self.v.boot_interval_field: outcome.interval_s})

    async def on_heartbeat(self, identity: str, req: Any) -> Any:
        return self.m.HeartbeatResponse(currentTime=dt.datetime.now(dt.timezone.utc))

    async def on_authorize(self, identity: str, req: Any) -> Any:
        auth = await self.core.transactions.authorize(identity, req.idTag)
        return self.m.AuthorizeResponse(idTagInfo=self._id_tag_info(auth))

    async def on_start_transaction(self, identity: str, req: Any) -> Any:
        outcome = await self.core.transactions.start(
            identity, req.connectorId, req.idTag, req.meterStart, _utc(req.timestamp),
            reservation_id=req.reservationId, evse_number=req.connectorId)
        return self.m.StartTransactionResponse(transactionId=outcome.transaction_id,
                                               idTagInfo=self._id_tag_info(outcome.auth))

    async def on_stop_transaction(self, identity: str, req: Any) -> Any:
        meter_values = req.transactionData or []
        if self.v.transaction_data_wrapped:  # 1.5: each TransactionData holds MeterValues
            meter_values = [mv for data in meter_values for mv in (data.values or [])]
        outcome = await self.core.transactions.stop(
            identity, req.transactionId, req.meterStop, _utc(req.timestamp), getattr(req, "reason", None) or "Local",
            req.idTag, self._samples(meter_values))
        return self.m.StopTransactionResponse(idTagInfo=self._id_tag_info(outcome.auth) if outcome.auth else None)

    async def on_meter_values(self, identity: str, req: Any) -> Any:
        meter_values = getattr(req, self.v.meter_value_field) or []
        await self.core.transactions.meter_values(identity, req.connectorId, req.transactionId,
                                                  self._samples(meter_values))
        return self.m.MeterValuesResponse()

    async def on_status_notification(self, identity: str, req: Any) -> Any:
        await self.core.chargers.report_status(
            identity, req.connectorId, req.status, req.errorCode, req.info or "", req.vendorErrorCode or "",
            _utc(req.timestamp) if req.timestamp else None, evse_number=req.connectorId or None)
        return self.m.StatusNotificationResponse()

    async def on_firmware_status_notification(self, identity: str, req: Any) -> Any:
        await self.core.chargers.report_firmware_status(identity, req.status)
        return self.m.FirmwareStatusNotificationResponse()

    async def on_diagnostics_status_notification(self, identity: str, req: Any) -> Any:
        await self.core.chargers.report_diagnostics_status(identity, req.status)
        return self.m.DiagnosticsStatusNotificationResponse()

    async def on_data_transfer(self, identity: str, req: Any) -> Any:
        answer = await self.core.data_transfers.receive(identity, req.vendorId, req.messageId, req.data)
        return self.m.DataTransferResponse(status=answer.status, data=answer.data)

    # -- translation ------------------------------------------------------------------------

    def _id_tag_info(self, auth: AuthResult) -> Any:
        info = id_tag_info(auth)
        expiry = info.get("expiry_date")
        return self.m.IdTagInfo(status=info["status"], expiryDate=parse_datetime(expiry) if expiry else None,
                                parentIdTag=info.get("parent_id_tag"))

    def _samples(self, meter_values: list[Any]) -> list[Sample]:
        """MeterValue objects of either version as samples, timed to the millisecond as the 1.6 wire
        form times them (so a replay stored before and after an upgrade is recognised alike)."""
        field, aliases = self.v.sampled_value_field, self.v.unit_aliases
        samples = []
        for mv in meter_values:
            at = _utc(mv.timestamp)
            at = at.replace(microsecond=at.microsecond - at.microsecond % 1000)
            for sv in getattr(mv, field) or ():
                unit = sv.unit
                samples.append(sample(at, sv.value or "", sv.measurand, getattr(sv, "phase", None), sv.location,
                                      sv.context, aliases.get(unit, unit), sv.format))
        return samples


def _utc(value: dt.datetime) -> dt.datetime:
    """An xs:dateTime without an offset is taken as UTC, as chargers mean it."""
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
