"""OCPP 2.0.1 variables as configuration keys: the written form, the 1.6 aliases, report to 1.6 keys."""

from __future__ import annotations

import pytest

from appliance.ocpp20.variables import (
    ALIASES,
    VariableKey,
    configuration_from_report,
    format_key,
    key_from_wire,
    parse_key,
)

V = VariableKey

PARSED = [
    ("OCPPCommCtrlr.HeartbeatInterval", V("OCPPCommCtrlr", "HeartbeatInterval")),
    ("EVSE@1.Power", V("EVSE", "Power", evse_id=1)),
    ("Connector@2:1.ConnectorType", V("Connector", "ConnectorType", evse_id=2, connector_id=1)),
    ("DeviceDataCtrlr.ItemsPerMessage:GetReport",
     V("DeviceDataCtrlr", "ItemsPerMessage", variable_instance="GetReport")),
    ("FiscalMetering:Main@1.EnergyExport:L1", V("FiscalMetering", "EnergyExport", "Main", 1, None, "L1")),
    ("TokenReader:RFID.Enabled", V("TokenReader", "Enabled", component_instance="RFID")),
    # the variable part may hold dots: the component ends at the first one
    ("Vendor.Energy.Active.Import", V("Vendor", "Energy.Active.Import")),
    # 1.6 names, case-insensitive like the 2.0.1 names they stand for
    ("HeartbeatInterval", V("OCPPCommCtrlr", "HeartbeatInterval")),
    ("heartbeatinterval", V("OCPPCommCtrlr", "HeartbeatInterval")),
    ("MeterValueSampleInterval", V("SampledDataCtrlr", "TxUpdatedInterval")),
    ("ClockAlignedDataInterval", V("AlignedDataCtrlr", "Interval")),
    ("ConnectionTimeOut", V("TxCtrlr", "EVConnectionTimeOut")),
    ("LocalAuthListEnabled", V("LocalAuthListCtrlr", "Enabled")),
    ("AuthorizationCacheEnabled", V("AuthCacheCtrlr", "Enabled")),
    ("LocalPreAuthorize", V("AuthCtrlr", "LocalPreAuthorize")),
    ("AuthorizeRemoteTxRequests", V("AuthCtrlr", "AuthorizeRemoteStart")),
    ("StopTransactionOnInvalidId", V("TxCtrlr", "StopTxOnInvalidId")),
    ("MeterValuesSampledData", V("SampledDataCtrlr", "TxUpdatedMeasurands")),
    ("TransactionMessageAttempts", V("OCPPCommCtrlr", "MessageAttempts", variable_instance="TransactionEvent")),
    ("AuthorizationKey", V("SecurityCtrlr", "BasicAuthPassword")),
    # standard names go out in the spec's spelling, others as written
    ("securityctrlr.basicauthpassword", V("SecurityCtrlr", "BasicAuthPassword")),
    ("evse@1.power", V("EVSE", "Power", evse_id=1)),
    ("vendorctrlr.someSetting", V("vendorctrlr", "someSetting")),
]


@pytest.mark.parametrize("text, key", PARSED, ids=[p[0] for p in PARSED])
def test_a_key_is_parsed(text, key):
    assert parse_key(text) == key


@pytest.mark.parametrize("text", [p[0] for p in PARSED if "." in p[0] and p[0] != p[0].lower()])
def test_a_written_key_formats_back_to_itself(text):
    assert format_key(parse_key(text)) == text


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_every_alias_stands_for_a_well_formed_key(alias):
    assert format_key(parse_key(alias)) == ALIASES[alias]


MALFORMED = [
    ("NoSuchOcpp16Key", "not an OCPP 2.0.1 variable nor a 1.6 key"),
    ("", "not an OCPP 2.0.1 variable nor a 1.6 key"),
    ("OCPPCommCtrlr.", "is not a key of the form"),
    (".HeartbeatInterval", "is not a key of the form"),
    ("EVSE@.Power", "is not a key of the form"),
    ("EVSE@one.Power", "is not a key of the form"),
    ("EVSE@1:.Power", "is not a key of the form"),
    ("EVSE@-1.Power", "is not a key of the form"),
    ("OCPP CommCtrlr.HeartbeatInterval", "is not a key of the form"),
    ("OCPPCommCtrlr.HeartbeatInterval:", "is not a key of the form"),
    ("EVSE@0.Power", "EVSE and connector numbers start at 1"),
    ("Connector@1:0.ConnectorType", "EVSE and connector numbers start at 1"),
    ("A" * 51 + ".Enabled", "longer than 50 characters"),  # ComponentType.name is string(50)
    ("AuthCtrlr." + "B" * 51, "longer than 50 characters"),
]


@pytest.mark.parametrize("text, message", MALFORMED)
def test_a_malformed_key_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_key(text)


def test_to_wire_gives_component_and_variable_as_the_library_takes_them():
    assert parse_key("FiscalMetering:Main@1:2.EnergyExport:L1").to_wire() == {
        "component": {"name": "FiscalMetering", "instance": "Main", "evse": {"id": 1, "connector_id": 2}},
        "variable": {"name": "EnergyExport", "instance": "L1"}}
    assert parse_key("HeartbeatInterval").to_wire() == {
        "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}


@pytest.mark.parametrize("a, b, same", [
    ("OCPPCommCtrlr.HeartbeatInterval", "ocppcommctrlr.heartbeatinterval", True),  # names are case-insensitive
    ("EVSE@1.Power", "EVSE@2.Power", False),
    ("Connector@1:1.ConnectorType", "Connector@1.ConnectorType", False),
    ("DeviceDataCtrlr.ItemsPerMessage:GetReport", "DeviceDataCtrlr.ItemsPerMessage:getreport", True),
    ("DeviceDataCtrlr.ItemsPerMessage:GetReport", "DeviceDataCtrlr.ItemsPerMessage", False),
])
def test_keys_compare_as_the_charger_compares_them(a, b, same):
    assert parse_key(a).same_as(parse_key(b)) is same


def test_a_reported_component_and_variable_are_read_back_as_a_key():
    key = key_from_wire({"name": "Connector", "evse": {"id": 2, "connector_id": 1}}, {"name": "ConnectorType"})
    assert format_key(key) == "Connector@2:1.ConnectorType"


def report_item(component: dict, variable: dict, *attributes: dict) -> dict:
    return {"component": component, "variable": variable, "variable_attribute": list(attributes),
            "variable_characteristics": {"data_type": "string", "supports_monitoring": False}}


REPORT_CASES = [
    ("read_write", [report_item({"name": "OCPPCommCtrlr"}, {"name": "HeartbeatInterval"},
                                {"type": "Actual", "value": "300", "mutability": "ReadWrite"})],
     [{"key": "OCPPCommCtrlr.HeartbeatInterval", "readonly": False, "value": "300"}]),
    ("read_only", [report_item({"name": "EVSE", "evse": {"id": 1}}, {"name": "Power"},
                               {"value": "0", "mutability": "ReadOnly"})],
     [{"key": "EVSE@1.Power", "readonly": True, "value": "0"}]),
    # no mutability means ReadWrite; no type means Actual
    ("defaults", [report_item({"name": "AuthCtrlr"}, {"name": "Enabled"}, {"value": "true"})],
     [{"key": "AuthCtrlr.Enabled", "readonly": False, "value": "true"}]),
    # a WriteOnly variable has no value to show
    ("write_only", [report_item({"name": "SecurityCtrlr"}, {"name": "BasicAuthPassword"},
                                {"type": "Actual", "mutability": "WriteOnly"})],
     [{"key": "SecurityCtrlr.BasicAuthPassword", "readonly": False}]),
    # only the Actual attribute is the setting; Target/MinSet/MaxSet are not 1.6 keys
    ("actual_only", [report_item({"name": "EVSE", "evse": {"id": 2}}, {"name": "Power"},
                                 {"type": "MaxSet", "value": "50000", "mutability": "ReadOnly"},
                                 {"type": "Actual", "value": "0", "mutability": "ReadOnly"})],
     [{"key": "EVSE@2.Power", "readonly": True, "value": "0"}]),
    ("no_actual", [report_item({"name": "EVSE", "evse": {"id": 2}}, {"name": "Power"},
                               {"type": "MaxSet", "value": "50000"})], []),
]


@pytest.mark.parametrize("report_data, expected", [pytest.param(*c[1:], id=c[0]) for c in REPORT_CASES])
def test_report_data_becomes_1_6_configuration_keys(report_data, expected):
    assert configuration_from_report([{"seq_no": 0, "report_data": report_data}]) == expected


def test_report_parts_are_read_in_sequence_whatever_order_they_came_in():
    first = report_item({"name": "A"}, {"name": "One"}, {"value": "1"})
    second = report_item({"name": "B"}, {"name": "Two"}, {"value": "2"})
    parts = [{"seq_no": 1, "report_data": [second]}, {"seq_no": 0, "report_data": [first]}, {"seq_no": 2}]
    assert [k["key"] for k in configuration_from_report(parts)] == ["A.One", "B.Two"]
