"""OCPP 2.0.1 JSON, outbound: ChargerLink over a live session, through the library's `call`.

The link's connector numbers are OCPP 1.x connectors; in 2.0.1 terms 1.x connector N is EVSE N
(connector 0: the whole station). Results keep the shape 1.6 gives them (GetConfiguration's keys,
the local list version, the composite schedule), so callers never branch on the version. Reports
(NotifyReport, ReportChargingProfiles) are awaited through the session, bounded by the command timeout.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from ocpp.v201 import call
from ocpp.v201.enums import MessageTriggerEnumType

from appliance.core import link as lk
from appliance.core.commands import CommandError
from appliance.core.link import ChargingLimit, CommandResult, LocalListEntry
from appliance.ocpp20 import variables as dm
from appliance.ocpp20.wire import (
    charging_profile,
    group_id_token,
    id_token,
    local_list_entries,
    profile_purpose,
    to_wire_time,
)

if TYPE_CHECKING:
    from appliance.ocpp20.session import Ocpp201Session

TRIGGERABLE = {m.value for m in MessageTriggerEnumType}
# OCPP 1.6 trigger names (with the Security Whitepaper's) that 2.0.1 spells differently.
TRIGGER_NAMES = {"DiagnosticsStatusNotification": "LogStatusNotification",
                 "SignChargePointCertificate": "SignChargingStationCertificate"}


class Ocpp201Link:
    def __init__(self, session: Ocpp201Session) -> None:
        self.session = session
        self.identity = session.id
        self.protocol = session.protocol

    async def _call(self, payload: Any) -> CommandResult:
        data = await self.session.send_command(payload)
        if isinstance(data, CommandResult):
            return data
        status = data.pop("status", "Accepted")
        return CommandResult(str(status), data, _reason(data.pop("status_info", None)))

    async def _tx_id(self, transaction_id: int) -> str:
        """The charger's own transactionId for our transaction id."""
        record = await self.session.core.transactions.get(transaction_id)
        if record is None or record.charger_identity != self.identity:
            raise CommandError(f"transaction {transaction_id} is not a transaction of charger {self.identity}")
        if not record.remote_tx_id:
            raise CommandError(f"transaction {transaction_id} has no OCPP 2.0.1 transaction id from the charger")
        return record.remote_tx_id

    async def _profile(self, limit: ChargingLimit, for_remote_start: bool = False) -> dict[str, Any]:
        tx_id = None
        if limit.transaction_id is not None and not for_remote_start and limit.purpose == "TxProfile":
            tx_id = await self._tx_id(limit.transaction_id)
        return charging_profile(limit, tx_id, for_remote_start)

    async def _report(self, payload: Any, request_id: int) -> tuple[CommandResult, list[dict[str, Any]] | None]:
        """Send a request whose answer comes as report parts; the parts, once complete, if it was accepted.

        The future is set up before the request goes out: the first part may arrive right behind the answer.
        """
        parts = self.session.expect_report(request_id)
        try:
            result = await self._call(payload)
            if result.status != "Accepted":
                return result, None
            return result, await parts
        finally:
            self.session.forget_report(request_id)

    # -- transactions and the station ------------------------------------------------------------------

    async def remote_start(self, connector_number: int | None, id_tag: str,
                           limit: ChargingLimit | None = None) -> CommandResult:
        profile = await self._profile(limit, for_remote_start=True) if limit else None
        remote_start_id = self.session.next_request_id()
        result = await self._call(call.RequestStartTransaction(
            id_token=id_token(id_tag), remote_start_id=remote_start_id, evse_id=connector_number,
            charging_profile=profile))
        return dataclasses.replace(result, data={**result.data, "remote_start_id": remote_start_id})

    async def remote_stop(self, transaction_id: int) -> CommandResult:
        return await self._call(call.RequestStopTransaction(transaction_id=await self._tx_id(transaction_id)))

    async def reset(self, hard: bool) -> CommandResult:
        # Immediate stops ongoing transactions at once; OnIdle waits until they have ended.
        return await self._call(call.Reset(type="Immediate" if hard else "OnIdle"))

    async def unlock(self, connector_number: int) -> CommandResult:
        return await self._call(call.UnlockConnector(evse_id=connector_number, connector_id=1))

    async def change_availability(self, connector_number: int, operative: bool) -> CommandResult:
        return await self._call(call.ChangeAvailability(
            operational_status="Operative" if operative else "Inoperative",
            evse={"id": connector_number} if connector_number else None))

    async def clear_cache(self) -> CommandResult:
        return await self._call(call.ClearCache())

    async def trigger_message(self, message: str, connector_number: int | None = None) -> CommandResult:
        requested = TRIGGER_NAMES.get(message, message)
        if requested not in TRIGGERABLE:
            return CommandResult(lk.NOT_SUPPORTED, detail=f"OCPP 2.0.1 cannot trigger {message}; "
                                                          f"one of {', '.join(sorted(TRIGGERABLE))}")
        return await self._call(call.TriggerMessage(requested_message=requested,
                                                    evse={"id": connector_number} if connector_number else None))

    async def data_transfer(self, vendor_id: str, message_id: str | None = None,
                            data: str | None = None) -> CommandResult:
        return await self._call(call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data))

    # -- configuration: the device model's variables ----------------------------------------------------

    async def get_configuration(self, keys: list[str] | None = None) -> CommandResult:
        if not keys:
            return await self._configuration_inventory()
        wanted = [(text, _parse(text)) for text in keys]
        result = await self._call(call.GetVariables(get_variable_data=[
            {**key.to_wire(), "attribute_type": "Actual"} for _, key in wanted]))
        if result.status != "Accepted":
            return result
        answers = [(dm.key_from_wire(r["component"], r["variable"]), r) for r in result.data["get_variable_result"]]
        known, unknown, refused = [], [], []
        for text, key in wanted:
            answer = next((r for k, r in answers if k.same_as(key)), None)
            status = answer["attribute_status"] if answer else "UnknownVariable"
            if status in ("UnknownComponent", "UnknownVariable"):
                unknown.append(text)
                continue
            # GetVariables does not say whether a variable may be changed: readonly stays open (None).
            entry: dict[str, Any] = {"key": text, "readonly": None}
            if status == "Accepted" and answer.get("attribute_value") is not None:
                entry["value"] = answer["attribute_value"]
            elif status != "Accepted":
                refused.append(f"{text}: {status}")
            known.append(entry)
        data: dict[str, Any] = {"configuration_key": known}
        if unknown:
            data["unknown_key"] = unknown
        return CommandResult("Accepted", data, "; ".join(refused))

    async def _configuration_inventory(self) -> CommandResult:
        request_id = self.session.next_request_id()
        result, parts = await self._report(
            call.GetBaseReport(request_id=request_id, report_base="ConfigurationInventory"), request_id)
        if result.status == "EmptyResultSet":  # nothing to report is an empty configuration, not a refusal
            return CommandResult("Accepted", {"configuration_key": []})
        if parts is None:
            return result
        return CommandResult("Accepted", {"configuration_key": dm.configuration_from_report(parts)})

    async def change_configuration(self, key: str, value: str) -> CommandResult:
        variable = _parse(key)
        result = await self._call(call.SetVariables(set_variable_data=[
            {**variable.to_wire(), "attribute_type": "Actual", "attribute_value": value}]))
        if result.status != "Accepted":
            return result
        [answer] = result.data["set_variable_result"]
        return CommandResult(answer["attribute_status"], detail=_reason(answer.get("attribute_status_info")))

    # -- local list ---------------------------------------------------------------------------------------

    async def send_local_list(self, version: int, full: bool, entries: list[LocalListEntry]) -> CommandResult:
        return await self._call(call.SendLocalList(
            version_number=version, update_type="Full" if full else "Differential",
            local_authorization_list=local_list_entries(entries)))

    async def get_local_list_version(self) -> CommandResult:
        result = await self._call(call.GetLocalListVersion())
        if "version_number" not in result.data:
            return result
        return dataclasses.replace(result, data={"list_version": result.data["version_number"]})

    # -- smart charging -----------------------------------------------------------------------------------

    async def set_charging_limit(self, limit: ChargingLimit) -> CommandResult:
        return await self._call(call.SetChargingProfile(evse_id=limit.connector_number,
                                                        charging_profile=await self._profile(limit)))

    async def clear_charging_limit(self, profile_id: int | None = None, connector_number: int | None = None,
                                   purpose: str | None = None, stack_level: int | None = None) -> CommandResult:
        criteria = {"evse_id": connector_number, "stack_level": stack_level,
                    "charging_profile_purpose": profile_purpose(purpose) if purpose else None}
        return await self._call(call.ClearChargingProfile(
            charging_profile_id=profile_id,
            charging_profile_criteria=criteria if any(v is not None for v in criteria.values()) else None))

    async def get_composite_schedule(self, connector_number: int, duration_s: int,
                                     unit: str | None = None) -> CommandResult:
        result = await self._call(call.GetCompositeSchedule(duration=duration_s, evse_id=connector_number,
                                                            charging_rate_unit=unit))
        schedule = result.data.get("schedule")
        if schedule is None:
            return result
        # 1.6's shape: connector, start, and the schedule itself.
        fields = ("duration", "charging_rate_unit", "charging_schedule_period")
        return dataclasses.replace(result, data={
            "connector_id": schedule["evse_id"], "schedule_start": schedule["schedule_start"],
            "charging_schedule": {k: schedule[k] for k in fields}})

    async def get_charging_profiles(self, connector_number: int | None = None, purpose: str | None = None,
                                    profile_id: int | None = None, stack_level: int | None = None) -> CommandResult:
        criterion = {"charging_profile_purpose": profile_purpose(purpose) if purpose else None,
                     "stack_level": stack_level,
                     "charging_profile_id": [profile_id] if profile_id is not None else None}
        request_id = self.session.next_request_id()
        result, parts = await self._report(call.GetChargingProfiles(
            request_id=request_id, evse_id=connector_number,
            charging_profile={k: v for k, v in criterion.items() if v is not None}), request_id)
        if parts is None:
            return result
        return CommandResult("Accepted", {"profiles": [
            {"connector_number": part["evse_id"], "charging_limit_source": part["charging_limit_source"],
             "charging_profile": profile} for part in parts for profile in part["charging_profile"]]})

    # -- diagnostics, firmware, reservations ----------------------------------------------------------------

    async def get_diagnostics(self, location: str, start: dt.datetime | None = None,
                              stop: dt.datetime | None = None, retries: int | None = None,
                              retry_interval_s: int | None = None) -> CommandResult:
        request_id = self.session.next_request_id()
        log = {"remote_location": location, "oldest_timestamp": to_wire_time(start) if start else None,
               "latest_timestamp": to_wire_time(stop) if stop else None}
        result = await self._call(call.GetLog(log=log, log_type="DiagnosticsLog", request_id=request_id,
                                              retries=retries, retry_interval=retry_interval_s))
        data = {"request_id": request_id}
        if "filename" in result.data:
            data["file_name"] = result.data["filename"]  # 1.6's name for it
        return dataclasses.replace(result, data=data)

    async def update_firmware(self, location: str, retrieve_at: dt.datetime, retries: int | None = None,
                              retry_interval_s: int | None = None) -> CommandResult:
        request_id = self.session.next_request_id()
        result = await self._call(call.UpdateFirmware(
            request_id=request_id, firmware={"location": location, "retrieve_date_time": to_wire_time(retrieve_at)},
            retries=retries, retry_interval=retry_interval_s))
        return dataclasses.replace(result, data={**result.data, "request_id": request_id})

    async def reserve_now(self, connector_number: int, expires_at: dt.datetime, id_tag: str, reservation_id: int,
                          parent_id_tag: str | None = None) -> CommandResult:
        # 1.x connector 0 reserves any connector of the charger: 2.0.1 leaves the EVSE out for that.
        return await self._call(call.ReserveNow(
            id=reservation_id, expiry_date_time=to_wire_time(expires_at), id_token=id_token(id_tag),
            evse_id=connector_number or None, group_id_token=group_id_token(parent_id_tag) if parent_id_tag else None))

    async def cancel_reservation(self, reservation_id: int) -> CommandResult:
        return await self._call(call.CancelReservation(reservation_id=reservation_id))


def _parse(key: str) -> dm.VariableKey:
    try:
        return dm.parse_key(key)
    except ValueError as e:
        raise CommandError(str(e)) from None


def _reason(status_info: dict[str, Any] | None) -> str:
    """The charger's statusInfo as one line: why it answered as it did."""
    if not status_info:
        return ""
    extra = status_info.get("additional_info")
    return f"{status_info['reason_code']}: {extra}" if extra else status_info["reason_code"]
