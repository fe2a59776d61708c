"""OCPP 1.6 JSON, outbound: ChargerLink over a live session, through the library's `call`."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from ocpp.v16 import call
from ocpp.v16.enums import MessageTrigger

from appliance.core import link as lk
from appliance.core.link import ChargingLimit, CommandResult, LocalListEntry
from appliance.ocpp16.wire import charging_profile, local_list_entries, to_wire_time
from appliance.ocppj.session import OcppJSession

# The library's MessageTrigger also holds the Security Whitepaper's ExtendedTriggerMessage values
# (LogStatusNotification, SignChargePointCertificate), which the 1.6 TriggerMessage schema refuses.
TRIGGERABLE = {m.value for m in MessageTrigger} - {"LogStatusNotification", "SignChargePointCertificate"}


class Ocpp16JsonLink:
    def __init__(self, session: OcppJSession) -> None:
        self.session = session
        self.identity = session.id
        self.protocol = session.protocol

    async def _call(self, payload: Any, default_status: str = "Accepted") -> CommandResult:
        answer = await self.session.send_command(payload)
        if isinstance(answer, CommandResult):
            return answer
        data = {k: _plain(v) for k, v in answer.items()}
        status = data.pop("status", default_status)
        return CommandResult(str(status), data)

    async def remote_start(self, connector_number: int | None, id_tag: str,
                           limit: ChargingLimit | None = None) -> CommandResult:
        profile = charging_profile(limit, for_remote_start=True) if limit else None
        return await self._call(call.RemoteStartTransaction(id_tag=id_tag, connector_id=connector_number,
                                                            charging_profile=profile))

    async def remote_stop(self, transaction_id: int) -> CommandResult:
        return await self._call(call.RemoteStopTransaction(transaction_id=transaction_id))

    async def reset(self, hard: bool) -> CommandResult:
        return await self._call(call.Reset(type="Hard" if hard else "Soft"))

    async def unlock(self, connector_number: int) -> CommandResult:
        return await self._call(call.UnlockConnector(connector_id=connector_number))

    async def change_availability(self, connector_number: int, operative: bool) -> CommandResult:
        return await self._call(call.ChangeAvailability(connector_id=connector_number,
                                                        type="Operative" if operative else "Inoperative"))

    async def get_configuration(self, keys: list[str] | None = None) -> CommandResult:
        return await self._call(call.GetConfiguration(key=keys or None))

    async def change_configuration(self, key: str, value: str) -> CommandResult:
        return await self._call(call.ChangeConfiguration(key=key, value=value))

    async def clear_cache(self) -> CommandResult:
        return await self._call(call.ClearCache())

    async def trigger_message(self, message: str, connector_number: int | None = None) -> CommandResult:
        if message not in TRIGGERABLE:
            return CommandResult(lk.NOT_SUPPORTED, detail=f"OCPP 1.6 cannot trigger {message}; "
                                                          f"one of {', '.join(sorted(TRIGGERABLE))}")
        return await self._call(call.TriggerMessage(requested_message=message, connector_id=connector_number))

    async def send_local_list(self, version: int, full: bool, entries: list[LocalListEntry]) -> CommandResult:
        return await self._call(call.SendLocalList(
            list_version=version, update_type="Full" if full else "Differential",
            local_authorization_list=local_list_entries(entries)))

    async def get_local_list_version(self) -> CommandResult:
        return await self._call(call.GetLocalListVersion())

    async def set_charging_limit(self, limit: ChargingLimit) -> CommandResult:
        return await self._call(call.SetChargingProfile(connector_id=limit.connector_number,
                                                        cs_charging_profiles=charging_profile(limit)))

    async def clear_charging_limit(self, profile_id: int | None = None, connector_number: int | None = None,
                                   purpose: str | None = None, stack_level: int | None = None) -> CommandResult:
        return await self._call(call.ClearChargingProfile(id=profile_id, connector_id=connector_number,
                                                          charging_profile_purpose=purpose, stack_level=stack_level))

    async def get_composite_schedule(self, connector_number: int, duration_s: int,
                                     unit: str | None = None) -> CommandResult:
        return await self._call(call.GetCompositeSchedule(connector_id=connector_number, duration=duration_s,
                                                          charging_rate_unit=unit))

    async def get_charging_profiles(self, connector_number: int | None = None, purpose: str | None = None,
                                    profile_id: int | None = None, stack_level: int | None = None) -> CommandResult:
        return CommandResult(lk.NOT_SUPPORTED, detail="OCPP 1.6 cannot report installed charging profiles "
                                                      "(GetChargingProfiles is 2.0.1)")

    async def get_diagnostics(self, location: str, start: dt.datetime | None = None,
                              stop: dt.datetime | None = None, retries: int | None = None,
                              retry_interval_s: int | None = None) -> CommandResult:
        return await self._call(call.GetDiagnostics(
            location=location, retries=retries, retry_interval=retry_interval_s,
            start_time=to_wire_time(start) if start else None, stop_time=to_wire_time(stop) if stop else None))

    async def update_firmware(self, location: str, retrieve_at: dt.datetime, retries: int | None = None,
                              retry_interval_s: int | None = None) -> CommandResult:
        return await self._call(call.UpdateFirmware(location=location, retrieve_date=to_wire_time(retrieve_at),
                                                    retries=retries, retry_interval=retry_interval_s))

    async def reserve_now(self, connector_number: int, expires_at: dt.datetime, id_tag: str, reservation_id: int,
                          parent_id_tag: str | None = None) -> CommandResult:
        return await self._call(call.ReserveNow(connector_id=connector_number, expiry_date=to_wire_time(expires_at),
                                                id_tag=id_tag, reservation_id=reservation_id,
                                                parent_id_tag=parent_id_tag))

    async def cancel_reservation(self, reservation_id: int) -> CommandResult:
        return await self._call(call.CancelReservation(reservation_id=reservation_id))

    async def data_transfer(self, vendor_id: str, message_id: str | None = None,
                            data: str | None = None) -> CommandResult:
        return await self._call(call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data))


def _plain(value: Any) -> Any:
    """The library parses schedule limits as Decimal (for its schema check); callers get plain numbers."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
