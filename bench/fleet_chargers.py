"""Cheap simulated chargers for the fleet benchmarks: OCPP 1.6 JSON, 2.0.1 JSON and 1.6 SOAP.

Each speaks its protocol by hand with pre-built frames (no `ocpp` library, no zeep): the load
generator must cost far less per message than the server it drives. All three have the same
shape: `connect`, `boot`, `status`, `start`, `meter`, `stop`, and for storms `queue_offline` and
`replay`. Every call returns when the server has answered it; an error answer raises `CallError`.
What each charger was told is counted, so that the database can be checked against it afterwards.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

import aiohttp

from loadgen import Clock

KINDS = ("json16", "json201", "soap16")
SUBPROTOCOL = {"json16": "ocpp1.6", "json201": "ocpp2.0.1"}
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
CS16 = "urn://Ocpp/Cs/2015/10/"

# Three sampled values per meter reading: the server stores one meter_sample row each.
SAMPLES_PER_READING = 3


class CallError(Exception):
    """The server answered with a CALLERROR, a SOAP Fault or an HTTP error."""


class Dropped(Exception):
    """The connection closed or failed under us."""


class Tally:
    """What the server acknowledged, per kind: the database must hold at least this."""

    def __init__(self):
        self.readings = dict.fromkeys(KINDS, 0)  # meter readings (MeterValues / TransactionEvent Updated)
        self.messages = dict.fromkeys(KINDS, 0)
        # Replayed StartTransactions answered with another transaction id than the first time (a
        # stateless server cannot know; the appliance must give the same one).
        self.start_mismatch = 0


class Charger:
    kind = ""

    def __init__(self, n: int, id_prefix: str, clock: Clock, tally: Tally, call_timeout: float):
        self.n = n
        self.identity = f"{id_prefix}{self.kind.upper()}-{n}"
        self.clock = clock
        self.tally = tally
        self.call_timeout = call_timeout
        self.energy = 0
        self.last_ms = 0
        self.seq = 0
        self.tx = None  # the transaction id (1.x: the server's; 2.0.1: ours)
        self.tx_readings = 0  # readings acknowledged in the current transaction
        self.offline: list = []  # what was queued while "offline", for replay
        self.up = False

    def next_ms(self, at_ms: int | None = None) -> int:
        """Strictly increasing sample times: a server may rightly ignore a reading whose time it stored."""
        ms = max(at_ms if at_ms is not None else int(time.time() * 1000), self.last_ms + 1)
        self.last_ms = ms
        return ms

    def uid(self, prefix: str) -> str:
        self.seq += 1
        return "%s%d" % (prefix, self.seq)

    async def close(self):
        pass

    def abandon(self):
        """Forget the connection without closing it (a network outage: the server sees nothing)."""


# -- OCPP-J -------------------------------------------------------------------------------------

class JsonCharger(Charger):
    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.ws = None
        self.abandoned = []

    async def connect(self, session: aiohttp.ClientSession, base_ws: str):
        protocol = SUBPROTOCOL[self.kind]
        self.ws = await session.ws_connect(
            f"{base_ws}/{self.identity}", protocols=(protocol,), heartbeat=None, autoping=True, compress=0,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5))
        if self.ws.protocol != protocol:
            raise Dropped(f"server did not agree on {protocol} (got {self.ws.protocol!r})")

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

    async def call(self, frame: str, uid: str) -> str:
        """Send one CALL, return its CALLRESULT frame as text; answer the server's own CALLs meanwhile."""
        ws = self.ws
        if ws is None or ws.closed:
            raise Dropped("not connected")
        await ws.send_str(frame)
        prefix = '[3,"%s",' % uid
        while True:
            msg = await ws.receive(self.call_timeout)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise Dropped(f"websocket {msg.type.name}")
            data = msg.data
            if data.startswith(prefix):
                return data
            m = json.loads(data)
            if m[0] == 3 and m[1] == uid:
                return data
            if m[0] == 4 and m[1] == uid:
                raise CallError(data[:300])
            if m[0] == 2:
                await ws.send_str(self.answer_server_call(m))

    def answer_server_call(self, m: list) -> str:
        return json.dumps([4, m[1], "NotImplemented", "load generator", {}])

    async def close(self):
        for ws in [self.ws, *self.abandoned]:
            if ws is not None and not ws.closed:
                await ws.close()
        self.abandoned.clear()

    def abandon(self):
        if self.ws is not None:
            self.abandoned.append(self.ws)
        self.ws = None

    async def replay(self):
        for frame, uid in self.offline:
            await self.call(frame, uid)


class Json16(JsonCharger):
    kind = "json16"
    BOOT = ('[2,"%s","BootNotification",{"chargePointVendor":"Bench","chargePointModel":"Fleet",'
            '"chargePointSerialNumber":"%s"}]')
    STATUS = '[2,"%s","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"%s","timestamp":"%s"}]'
    START = '[2,"%s","StartTransaction",{"connectorId":1,"idTag":"%s","meterStart":%d,"timestamp":"%s"}]'
    METER = ('[2,"%s","MeterValues",{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":"%s",'
             '"sampledValue":[{"value":"%d","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",'
             '"unit":"Wh"},{"value":"7400","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"},'
             '{"value":"32.0","context":"Sample.Periodic","measurand":"Current.Import","unit":"A"}]}]}]')
    STOP = ('[2,"%s","StopTransaction",{"transactionId":%d,"idTag":"%s","meterStop":%d,"timestamp":"%s",'
            '"reason":"%s"}]')
    HEARTBEAT = '[2,"%s","Heartbeat",{}]'
    _TX = re.compile(r'"transactionId"\s*:\s*(\d+)')

    def tag(self):
        return f"BENCH{self.n}"

    async def boot(self):
        uid = self.uid("b")
        await self.call(self.BOOT % (uid, self.identity), uid)

    async def heartbeat(self):
        uid = self.uid("h")
        await self.call(self.HEARTBEAT % uid, uid)

    async def status(self, status="Charging"):
        uid = self.uid("s")
        await self.call(self.STATUS % (uid, status, self.clock.now), uid)

    def start_frame(self, at_ms=None):
        uid = self.uid("t")
        self._start = (self.tag(), self.energy, self.clock.at_ms(self.next_ms(at_ms)))
        return self.START % ((uid,) + self._start), uid

    async def start(self):
        frame, uid = self.start_frame()
        self._start_frame = frame
        self.tx = int(self._TX.search(await self.call(frame, uid)).group(1))
        self.tx_readings = 0
        return self.tx

    def meter_frame(self, at_ms=None):
        self.energy += 10
        uid = self.uid("m")
        return self.METER % (uid, self.tx, self.clock.at_ms(self.next_ms(at_ms)), self.energy), uid

    async def meter(self):
        frame, uid = self.meter_frame()
        await self.call(frame, uid)
        self.tally.readings[self.kind] += 1
        self.tx_readings += 1

    def stop_frame(self, reason="Local", at_ms=None):
        uid = self.uid("x")
        return self.STOP % (uid, self.tx, self.tag(), self.energy, self.clock.at_ms(self.next_ms(at_ms)), reason), uid

    async def stop(self, reason="Local"):
        frame, uid = self.stop_frame(reason)
        await self.call(frame, uid)
        self.tx = None

    def queue_offline(self, readings: int, start_ms: int, step_ms: int):
        """What a 1.6 charger replays after an outage: its StartTransaction again (its answer was
        lost: the server must give the same id), the MeterValues and the StopTransaction it queued."""
        uid = self.uid("t")
        self.offline = [(_with_uid(self._start_frame, uid), uid)]
        for i in range(readings):
            self.offline.append(self.meter_frame(start_ms + i * step_ms))
        self.offline.append(self.stop_frame("PowerLoss", start_ms + readings * step_ms))

    async def replay(self):
        for frame, uid in self.offline:
            answer = await self.call(frame, uid)
            if '"StartTransaction"' in frame and int(self._TX.search(answer).group(1)) != self.tx:
                self.tally.start_mismatch += 1


def _with_uid(frame: str, uid: str) -> str:
    """The same CALL under a new message id (a charger retrying gives its CALL a fresh id)."""
    kind, _, rest = frame.split(",", 2)
    return '%s,"%s",%s' % (kind, uid, rest)


class Json201(JsonCharger):
    kind = "json201"
    BOOT = ('[2,"%s","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"Fleet",'
            '"vendorName":"Bench","serialNumber":"%s"}}]')
    STATUS = ('[2,"%s","StatusNotification",{"timestamp":"%s","connectorStatus":"%s","evseId":1,'
              '"connectorId":1}]')
    HEARTBEAT = '[2,"%s","Heartbeat",{}]'
    STARTED = ('[2,"%s","TransactionEvent",{"eventType":"Started","timestamp":"%s","triggerReason":"Authorized",'
               '"seqNo":%d,"offline":%s,"transactionInfo":{"transactionId":"%s","chargingState":"Charging"},'
               '"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"%s","type":"ISO14443"},'
               '"meterValue":[{"timestamp":"%s","sampledValue":[{"value":%d,"context":"Transaction.Begin",'
               '"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}]}]')
    UPDATED = ('[2,"%s","TransactionEvent",{"eventType":"Updated","timestamp":"%s",'
               '"triggerReason":"MeterValuePeriodic","seqNo":%d,"offline":%s,"transactionInfo":{"transactionId":"%s"},'
               '"meterValue":[{"timestamp":"%s","sampledValue":[{"value":%d,"context":"Sample.Periodic",'
               '"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}},'
               '{"value":7400,"context":"Sample.Periodic","measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W"}},'
               '{"value":32.0,"context":"Sample.Periodic","measurand":"Current.Import","unitOfMeasure":{"unit":"A"}}]}]}]')
    ENDED = ('[2,"%s","TransactionEvent",{"eventType":"Ended","timestamp":"%s","triggerReason":"%s","seqNo":%d,'
             '"offline":%s,"transactionInfo":{"transactionId":"%s","stoppedReason":"%s"},'
             '"meterValue":[{"timestamp":"%s","sampledValue":[{"value":%d,"context":"Transaction.End",'
             '"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}]}]')

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.tx_seq = 0
        self.tx_count = 0

    def answer_server_call(self, m: list) -> str:
        # After every accepted boot the appliance asks for the station's inventory.
        if m[2] == "GetBaseReport":
            return json.dumps([3, m[1], {"status": "NotSupported"}])
        return super().answer_server_call(m)

    async def boot(self):
        uid = self.uid("b")
        await self.call(self.BOOT % (uid, self.identity), uid)

    async def heartbeat(self):
        uid = self.uid("h")
        await self.call(self.HEARTBEAT % uid, uid)

    async def status(self, status="Occupied"):
        # 2.0.1 connector statuses: Available, Occupied, Reserved, Unavailable, Faulted.
        status = {"Charging": "Occupied", "Available": "Available"}.get(status, status)
        uid = self.uid("s")
        await self.call(self.STATUS % (uid, self.clock.now, status), uid)

    async def start(self):
        self.tx_count += 1
        self.tx = f"{self.identity}-{self.tx_count}"
        self.tx_seq = 0
        self.tx_readings = 0
        uid = self.uid("t")
        t = self.clock.at_ms(self.next_ms())
        await self.call(self.STARTED % (uid, t, 0, "false", self.tx, f"BENCH{self.n}", t, self.energy), uid)
        return self.tx

    def meter_frame(self, at_ms=None, offline=False):
        self.energy += 10
        self.tx_seq += 1
        uid = self.uid("m")
        t = self.clock.at_ms(self.next_ms(at_ms))
        return self.UPDATED % (uid, t, self.tx_seq, "true" if offline else "false", self.tx, t, self.energy), uid

    async def meter(self):
        frame, uid = self.meter_frame()
        await self.call(frame, uid)
        self.tally.readings[self.kind] += 1
        self.tx_readings += 1

    def stop_frame(self, reason="Local", at_ms=None, offline=False):
        self.tx_seq += 1
        uid = self.uid("x")
        t = self.clock.at_ms(self.next_ms(at_ms))
        trigger = "EVCommunicationLost" if reason == "PowerLoss" else "StopAuthorized"
        return self.ENDED % (uid, t, trigger, self.tx_seq, "true" if offline else "false", self.tx, reason, t,
                             self.energy), uid

    async def stop(self, reason="Local"):
        frame, uid = self.stop_frame(reason)
        await self.call(frame, uid)
        self.tx = None

    def queue_offline(self, readings: int, start_ms: int, step_ms: int):
        """What a 2.0.1 station replays after an outage: its Updated and Ended events, offline=true."""
        self.offline = [self.meter_frame(start_ms + i * step_ms, offline=True) for i in range(readings)]
        self.offline.append(self.stop_frame("PowerLoss", start_ms + readings * step_ms, offline=True))


# -- SOAP -----------------------------------------------------------------------------------------

class HttpConnection:
    """A keep-alive HTTP/1.1 connection for pre-built POSTs: far cheaper per request than a full client."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes, timeout: float) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), timeout)
            self.writer.write(b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/soap+xml; charset=utf-8"
                              b"\r\nContent-Length: %d\r\n\r\n%s" % (path.encode(), self.host.encode(), self.port,
                                                                     len(body), body))
            try:
                return await asyncio.wait_for(self._response(), timeout)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:  # a kept-alive connection the server had closed: once more on a new one
                    raise Dropped("the server closed the connection")
        raise AssertionError("unreachable")

    async def _response(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length) if length is not None else await self.reader.read()
        if close or length is None:
            self.close()
        return status, body

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Soap16(Charger):
    kind = "soap16"
    ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="%s" xmlns:a="%s" xmlns:o="%s">'
                '<s:Header><o:chargeBoxIdentity>%%s</o:chargeBoxIdentity><a:MessageID>urn:uuid:%%s</a:MessageID>'
                '<a:Action>/%%s</a:Action><a:To>%%s</a:To>%%s</s:Header><s:Body>%%s</s:Body></s:Envelope>'
                ) % (SOAP12, WSA, CS16)
    BOOT = ('<o:bootNotificationRequest><o:chargePointVendor>Bench</o:chargePointVendor>'
            '<o:chargePointModel>Fleet</o:chargePointModel><o:chargePointSerialNumber>%s</o:chargePointSerialNumber>'
            '</o:bootNotificationRequest>')
    HEARTBEAT = '<o:heartbeatRequest/>'
    STATUS = ('<o:statusNotificationRequest><o:connectorId>1</o:connectorId><o:status>%s</o:status>'
              '<o:errorCode>NoError</o:errorCode><o:timestamp>%s</o:timestamp></o:statusNotificationRequest>')
    START = ('<o:startTransactionRequest><o:connectorId>1</o:connectorId><o:idTag>%s</o:idTag>'
             '<o:timestamp>%s</o:timestamp><o:meterStart>%d</o:meterStart></o:startTransactionRequest>')
    METER = ('<o:meterValuesRequest><o:connectorId>1</o:connectorId><o:transactionId>%d</o:transactionId>'
             '<o:meterValue><o:timestamp>%s</o:timestamp>'
             '<o:sampledValue><o:value>%d</o:value><o:context>Sample.Periodic</o:context>'
             '<o:measurand>Energy.Active.Import.Register</o:measurand><o:unit>Wh</o:unit></o:sampledValue>'
             '<o:sampledValue><o:value>7400</o:value><o:context>Sample.Periodic</o:context>'
             '<o:measurand>Power.Active.Import</o:measurand><o:unit>W</o:unit></o:sampledValue>'
             '<o:sampledValue><o:value>32.0</o:value><o:context>Sample.Periodic</o:context>'
             '<o:measurand>Current.Import</o:measurand><o:unit>A</o:unit></o:sampledValue>'
             '</o:meterValue></o:meterValuesRequest>')
    STOP = ('<o:stopTransactionRequest><o:transactionId>%d</o:transactionId><o:idTag>%s</o:idTag>'
            '<o:timestamp>%s</o:timestamp><o:meterStop>%d</o:meterStop><o:reason>%s</o:reason>'
            '</o:stopTransactionRequest>')
    _TX = re.compile(rb"transactionId>\s*(\d+)\s*<")

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.http = None
        self.path = "/ocpp/soap/1.6"
        self.to = ""
        self.from_header = ""

    async def connect(self, host: str, port: int, give_from: bool = False):
        if self.http is None:
            self.http = HttpConnection(host, port)
        self.to = f"http://{host}:{port}{self.path}"
        if give_from:  # where a real charger would be called back (nothing listens there: no command is sent)
            self.from_header = f"<a:From><a:Address>http://127.0.0.1:9/{self.identity}</a:Address></a:From>"

    @property
    def connected(self) -> bool:
        return self.http is not None

    def envelope(self, action: str, body: str) -> bytes:
        return (self.ENVELOPE % (self.identity, uuid.uuid4(), action, self.to, self.from_header, body)).encode()

    async def call(self, envelope: bytes) -> bytes:
        status, answer = await self.http.post(self.path, envelope, self.call_timeout)
        if status != 200 or b"Fault>" in answer:
            raise CallError(f"HTTP {status}: {answer[:300]!r}")
        return answer

    def tag(self):
        return f"BENCH{self.n}"

    async def boot(self):
        await self.call(self.envelope("BootNotification", self.BOOT % self.identity))

    async def heartbeat(self):
        await self.call(self.envelope("Heartbeat", self.HEARTBEAT))

    async def status(self, status="Charging"):
        await self.call(self.envelope("StatusNotification", self.STATUS % (status, self.clock.now)))

    async def start(self):
        self._start_body = self.START % (self.tag(), self.clock.at_ms(self.next_ms()), self.energy)
        self.tx = int(self._TX.search(await self.call(self.envelope("StartTransaction", self._start_body))).group(1))
        self.tx_readings = 0
        return self.tx

    def meter_body(self, at_ms=None):
        self.energy += 10
        return self.METER % (self.tx, self.clock.at_ms(self.next_ms(at_ms)), self.energy)

    async def meter(self):
        await self.call(self.envelope("MeterValues", self.meter_body()))
        self.tally.readings[self.kind] += 1
        self.tx_readings += 1

    def stop_body(self, reason="Local", at_ms=None):
        return self.STOP % (self.tx, self.tag(), self.clock.at_ms(self.next_ms(at_ms)), self.energy, reason)

    async def stop(self, reason="Local"):
        await self.call(self.envelope("StopTransaction", self.stop_body(reason)))
        self.tx = None

    def queue_offline(self, readings: int, start_ms: int, step_ms: int):
        self.offline = [("StartTransaction", self._start_body)]
        self.offline += [("MeterValues", self.meter_body(start_ms + i * step_ms)) for i in range(readings)]
        self.offline.append(("StopTransaction", self.stop_body("PowerLoss", start_ms + readings * step_ms)))

    async def replay(self):
        for action, body in self.offline:
            answer = await self.call(self.envelope(action, body))
            if action == "StartTransaction" and int(self._TX.search(answer).group(1)) != self.tx:
                self.tally.start_mismatch += 1

    def abandon(self):
        if self.http is not None:
            self.http.close()

    async def close(self):
        if self.http is not None:
            self.http.close()


CLASSES = {"json16": Json16, "json201": Json201, "soap16": Soap16}


def parse_mix(text: str) -> dict[str, int]:
    """'json16=7000,json201=3000,soap16=500' -> counts per kind (kinds left out: 0)."""
    mix = dict.fromkeys(KINDS, 0)
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, count = part.partition("=")
        if kind not in mix:
            raise ValueError(f"unknown charger kind {kind!r}: one of {', '.join(KINDS)}")
        mix[kind] = int(count)
    return mix
