"""OCPP-J frame checks (`appliance.ocppj.frames`), pure: structure, schemas, dates, per-version codes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings, strategies as st
from ocpp.messages import Call, CallError, CallResult

from appliance.ocppj.frames import FrameError, parse, parse_datetime, validate

LIMIT = 200  # max_bytes given to parse() in these tests
ID36 = "x" * 36  # the longest message id OCPP-J allows

# The code each kind maps to, per version, written out here (not read from frames.CODES):
# OCPP-J 1.6 §4.2.3 spells FormationViolation/OccurenceConstraintViolation and has no
# RpcFrameworkError or MessageTypeNotSupported; OCPP 2.0.1 part 4 §4.3 has them.
CODES = {
    "rpc": ("FormationViolation", "RpcFrameworkError"),
    "format": ("FormationViolation", "FormatViolation"),
    "message_type": ("FormationViolation", "MessageTypeNotSupported"),
    "occurrence": ("OccurenceConstraintViolation", "OccurrenceConstraintViolation"),
    "type": ("TypeConstraintViolation", "TypeConstraintViolation"),
    "property": ("PropertyConstraintViolation", "PropertyConstraintViolation"),
    "not_implemented": ("NotImplemented", "NotImplemented"),
}


def refusal(call, *args) -> FrameError:
    with pytest.raises(FrameError) as caught:
        call(*args)
    return caught.value


def codes(error: FrameError) -> tuple[str, str]:
    return error.to_call_error("1.6").error_code, error.to_call_error("2.0.1").error_code


# -- parse: frames that are good ------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ('[2,"a1","Heartbeat",{}]', Call("a1", "Heartbeat", {})),
    ('[2,"a1","Authorize",{"idTag":"T1"}]', Call("a1", "Authorize", {"idTag": "T1"})),
    (' [ 2 , "a1" , "Heartbeat" , { } ] ', Call("a1", "Heartbeat", {})),  # JSON whitespace is fine
    (b'[2,"a1","Heartbeat",{}]', Call("a1", "Heartbeat", {})),  # a BINARY websocket frame, UTF-8
    (f'[2,"{ID36}","Heartbeat",{{}}]', Call(ID36, "Heartbeat", {})),  # exactly 36 characters
    ('[2,"a1","Foo",{}]', Call("a1", "Foo", {})),  # unknown actions are the session's business
    ('[3,"a1",{"status":"Accepted"}]', CallResult("a1", {"status": "Accepted"})),
    ('[4,"a1","GenericError","boom",{"k":"v"}]', CallError("a1", "GenericError", "boom", {"k": "v"})),
    ('[4,"a1","GenericError","boom"]', CallError("a1", "GenericError", "boom", {})),  # details omitted: tolerated
])
def test_parse_accepts(raw, expected):
    msg = parse(raw, LIMIT)
    assert (type(msg), msg.__dict__) == (type(expected), expected.__dict__)


def test_a_frame_exactly_at_the_limit_is_accepted():
    raw = '[2,"a1","DataTransfer",{"vendorId":"' + "v" * (LIMIT - 39) + '"}]'
    assert len(raw) == LIMIT and parse(raw, LIMIT).action == "DataTransfer"


# -- parse: every bad shape gets a FrameError with the id it could read ----------------------

@pytest.mark.parametrize("raw, unique_id, kind", [
    # not JSON at all, and JSON cut short: the id is read from the frame's head when it is there
    ("hello", "-1", "rpc"),
    ('[2,"a1","Heartbeat",{', "a1", "rpc"),
    ('[2,"a1","Heartbeat",{}]]', "a1", "rpc"),  # trailing garbage
    ('[2,"a1","Heartbeat",{"x":NaN}]', "a1", "rpc"),  # NaN/Infinity are Python's, not JSON
    ('[2,"a1","Heartbeat",{"x":-Infinity}]', "a1", "rpc"),
    ("", "-1", "rpc"),
    # JSON, but not an array
    ('{"messageTypeId":2}', "-1", "rpc"),
    ('"[2,\\"a1\\",\\"Heartbeat\\",{}]"', "-1", "rpc"),  # a frame quoted as a JSON string
    ("null", "-1", "rpc"),
    ("[]", "-1", "rpc"),
    # MessageTypeId not 2, 3 or 4; not an int; a bool (True == 1 in Python, not in JSON)
    ('[7,"a1","Heartbeat",{}]', "a1", "message_type"),
    ('[5,"a1",{}]', "a1", "message_type"),
    ('[0,"a1"]', "a1", "message_type"),
    ('["2","a1","Heartbeat",{}]', "a1", "message_type"),
    ('[2.0,"a1","Heartbeat",{}]', "a1", "message_type"),
    ('[true,"a1","Heartbeat",{}]', "a1", "message_type"),
    ('[null,"a1","Heartbeat",{}]', "a1", "message_type"),
    ("[7]", "-1", "message_type"),  # no id to echo
    # the message id: missing, not a string, empty, longer than 36
    ("[2]", "-1", "rpc"),
    ('[2,42,"Heartbeat",{}]', "42", "rpc"),  # an integer id is echoed as text, so the charger can match it
    ('[2,true,"Heartbeat",{}]', "-1", "rpc"),
    ('[2,null,"Heartbeat",{}]', "-1", "rpc"),
    ('[2,{"id":1},"Heartbeat",{}]', "-1", "rpc"),
    ('[2,"","Heartbeat",{}]', "-1", "rpc"),
    (f'[2,"{ID36}y","Heartbeat",{{}}]', "-1", "rpc"),  # 37 characters: cannot be echoed
    # CALL: 3 or 5 elements, Action not a (non-empty) string, payload not an object
    ('[2,"a1","Heartbeat"]', "a1", "rpc"),
    ('[2,"a1","Heartbeat",{},{}]', "a1", "rpc"),
    ('[2,"a1",7,{}]', "a1", "rpc"),
    ('[2,"a1",null,{}]', "a1", "rpc"),
    ('[2,"a1","",{}]', "a1", "rpc"),
    ('[2,"a1","Heartbeat",[]]', "a1", "format"),
    ('[2,"a1","Heartbeat",null]', "a1", "format"),
    ('[2,"a1","Heartbeat","{}"]', "a1", "format"),  # a payload JSON-encoded twice
    # CALLRESULT and CALLERROR of the wrong shape
    ('[3,"a1"]', "a1", "rpc"),
    ('[3,"a1",[]]', "a1", "rpc"),
    ('[3,"a1",{},{}]', "a1", "rpc"),
    ('[4,"a1","GenericError"]', "a1", "rpc"),
    ('[4,"a1",5,"boom",{}]', "a1", "rpc"),
    ('[4,"a1","GenericError",null,{}]', "a1", "rpc"),
    ('[4,"a1","GenericError","boom",{},1]', "a1", "rpc"),
])
def test_parse_refuses(raw, unique_id, kind):
    error = refusal(parse, raw, LIMIT)
    assert (error.unique_id, error.kind, codes(error)) == (unique_id, kind, CODES[kind])


@pytest.mark.parametrize("raw, unique_id", [
    ('[2,"big1","DataTransfer",{"vendorId":"' + "v" * LIMIT + '"}]', "big1"),  # id recovered from the head
    (' [ 3 , "big2" , {"x":"' + "v" * LIMIT + '"}]', "big2"),
    ('[2,"a\\"1","DataTransfer",{"vendorId":"' + "v" * LIMIT + '"}]', "-1"),  # escapes: not guessed
    ("[2," + "9" * LIMIT + "]", "-1"),
    ('[2,"big3","DataTransfer",{"vendorId":"' + "é" * (LIMIT // 2) + '"}]', "big3"),  # under LIMIT chars, over in bytes
    (b'[2,"big4","DataTransfer",{"vendorId":"' + "é".encode() * (LIMIT // 2) + b'"}]', "big4"),
])
def test_an_oversize_frame_is_refused_with_the_id_from_its_head(raw, unique_id):
    error = refusal(parse, raw, LIMIT)
    assert (error.unique_id, error.kind, codes(error)) == (unique_id, "format", CODES["format"])


@pytest.mark.parametrize("raw", [
    b'[2,"a1","Heartbeat",{"x":"\xff"}]',  # not UTF-8
    b"\xfe\xff\x00[\x002",  # UTF-16 with a byte order mark
])
def test_bytes_that_are_not_utf8_are_refused(raw):
    error = refusal(parse, raw, LIMIT)
    assert (error.unique_id, error.kind, codes(error)) == ("-1", "rpc", CODES["rpc"])


def test_the_call_error_echoes_the_id_and_bounds_the_description():
    answer = json.loads(FrameError("a1", "format", "d" * 1000).to_call_error("1.6").to_json())
    assert answer == [4, "a1", "FormationViolation", "d" * 255, {}]


# -- validate: payloads against the real OCPP 1.6 schemas ------------------------------------

START = {"connectorId": 1, "idTag": "CARD1", "meterStart": 0, "timestamp": "2024-05-01T10:00:00Z"}
STATUS = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}


@pytest.mark.parametrize("action, payload", [
    ("Heartbeat", {}),
    ("StartTransaction", START),
    ("StartTransaction", {**START, "timestamp": "2024-05-01T12:00:00+02:00"}),
    ("StartTransaction", {**START, "timestamp": "2024-05-01T10:00:00.123"}),  # no offset: taken as UTC
    ("StatusNotification", {**STATUS, "info": "i" * 50}),  # maxLength is inclusive
    ("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
])
def test_validate_passes_a_good_payload(action, payload):
    assert validate("1.6", action, payload, "v1") is None


@pytest.mark.parametrize("action, payload, kind", [
    ("Authorize", {}, "occurrence"),
    ("StartTransaction", {k: v for k, v in START.items() if k != "meterStart"}, "occurrence"),
    ("StatusNotification", {**STATUS, "connectorId": "1"}, "type"),
    ("StartTransaction", {**START, "meterStart": 1.5}, "type"),  # a float is not an integer
    ("StartTransaction", {**START, "meterStart": True}, "type"),  # nor is a bool
    ("Authorize", {"idTag": "T" * 21}, "type"),  # CiString20Type too long: the code's choice (a type rule)
    ("StatusNotification", {**STATUS, "status": "Sleeping"}, "property"),
    ("StatusNotification", {**STATUS, "errorCode": "noerror"}, "property"),  # enums are case-sensitive
    ("Heartbeat", {"extra": 1}, "format"),
    ("StatusNotification", {**STATUS, "connectorid": 1}, "format"),  # a misspelt key is an unknown one
    ("StartTransaction", {**START, "timestamp": "yesterday"}, "type"),
    ("StartTransaction", {**START, "timestamp": "2024-13-01T10:00:00Z"}, "type"),  # month 13
    ("StartTransaction", {**START, "timestamp": "2024-05-01"}, "type"),  # a date is not a date-time
    ("StartTransaction", {**START, "timestamp": 1714557600}, "type"),  # epoch seconds
])
def test_validate_refuses(action, payload, kind):
    error = refusal(validate, "1.6", action, payload, "v1")
    assert (error.unique_id, error.kind, codes(error)[0]) == ("v1", kind, CODES[kind][0])


def test_validate_checks_responses_and_knows_when_there_is_no_schema():
    assert refusal(validate, "1.6", "Heartbeat", {}, "r1", False).kind == "occurrence"  # currentTime missing
    assert refusal(validate, "1.6", "NoSuchAction", {}, "r2").kind == "not_implemented"


# -- parse_datetime ----------------------------------------------------------------------------

UTC = dt.timezone.utc


@pytest.mark.parametrize("text, expected", [
    ("2024-05-01T10:00:00Z", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("2024-05-01T10:00:00z", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ("2024-05-01T12:00:00+02:00", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),  # converted to UTC
    ("2024-05-01T00:30:00-01:00", dt.datetime(2024, 5, 1, 1, 30, tzinfo=UTC)),
    ("2024-05-01T10:00:00", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),  # no offset: taken as UTC
    ("2024-05-01T10:00:00.250Z", dt.datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)),
    ("2024-05-01 10:00:00Z", dt.datetime(2024, 5, 1, 10, tzinfo=UTC)),  # RFC 3339 allows a space
])
def test_parse_datetime(text, expected):
    parsed = parse_datetime(text)
    assert (parsed, parsed.utcoffset()) == (expected, dt.timedelta(0))


@pytest.mark.parametrize("text", [
    "garbage", "", "2024-05-01", "10:00:00Z", "2024-13-01T10:00:00Z", "2024-05-01T25:00:00Z",
    "2024-05-01T10:00:00Zjunk", "01/05/2024 10:00",
])
def test_parse_datetime_refuses(text):
    with pytest.raises(ValueError):
        parse_datetime(text)


# -- property: parse never fails with anything but a FrameError ----------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=20)
frame_like = st.builds(lambda head, rest: json.dumps([head, *rest]),
                       st.sampled_from([2, 3, 4]) | json_values, st.lists(json_values, max_size=5))


@settings(max_examples=400, deadline=None)
@given(raw=st.text() | json_values.map(json.dumps) | frame_like | st.binary(), max_bytes=st.sampled_from([40, 65536]))
def test_parse_returns_a_message_or_raises_frame_error(raw, max_bytes):
    try:
        assert isinstance(parse(raw, max_bytes), (Call, CallResult, CallError))
    except FrameError as error:  # and the CALLERROR it makes can be sent: an id of 1 to 36 characters
        assert 0 < len(error.unique_id) <= 36 and json.loads(error.to_call_error("1.6").to_json())
