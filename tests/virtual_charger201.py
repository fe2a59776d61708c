"""A virtual OCPP 2.0.1 charging station: the `ocpp` library's v201 charge-point side over aiohttp.

It answers every command the appliance's 2.0.1 link sends, from a small device model (the variables a
real station reports, with their mutability) and the profiles, local list and transactions it holds,
and records what it got, so tests can check both the wire and the appliance's reaction. Reports
(NotifyReport, ReportChargingProfiles) follow an accepted request in parts, as a station sends them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator

from ocpp.exceptions import OccurrenceConstraintViolationError
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from tests.virtual_charger import Answering, ClientTransport, RawSocket, raw16, serving

# (component, evse id, connector id, variable, variable instance); component instances are not modelled.
Key = tuple[str, int | None, int | None, str, str | None]


@dataclass
class Variable:
    value: str | None
    mutability: str = "ReadWrite"  # ReadOnly, ReadWrite, WriteOnly
    data_type: str = "string"
    unit: str | None = None
    max_limit: float | None = None
    values_list: str | None = None
    reboot_required: bool = False  # a change takes effect after a reboot (SetVariables: RebootRequired)


def device_model() -> dict[Key, Variable]:
    """What a two-EVSE AC/DC station of one vendor reports: OCPP 2.0.1 part 2, appendix 3 names."""
    ro, rw = "ReadOnly", "ReadWrite"
    states = "Available,Occupied,Reserved,Unavailable,Faulted"
    tx_points = "ParkingBayOccupancy,EVConnected,Authorized,DataSigned,PowerPathClosed,EnergyTransfer"
    measurands = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"
    model: dict[Key, Variable] = {
        ("ChargingStation", None, None, "Model", None): Variable("VC-201", ro),
        ("ChargingStation", None, None, "AvailabilityState", None): Variable("Available", ro, "OptionList",
                                                                               values_list=states),
        ("OCPPCommCtrlr", None, None, "HeartbeatInterval", None): Variable("300", rw, "integer", unit="s"),
        ("OCPPCommCtrlr", None, None, "WebSocketPingInterval", None): Variable("30", rw, "integer", unit="s",
                                                                                reboot_required=True),
        ("SampledDataCtrlr", None, None, "TxUpdatedInterval", None): Variable("60", rw, "integer", unit="s"),
        ("SampledDataCtrlr", None, None, "TxUpdatedMeasurands", None): Variable(
            "Energy.Active.Import.Register,Power.Active.Import", rw, "MemberList", values_list=measurands),
        ("AuthCtrlr", None, None, "Enabled", None): Variable("true", rw, "boolean"),
        ("AuthCtrlr", None, None, "AuthorizeRemoteStart", None): Variable("false", rw, "boolean"),
        ("AuthCacheCtrlr", None, None, "Enabled", None): Variable("true", rw, "boolean"),
        ("LocalAuthListCtrlr", None, None, "Enabled", None): Variable("true", rw, "boolean"),
        ("LocalAuthListCtrlr", None, None, "Entries", None): Variable("0", ro, "integer", max_limit=1000),
        ("LocalAuthListCtrlr", None, None, "ItemsPerMessage", None): Variable("100", ro, "integer"),
        ("LocalAuthListCtrlr", None, None, "BytesPerMessage", None): Variable("8192", ro, "integer"),
        ("SmartChargingCtrlr", None, None, "Enabled", None): Variable("true", rw, "boolean"),
        ("TxCtrlr", None, None, "TxStartPoint", None): Variable("PowerPathClosed", rw, "MemberList",
                                                                values_list=tx_points),
        ("TxCtrlr", None, None, "TxStopPoint", None): Variable("EVConnected,Authorized", rw, "MemberList",
                                                               values_list=tx_points),
        ("TxCtrlr", None, None, "EVConnectionTimeOut", None): Variable("120", rw, "integer", unit="s"),
        ("DeviceDataCtrlr", None, None, "ItemsPerMessage", "GetReport"): Variable("4", ro, "integer"),
        ("DeviceDataCtrlr", None, None, "ItemsPerMessage", "GetVariables"): Variable("8", ro, "integer"),
        ("SecurityCtrlr", None, None, "BasicAuthPassword", None): Variable("factory-secret", "WriteOnly",
                                                                           max_limit=40),
    }
    for evse_id, connector_type, power_w, phases in ((1, "cType2", 22000, "3"), (2, "cCCS2", 50000, "0")):
        model[("EVSE", evse_id, None, "AvailabilityState", None)] = Variable("Available", ro, "OptionList",
                                                                            values_list=states)
        model[("EVSE", evse_id, None, "Power", None)] = Variable("0", ro, "decimal", unit="W", max_limit=power_w)
        model[("EVSE", evse_id, None, "SupplyPhases", None)] = Variable(phases, ro, "integer")
        model[("Connector", evse_id, 1, "ConnectorType", None)] = Variable(connector_type, ro)
        model[("Connector", evse_id, 1, "AvailabilityState", None)] = Variable("Available", ro, "OptionList",
                                                                              values_list=states)
    return model


def key_of(component: dict[str, Any], variable: dict[str, Any]) -> Key:
    evse = component.get("evse") or {}
    return (component["name"], evse.get("id"), evse.get("connector_id"), variable["name"], variable.get("instance"))


def wire_component_variable(key: Key) -> dict[str, Any]:
    name, evse_id, connector_id, variable, instance = key
    component: dict[str, Any] = {"name": name}
    if evse_id is not None:
        component["evse"] = {"id": evse_id} if connector_id is None else {"id": evse_id, "connector_id": connector_id}
    return {"component": component, "variable": {"name": variable} if instance is None
            else {"name": variable, "instance": instance}}


def _folded(key: Key) -> Key:
    return tuple(part.lower() if isinstance(part, str) else part for part in key)  # type: ignore[return-value]


def valid_value(var: Variable, value: str) -> bool:
    """The station's own check of a SetVariables value against the variable's characteristics."""
    allowed = (var.values_list or "").split(",")
    checks = {
        "integer": lambda: value.lstrip("-").isdigit(),
        "decimal": lambda: value.replace(".", "", 1).lstrip("-").isdigit(),
        "boolean": lambda: value in ("true", "false"),
        "OptionList": lambda: value in allowed,
        "MemberList": lambda: all(v in allowed for v in value.split(",")),
        "SequenceList": lambda: all(v in allowed for v in value.split(",")),
    }
    if var.max_limit is not None and var.data_type == "string" and len(value) > var.max_limit:
        return False
    return checks.get(var.data_type, lambda: True)()


class VirtualCharger201(Answering, ChargePoint):
    """Answers per `self.answers[action]` (a status string, or an OCPPError to answer with a CALLERROR);
    logs `received`. With `start_on_remote_start`, an accepted RequestStartTransaction is followed by a
    TransactionEvent Started, whose answers collect in `remote_started`. With `send_reports` False, an
    accepted GetBaseReport or GetChargingProfiles is never followed by its report (a station that hangs)."""

    def __init__(self, identity: str, transport: ClientTransport) -> None:
        super().__init__(identity, transport, response_timeout=10)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Any] = {}
        self.variables = device_model()
        self.profiles: dict[int, tuple[int, dict[str, Any]]] = {}  # profile id -> (evse id, profile)
        self.profile_delay_s = 0.0  # how long it takes to apply a profile (and answer)
        self.local_list: dict[str, dict[str, Any]] = {}  # idToken -> idTokenInfo
        self.local_list_version = 0
        self.transactions: set[str] = set()  # ongoing transaction ids, as this station minted them
        self.start_on_remote_start = False
        self.remote_started: list[Any] = []
        self.send_reports = True
        self.reports_sent: list[tuple[str, int]] = []  # (action, requestId) once every part was answered

    # -- what the CSMS may ask: transactions and the station ---------------------------------------

    @on(Action.request_start_transaction)
    def on_request_start(self, **kw):
        return call_result.RequestStartTransaction(status=self._got("RequestStartTransaction", **kw))

    @after(Action.request_start_transaction)
    async def after_request_start(self, id_token, remote_start_id, evse_id=None, **kw):
        if self.start_on_remote_start and self.answers.get("RequestStartTransaction", "Accepted") == "Accepted":
            self.remote_started.append(await self.transaction_event(
                "Started", str(uuid.uuid4()), 0, "RemoteStart", id_token=id_token["id_token"],
                evse_id=evse_id or 1, remote_start_id=remote_start_id, charging_state="EVConnected"))

    @on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id, **kw):
        answer = self._got("RequestStopTransaction", transaction_id=transaction_id, **kw)
        if "RequestStopTransaction" not in self.answers and transaction_id not in self.transactions:
            answer = "Rejected"  # 2.0.1 F03: no such ongoing transaction
        return call_result.RequestStopTransaction(status=answer)

    @on(Action.reset)
    def on_reset(self, **kw):
        return call_result.Reset(status=self._got("Reset", **kw))

    @on(Action.unlock_connector)
    def on_unlock(self, **kw):
        answer = self._got("UnlockConnector", **kw)
        return call_result.UnlockConnector(status="Unlocked" if answer == "Accepted" else answer)

    @on(Action.change_availability)
    def on_change_availability(self, **kw):
        answer = self._got("ChangeAvailability", **kw)
        if answer == "Accepted":
            key = ("EVSE", kw["evse"]["id"], None) if kw.get("evse") else ("ChargingStation", None, None)
            if (*key, "AvailabilityState", None) in self.variables:
                self.variables[(*key, "AvailabilityState", None)].value = \
                    "Available" if kw["operational_status"] == "Operative" else "Unavailable"
        return call_result.ChangeAvailability(status=answer)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kw):
        return call_result.ClearCache(status=self._got("ClearCache", **kw))

    @on(Action.trigger_message)
    def on_trigger_message(self, **kw):
        return call_result.TriggerMessage(status=self._got("TriggerMessage", **kw))

    @on(Action.data_transfer)
    def on_data_transfer(self, **kw):
        return call_result.DataTransfer(status=self._got("DataTransfer", **kw), data="pong")

    @on(Action.get_log)
    def on_get_log(self, **kw):
        answer = self._got("GetLog", **kw)
        return call_result.GetLog(status=answer, filename="diagnostics.log" if answer == "Accepted" else None)

    @on(Action.update_firmware)
    def on_update_firmware(self, **kw):
        return call_result.UpdateFirmware(status=self._got("UpdateFirmware", **kw))

    @on(Action.reserve_now)
    def on_reserve_now(self, **kw):
        return call_result.ReserveNow(status=self._got("ReserveNow", **kw))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, **kw):
        return call_result.CancelReservation(status=self._got("CancelReservation", **kw))

    # -- the device model --------------------------------------------------------------------------

    def _find(self, key: Key) -> Variable | None:
        """Names and instances are case-insensitive (ComponentType, VariableType)."""
        return next((v for k, v in self.variables.items() if _folded(k) == _folded(key)), None)

    def _component_known(self, key: Key) -> bool:
        return any(_folded(k)[:3] == _folded(key)[:3] for k in self.variables)

    def _read(self, key: Key, attribute_type: str) -> tuple[str, str | None]:
        var = self._find(key)
        if var is None:
            return ("UnknownVariable" if self._component_known(key) else "UnknownComponent"), None
        if attribute_type != "Actual":
            return "NotSupportedAttributeType", None
        if var.mutability == "WriteOnly":
            return "Rejected", None
        return "Accepted", var.value

    def _write(self, key: Key, attribute_type: str, value: str) -> str:
        var = self._find(key)
        if var is None:
            return "UnknownVariable" if self._component_known(key) else "UnknownComponent"
        if attribute_type != "Actual":
            return "NotSupportedAttributeType"
        if var.mutability == "ReadOnly" or not valid_value(var, value):
            return "Rejected"
        var.value = value
        return "RebootRequired" if var.reboot_required else "Accepted"

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data, **kw):
        forced = self._got("GetVariables", get_variable_data=get_variable_data, **kw)
        limit = int(self.variables[("DeviceDataCtrlr", None, None, "ItemsPerMessage", "GetVariables")].value)
        if len(get_variable_data) > limit:  # 2.0.1 B06: more than ItemsPerMessage is refused
            raise OccurrenceConstraintViolationError(description=f"at most {limit} variables per request")
        results = []
        for item in get_variable_data:
            key = key_of(item["component"], item["variable"])
            status, value = self._read(key, item.get("attribute_type", "Actual"))
            if "GetVariables" in self.answers:
                status, value = forced, None
            results.append({"attribute_status": status, "attribute_value": value,
                            "component": item["component"], "variable": item["variable"]})
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data, **kw):
        forced = self._got("SetVariables", set_variable_data=set_variable_data, **kw)
        results = []
        for item in set_variable_data:
            key = key_of(item["component"], item["variable"])
            status = forced if "SetVariables" in self.answers else \
                self._write(key, item.get("attribute_type", "Actual"), item["attribute_value"])
            results.append({"attribute_status": status, "component": item["component"], "variable": item["variable"]})
        return call_result.SetVariables(set_variable_result=results)

    def _report_keys(self, report_base: str) -> list[Key]:
        if report_base == "ConfigurationInventory":  # what the operator can set
            return [k for k, v in self.variables.items() if v.mutability != "ReadOnly"]
        if report_base == "SummaryInventory":
            return [k for k in self.variables if k[3] == "AvailabilityState"]
        return list(self.variables)

    def report_data(self, key: Key) -> dict[str, Any]:
        var = self.variables[key]
        attribute: dict[str, Any] = {"type": "Actual", "mutability": var.mutability, "persistent": True}
        if var.mutability != "WriteOnly":
            attribute["value"] = var.value
        characteristics: dict[str, Any] = {"data_type": var.data_type, "supports_monitoring": False}
        for name in ("unit", "max_limit", "values_list"):
            if getattr(var, name) is not None:
                characteristics[name] = getattr(var, name)
        return {**wire_component_variable(key), "variable_attribute": [attribute],
                "variable_characteristics": characteristics}

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id, report_base, **kw):
        return call_result.GetBaseReport(status=self._got("GetBaseReport", request_id=request_id,
                                                          report_base=report_base, **kw))

    @after(Action.get_base_report)
    async def after_get_base_report(self, request_id, report_base, **kw):
        if self.answers.get("GetBaseReport", "Accepted") != "Accepted" or not self.send_reports:
            return
        keys = self._report_keys(report_base)
        size = int(self.variables[("DeviceDataCtrlr", None, None, "ItemsPerMessage", "GetReport")].value)
        parts = [keys[i:i + size] for i in range(0, len(keys), size)]
        for seq_no, part in enumerate(parts):
            await self.call(call.NotifyReport(
                request_id=request_id, generated_at=now_wire(), seq_no=seq_no,
                report_data=[self.report_data(k) for k in part], tbc=seq_no < len(parts) - 1))
        self.reports_sent.append(("NotifyReport", request_id))

    # -- smart charging and the local list ---------------------------------------------------------

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, evse_id, charging_profile, **kw):
        await asyncio.sleep(self.profile_delay_s)
        answer = self._got("SetChargingProfile", evse_id=evse_id, charging_profile=charging_profile, **kw)
        if "SetChargingProfile" not in self.answers and charging_profile["charging_profile_purpose"] == "TxProfile" \
                and charging_profile.get("transaction_id") not in self.transactions:
            answer = "Rejected"  # K01: a TxProfile must name an ongoing transaction
        if answer == "Accepted":
            self.profiles[charging_profile["id"]] = (evse_id, charging_profile)
            self.profile_changed()
        return call_result.SetChargingProfile(status=answer)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kw):
        answer = self._got("ClearChargingProfile", **kw)
        if "ClearChargingProfile" not in self.answers:
            charging_profile_id, criteria = kw.get("charging_profile_id"), kw.get("charging_profile_criteria") or {}
            matching = [pid for pid, (evse_id, p) in self.profiles.items()
                        if charging_profile_id in (None, pid) and criteria.get("evse_id") in (None, evse_id)
                        and criteria.get("charging_profile_purpose") in (None, p["charging_profile_purpose"])
                        and criteria.get("stack_level") in (None, p["stack_level"])]
            for pid in matching:
                del self.profiles[pid]
            answer = "Accepted" if matching else "Unknown"
        return call_result.ClearChargingProfile(status=answer)

    def matching_profiles(self, evse_id: int | None, criterion: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
        by_evse: dict[int, list[dict[str, Any]]] = {}
        for pid, (on_evse, profile) in sorted(self.profiles.items()):
            if evse_id not in (None, on_evse) or "CSO" not in criterion.get("charging_limit_source", ["CSO"]):
                continue
            if pid not in criterion.get("charging_profile_id", [pid]) \
                    or criterion.get("charging_profile_purpose") not in (None, profile["charging_profile_purpose"]) \
                    or criterion.get("stack_level") not in (None, profile["stack_level"]):
                continue
            by_evse.setdefault(on_evse, []).append(profile)
        return by_evse

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(self, **kw):
        answer = self._got("GetChargingProfiles", **kw)
        if "GetChargingProfiles" not in self.answers \
                and not self.matching_profiles(kw.get("evse_id"), kw["charging_profile"]):
            answer = "NoProfiles"
        return call_result.GetChargingProfiles(status=answer)

    @after(Action.get_charging_profiles)
    async def after_get_charging_profiles(self, request_id, charging_profile, evse_id=None, **kw):
        if self.answers.get("GetChargingProfiles", "Accepted") != "Accepted" or not self.send_reports:
            return
        reports = list(self.matching_profiles(evse_id, charging_profile).items())
        for i, (on_evse, profiles) in enumerate(reports):  # one message per EVSE: evseId is one number
            await self.call(call.ReportChargingProfiles(
                request_id=request_id, charging_limit_source="CSO", charging_profile=profiles, evse_id=on_evse,
                tbc=i < len(reports) - 1))
        self.reports_sent.append(("ReportChargingProfiles", request_id))

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, **kw):
        answer = self._got("GetCompositeSchedule", **kw)
        if answer != "Accepted":
            return call_result.GetCompositeSchedule(status=answer)
        return call_result.GetCompositeSchedule(status="Accepted", schedule={
            "evse_id": kw["evse_id"], "duration": kw["duration"], "schedule_start": now_wire(),
            "charging_rate_unit": kw.get("charging_rate_unit") or "A",
            "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]})

    @on(Action.send_local_list)
    def on_send_local_list(self, version_number, update_type, **kw):
        answer = self._got("SendLocalList", version_number=version_number, update_type=update_type, **kw)
        if answer == "Accepted":
            if update_type == "Full":
                self.local_list.clear()
            for item in kw.get("local_authorization_list") or []:
                if "id_token_info" in item:
                    self.local_list[item["id_token"]["id_token"]] = item["id_token_info"]
                else:  # 2.0.1 D01: a differential entry without idTokenInfo removes the token
                    self.local_list.pop(item["id_token"]["id_token"], None)
            self.local_list_version = version_number
            self.variables[("LocalAuthListCtrlr", None, None, "Entries", None)].value = str(len(self.local_list))
        return call_result.SendLocalList(status=answer)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kw):
        self._got("GetLocalListVersion", **kw)
        return call_result.GetLocalListVersion(version_number=self.local_list_version)

    # -- what the station says ---------------------------------------------------------------------

    async def boot(self, reason: str = "PowerUp") -> Any:
        return await self.call(call.BootNotification(
            charging_station={"model": "VC-201", "vendor_name": "Virtual", "serial_number": "SN-201",
                              "firmware_version": "2.0"}, reason=reason))

    async def heartbeat(self) -> Any:
        return await self.call(call.Heartbeat())

    async def status(self, evse_id: int, connector_id: int, status: str, timestamp: str | None = None) -> Any:
        return await self.call(call.StatusNotification(timestamp=timestamp or now_wire(), connector_status=status,
                                                       evse_id=evse_id, connector_id=connector_id))

    async def authorize(self, id_token: str, type: str = "ISO14443") -> Any:
        return await self.call(call.Authorize(id_token={"id_token": id_token, "type": type}))

    async def transaction_event(self, event_type: str, tx_id: str, seq_no: int, trigger_reason: str,
                                timestamp: str | None = None, id_token: str | None = None, evse_id: int = 1,
                                connector_id: int = 1, energy_wh: int | None = None, context: str | None = None,
                                offline: bool | None = None, stopped_reason: str | None = None,
                                charging_state: str | None = None, remote_start_id: int | None = None) -> Any:
        timestamp = timestamp or now_wire()
        info: dict[str, Any] = {"transaction_id": tx_id, "charging_state": charging_state,
                                "stopped_reason": stopped_reason, "remote_start_id": remote_start_id}
        meter_value = None
        if energy_wh is not None:
            context = context or {"Started": "Transaction.Begin", "Ended": "Transaction.End"}.get(
                event_type, "Sample.Periodic")
            meter_value = [energy_reading(timestamp, energy_wh, context)]
        answer = await self.call(call.TransactionEvent(
            event_type=event_type, timestamp=timestamp, trigger_reason=trigger_reason, seq_no=seq_no,
            transaction_info={k: v for k, v in info.items() if v is not None}, meter_value=meter_value,
            offline=offline, evse={"id": evse_id, "connector_id": connector_id},
            id_token={"id_token": id_token, "type": "ISO14443"} if id_token else None))
        if event_type == "Ended":
            self.transactions.discard(tx_id)
        else:
            self.transactions.add(tx_id)
        return answer

    async def meter_values(self, evse_id: int, energy_wh: int, timestamp: str | None = None) -> Any:
        return await self.call(call.MeterValues(
            evse_id=evse_id, meter_value=[energy_reading(timestamp or now_wire(), energy_wh, "Sample.Periodic")]))


def energy_reading(timestamp: str, energy_wh: int, context: str) -> dict[str, Any]:
    return {"timestamp": timestamp, "sampled_value": [
        {"value": energy_wh, "context": context, "measurand": "Energy.Active.Import.Register",
         "unit_of_measure": {"unit": "Wh"}}]}


def now_wire() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@asynccontextmanager
async def connect201(base_url: str, identity: str, password: str | None = None,
                     boot: bool = True, ssl: Any = True) -> AsyncIterator[VirtualCharger201]:
    """A connected, serving virtual station; boots it unless told not to."""
    async with serving(VirtualCharger201, "ocpp2.0.1", base_url, identity, password, boot, ssl) as station:
        yield station


@asynccontextmanager
async def raw201(base_url: str, identity: str) -> AsyncIterator[RawSocket]:
    async with raw16(base_url, identity, "ocpp2.0.1") as raw:
        yield raw
