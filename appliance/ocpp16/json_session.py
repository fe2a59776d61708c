"""OCPP 1.6 JSON, inbound: each charger-initiated message translated into one core call.

Version quirks resolved here and nowhere else: 1.6 integer transaction ids are our transaction
ids; meter values arrive as strings with units (Wh or kWh) and defaults the spec implies.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from appliance.core.chargers import BootInfo
from appliance.ocpp16.json_link import Ocpp16JsonLink
from appliance.ocpp16.wire import id_tag_info, samples_from_meter_values, to_wire_time
from appliance.ocppj.frames import parse_datetime
from appliance.ocppj.session import OcppJSession


class Ocpp16JsonSession(OcppJSession):
    ocpp_version = "1.6"
    protocol = "ocpp1.6-json"
    link_class = Ocpp16JsonLink
    # What the library's call() needs to validate and build answers for this version.
    _ocpp_version = "1.6"
    _call_result = call_result

    def known_actions(self) -> set[str]:
        return {a.value for a in Action}

    @on(Action.boot_notification)
    async def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **kw: Any):
        info = BootInfo(
            vendor=charge_point_vendor, model=charge_point_model,
            serial_number=kw.get("charge_point_serial_number") or kw.get("charge_box_serial_number") or "",
            firmware_version=kw.get("firmware_version", ""), iccid=kw.get("iccid", ""), imsi=kw.get("imsi", ""),
            meter_type=kw.get("meter_type", ""), meter_serial_number=kw.get("meter_serial_number", ""))
        outcome = await self.core.chargers.boot(self.id, self.protocol, info)
        return call_result.BootNotification(current_time=to_wire_time(outcome.current_time),
                                            interval=outcome.interval_s, status=outcome.status)

    @on(Action.heartbeat)
    async def on_heartbeat(self, **kw: Any):
        return call_result.Heartbeat(current_time=to_wire_time(None))

    @on(Action.status_notification)
    async def on_status_notification(self, connector_id: int, error_code: str, status: str, **kw: Any):
        timestamp = kw.get("timestamp")
        await self.core.chargers.report_status(
            self.id, connector_id, status, error_code, kw.get("info", ""), kw.get("vendor_error_code", ""),
            parse_datetime(timestamp) if timestamp else None, evse_number=connector_id or None)
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, **kw: Any):
        auth = await self.core.transactions.authorize(self.id, id_tag)
        return call_result.Authorize(id_tag_info=id_tag_info(auth))

    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str,
                                   **kw: Any):
        outcome = await self.core.transactions.start(
            self.id, connector_id, id_tag, meter_start, parse_datetime(timestamp),
            reservation_id=kw.get("reservation_id"), evse_number=connector_id)
        return call_result.StartTransaction(transaction_id=outcome.transaction_id,
                                            id_tag_info=id_tag_info(outcome.auth))

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **kw: Any):
        outcome = await self.core.transactions.stop(
            self.id, transaction_id, meter_stop, parse_datetime(timestamp), kw.get("reason", "Local"),
            kw.get("id_tag"), samples_from_meter_values(kw.get("transaction_data") or []))
        return call_result.StopTransaction(id_tag_info=id_tag_info(outcome.auth) if outcome.auth else None)

    @on(Action.meter_values)
    async def on_meter_values(self, connector_id: int, meter_value: list, **kw: Any):
        await self.core.transactions.meter_values(self.id, connector_id, kw.get("transaction_id"),
                                                  samples_from_meter_values(meter_value))
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kw: Any):
        answer = await self.core.data_transfers.receive(self.id, vendor_id, kw.get("message_id"), kw.get("data"))
        return call_result.DataTransfer(status=answer.status, data=answer.data)

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status: str, **kw: Any):
        await self.core.chargers.report_diagnostics_status(self.id, status)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status: str, **kw: Any):
        await self.core.chargers.report_firmware_status(self.id, status)
        return call_result.FirmwareStatusNotification()
