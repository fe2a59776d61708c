"""One charger's OCPP-J session: the `ocpp` library's ChargePoint with a conformant front door.

Inbound frames are checked by `frames` before dispatch, payloads validated inline (the library's
thread-pool validation collapses under many connections, see FACTS.md), errors answered with
the version's own codes, and every frame written to the communication log. Key conversion
between camelCase and snake_case is memoised: the library does it by regular expression on
every key of every message. A version's adapter subclasses this with its `@on` handlers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from functools import lru_cache
from typing import Any

from ocpp.charge_point import ChargePoint, camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult

from appliance.core import link as lk
from appliance.core.commands import CommandError
from appliance.core.health import StorageError
from appliance.core.message_pace import MessagePace
from appliance.core.link import CommandResult
from appliance.core.services import Core
from appliance.ocppj import frames
from appliance.ocppj.frames import FrameError

log = logging.getLogger(__name__)

class OcppJSession(ChargePoint):
    ocpp_version = "1.6"
    protocol = "ocpp1.6-json"
    link_class: type  # the version's ChargerLink over this session
    # Before acceptance only these may be sent (OCPP 1.6 §4.2.1, 2.0.1 B02.FR.09: others get SecurityError).
    allowed_before_acceptance = frozenset({"BootNotification"})

    def __init__(self, identity: str, connection: Any, core: Core) -> None:
        super().__init__(identity, connection, response_timeout=core.settings.command_timeout_s, logger=log)
        self.core = core
        self.max_frame_bytes = core.settings.ocpp_max_frame_bytes
        self.validate_responses = core.settings.ocpp_validate_responses
        self._awaited: tuple[str, str] = ("", "")  # (unique id, action) of the command awaiting its answer
        self._known_actions = frozenset(self.known_actions())
        self.frames_sent = 0
        self._after_tasks: set[asyncio.Task] = set()
        self.closed = asyncio.Event()  # set by the endpoint when the connection is gone

    def known_actions(self) -> set[str]:
        """Every action the version defines, to tell NotSupported from NotImplemented."""
        raise NotImplementedError

    async def start(self) -> None:
        settings = self.core.settings  # one charger's flood must not starve the others
        pace = MessagePace(self.id, settings.charger_messages_per_s, settings.charger_message_burst)
        while True:
            raw = await self._connection.recv()
            await pace.wait()
            await self.route_message(raw)

    async def route_message(self, raw: str | bytes) -> None:
        self.core.commlog.record(self.id, "in", raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
        self.core.chargers.touch(self.id)
        try:
            msg = frames.parse(raw, self.max_frame_bytes)
            if isinstance(msg, Call):
                await self._dispatch(msg)
            elif self._call_lock.locked():
                self._response_queue.put_nowait(self._checked_answer(msg))
            else:  # nobody waits for it (a late or invented answer); queueing it would only grow memory
                log.info("%s: ignoring an answer to no pending call: %s", self.id, msg.unique_id)
        except FrameError as error:
            log.info("%s: %s (%s)", self.id, error.description, error.kind)
            await self._send(error.to_call_error(self.ocpp_version).to_json())

    def _checked_answer(self, msg: Any) -> Any:
        """The charger's answer to our command, or a CallError in its place when the answer breaks the
        schema of that command's response (the library then raises it, as for a CALLERROR)."""
        unique_id, action = self._awaited
        if not isinstance(msg, CallResult) or msg.unique_id != unique_id:
            return msg
        try:
            frames.validate(self.ocpp_version, action, msg.payload, unique_id, request=False)
        except FrameError as e:
            log.info("%s: the answer to %s breaks the schema: %s", self.id, action, e.description)
            code = frames.CODES[self.ocpp_version][e.kind]
            return CallError(unique_id, code, f"the charger's answer breaks the schema: {e.description}", {})
        return msg

    async def _dispatch(self, msg: Call) -> None:
        received = time.perf_counter()
        handlers = self.route_map.get(msg.action)
        if handlers is None or "_on_action" not in handlers:
            kind = "not_supported" if msg.action in self._known_actions else "not_implemented"
            raise FrameError(msg.unique_id, kind, f"{msg.action} is not handled by this central system")
        if msg.action not in self.allowed_before_acceptance and not self.core.chargers.is_accepted(self.id):
            raise FrameError(msg.unique_id, "security", "charger is not accepted: send BootNotification first")
        frames.validate(self.ocpp_version, msg.action, msg.payload, msg.unique_id)
        handler = handlers["_on_action"]
        arguments = snake_keys(msg.payload)
        try:
            response = await handler(**arguments)
        except FrameError:
            raise
        except OCPPError as e:
            raise FrameError(msg.unique_id, _kind_of(e), e.description, e.details) from None
        except StorageError as e:  # not stored (disk full, database locked): said once by the store, not per message
            raise FrameError(msg.unique_id, "internal", str(e)) from None
        except (ValueError, OverflowError) as e:  # a value the schema allows but the handler cannot use
            log.info("%s: %s refused: %s", self.id, msg.action, e)
            raise FrameError(msg.unique_id, "property", str(e)) from None
        except Exception:
            # Nothing was acknowledged: the charger keeps the message and sends it again.
            log.exception("%s: handling %s failed", self.id, msg.action)
            raise FrameError(msg.unique_id, "internal", "the central system could not process this message")
        payload = camel_keys(remove_nones(serialize_as_dict(response)))
        if self.validate_responses:
            frames.validate(self.ocpp_version, msg.action, payload, msg.unique_id, request=False)
        await self._send(CallResult(msg.unique_id, payload, msg.action).to_json())
        self.core.commlog.stats.observe_answer("ocpp-j", time.perf_counter() - received)
        if "_after_action" in handlers:  # what to do once the charger has its answer (may call it back)
            task = asyncio.create_task(self._after(msg.action, handlers["_after_action"], arguments))
            self._after_tasks.add(task)
            task.add_done_callback(self._after_tasks.discard)

    async def _after(self, action: str, handler: Any, arguments: dict[str, Any]) -> None:
        try:
            await handler(**arguments)
        except Exception:
            log.exception("%s: follow-up of %s failed", self.id, action)

    async def send_command(self, payload: Any) -> dict[str, Any] | CommandResult:
        """A command for a version's ChargerLink: the charger's answer (fields that are set), or a
        CALL_ERROR result for its CALLERROR. A request the library's schema check refuses raises
        CommandError: that is our caller's mistake, and nothing went to the charger."""
        sent_before = self.frames_sent
        action = type(payload).__name__
        try:
            # The library's own checks (jsonschema, twice a command) cost ~300 µs; the compiled schemas
            # that check what chargers send check what we send, and their answers (route_message).
            frames.validate(self.ocpp_version, action, remove_nones(snake_to_camel_case(serialize_as_dict(payload))),
                            "-", request=True)
        except FrameError as e:
            raise CommandError(f"not sent, the request breaks the OCPP {self.ocpp_version} schema: "
                               f"{e.description}") from None
        try:
            response = await self._call_while_connected(payload, action)
        except OCPPError as e:
            if self.frames_sent == sent_before:
                cause = (e.details or {}).get("cause", e.description) if isinstance(e.details, dict) else e.description
                raise CommandError(f"not sent, the request breaks the OCPP {self.ocpp_version} schema: {cause}") from None
            return CommandResult(lk.CALL_ERROR, detail=f"{e.code}: {e.description}")
        return {k: v for k, v in dataclasses.asdict(response).items() if v is not None}

    async def _call_while_connected(self, payload: Any, action: str) -> Any:
        """The library's call, given up as soon as the connection closes: a command waiting on a
        dead socket would otherwise hold its caller (and whatever it locked) for the full timeout."""
        unique_id = str(uuid.uuid4())
        self._awaited = (unique_id, action)
        call = asyncio.ensure_future(self.call(payload, suppress=False, unique_id=unique_id,
                                               skip_schema_validation=True))
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            await asyncio.wait({call, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not call.done():  # the connection closed, or our caller gave up (a command timeout)
                # Left running, the call would end in an error nobody retrieves, and asyncio would log
                # its traceback (once per charger under load).
                call.cancel()
        if not call.done() or call.cancelled():
            raise ConnectionError(f"the connection of charger {self.id} closed")
        return call.result()

    async def _send(self, message: str) -> None:
        self.frames_sent += 1
        self.core.commlog.record(self.id, "out", message)
        await self._connection.send(message)


def _kind_of(error: OCPPError) -> str:
    for kind, code in frames.CODES["2.0.1"].items():
        if code == error.code:
            return kind
    return "generic"


@lru_cache(maxsize=4096)
def _snake(key: str) -> str:
    return next(iter(camel_to_snake_case({key: None})))


@lru_cache(maxsize=4096)
def _camel(key: str) -> str:
    return next(iter(snake_to_camel_case({key: None})))


# Every key of every message passes here: leaves (most values) are not recursed into, and parsed
# JSON holds only exact dicts and lists, so `type() in` is enough.
_CONTAINERS = (dict, list)


def snake_keys(data: Any) -> Any:
    if type(data) is dict:
        return {_snake(k): snake_keys(v) if type(v) in _CONTAINERS else v for k, v in data.items()}
    if type(data) is list:
        return [snake_keys(v) if type(v) in _CONTAINERS else v for v in data]
    return data


def camel_keys(data: Any) -> Any:
    if isinstance(data, dict):
        return {_camel(k): camel_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [camel_keys(v) for v in data]
    return data
