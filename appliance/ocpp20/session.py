"""OCPP 2.0.1 JSON, inbound: each charger-initiated message translated into one core call.

Version quirks resolved here and nowhere else: the charger mints transaction ids (mapped to ours
by the core), EVSE N is the core's connector N with its connectors inside, meter values are
numbers with a unit and a power-of-ten multiplier, and the charger describes itself in reports
(NotifyReport) that it sends in parts after the appliance asks for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from appliance.core.chargers import BootInfo
from appliance.core.transactions import TransactionEventInfo
from appliance.ocpp20.link import Ocpp201Link
from appliance.ocpp20.wire import (
    id_tag_of,
    id_token_info,
    samples_from_meter_values,
    to_wire_time,
    variables_from_report,
)
from appliance.ocppj.frames import parse_datetime
from appliance.ocppj.session import OcppJSession, camel_keys

log = logging.getLogger(__name__)


class Ocpp201Session(OcppJSession):
    ocpp_version = "2.0.1"
    protocol = "ocpp2.0.1"
    link_class = Ocpp201Link
    # B02.FR.02: a Pending charger answers the CSMS's report requests.
    allowed_before_acceptance = frozenset({"BootNotification", "NotifyReport"})
    _ocpp_version = "2.0.1"
    _call_result = call_result

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_id = 0
        self._reports: dict[int, tuple[asyncio.Future, list[dict[str, Any]]]] = {}

    def known_actions(self) -> set[str]:
        return {a.value for a in Action}

    # -- requests the appliance makes that the charger answers in later messages ---------------

    def next_request_id(self) -> int:
        self._request_id += 1
        return self._request_id

    def expect_report(self, request_id: int) -> asyncio.Future:
        """A future for every part of the report (NotifyReport, ReportChargingProfiles) with this
        requestId, resolved when the last part (tbc false) has arrived and been stored."""
        future = asyncio.get_running_loop().create_future()
        self._reports[request_id] = (future, [])
        return future

    def forget_report(self, request_id: int) -> None:
        self._reports.pop(request_id, None)

    def _report_part(self, request_id: int, part: dict[str, Any], last: bool) -> None:
        waiting = self._reports.get(request_id)
        if waiting is None:
            return
        future, parts = waiting
        parts.append(part)
        if last:
            del self._reports[request_id]
            if not future.done():
                future.set_result(parts)

    async def ask_base_report(self) -> None:
        """Learn the device model: EVSEs, connectors and the controllers' settings (the parts are
        stored as they arrive, by on_notify_report)."""
        try:
            response = await self.call(call.GetBaseReport(request_id=self.next_request_id(),
                                                          report_base="FullInventory"), suppress=False)
            if response.status != "Accepted":
                log.info("%s: GetBaseReport answered %s", self.id, response.status)
        except Exception as e:  # the charger may be gone or not support it; it will be asked at its next boot
            log.info("%s: GetBaseReport failed: %s", self.id, e)

    # -- provisioning ---------------------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(self, charging_station: dict, reason: str, **kw: Any):
        modem = charging_station.get("modem") or {}
        info = BootInfo(
            vendor=charging_station["vendor_name"], model=charging_station["model"],
            serial_number=charging_station.get("serial_number", ""),
            firmware_version=charging_station.get("firmware_version", ""),
            iccid=modem.get("iccid", ""), imsi=modem.get("imsi", ""), reason=reason)
        outcome = await self.core.chargers.boot(self.id, self.protocol, info)
        return call_result.BootNotification(current_time=to_wire_time(outcome.current_time),
                                            interval=outcome.interval_s, status=outcome.status)

    @after(Action.boot_notification)
    async def after_boot_notification(self, **kw: Any):
        if self.core.chargers.is_accepted(self.id):
            async def ask() -> None:
                if not self.closed.is_set():  # still connected after waiting its turn
                    await self.ask_base_report()

            await self.core.boot_work.run(self.id, "device model", ask)

    @on(Action.notify_report)
    async def on_notify_report(self, request_id: int, generated_at: str, seq_no: int, **kw: Any):
        variables = variables_from_report(kw.get("report_data") or [])
        if variables:
            await self.core.device_model.record(self.id, variables)
        self._report_part(request_id, {"seq_no": seq_no, "report_data": kw.get("report_data") or []},
                          last=not kw.get("tbc", False))
        return call_result.NotifyReport()

    @on(Action.heartbeat)
    async def on_heartbeat(self, **kw: Any):
        return call_result.Heartbeat(current_time=to_wire_time())

    @on(Action.status_notification)
    async def on_status_notification(self, timestamp: str, connector_status: str, evse_id: int, connector_id: int,
                                     **kw: Any):
        await self.core.chargers.report_status(
            self.id, evse_id, connector_status, reported_at=parse_datetime(timestamp),
            evse_number=evse_id or None, evse_connector_id=connector_id)
        return call_result.StatusNotification()

    # -- authorization and transactions -----------------------------------------------------

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict, **kw: Any):
        id_tag = id_tag_of(id_token)
        if id_tag is None:  # NoAuthorization: nobody to check
            return call_result.Authorize(id_token_info={"status": "Accepted"})
        auth = await self.core.transactions.authorize(self.id, id_tag)
        return call_result.Authorize(id_token_info=id_token_info(auth))

    @on(Action.transaction_event)
    async def on_transaction_event(self, event_type: str, timestamp: str, trigger_reason: str, seq_no: int,
                                   transaction_info: dict, **kw: Any):
        evse = kw.get("evse") or {}
        info = TransactionEventInfo(
            remote_tx_id=transaction_info["transaction_id"], event_type=event_type, seq_no=seq_no,
            timestamp=parse_datetime(timestamp), trigger_reason=trigger_reason,
            evse_number=evse.get("id"), evse_connector_id=evse.get("connector_id"),
            id_tag=id_tag_of(kw.get("id_token")), offline=kw.get("offline", False),
            charging_state=transaction_info.get("charging_state", ""),
            stopped_reason=transaction_info.get("stopped_reason", ""),
            remote_start_id=transaction_info.get("remote_start_id"), reservation_id=kw.get("reservation_id"),
            samples=tuple(samples_from_meter_values(kw.get("meter_value") or [])))
        outcome = await self.core.transactions.event(self.id, info)
        # idTokenInfo answers an event that carried an idToken, and only such an event.
        token_info = id_token_info(outcome.auth) if outcome.auth is not None else None
        if token_info is None and kw.get("id_token") and id_tag_of(kw["id_token"]) is None:
            token_info = {"status": "Accepted"}
        return call_result.TransactionEvent(id_token_info=token_info)

    @on(Action.meter_values)
    async def on_meter_values(self, evse_id: int, meter_value: list, **kw: Any):
        # Transaction meter values come in TransactionEvents; these are the EVSE's (or main meter's) own.
        await self.core.transactions.meter_values(self.id, evse_id, None, samples_from_meter_values(meter_value))
        return call_result.MeterValues()

    # -- firmware, logs, reservations -------------------------------------------------------

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status: str, **kw: Any):
        await self.core.chargers.report_firmware_status(self.id, status)
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status: str, **kw: Any):
        await self.core.chargers.report_diagnostics_status(self.id, status)
        return call_result.LogStatusNotification()

    @on(Action.reservation_status_update)
    async def on_reservation_status_update(self, reservation_id: int, reservation_update_status: str, **kw: Any):
        await self.core.reports.record(self.id, "reservation", {"reservationId": reservation_id,
                                                                "status": reservation_update_status},
                                       f"reservation {reservation_id} {reservation_update_status}")
        return call_result.ReservationStatusUpdate()

    # -- events and security ------------------------------------------------------------------

    @on(Action.notify_event)
    async def on_notify_event(self, generated_at: str, seq_no: int, event_data: list, **kw: Any):
        for event in event_data:
            where = f"{event['component']['name']}.{event['variable']['name']}"
            summary = f"{where} = {event.get('actual_value', '')} ({event.get('trigger', '')})"
            if event.get("tech_code"):
                summary += f" {event['tech_code']}"
            await self.core.reports.record(self.id, "event", _wire(event), summary,
                                           parse_datetime(event["timestamp"]))
        return call_result.NotifyEvent()

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type: str, timestamp: str, **kw: Any):
        await self.core.reports.record(self.id, "security_event", {"type": type, "techInfo": kw.get("tech_info")},
                                       f"{type} {kw.get('tech_info', '')}".strip(), parse_datetime(timestamp))
        return call_result.SecurityEventNotification()

    # -- smart charging ----------------------------------------------------------------------

    @on(Action.notify_charging_limit)
    async def on_notify_charging_limit(self, charging_limit: dict, **kw: Any):
        await self.core.reports.record(self.id, "charging_limit", _wire(dict(kw, charging_limit=charging_limit)),
                                       f"limit from {charging_limit['charging_limit_source']}"
                                       + (f" on EVSE {kw['evse_id']}" if kw.get("evse_id") else ""))
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    async def on_cleared_charging_limit(self, charging_limit_source: str, **kw: Any):
        await self.core.reports.record(self.id, "charging_limit_cleared", _wire(dict(kw, source=charging_limit_source)),
                                       f"limit from {charging_limit_source} cleared")
        return call_result.ClearedChargingLimit()

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(self, request_id: int, charging_limit_source: str, charging_profile: list,
                                          evse_id: int, **kw: Any):
        part = {"evse_id": evse_id, "charging_limit_source": charging_limit_source, "charging_profile": charging_profile}
        await self.core.reports.record(self.id, "charging_profiles", _wire(part),
                                       f"{len(charging_profile)} profile(s) on EVSE {evse_id} from {charging_limit_source}")
        self._report_part(request_id, part, last=not kw.get("tbc", False))
        return call_result.ReportChargingProfiles()

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(self, charging_needs: dict, evse_id: int, **kw: Any):
        await self.core.reports.record(self.id, "ev_charging_needs", _wire(dict(kw, charging_needs=charging_needs,
                                                                                evse_id=evse_id)),
                                       f"EV on EVSE {evse_id} needs {charging_needs.get('requested_energy_transfer')}")
        return call_result.NotifyEVChargingNeeds(status="Accepted")

    @on(Action.notify_ev_charging_schedule)
    async def on_notify_ev_charging_schedule(self, time_base: str, charging_schedule: dict, evse_id: int, **kw: Any):
        await self.core.reports.record(self.id, "ev_charging_schedule",
                                       _wire(dict(kw, time_base=time_base, charging_schedule=charging_schedule,
                                                  evse_id=evse_id)), f"EV schedule on EVSE {evse_id}")
        return call_result.NotifyEVChargingSchedule(status="Accepted")

    # -- vendor specific ----------------------------------------------------------------------

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kw: Any):
        data = kw.get("data")
        # 2.0.1 allows any JSON as data; the core's vendor handlers take text, as 1.6 carries it.
        text = data if isinstance(data, str) or data is None else json.dumps(data, separators=(",", ":"))
        answer = await self.core.data_transfers.receive(self.id, vendor_id, kw.get("message_id"), text)
        return call_result.DataTransfer(status=answer.status, data=answer.data)


def _wire(payload: Any) -> Any:
    """A payload back in the wire's camelCase, as stored reports keep it."""
    return camel_keys(payload)
