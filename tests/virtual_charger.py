"""A virtual OCPP 1.6 JSON charger: the `ocpp` library's charge-point side over aiohttp.

It answers every command a CSMS may send with a configurable status and records what it got,
so tests can check both the wire and the appliance's reaction.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import aiohttp
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action


class ClientTransport:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> str:
        msg = await self.ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"websocket {msg.type.name}")
        return msg.data

    async def send(self, message: str) -> None:
        await self.ws.send_str(message)


class Answering:
    """What every virtual charger does with a command: log it in `received`, answer per `answers[action]`
    (a status string, or an OCPPError to answer with a CALLERROR; Accepted when not set)."""

    received: list[tuple[str, dict[str, Any]]]
    answers: dict[str, Any]

    def _got(self, action: str, **kwargs: Any) -> Any:
        self.received.append((action, kwargs))
        answer = self.answers.get(action, "Accepted")
        if isinstance(answer, Exception):
            raise answer
        return answer

    def last(self, action: str) -> dict[str, Any]:
        return next(kw for a, kw in reversed(self.received) if a == action)

    def profile_changed(self) -> None:
        """Called when an accepted charging profile takes effect; tests that watch limits hook in here."""


class VirtualCharger16(Answering, ChargePoint):
    """Answers per `self.answers[action]` (a status string, or an OCPPError to answer with a CALLERROR);
    logs `received`. With `start_on_remote_start`, an accepted RemoteStartTransaction is followed by a
    StartTransaction, whose answers collect in `remote_started`."""

    def __init__(self, identity: str, transport: ClientTransport) -> None:
        super().__init__(identity, transport, response_timeout=10)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Any] = {}
        self.configuration = {"HeartbeatInterval": "300", "MeterValueSampleInterval": "60"}
        self.local_list_version = 0
        self.local_list: dict[str, str] = {}  # idTag -> status
        self.start_on_remote_start = False
        self.remote_started: list[Any] = []
        self.stop_on_remote_stop = False  # an accepted RemoteStopTransaction is followed by a StopTransaction
        self.meter_wh = 0  # the register a StopTransaction after a remote stop reports
        self.profiles: dict[int, tuple[int, dict[str, Any]]] = {}  # profile id -> (connector id, profile)
        self.profile_delay_s = 0.0  # how long it takes to apply a profile (and answer)

    def authorize_offline(self, id_tag: str) -> str:
        """What the charger decides alone, with the box out of reach (LocalAuthorizeOffline): its local
        list, and for a tag not on it, Accepted only if AllowOfflineTxForUnknownId says so."""
        if id_tag in self.local_list:
            return self.local_list[id_tag]
        return "Accepted" if self.configuration.get("AllowOfflineTxForUnknownId") == "true" else "Invalid"

    # -- what the CSMS may ask ---------------------------------------------------------------

    @on(Action.remote_start_transaction)
    def on_remote_start(self, **kw):
        return call_result.RemoteStartTransaction(status=self._got("RemoteStartTransaction", **kw))

    @after(Action.remote_start_transaction)
    async def after_remote_start(self, id_tag, connector_id=None, **kw):
        if self.start_on_remote_start and self.answers.get("RemoteStartTransaction", "Accepted") == "Accepted":
            self.remote_started.append(await self.start_transaction(id_tag, connector_id or 1))

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, **kw):
        return call_result.RemoteStopTransaction(status=self._got("RemoteStopTransaction", **kw))

    @after(Action.remote_stop_transaction)
    async def after_remote_stop(self, transaction_id, **kw):
        if self.stop_on_remote_stop and self.answers.get("RemoteStopTransaction", "Accepted") == "Accepted":
            await self.stop_transaction(transaction_id, self.meter_wh, reason="Remote")

    @on(Action.reset)
    def on_reset(self, **kw):
        return call_result.Reset(status=self._got("Reset", **kw))

    @on(Action.unlock_connector)
    def on_unlock(self, **kw):
        answer = self._got("UnlockConnector", **kw)
        return call_result.UnlockConnector(status="Unlocked" if answer == "Accepted" else answer)

    @on(Action.change_availability)
    def on_change_availability(self, **kw):
        return call_result.ChangeAvailability(status=self._got("ChangeAvailability", **kw))

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None, **kw):
        self._got("GetConfiguration", key=key)
        keys = key or list(self.configuration)
        known = [{"key": k, "readonly": False, "value": self.configuration[k]} for k in keys if k in self.configuration]
        unknown = [k for k in keys if k not in self.configuration]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value, **kw):
        answer = self._got("ChangeConfiguration", key=key, value=value)
        if answer == "Accepted":
            self.configuration[key] = value
        return call_result.ChangeConfiguration(status=answer)

    @on(Action.clear_cache)
    def on_clear_cache(self, **kw):
        return call_result.ClearCache(status=self._got("ClearCache", **kw))

    @on(Action.trigger_message)
    def on_trigger_message(self, **kw):
        return call_result.TriggerMessage(status=self._got("TriggerMessage", **kw))

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version, update_type, **kw):
        answer = self._got("SendLocalList", list_version=list_version, update_type=update_type, **kw)
        if answer == "Accepted":  # OCPP 1.6 §6.47: Full replaces the list; an entry without idTagInfo is removed
            if update_type == "Full":
                self.local_list.clear()
            for item in kw.get("local_authorization_list") or []:
                if "id_tag_info" in item:
                    self.local_list[item["id_tag"]] = item["id_tag_info"]["status"]
                else:
                    self.local_list.pop(item["id_tag"], None)
            self.local_list_version = list_version
        return call_result.SendLocalList(status=answer)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **kw):
        self._got("GetLocalListVersion")
        return call_result.GetLocalListVersion(list_version=self.local_list_version)

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, connector_id, cs_charging_profiles, **kw):
        await asyncio.sleep(self.profile_delay_s)
        answer = self._got("SetChargingProfile", connector_id=connector_id, cs_charging_profiles=cs_charging_profiles,
                           **kw)
        if answer == "Accepted":
            self.profiles[cs_charging_profiles["charging_profile_id"]] = (connector_id, cs_charging_profiles)
            self.profile_changed()
        return call_result.SetChargingProfile(status=answer)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kw):
        answer = self._got("ClearChargingProfile", **kw)
        if answer == "Accepted":
            for pid in [pid for pid, (connector, _) in self.profiles.items()
                        if kw.get("id") in (None, pid) and kw.get("connector_id") in (None, connector)]:
                del self.profiles[pid]
        return call_result.ClearChargingProfile(status=answer)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id, duration, **kw):
        answer = self._got("GetCompositeSchedule", connector_id=connector_id, duration=duration, **kw)
        if answer != "Accepted":
            return call_result.GetCompositeSchedule(status=answer)
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=_now(),
            charging_schedule={"duration": duration, "charging_rate_unit": kw.get("charging_rate_unit") or "A",
                               "charging_schedule_period": [{"start_period": 0, "limit": 16.0}]})

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, **kw):
        self._got("GetDiagnostics", **kw)
        return call_result.GetDiagnostics(file_name="diagnostics.zip")

    @on(Action.update_firmware)
    def on_update_firmware(self, **kw):
        self._got("UpdateFirmware", **kw)
        return call_result.UpdateFirmware()

    @on(Action.reserve_now)
    def on_reserve_now(self, **kw):
        return call_result.ReserveNow(status=self._got("ReserveNow", **kw))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, **kw):
        return call_result.CancelReservation(status=self._got("CancelReservation", **kw))

    @on(Action.data_transfer)
    def on_data_transfer(self, **kw):
        return call_result.DataTransfer(status=self._got("DataTransfer", **kw), data="pong")

    # -- what the charger says -------------------------------------------------------------

    async def boot(self) -> Any:
        return await self.call(call.BootNotification(charge_point_vendor="Virtual", charge_point_model="VC-16",
                                                     charge_point_serial_number="SN-1", firmware_version="1.0"))

    async def status_notification(self, connector_id: int, status: str, error_code: str = "NoError",
                                  **extra: Any) -> Any:
        return await self.call(call.StatusNotification(connector_id=connector_id, error_code=error_code,
                                                       status=status, **extra))

    async def start_transaction(self, id_tag: str, connector_id: int = 1, meter_start: int = 0,
                                timestamp: str | None = None) -> Any:
        return await self.call(call.StartTransaction(connector_id=connector_id, id_tag=id_tag,
                                                     meter_start=meter_start, timestamp=timestamp or _now()))

    async def meter_values(self, transaction_id: int | None, energy_wh: int, connector_id: int = 1,
                           timestamp: str | None = None) -> Any:
        return await self.call(call.MeterValues(
            connector_id=connector_id, transaction_id=transaction_id,
            meter_value=[{"timestamp": timestamp or _now(), "sampled_value": [
                {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                {"value": "16.0", "measurand": "Current.Import", "unit": "A", "phase": "L1"}]}]))

    async def stop_transaction(self, transaction_id: int, meter_stop: int, id_tag: str | None = None,
                               timestamp: str | None = None, reason: str | None = None) -> Any:
        return await self.call(call.StopTransaction(meter_stop=meter_stop, timestamp=timestamp or _now(),
                                                    transaction_id=transaction_id, id_tag=id_tag, reason=reason))


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ws_url(base_url: str, identity: str) -> str:
    return base_url.replace("https://", "wss://").replace("http://", "ws://").rstrip("/") + f"/ocpp/{identity}"


@asynccontextmanager
async def connect16(base_url: str, identity: str, password: str | None = None,
                    boot: bool = True, ssl: Any = True) -> AsyncIterator[VirtualCharger16]:
    """A connected, serving virtual charger; boots it unless told not to."""
    async with serving(VirtualCharger16, "ocpp1.6", base_url, identity, password, boot, ssl) as cp:
        yield cp


@asynccontextmanager
async def serving(cls: type, subprotocol: str, base_url: str, identity: str, password: str | None,
                  boot: bool, ssl: Any) -> AsyncIterator[Any]:
    """A virtual charger of class `cls` connected with `subprotocol` (and Basic auth when given a
    password), its message loop running; booted (`cls.boot()`) unless told not to."""
    headers = {}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(base_url, identity), protocols=[subprotocol], headers=headers,
                                      ssl=ssl) as ws:
            cp = cls(identity, ClientTransport(ws))
            task = asyncio.create_task(cp.start())
            try:
                if boot:
                    await cp.boot()
                yield cp
            finally:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, ConnectionError):
                    pass


class RawSocket:
    """Frames by hand, for bad input: send text, read the next answer as parsed JSON."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)

    async def answer(self, timeout: float = 5) -> Any:
        import json

        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg.type.name} {msg.data!r}"
        return json.loads(msg.data)

    async def call(self, text: str) -> Any:
        await self.send(text)
        return await self.answer()


@asynccontextmanager
async def raw16(base_url: str, identity: str, subprotocol: str = "ocpp1.6") -> AsyncIterator[RawSocket]:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(base_url, identity), protocols=[subprotocol],
                                      max_msg_size=0) as ws:
            yield RawSocket(ws)
