"""Site meter sources: live per-phase current of the whole site, read over Modbus TCP/RTU or HTTP JSON.

The load manager subtracts what the site draws besides the chargers from the main breaker's limit;
a source turns one configured URL into `MeterReading`s and reports any failure as `MeterError`.

URL forms, one example each:

    modbus-tcp://10.0.0.5:502?unit=1&registers=3000,3002,3004&type=float32
    modbus-rtu:///dev/ttyUSB0?baud=9600&parity=N&stopbits=1&bytesize=8&unit=1&registers=6,8,10&type=float32
    modbus-rtu://?device=socket://127.0.0.1:5020&unit=1&registers=6,8,10&type=float32
    http://meter.local/status.json#L1=phases.0.current&L2=phases.1.current&L3=phases.2.current&scale=1

Modbus TCP: port 502 unless given. Modbus RTU: the serial device is the URL's path (three slashes
before /dev/...), or any pyserial URL given as `device=` (socket://, rfc2217://; percent-encode a
`?` or `&` inside it); serial options default to 9600 baud, 8 data bits, parity N, 1 stop bit.
pyserial connects and closes a socket:// port with blocking calls (and sleeps 0.3 s on close), so it
suits a bench or a test, not a gateway that is often unreachable.
Register options, for both:
- `unit`: Modbus unit (device) id, default 1.
- `registers`: one or three start addresses, decimal or 0x hex, as sent on the wire (0-based: a manual
  listing "30001" or "40001" means address 0).
- `phases`: the site phases those registers measure, default L1 for one register, L1,L2,L3 for three
  (e.g. `phases=L2` for a single-phase meter on L2, `phases=L2,L3,L1` for rotated CTs).
- `type`: int16, uint16, int32, uint32 or float32 (default); 32-bit types take two registers.
- `function`: holding (FC3, default) or input (FC4).
- `word_order`: big (default, high word first) or little, for 32-bit types; bytes within a register
  are always big-endian, as Modbus defines.
- `scale`: multiplies the raw value, default 1 (0.001 for mA, 0.1 for deciamps).

HTTP(S): a GET answers JSON; the fragment names where each phase's value is, as a dotted path whose
integer parts index lists. Fragment options: `L1`, `L2`, `L3` (at least one), `scale` (default 1), and
`token`, sent as `Authorization: Bearer TOKEN`. A user:password in the URL is sent as basic auth.
Secrets are masked in `MeterSource.url`.

A reading holds only the phases configured. Negative currents (the site exporting, e.g. solar) count
as 0 A: the breaker limit is about import. NaN, infinity and non-numbers raise MeterError.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import inspect
import json
import math
import re
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit, urlunsplit

import aiohttp

if TYPE_CHECKING:
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

# pymodbus is imported where a Modbus meter is used, not here: importing it took ~0.05 s of every
# start and every CLI command (bench/startup.py, packaging/README.md), and most depots have none.

PHASES = ("L1", "L2", "L3")
DEFAULT_TIMEOUT_S = 3.0
MODBUS_TCP_PORT = 502
MASK = "***"


class MeterError(Exception):
    """A reading could not be taken; the message says why in words a technician understands."""


@dataclass(frozen=True)
class MeterReading:
    current_a: dict[str, float]   # site phase "L1"/"L2"/"L3" -> amperes
    at: datetime.datetime         # UTC, when taken


class MeterSource(Protocol):
    url: str                      # as configured, with any password/token masked (for display/logs)

    async def read(self) -> MeterReading: ...   # raises MeterError (timeouts included; default timeout 3 s)

    async def close(self) -> None: ...


def parse_source(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> MeterSource:
    """Build a source from its URL; ValueError with a clear message naming the bad part."""
    parts = urlsplit(url)
    builders = {"modbus-tcp": _parse_modbus_tcp, "modbus-rtu": _parse_modbus_rtu,
                "http": _parse_http, "https": _parse_http}
    builder = builders.get(parts.scheme.lower())
    if builder is None:
        raise _bad(url, f"unknown scheme {parts.scheme!r}, "
                         "expected modbus-tcp, modbus-rtu, http or https")
    return builder(url, parts, timeout_s)


def mask_url(url: str) -> str:
    """The URL as written, but with a password in it and a token= in its fragment replaced by ***."""
    password = urlsplit(url).password
    if password is not None:
        url = url.replace(f":{password}@", f":{MASK}@", 1)
    head, hash_, fragment = url.partition("#")
    return head + hash_ + re.sub(r"(^|&)token=[^&]*", rf"\1token={MASK}", fragment)


def to_current_a(phase: str, raw: Any, scale: float) -> float:
    """Amperes from a raw meter value: export (negative) is 0 A; anything not a finite number is refused."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise MeterError(f"the value for {phase} is {raw!r}, not a number")
    value_a = raw * scale
    if not math.isfinite(value_a):
        raise MeterError(f"the value for {phase} is {raw!r}, not a finite number")
    return value_a if value_a > 0 else 0.0


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# ---- options shared by the parsers ----

def _bad(url: str, problem: str) -> ValueError:
    return ValueError(f"site meter {mask_url(url)}: {problem}")


def _options(url: str, text: str, allowed: set[str], where: str) -> dict[str, str]:
    options: dict[str, str] = {}
    # A '+' stays a '+' (tokens and pyserial URLs may hold one), not the space of HTML forms.
    for key, value in parse_qsl(text.replace("+", "%2B"), keep_blank_values=True):
        if key not in allowed:
            raise _bad(url, f"unknown {where} option {key!r}; known: {', '.join(sorted(allowed))}")
        if key in options:
            raise _bad(url, f"{where} option {key!r} given twice")
        options[key] = value
    return options


def _int_option(url: str, options: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    text = options.get(key, str(default))
    if not re.fullmatch(r"[0-9]+", text) or not low <= int(text) <= high:
        raise _bad(url, f"{key}={text!r} is not a whole number from {low} to {high}")
    return int(text)


def _scale_option(url: str, options: dict[str, str]) -> float:
    text = options.get("scale", "1")
    try:
        scale = float(text)
    except ValueError:
        raise _bad(url, f"scale={text!r} is not a number") from None
    if not math.isfinite(scale) or scale == 0:
        raise _bad(url, f"scale={text!r} must be a finite number other than 0")
    return scale


def _choice_option(url: str, options: dict[str, str], key: str, choices: Sequence[str]) -> str:
    value = options.get(key, choices[0])
    if value not in choices:
        raise _bad(url, f"{key}={value!r} is not one of {', '.join(choices)}")
    return value


def _port(url: str, parts: SplitResult) -> int | None:
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise _bad(url, "port is not a number from 1 to 65535")
    return port


# ---- Modbus ----

# type -> (struct code, registers per value)
VALUE_TYPES = {"float32": ("f", 2), "int16": ("h", 1), "uint16": ("H", 1), "int32": ("i", 2), "uint32": ("I", 2)}
REGISTER_OPTIONS = {"unit", "registers", "phases", "type", "function", "word_order", "scale"}
SERIAL_OPTIONS = {"device", "baud", "parity", "stopbits", "bytesize"}
EXCEPTION_WORDS = {
    1: "the meter does not support this function (try function=holding or function=input)",
    2: "the meter has no such register (check registers=; manuals often count from 1)",
    3: "the meter refused the register count (check type=)",
    4: "the meter reported an internal failure",
    10: "the gateway has no path to this unit (check unit=)",
    11: "the unit behind the gateway did not answer (check unit= and the serial side)",
}


@functools.cache
def unit_keyword() -> str:
    """pymodbus renamed `slave=` to `device_id=` in 3.10; accept both so the whole tested range works."""
    from pymodbus.client import AsyncModbusTcpClient

    return "device_id" if "device_id" in inspect.signature(AsyncModbusTcpClient.read_holding_registers).parameters \
        else "slave"


@dataclass(frozen=True)
class RegisterMap:
    """Where a Modbus meter keeps each phase's current, and how to turn its registers into amperes."""

    unit: int
    addresses: tuple[int, ...]
    phases: tuple[str, ...]
    value_type: str = "float32"
    function: str = "holding"
    word_order: str = "big"
    scale: float = 1.0

    @property
    def words_per_value(self) -> int:
        return VALUE_TYPES[self.value_type][1]

    def plan_reads(self) -> list[tuple[int, int]]:
        """(start address, register count) requests; values that follow each other share one request,
        so a meter with L1..L3 in one block answers once and the three phases are from the same instant."""
        spans: list[list[int]] = []
        for start in sorted(set(self.addresses)):
            end = start + self.words_per_value
            if spans and start <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        return [(start, end - start) for start, end in spans]

    def decode(self, words: dict[int, int]) -> dict[str, float]:
        """Amperes per phase from register values keyed by address."""
        code, count = VALUE_TYPES[self.value_type]
        current_a = {}
        for phase, address in zip(self.phases, self.addresses):
            value_words = [words[address + i] for i in range(count)]
            if self.word_order == "little":
                value_words.reverse()
            raw = struct.unpack(f">{code}", struct.pack(f">{count}H", *value_words))[0]
            current_a[phase] = to_current_a(phase, raw, self.scale)
        return current_a


def _parse_register_map(url: str, options: dict[str, str], min_unit: int, max_unit: int) -> RegisterMap:
    if not options.get("registers"):
        raise _bad(url, "missing registers= (one or three start addresses)")
    texts = options["registers"].split(",")
    if len(texts) not in (1, 3):
        raise _bad(url, f"registers= has {len(texts)} addresses; "
                         "give one (with phases= if not L1) or three (L1,L2,L3)")
    value_type = _choice_option(url, options, "type", list(VALUE_TYPES))
    addresses = tuple(_register_address(url, text, VALUE_TYPES[value_type][1]) for text in texts)
    return RegisterMap(
        unit=_int_option(url, options, "unit", 1, min_unit, max_unit),
        addresses=addresses,
        phases=_phases_option(url, options, len(addresses)),
        value_type=value_type,
        function=_choice_option(url, options, "function", ["holding", "input"]),
        word_order=_choice_option(url, options, "word_order", ["big", "little"]),
        scale=_scale_option(url, options),
    )


def _register_address(url: str, text: str, words: int) -> int:
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
        address = int(text, 16)
    elif re.fullmatch(r"[0-9]+", text):
        address = int(text)
    else:
        raise _bad(url, f"register {text!r} is not a decimal or 0x-hex address")
    if address + words - 1 > 0xFFFF:
        raise _bad(url, f"register {text!r} is past the last address 65535")
    return address


def _phases_option(url: str, options: dict[str, str], count: int) -> tuple[str, ...]:
    phases = tuple(options["phases"].split(",")) if "phases" in options else PHASES[:count]
    bad = [phase for phase in phases if phase not in PHASES]
    if bad or len(set(phases)) != len(phases) or len(phases) != count:
        raise _bad(url, f"phases={options.get('phases')!r} must name {count} different phase(s) "
                        "of L1, L2, L3, one per register")
    return phases


def _parse_modbus_tcp(url: str, parts: SplitResult, timeout_s: float) -> ModbusSource:
    options = _options(url, parts.query, REGISTER_OPTIONS, "modbus-tcp")
    if not parts.hostname:
        raise _bad(url, "missing meter host, write modbus-tcp://HOST[:PORT]?registers=...")
    port = _port(url, parts) or MODBUS_TCP_PORT
    if parts.path not in ("", "/"):
        raise _bad(url, f"unexpected path {parts.path!r}; options go after '?'")
    host = parts.hostname

    def make_client(**tracing: Any) -> AsyncModbusTcpClient:
        from pymodbus.client import AsyncModbusTcpClient

        return AsyncModbusTcpClient(host, port=port, **_client_timing(timeout_s), **tracing)

    hint = "check the meter's address and port, that it is on the network, and unit="
    return ModbusSource(url, make_client, _parse_register_map(url, options, 0, 255), timeout_s, hint)


def _parse_modbus_rtu(url: str, parts: SplitResult, timeout_s: float) -> ModbusSource:
    options = _options(url, parts.query, REGISTER_OPTIONS | SERIAL_OPTIONS, "modbus-rtu")
    if parts.netloc:
        raise _bad(url, f"modbus-rtu takes no host {parts.netloc!r}; write modbus-rtu:///dev/ttyUSB0 "
                        "(three slashes) or modbus-rtu://?device=socket://HOST:PORT")
    path, device = unquote(parts.path), options.get("device", "")
    if bool(path) == bool(device):
        raise _bad(url, "name the serial device once, as the path (modbus-rtu:///dev/ttyUSB0) "
                        "or as device= (a pyserial URL)")
    serial = {"port": path or device,
              "baudrate": _int_option(url, options, "baud", 9600, 50, 4_000_000),
              "parity": _choice_option(url, options, "parity", ["N", "E", "O"]),
              "stopbits": int(_choice_option(url, options, "stopbits", ["1", "2"])),
              "bytesize": int(_choice_option(url, options, "bytesize", ["8", "7"]))}

    def make_client(**tracing: Any) -> AsyncModbusSerialClient:
        from pymodbus import FramerType
        from pymodbus.client import AsyncModbusSerialClient

        return AsyncModbusSerialClient(framer=FramerType.RTU, **serial, **_client_timing(timeout_s), **tracing)

    hint = "check the wiring (A/B), baud, parity and stop bits, and unit="
    # RTU unit ids are 1..247: 0 is broadcast, which never answers.
    return ModbusSource(url, make_client, _parse_register_map(url, options, 1, 247), timeout_s, hint)


def _client_timing(timeout_s: float) -> dict[str, float]:
    # pymodbus's own timeout is twice ours so that the deadline in ModbusSource.read is the one that fires
    # and every timeout reads the same; no retries and no background reconnects: read() reconnects.
    return {"timeout": 2 * timeout_s, "retries": 0, "reconnect_delay": 0}


class ModbusSource:
    """A meter on Modbus TCP or RTU: connects on the first read and again on the read after an error."""

    def __init__(self, url: str, make_client: Callable[..., Any], registers: RegisterMap, timeout_s: float,
                 hint: str) -> None:
        self.url = mask_url(url)
        self.registers = registers
        self.timeout_s = timeout_s
        self._make_client = make_client
        self._hint = hint
        self._client: Any = None
        self._lost = asyncio.Event()  # set when the current client's connection drops

    async def read(self) -> MeterReading:
        from pymodbus import ModbusException

        try:
            async with asyncio.timeout(self.timeout_s):
                words = await self._read_words()
            return MeterReading(current_a=self.registers.decode(words), at=now_utc())
        except TimeoutError:
            await self.close()
            raise MeterError(f"site meter {self.url}: no answer within {self.timeout_s:g} s ({self._hint})") from None
        except (ModbusException, OSError) as exc:
            await self.close()
            raise MeterError(f"site meter {self.url}: {exc} ({self._hint})") from exc
        except MeterError as exc:
            await self.close()
            raise MeterError(f"site meter {self.url}: {exc}") from None

    async def _read_words(self) -> dict[int, int]:
        client = await self._connected_client()
        read = client.read_holding_registers if self.registers.function == "holding" else client.read_input_registers
        words: dict[int, int] = {}
        for start, count in self.registers.plan_reads():
            response = await self._unless_lost(read(start, count=count, **{unit_keyword(): self.registers.unit}))
            if response.isError():
                code = getattr(response, "exception_code", None)
                meaning = EXCEPTION_WORDS.get(code, f"the meter answered Modbus exception {code}")
                raise MeterError(f"reading {count} {self.registers.function} register(s) at {start} "
                                 f"from unit {self.registers.unit}: {meaning}")
            if len(response.registers) < count:
                raise MeterError(f"asked for {count} registers at {start}, the meter answered {len(response.registers)}")
            words.update(zip(range(start, start + count), response.registers))
        return words

    async def _unless_lost(self, request: Awaitable[Any]) -> Any:
        # pymodbus waits out its timeout for an answer on a connection the meter has closed; fail at once.
        tasks = (asyncio.ensure_future(request), asyncio.ensure_future(self._lost.wait()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
        if tasks[0] in done:
            return tasks[0].result()
        raise MeterError("the meter closed the connection")

    async def _connected_client(self) -> Any:
        if self._client is None:
            # One event per client, so that a late word from a closed client cannot fail the next one.
            self._lost = lost = asyncio.Event()

            def on_connection_change(connected: bool) -> None:
                if not connected:
                    lost.set()

            self._client = self._make_client(trace_connect=on_connection_change)
        if not self._client.connected and not await self._client.connect():
            raise MeterError(f"cannot connect to the meter ({self._hint})")
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


# ---- HTTP JSON ----

def _parse_http(url: str, parts: SplitResult, timeout_s: float) -> HttpSource:
    if not parts.fragment:
        raise _bad(url, "missing '#' fragment naming the values, "
                         "e.g. #L1=phases.0.current&L2=phases.1.current&L3=phases.2.current")
    options = _options(url, parts.fragment, {*PHASES, "scale", "token"}, "fragment")
    paths = {phase: options[phase] for phase in PHASES if phase in options}
    if not paths:
        raise _bad(url, "the fragment names no phase; give L1=, L2= and/or L3=")
    for phase, path in paths.items():
        if not path or "" in path.split("."):
            raise _bad(url, f"{phase}={path!r} is not a dotted path like phases.0.current")
    if not parts.hostname:
        raise _bad(url, "missing meter host")
    _port(url, parts)
    if "token" in options and not options["token"]:
        raise _bad(url, "token= is empty")
    if "token" in options and (parts.username or parts.password):
        # One Authorization header: basic auth from the URL or the bearer token, never both.
        raise _bad(url, "give a user:password in the address or a token=, not both")
    request_url = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))
    return HttpSource(url, request_url, paths, _scale_option(url, options), options.get("token"), timeout_s)


def lookup(document: Any, path: str) -> Any:
    """The value at a dotted path; integer parts index lists. MeterError names where the path stops."""
    value = document
    for depth, part in enumerate(path.split(".")):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            found = f"a list of {len(value)}" if isinstance(value, list) else type(value).__name__
            at = ".".join(path.split(".")[:depth]) or "the top"
            raise MeterError(f"the meter's JSON has no {path!r} (no {part!r} in {found} at {at})")
    return value


class HttpSource:
    """A meter (or a gateway) that answers a GET with JSON holding per-phase currents."""

    def __init__(self, url: str, request_url: str, paths: dict[str, str], scale: float, token: str | None,
                 timeout_s: float) -> None:
        self.url = mask_url(url)
        self.paths = paths
        self.scale = scale
        self.timeout_s = timeout_s
        self._request_url = request_url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None

    async def read(self) -> MeterReading:
        try:
            async with asyncio.timeout(self.timeout_s):
                document = await self._fetch()
            current_a = {phase: to_current_a(phase, lookup(document, path), self.scale)
                         for phase, path in self.paths.items()}
        except TimeoutError:
            raise MeterError(f"site meter {self.url}: no answer within {self.timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise MeterError(f"site meter {self.url}: cannot reach the meter: {exc}") from exc
        except MeterError as exc:
            raise MeterError(f"site meter {self.url}: {exc}") from None
        return MeterReading(current_a=current_a, at=now_utc())

    async def _fetch(self) -> Any:
        if self._session is None:
            # Created here, not in __init__: a ClientSession belongs to the running loop.
            self._session = aiohttp.ClientSession()
        async with self._session.get(self._request_url, headers=self._headers) as response:
            body = await response.read()
            if not 200 <= response.status < 300:
                raise MeterError(f"the meter answered HTTP {response.status} {response.reason or ''}".rstrip())
        try:
            return json.loads(body)
        except ValueError:
            raise MeterError(f"the answer is not JSON (it starts {body[:40]!r})") from None

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
