"""OCPP-J frames checked before the `ocpp` library sees them, with each version's error codes.

The library alone is not a conformant server for bad input (it answers 1.6 with 2.0.1 codes,
lets malformed dates pass, ignores a CALL without payload, answers a CALL whose message id is
not a string). `parse` is pure: raw text in, a message or a `FrameError` (the CALLERROR to send)
out. `validate` checks a payload against the version's JSON schema, dates included.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import fastjsonschema
import ocpp.messages
from jsonschema import Draft4Validator, FormatChecker

from ocpp.messages import Call, CallError, CallResult

# Error codes per version: OCPP-J 1.6 §4.2.3 and OCPP 2.0.1 part 4 §4.3 (1.6 spells some differently).
CODES = {
    "1.6": {
        "format": "FormationViolation", "rpc": "FormationViolation", "message_type": "FormationViolation",
        "occurrence": "OccurenceConstraintViolation", "type": "TypeConstraintViolation",
        "property": "PropertyConstraintViolation", "protocol": "ProtocolError", "security": "SecurityError",
        "not_implemented": "NotImplemented", "not_supported": "NotSupported", "internal": "InternalError",
        "generic": "GenericError",
    },
    "2.0.1": {
        "format": "FormatViolation", "rpc": "RpcFrameworkError", "message_type": "MessageTypeNotSupported",
        "occurrence": "OccurrenceConstraintViolation", "type": "TypeConstraintViolation",
        "property": "PropertyConstraintViolation", "protocol": "ProtocolError", "security": "SecurityError",
        "not_implemented": "NotImplemented", "not_supported": "NotSupported", "internal": "InternalError",
        "generic": "GenericError",
    },
}

MAX_MESSAGE_ID_LENGTH = 36  # OCPP-J: the message id is at most 36 characters
UNKNOWN_ID = "-1"  # the id answered when the frame's own id cannot be read
_LONG_NUMBER = re.compile(r"\d{19}")  # 2**63 has 19 digits; a shorter run cannot reach it
_ID_PREFIX = re.compile(r'^\s*\[\s*\d+\s*,\s*"([^"\\]{1,36})"')


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


_json = json.JSONDecoder(parse_constant=_not_json)  # NaN/Infinity are Python's extension, not JSON


@dataclass
class FrameError(Exception):
    """A CALLERROR to send back: `kind` is a key of CODES, mapped to the version's code."""

    unique_id: str
    kind: str
    description: str
    details: dict[str, Any] | None = None

    def to_call_error(self, version: str) -> CallError:
        return CallError(self.unique_id, CODES[version][self.kind], self.description[:255], self.details or {})


def parse(raw: str | bytes, max_bytes: int) -> Call | CallResult | CallError:
    """Check the frame's structure; raises FrameError for a frame that must get a CALLERROR."""
    size = len(raw)
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FrameError(UNKNOWN_ID, "rpc", "frame is not UTF-8 text") from None
    elif size > max_bytes // 4:  # the limit is in bytes; UTF-8 takes at most 4 a character
        size = len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise FrameError(_guess_id(raw), "format", f"frame of {size} bytes exceeds the limit of {max_bytes}")
    try:
        frame = _json.decode(raw)
    except (ValueError, RecursionError):
        raise FrameError(_guess_id(raw), "rpc", "frame is not valid JSON") from None
    if not isinstance(frame, list) or not frame:
        raise FrameError(UNKNOWN_ID, "rpc", "frame is not a JSON array [MessageTypeId, MessageId, ...]")
    unique_id = _message_id(frame)
    type_id = frame[0]
    if type(type_id) is not int or type_id not in (2, 3, 4):
        raise FrameError(unique_id or UNKNOWN_ID, "message_type", f"MessageTypeId {type_id!r} is not 2, 3 or 4")
    if unique_id is None:
        raise FrameError(_id_text(frame), "rpc",
                         f"MessageId must be a string of 1 to {MAX_MESSAGE_ID_LENGTH} characters")
    if type_id == 2:
        call = _call(frame, unique_id)
        if _LONG_NUMBER.search(raw):  # rare: only then is the payload walked
            _refuse_huge_integers(call.payload, unique_id, "payload")
        return call
    if type_id == 3:
        if len(frame) != 3 or not isinstance(frame[2], dict):
            raise FrameError(unique_id, "rpc", "CALLRESULT must be [3, MessageId, {payload}]")
        return CallResult(unique_id, frame[2])
    if len(frame) not in (4, 5) or not all(isinstance(x, str) for x in frame[2:4]):
        raise FrameError(unique_id, "rpc", "CALLERROR must be [4, MessageId, errorCode, description, {details}]")
    return CallError(unique_id, frame[2], frame[3], frame[4] if len(frame) == 5 else {})


def _call(frame: list, unique_id: str) -> Call:
    if len(frame) != 4:
        raise FrameError(unique_id, "rpc", "CALL must be [2, MessageId, Action, {payload}]")
    action, payload = frame[2], frame[3]
    if not isinstance(action, str) or not action:
        raise FrameError(unique_id, "rpc", "Action must be a non-empty string")
    if not isinstance(payload, dict):
        raise FrameError(unique_id, "format", "payload must be a JSON object")
    return Call(unique_id, action, payload)


def _refuse_huge_integers(value: Any, unique_id: str, where: str) -> None:
    """An integer no database column holds (beyond 64 bits signed) is the charger's error, not ours."""
    if type(value) is int:
        if not -(2 ** 63) <= value < 2 ** 63:
            raise FrameError(unique_id, "property", f"{where}: {value} is beyond the 64-bit integer range")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_huge_integers(item, unique_id, f"{where}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_huge_integers(item, unique_id, f"{where}/{i}")


def _message_id(frame: list) -> str | None:
    if len(frame) < 2 or not isinstance(frame[1], str) or not 0 < len(frame[1]) <= MAX_MESSAGE_ID_LENGTH:
        return None
    return frame[1]


def _id_text(frame: list) -> str:
    if len(frame) >= 2 and isinstance(frame[1], (str, int)) and not isinstance(frame[1], bool):
        text = str(frame[1])
        if 0 < len(text) <= MAX_MESSAGE_ID_LENGTH:
            return text
    return UNKNOWN_ID


def _guess_id(raw: str) -> str:
    match = _ID_PREFIX.match(raw[:128])
    return match.group(1) if match else UNKNOWN_ID


# -- payload validation against the JSON schemas shipped in the ocpp package -------------------

_format_checker = FormatChecker(formats=())


@_format_checker.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if isinstance(value, str):
        parse_datetime(value)
    return True


def parse_datetime(value: str) -> dt.datetime:
    """An OCPP dateTime (RFC 3339); one without an offset is taken as UTC, as chargers mean it."""
    if not re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    parsed = dt.datetime.fromisoformat(value.replace("z", "Z"))
    return parsed.replace(tzinfo=dt.timezone.utc) if parsed.tzinfo is None else parsed.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class _Schema:
    """A payload schema twice: compiled, to accept valid payloads fast (jsonschema's interpreter
    was 74% of the server's time under load), and interpreted, to explain a refusal precisely."""

    accepts: Callable[[Any], Any]
    explains: Draft4Validator


@lru_cache(maxsize=None)
def _schema(version: str, schema_name: str) -> _Schema | None:
    folder = {"1.6": "v16", "2.0.1": "v201"}[version]
    path = os.path.join(os.path.dirname(ocpp.messages.__file__), folder, "schemas", schema_name + ".json")
    try:
        with open(path, encoding="utf-8-sig") as f:
            schema = json.load(f)
    except FileNotFoundError:
        return None
    compiled = fastjsonschema.compile(schema, formats={"date-time": _is_date_time_text}, use_default=False)
    return _Schema(compiled, Draft4Validator(schema, format_checker=_format_checker))


def _is_date_time_text(value: str) -> bool:
    try:
        parse_datetime(value)
    except ValueError:
        return False
    return True


def _schema_name(version: str, action: str, request: bool) -> str:
    if request:
        return action + ("Request" if version == "2.0.1" else "")
    return action + "Response"


def validate(version: str, action: str, payload: dict, unique_id: str, request: bool = True) -> None:
    """Raise FrameError (with the version's constraint code) if the payload breaks its schema."""
    schema = _schema(version, _schema_name(version, action, request))
    if schema is None:
        raise FrameError(unique_id, "not_implemented", f"no schema for {action}")
    try:
        schema.accepts(payload)
        return
    except fastjsonschema.JsonSchemaException as refusal:
        compiled_says = str(refusal)
    error = next(iter(sorted(schema.explains.iter_errors(payload), key=lambda e: len(e.path))), None)
    if error is None:  # the two readings of the schema disagree; the refusal stands
        raise FrameError(unique_id, "format", compiled_says)
    where = "/".join(str(p) for p in error.absolute_path) or "payload"
    raise FrameError(unique_id, _constraint_kind(error.validator), f"{where}: {error.message}")


def _constraint_kind(validator: str) -> str:
    if validator in ("required", "minItems", "maxItems"):
        return "occurrence"
    if validator in ("type", "maxLength", "minLength", "format"):
        return "type"
    if validator in ("enum", "minimum", "maximum", "pattern", "multipleOf", "exclusiveMinimum", "exclusiveMaximum"):
        return "property"
    return "format"  # additionalProperties and anything else that breaks the PDU's structure
