"""OCPP 1.x SOAP, outbound: ChargerLink over zeep, for 1.5 here and 1.6 in `appliance.ocpp16.soap_link`.

A SOAP charger holds no connection: each command is an HTTP request to the address it gave (or that
was configured). Results have the same statuses and data as OCPP 1.6 JSON's for the same command, so
callers never branch on the version; a command the version lacks (by its `CpVersion`'s operations)
is answered NotSupportedByCharger without a request. Whether the charger could be reached is told
to the charger registry after every attempt.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from appliance.core import link as lk
from appliance.core.commands import CommandError
from appliance.core.link import ChargingLimit, CommandResult, LocalListEntry
from appliance.core.services import Core
from appliance.ocpp15_soap.cp_client import ChargePointClient, NotSent, SoapFault, Unreachable
from appliance.ocpp15_soap.cp_models import CP15, CpVersion
from appliance.ocpp16.wire import charging_profile, local_list_entries, to_wire_time

# zeep blocks a thread for as long as a charger takes to answer; a bounded pool of their own keeps
# slow chargers from starving the loop's default executor. 32: a DLM round to a depot's chargers at once.
_WORKERS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="soap-call")


def http_timeout_s(command_timeout_s: float) -> float:
    """Just under the command timeout (30 s -> 29 s, 5 s -> 4.5 s, 1 s -> 0.75 s): a silent charger
    ends as this link's own clear result (and frees its worker thread) before ChargerCommands stops
    waiting; the margin leaves room for the thread hand-over on a busy box."""
    t = command_timeout_s
    return t - min(max(0.1 * t, 0.25), 1.0, t / 2)


def central_system_url(settings: Any, version: CpVersion) -> str | None:
    """Where a charger reaches this appliance's CentralSystemService, for WS-Addressing From/ReplyTo:
    the setting `public_url` (the appliance's base URL as chargers see it) when there is one. Without
    it the headers are left out; a charger then answers on the same HTTP exchange, as it does anyway."""
    base = settings.public_url
    return f"{base.rstrip('/')}/ocpp/soap/{version.version}" if base else None


class SoapLink:
    """Every ChargerLink command over one version's ChargePointService; subclasses give the version."""

    version: ClassVar[CpVersion]
    local_list_element: ClassVar[str]  # SendLocalList's list: 1.5 spells it with an s, 1.6 with a z
    statuses: ClassVar[dict[str, dict[str, str]]] = {}  # operation -> the version's status -> 1.6's, for callers

    def __init__(self, identity: str, endpoint_url: str, core: Core) -> None:
        self.identity = identity
        self.protocol = self.version.protocol
        self.endpoint_url = endpoint_url
        self.core = core
        self._client = ChargePointClient(self.version, identity, http_timeout_s(core.settings.command_timeout_s),
                                         central_system_url(core.settings, self.version))

    def set_endpoint(self, url: str) -> None:
        self.endpoint_url = url

    async def _call(self, operation: str, fields: dict[str, Any]) -> CommandResult:
        if operation not in self.version.operations:
            return self._not_supported(f"OCPP {self.version.version} has no {operation}")
        url = self.endpoint_url
        if not url:
            return CommandResult(lk.OFFLINE, detail=f"no address to command charger {self.identity} at: it has not "
                                                    "given one (WS-Addressing From) and none is configured "
                                                    "(charger add --endpoint)")
        messages: list[tuple[str, str]] = []
        try:
            answer = await asyncio.get_running_loop().run_in_executor(
                _WORKERS, self._client.call, url, operation, _present(fields), messages)
        except NotSent as e:
            raise CommandError(f"not sent, the request breaks the OCPP {self.version.version} schema: {e}") from None
        except Unreachable as e:
            detail = f"charger {self.identity} cannot be reached at {url}: {e.reason}"
            await self._reached(False, messages, detail)
            return CommandResult(lk.TIMEOUT if e.timed_out else lk.OFFLINE, detail=detail)
        except SoapFault as e:
            await self._reached(True, messages)  # it answered, with a SOAP Fault
            return CommandResult(lk.CALL_ERROR, detail=e.detail)
        await self._reached(True, messages)
        data = plain(answer)
        status = str(data.pop("status", "Accepted"))  # answers without a status (GetDiagnostics) are accepted
        return CommandResult(self.statuses.get(operation, {}).get(status, status), data)

    async def _reached(self, reachable: bool, messages: list[tuple[str, str]], detail: str = "") -> None:
        for direction, message in messages:
            self.core.commlog.record(self.identity, direction, message)
        await self.core.chargers.set_reachable(self.identity, reachable, detail)

    def _not_supported(self, detail: str) -> CommandResult:
        return CommandResult(lk.NOT_SUPPORTED, detail=detail)

    # -- the commands ----------------------------------------------------------------------------

    async def remote_start(self, connector_number: int | None, id_tag: str,
                           limit: ChargingLimit | None = None) -> CommandResult:
        fields: dict[str, Any] = {"connectorId": connector_number, "idTag": id_tag}
        if limit is not None:
            if "SetChargingProfile" not in self.version.operations:
                return self._not_supported(f"OCPP {self.version.version} cannot start a transaction with a "
                                           "charging limit (no smart charging)")
            fields["chargingProfile"] = camel(charging_profile(limit, for_remote_start=True))
        return await self._call("RemoteStartTransaction", fields)

    async def remote_stop(self, transaction_id: int) -> CommandResult:
        return await self._call("RemoteStopTransaction", {"transactionId": transaction_id})

    async def reset(self, hard: bool) -> CommandResult:
        return await self._call("Reset", {"type": "Hard" if hard else "Soft"})

    async def unlock(self, connector_number: int) -> CommandResult:
        return await self._call("UnlockConnector", {"connectorId": connector_number})

    async def change_availability(self, connector_number: int, operative: bool) -> CommandResult:
        return await self._call("ChangeAvailability", {"connectorId": connector_number,
                                                       "type": "Operative" if operative else "Inoperative"})

    async def get_configuration(self, keys: list[str] | None = None) -> CommandResult:
        result = await self._call("GetConfiguration", {"key": keys or None})
        if result.status == "Accepted":  # as 1.6 JSON chargers give it: the list even when empty
            result.data.setdefault("configuration_key", [])
        return result

    async def change_configuration(self, key: str, value: str) -> CommandResult:
        return await self._call("ChangeConfiguration", {"key": key, "value": value})

    async def clear_cache(self) -> CommandResult:
        return await self._call("ClearCache", {})

    async def trigger_message(self, message: str, connector_number: int | None = None) -> CommandResult:
        triggerable = self.version.enums.get("MessageTrigger", ())
        if "TriggerMessage" in self.version.operations and message not in triggerable:
            return self._not_supported(f"OCPP {self.version.version} cannot trigger {message}; "
                                       f"one of {', '.join(sorted(triggerable))}")
        return await self._call("TriggerMessage", {"requestedMessage": message, "connectorId": connector_number})

    async def send_local_list(self, version: int, full: bool, entries: list[LocalListEntry]) -> CommandResult:
        return await self._call("SendLocalList", {
            "listVersion": version, "updateType": "Full" if full else "Differential",
            self.local_list_element: camel(local_list_entries(entries))})

    async def get_local_list_version(self) -> CommandResult:
        return await self._call("GetLocalListVersion", {})

    async def set_charging_limit(self, limit: ChargingLimit) -> CommandResult:
        return await self._call("SetChargingProfile", {"connectorId": limit.connector_number,
                                                       "csChargingProfiles": camel(charging_profile(limit))})

    async def clear_charging_limit(self, profile_id: int | None = None, connector_number: int | None = None,
                                   purpose: str | None = None, stack_level: int | None = None) -> CommandResult:
        return await self._call("ClearChargingProfile", {"id": profile_id, "connectorId": connector_number,
                                                         "chargingProfilePurpose": purpose, "stackLevel": stack_level})

    async def get_composite_schedule(self, connector_number: int, duration_s: int,
                                     unit: str | None = None) -> CommandResult:
        return await self._call("GetCompositeSchedule", {"connectorId": connector_number, "duration": duration_s,
                                                         "chargingRateUnit": unit})

    async def get_charging_profiles(self, connector_number: int | None = None, purpose: str | None = None,
                                    profile_id: int | None = None, stack_level: int | None = None) -> CommandResult:
        return self._not_supported(f"OCPP {self.version.version} cannot report installed charging profiles "
                                   "(GetChargingProfiles is 2.0.1)")

    async def get_diagnostics(self, location: str, start: dt.datetime | None = None,
                              stop: dt.datetime | None = None, retries: int | None = None,
                              retry_interval_s: int | None = None) -> CommandResult:
        return await self._call("GetDiagnostics", {
            "location": location, "startTime": start and to_wire_time(start), "stopTime": stop and to_wire_time(stop),
            "retries": retries, "retryInterval": retry_interval_s})

    async def update_firmware(self, location: str, retrieve_at: dt.datetime, retries: int | None = None,
                              retry_interval_s: int | None = None) -> CommandResult:
        return await self._call("UpdateFirmware", {"retrieveDate": to_wire_time(retrieve_at), "location": location,
                                                   "retries": retries, "retryInterval": retry_interval_s})

    async def reserve_now(self, connector_number: int, expires_at: dt.datetime, id_tag: str, reservation_id: int,
                          parent_id_tag: str | None = None) -> CommandResult:
        return await self._call("ReserveNow", {"connectorId": connector_number, "expiryDate": to_wire_time(expires_at),
                                               "idTag": id_tag, "parentIdTag": parent_id_tag,
                                               "reservationId": reservation_id})

    async def cancel_reservation(self, reservation_id: int) -> CommandResult:
        return await self._call("CancelReservation", {"reservationId": reservation_id})

    async def data_transfer(self, vendor_id: str, message_id: str | None = None,
                            data: str | None = None) -> CommandResult:
        return await self._call("DataTransfer", {"vendorId": vendor_id, "messageId": message_id, "data": data})


class Ocpp15SoapLink(SoapLink):
    version = CP15
    local_list_element = "localAuthorisationList"
    # 1.5 answers an unlock Accepted or Rejected; callers know 1.6's words for it.
    statuses = {"UnlockConnector": {"Accepted": "Unlocked", "Rejected": "UnlockFailed"}}


def camel(value: Any) -> Any:
    """The shared 1.6 wire helpers' snake_case keys as the SOAP elements' camelCase names."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """An answer as 1.6 JSON callers get it: snake_case keys, absent elements left out (zeep gives None
    and empty lists), numbers as float, times as 1.6 wire strings."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): plain(v) for k, v in value.items()
                if v is not None and v != []}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return to_wire_time(value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc))
    return value


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """Optional elements the caller left out are not sent (zeep would also skip None; this keeps the
    check and the request identical)."""
    return {k: v for k, v in fields.items() if v is not None}
