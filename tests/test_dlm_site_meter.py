"""Site meter sources against real peers on loopback: pymodbus's own server (TCP, and RTU framing over a
pyserial socket:// port) and an aiohttp app serving JSON; plus the URL parser's table."""

from __future__ import annotations

import asyncio
import datetime
import json
import math
import struct

import pytest
from aiohttp import web
from pymodbus import FramerType
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ModbusTcpServer

from appliance.dlm.site_meter import MeterError, RegisterMap, mask_url, parse_source, to_current_a

try:
    from pymodbus.datastore import ModbusDeviceContext
except ImportError:  # pymodbus < 3.10 called it a slave context
    from pymodbus.datastore import ModbusSlaveContext as ModbusDeviceContext

FAST_TIMEOUT_S = 0.3


# ---- the URL parser ----

@pytest.mark.parametrize("url, problem", [
    ("ftp://meter/x", "unknown scheme 'ftp'"),
    ("modbus-tcp://meter", "missing registers="),
    ("modbus-tcp://meter?registers=", "missing registers="),
    ("modbus-tcp://meter?registers=3000,3002", "registers= has 2 addresses"),
    ("modbus-tcp://meter?registers=3000&type=float64", "type='float64' is not one of"),
    ("modbus-tcp://meter?registers=3000&phases=L4", "phases='L4'"),
    ("modbus-tcp://meter?registers=1,2,3&phases=L1,L1,L2", "different phase"),  # a phase twice
    ("modbus-tcp://meter?registers=3000&phases=L1,L2", "must name 1 "),         # more phases than registers
    ("modbus-tcp://meter?registers=30x0", "register '30x0' is not a decimal or 0x-hex address"),
    ("modbus-tcp://meter?registers=-1", "register '-1'"),
    ("modbus-tcp://meter?registers=65535", "past the last address"),             # float32 needs 65535 and 65536
    ("modbus-tcp://meter?registers=1&scale=abc", "scale='abc' is not a number"),
    ("modbus-tcp://meter?registers=1&scale=0", "scale='0' must be a finite number other than 0"),
    ("modbus-tcp://meter?registers=1&scale=inf", "scale='inf' must be a finite number"),
    ("modbus-tcp://meter?registers=1&unit=one", "unit='one' is not a whole number from 0 to 255"),
    ("modbus-tcp://meter?registers=1&unit=256", "unit='256' is not a whole number from 0 to 255"),
    ("modbus-tcp://meter?registers=1&function=coil", "function='coil' is not one of holding, input"),
    ("modbus-tcp://meter?registers=1&word_order=middle", "word_order='middle' is not one of big, little"),
    ("modbus-tcp://meter:99999?registers=1", "port is not a number"),
    ("modbus-tcp://meter:abc?registers=1", "port is not a number"),
    ("modbus-tcp://meter:0?registers=1", "port is not a number"),
    ("modbus-tcp://?registers=1", "missing meter host"),
    ("modbus-tcp://meter/x?registers=1", "unexpected path '/x'"),
    ("modbus-tcp://meter?registers=1&regsiters=2", "unknown modbus-tcp option 'regsiters'"),  # typos are caught
    ("modbus-tcp://meter?registers=1&registers=2", "option 'registers' given twice"),
    ("modbus-tcp://meter?registers=1&baud=9600", "unknown modbus-tcp option 'baud'"),
    ("modbus-rtu://dev/ttyUSB0?registers=1", "takes no host 'dev'"),             # two slashes, not three
    ("modbus-rtu://?registers=1", "name the serial device once"),
    ("modbus-rtu:///dev/ttyUSB0?device=/dev/ttyUSB1&registers=1", "name the serial device once"),
    ("modbus-rtu:///dev/ttyUSB0?registers=1&unit=0", "unit='0' is not a whole number from 1 to 247"),  # broadcast
    ("modbus-rtu:///dev/ttyUSB0?registers=1&parity=X", "parity='X' is not one of N, E, O"),
    ("modbus-rtu:///dev/ttyUSB0?registers=1&baud=fast", "baud='fast' is not a whole number"),
    ("modbus-rtu:///dev/ttyUSB0?registers=1&stopbits=3", "stopbits='3' is not one of 1, 2"),
    ("http://meter/status.json", "missing '#' fragment"),
    ("http://meter/status.json#scale=2", "the fragment names no phase"),
    ("http://meter/status.json#L1=", "L1='' is not a dotted path"),
    ("http://meter/status.json#L1=phases..current", "L1='phases..current' is not a dotted path"),
    ("http://meter/status.json#L4=a", "unknown fragment option 'L4'"),
    ("http://meter/status.json#L1=a&scale=x", "scale='x' is not a number"),
    ("http://meter/status.json#L1=a&token=", "token= is empty"),
    ("http://user:pw@meter/status.json#L1=a&token=abc", "a user:password in the address or a token=, not both"),
    ("http:///status.json#L1=a", "missing meter host"),
    ("http://meter:80a/status.json#L1=a", "port is not a number"),
])
def test_malformed_url_is_refused_naming_the_problem(url, problem):
    with pytest.raises(ValueError, match="site meter") as raised:
        parse_source(url)
    assert problem in str(raised.value)


def test_refusal_does_not_show_secrets():
    with pytest.raises(ValueError) as raised:
        parse_source("https://admin:hunter2@meter/s.json#L1=a&token=s3cret&bogus=1")
    assert "hunter2" not in str(raised.value) and "s3cret" not in str(raised.value)


@pytest.mark.parametrize("url, expected", [
    ("modbus-tcp://meter?registers=3000,3002,3004",
     RegisterMap(unit=1, addresses=(3000, 3002, 3004), phases=("L1", "L2", "L3"))),
    ("modbus-tcp://meter:1502?unit=5&registers=0x0BB8&phases=L2&type=int16&function=input&scale=0.1",
     RegisterMap(unit=5, addresses=(3000,), phases=("L2",), value_type="int16", function="input", scale=0.1)),
    # CTs clamped on rotated phases: the meter's first register measures L2.
    ("modbus-rtu:///dev/ttyUSB0?registers=6,8,10&phases=L2,L3,L1&word_order=little&unit=247",
     RegisterMap(unit=247, addresses=(6, 8, 10), phases=("L2", "L3", "L1"), word_order="little")),
])
def test_modbus_url_gives_register_map(url, expected):
    assert parse_source(url).registers == expected


@pytest.mark.parametrize("url, shown", [
    ("http://meter/s.json#L1=a&token=abc+/=", "http://meter/s.json#L1=a&token=***"),
    ("https://admin:pw@meter/s.json#token=t&L1=a", "https://admin:***@meter/s.json#token=***&L1=a"),
    ("modbus-rtu://?device=socket://127.0.0.1:5020&registers=1", "modbus-rtu://?device=socket://127.0.0.1:5020&registers=1"),
])
def test_url_is_shown_as_written_with_secrets_masked(url, shown):
    assert mask_url(url) == shown


@pytest.mark.parametrize("value_type, addresses, requests", [
    ("float32", (3000, 3002, 3004), [(3000, 6)]),               # one block: one request, one instant
    ("float32", (3004, 3000, 3002), [(3000, 6)]),               # order of phases does not matter
    ("int16", (10, 11, 20), [(10, 2), (20, 1)]),                # a gap is not read across (may not exist)
    ("float32", (0, 1, 100), [(0, 3), (100, 2)]),               # overlapping values share a request
])
def test_registers_that_follow_each_other_are_read_together(value_type, addresses, requests):
    register_map = RegisterMap(unit=1, addresses=addresses, phases=("L1", "L2", "L3"), value_type=value_type)
    assert register_map.plan_reads() == requests


@pytest.mark.parametrize("raw, scale, current_a", [
    (12.5, 1.0, 12.5),
    (-4.0, 1.0, 0.0),             # export counts as no import
    (16000, 0.001, 16.0),         # mA
])
def test_raw_value_becomes_import_current(raw, scale, current_a):
    assert to_current_a("L1", raw, scale) == pytest.approx(current_a)


@pytest.mark.parametrize("raw", [math.nan, math.inf, "12", None, True, [1]])
def test_non_number_is_a_meter_error(raw):
    with pytest.raises(MeterError, match="L1"):
        to_current_a("L1", raw, 1.0)


# ---- Modbus: pymodbus's own server as the meter ----

def encode(value_type: str, value: float, word_order: str = "big") -> list[int]:
    code = {"float32": "f", "int16": "h", "uint16": "H", "int32": "i", "uint32": "I"}[value_type]
    packed = struct.pack(f">{code}", value)
    words = list(struct.unpack(f">{len(packed) // 2}H", packed))
    return words[::-1] if word_order == "little" else words


def registers(layout: dict[int, list[int]]) -> ModbusSequentialDataBlock:
    values = [0] * 100
    for address, words in layout.items():
        values[address:address + len(words)] = words
    # Block address 1 is wire address 0 in pymodbus's datastore.
    return ModbusSequentialDataBlock(1, values)


HOLDING = {
    0: encode("float32", 10.5) + encode("float32", 20.25) + encode("float32", -3.0),
    10: encode("float32", 1.5, "little") + encode("float32", 2.5, "little") + encode("float32", 3.5, "little"),
    20: encode("int16", 123) + encode("int16", -45) + encode("int16", 300),
    30: encode("uint32", 70000),
    40: encode("uint16", 17),
    50: encode("float32", math.nan),
    60: encode("int32", -100000, "little"),
}
INPUT = {0: encode("float32", 7.0) + encode("float32", 8.0) + encode("float32", 9.0)}


def meter_context(units: tuple[int, ...] = ()) -> ModbusServerContext:
    # di and co given too: pymodbus 3.9 ignores hr and ir without di.
    blank = registers({})
    device = ModbusDeviceContext(di=blank, co=blank, hr=registers(HOLDING), ir=registers(INPUT))
    if not units:  # one device answering every unit id
        return ModbusServerContext(device, single=True)
    return ModbusServerContext({unit: device for unit in units}, single=False)


@pytest.fixture
async def modbus_meter():
    """Starts pymodbus's TCP server on loopback (port 0 unless given); returns (server, port)."""
    servers = []

    async def start(framer=FramerType.SOCKET, port=0, units=()):
        server = ModbusTcpServer(meter_context(units), framer=framer, address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        servers.append(server)
        return server, server.transport.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        await server.shutdown()


async def read_once(url: str, timeout_s: float = 3.0):
    source = parse_source(url, timeout_s=timeout_s)
    try:
        return await source.read()
    finally:
        await source.close()


@pytest.mark.parametrize("options, current_a", [
    ("registers=0,2,4", {"L1": 10.5, "L2": 20.25, "L3": 0.0}),                     # float32, export on L3
    ("registers=10,12,14&word_order=little", {"L1": 1.5, "L2": 2.5, "L3": 3.5}),
    ("registers=0x14,21,22&type=int16&scale=0.1", {"L1": 12.3, "L2": 0.0, "L3": 30.0}),
    ("registers=30&type=uint32&scale=0.001", {"L1": 70.0}),                          # mA
    ("registers=40&type=uint16&phases=L3", {"L3": 17.0}),                            # single-phase meter
    ("registers=0,2,4&function=input", {"L1": 7.0, "L2": 8.0, "L3": 9.0}),           # FC4 has its own registers
    ("registers=60&type=int32&word_order=little&scale=-0.001", {"L1": 100.0}),       # CT the wrong way round
])
async def test_modbus_tcp_meter_reads_per_phase_current(modbus_meter, options, current_a):
    _, port = await modbus_meter()
    reading = await read_once(f"modbus-tcp://127.0.0.1:{port}?unit=1&{options}")
    assert reading.current_a == pytest.approx(current_a)
    assert reading.at.tzinfo == datetime.UTC


@pytest.mark.parametrize("options, problem", [
    ("registers=50", "the value for L1 is nan, not a finite number"),
    # pymodbus's server before 3.11.4 answers no registers rather than exception 2 (illegal address).
    ("registers=500", "has no such register|asked for 2 registers at 500, the meter answered 0"),
])
async def test_modbus_tcp_meter_refusal_or_bad_value_is_a_meter_error(modbus_meter, options, problem):
    _, port = await modbus_meter()
    with pytest.raises(MeterError, match=problem):
        await read_once(f"modbus-tcp://127.0.0.1:{port}?{options}")


async def test_stopped_meter_is_an_error_and_reading_resumes_when_it_returns(modbus_meter):
    server, port = await modbus_meter()
    source = parse_source(f"modbus-tcp://127.0.0.1:{port}?registers=0,2,4", timeout_s=FAST_TIMEOUT_S)
    try:
        assert (await source.read()).current_a["L1"] == 10.5
        await server.shutdown()
        # Whether the client has seen the hang-up before it asks depends on the event loop's turn.
        with pytest.raises(MeterError, match="closed the connection|cannot connect"):
            await source.read()
        with pytest.raises(MeterError, match="cannot connect to the meter"):
            await source.read()
        await modbus_meter(port=port)
        assert (await source.read()).current_a["L2"] == 20.25
    finally:
        await source.close()


async def test_meter_that_never_answers_times_out():
    hung_up = asyncio.Event()

    async def accept_and_say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the source gives up and hangs up
        writer.close()
        await writer.wait_closed()
        hung_up.set()

    silent = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    async with silent:
        with pytest.raises(MeterError, match=r"no answer within 0.3 s \(check the meter's address"):
            await read_once(f"modbus-tcp://127.0.0.1:{port}?registers=0", timeout_s=FAST_TIMEOUT_S)
        await asyncio.wait_for(hung_up.wait(), 5)


async def test_modbus_rtu_meter_reads_through_a_serial_url(modbus_meter):
    # pyserial's socket:// port carries RTU frames (CRC included) to the server's RTU framer; the server
    # knows only unit 7, so the answer also shows the unit id went out in the frame.
    _, port = await modbus_meter(framer=FramerType.RTU, units=(7,))
    reading = await read_once(f"modbus-rtu://?device=socket://127.0.0.1:{port}&baud=19200&parity=E&unit=7"
                              "&registers=0,2,4&type=float32")
    assert reading.current_a == {"L1": 10.5, "L2": 20.25, "L3": 0.0}


# ---- HTTP JSON ----

STATUS = {"phases": [{"current": 10.5}, {"current": -2.0}, {"current": 31}],
          "text": {"current": "12"}, "broken": {"current": math.nan}}


@pytest.fixture
async def http_meter(aiohttp_server):
    """An aiohttp app standing in for a meter; returns (base URL, the Authorization headers it saw)."""
    seen_auth: list[str | None] = []
    never = asyncio.Event()

    async def status(request: web.Request) -> web.Response:
        seen_auth.append(request.headers.get("Authorization"))
        return web.Response(text=json.dumps(STATUS), content_type="text/plain")  # many meters mislabel JSON

    async def login_page(request: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", content_type="text/html")

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="oops")

    async def slow(request: web.Request) -> web.Response:
        await never.wait()
        raise AssertionError("unreachable")

    app = web.Application()
    for path, handler in [("/status.json", status), ("/page", login_page), ("/fail", fail), ("/slow", slow)]:
        app.router.add_get(path, handler)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/"), seen_auth


async def test_http_meter_reads_values_at_their_paths(http_meter):
    base, _ = http_meter
    reading = await read_once(f"{base}/status.json#L1=phases.0.current&L2=phases.1.current"
                              "&L3=phases.2.current&scale=2")
    assert reading.current_a == {"L1": 21.0, "L2": 0.0, "L3": 62.0}
    assert reading.at.tzinfo == datetime.UTC


@pytest.mark.parametrize("userinfo, token, authorization", [
    ("", "&token=s3cret", "Bearer s3cret"),
    ("admin:s3cret@", "", "Basic YWRtaW46czNjcmV0"),  # admin:s3cret
])
async def test_http_meter_sends_credentials_and_masks_them(http_meter, userinfo, token, authorization):
    base, seen_auth = http_meter
    source = parse_source(base.replace("//", "//" + userinfo) + "/status.json#L1=phases.0.current" + token)
    try:
        await source.read()
        await source.read()  # one session, kept between reads
    finally:
        await source.close()
    assert seen_auth == [authorization, authorization]
    assert "s3cret" not in source.url and "***" in source.url


@pytest.mark.parametrize("path_and_fragment, problem", [
    ("/status.json#L1=phases.3.current", "no 'phases.3.current' (no '3' in a list of 3 at phases)"),
    ("/status.json#L1=phases.0.volts", "no 'phases.0.volts' (no 'volts' in dict at phases.0)"),
    ("/status.json#L2=text.current", "the value for L2 is '12', not a number"),
    ("/status.json#L1=broken.current", "the value for L1 is nan, not a finite number"),
    ("/page#L1=a", "the answer is not JSON (it starts b'<html>login"),
    ("/fail#L1=a", "the meter answered HTTP 500 Internal Server Error"),
    ("/missing#L1=a", "the meter answered HTTP 404 Not Found"),
])
async def test_http_meter_failure_is_a_meter_error_saying_why(http_meter, path_and_fragment, problem):
    base, _ = http_meter
    with pytest.raises(MeterError) as raised:
        await read_once(base + path_and_fragment)
    assert problem in str(raised.value)


async def test_http_meter_that_never_answers_times_out(http_meter):
    base, _ = http_meter
    with pytest.raises(MeterError, match="no answer within 0.3 s"):
        await read_once(f"{base}/slow#L1=a", timeout_s=FAST_TIMEOUT_S)


async def test_http_meter_that_is_down_is_a_meter_error():
    unused = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = unused.sockets[0].getsockname()[1]
    unused.close()
    await unused.wait_closed()
    with pytest.raises(MeterError, match="cannot reach the meter"):
        await read_once(f"http://127.0.0.1:{port}/status.json#L1=a")
