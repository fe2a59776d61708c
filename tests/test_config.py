"""Settings: defaults < TOML file < APPLIANCE_* environment < flags, with readable errors."""

from __future__ import annotations

import pytest

from appliance.config import SettingsError, load_settings


def test_defaults(tmp_path):
    s = load_settings({"data_dir": tmp_path}, environ={})
    assert (s.port, s.unknown_chargers, s.host) == (8180, "pending", "0.0.0.0")
    assert s.database_path == tmp_path / "appliance.sqlite3"


def test_each_source_overrides_the_one_before(tmp_path):
    (tmp_path / "appliance.toml").write_text('port = 9001\nunknown_chargers = "accept"\nheartbeat_interval_s = 60\n')
    env = {"APPLIANCE_PORT": "9002", "APPLIANCE_UNKNOWN_CHARGERS": "reject"}
    s = load_settings({"data_dir": tmp_path, "port": 9003}, environ=env)
    assert (s.port, s.unknown_chargers, s.heartbeat_interval_s) == (9003, "reject", 60)


def test_data_dir_from_environment(tmp_path):
    s = load_settings({}, environ={"APPLIANCE_DATA_DIR": str(tmp_path / "x")})
    assert s.data_dir == tmp_path / "x"


@pytest.mark.parametrize("env, message", [
    ({"APPLIANCE_PORT": "eighty"}, "APPLIANCE_PORT"),
    ({"APPLIANCE_UNKNOWN_CHARGERS": "maybe"}, "not one of reject, pending, accept"),
    ({"APPLIANCE_OCPP_VALIDATE_RESPONSES": "perhaps"}, "expected true or false"),
    ({"APPLIANCE_HEARTBEAT_INTERVAL_S": "-5"}, "must not be negative"),
])
def test_bad_values_name_the_setting_and_its_source(tmp_path, env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings({"data_dir": tmp_path}, environ=env)


@pytest.mark.parametrize("content, message", [
    ("port = ", "appliance.toml"),
    ("colour = 'blue'", "unknown setting"),
])
def test_bad_config_file(tmp_path, content, message):
    (tmp_path / "appliance.toml").write_text(content)
    with pytest.raises(SettingsError, match=message):
        load_settings({"data_dir": tmp_path}, environ={})


@pytest.mark.parametrize("value", ["depot.lan:8180", "ftp://depot.lan", "http://"])
def test_public_url_must_be_an_http_url(tmp_path, value):
    with pytest.raises(SettingsError, match="public_url"):
        load_settings({"data_dir": tmp_path, "public_url": value}, environ={})


@pytest.mark.parametrize("name, value", [("rfid_id_form", "octal"), ("rfid_readers", "/dev/ttyUSB0=ascii@hexx")])
def test_rfid_forms_are_checked(tmp_path, name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({"data_dir": tmp_path, name: value}, environ={})


def test_readers_setting_with_families_and_forms():
    from appliance.reader_service import parse_readers

    first, second = parse_readers("/dev/rfid/a=rdm6300@decimal:10/last4, /dev/rfid/b")
    assert (first.device, first.family, str(first.form)) == ("/dev/rfid/a", "rdm6300", "decimal:10/last4")
    assert (second.device, second.family, second.form) == ("/dev/rfid/b", None, None)
