"""The `appliance` CLI end to end (click's CliRunner) on a real data directory.

Data commands, --json output, settings precedence, and the rule that a bad argument or bad
configuration is one clear error line with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from appliance.cli import cli
from appliance.config import load_settings
from appliance.core.services import open_core
from appliance.store.transactions import SampleRow
from tests import backend

UTC = dt.timezone.utc


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No APPLIANCE_* setting of the machine running the tests may leak into these."""
    import os

    for key in list(os.environ):
        if key.startswith("APPLIANCE_") and key != backend.ENV:  # the test's own database stays
            monkeypatch.delenv(key)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(data_dir):
    """run(*args, env=None) -> Result, with --data-dir given; run.ok(...) also asserts success."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None, data: bool = True) -> Result:
        prefix = ["--data-dir", str(data_dir)] if data else []
        return runner.invoke(cli, [*prefix, *args], env=env)

    def ok(*args: str, env: dict[str, str] | None = None) -> Result:
        result = invoke(*args, env=env)
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
        return result

    def as_json(*args: str, env: dict[str, str] | None = None):
        return json.loads(ok(*args, "--json", env=env).stdout)

    invoke.ok = ok
    invoke.json = as_json
    return invoke


def assert_clean_error(result: Result, *fragments: str, exit_code: int = 1) -> str:
    """A user error: the exit code, no traceback, and the error on stderr naming what is wrong."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    # click turns its own errors into SystemExit; anything else would be a traceback for the user.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error: "), result.stderr
    if exit_code == 1:
        assert len(lines) == 1, f"expected one line, got {result.stderr!r}"
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
    return lines[-1]


# -- chargers -------------------------------------------------------------------------------------

def test_charger_add_list_show_accept_reject(run):
    added = run.json("charger", "add", "CP1", "--protocol", "ocpp1.6-json", "--password", "s3cret-passw0rd",
                     "--description", "bay 1")
    assert (added["identity"], added["protocol"], added["registration"], added["description"]) == \
        ("CP1", "ocpp1.6-json", "accepted", "bay 1")
    assert "s3cret" not in json.dumps(added) and "password_hash" not in added
    assert "charger CP2 added (ocpp2.0.1, accepted)" in run.ok("charger", "add", "CP2",
                                                               "--protocol", "ocpp2.0.1").stdout

    assert [c["identity"] for c in run.json("charger", "list")] == ["CP1", "CP2"]
    table = run.ok("charger", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["IDENTITY", "PROTOCOL", "REGISTRATION"]
    assert any(line.split()[:3] == ["CP2", "ocpp2.0.1", "accepted"] for line in table[1:])

    shown = run.json("charger", "show", "CP1")
    assert shown["charger"]["identity"] == "CP1" and shown["connectors"] == []
    assert "password_hash" not in shown["charger"]
    assert "identity: CP1" in run.ok("charger", "show", "CP1").stdout

    assert run.ok("charger", "reject", "CP1").stdout.strip() == "charger CP1 rejected"
    assert run.json("charger", "show", "CP1")["charger"]["registration"] == "rejected"
    assert [c["identity"] for c in run.json("charger", "list", "--registration", "rejected")] == ["CP1"]
    assert run.ok("charger", "accept", "CP1").stdout.strip() == "charger CP1 accepted"
    assert run.json("charger", "show", "CP1")["charger"]["registration"] == "accepted"
    assert run.json("charger", "list", "--registration", "rejected") == []
    assert run.ok("charger", "list", "--registration", "pending").stdout.strip() == "(none)"


def test_duplicate_charger_is_refused_and_the_first_one_kept(run):
    run.ok("charger", "add", "CP1", "--protocol", "ocpp1.6-json")
    assert_clean_error(run("charger", "add", "CP1", "--protocol", "ocpp2.0.1"), "CP1", "already exists")
    assert [(c["identity"], c["protocol"]) for c in run.json("charger", "list")] == [("CP1", "ocpp1.6-json")]


@backend.sqlite_only("the data directory holds the SQLite file; PostgreSQL's database is database_url's, whichever "
                     "directory")
def test_data_directory_from_the_environment(run, tmp_path):
    elsewhere = tmp_path / "from-env"
    env = {"APPLIANCE_DATA_DIR": str(elsewhere)}
    result = run("charger", "add", "ENV1", "--protocol", "ocpp1.6-json", env=env, data=False)
    assert result.exit_code == 0, result.output
    assert (elsewhere / "appliance.sqlite3").exists()
    listed = run("charger", "list", "--json", env=env, data=False)
    assert [c["identity"] for c in json.loads(listed.stdout)] == ["ENV1"]
    # --data-dir beats the environment.
    assert run.json("charger", "list", env=env) == []


# -- the user group --------------------------------------------------------------------------------

def test_companies_users_and_tags(run):
    assert run.ok("company", "add", "Blue Taxi").stdout.strip() == "company 'Blue Taxi' added"
    run.ok("company", "add", "Green Cabs")
    assert run.json("user", "add", "alice", "--company", "Blue Taxi", "--email", "a@example.com") == \
        {"id": 1, "name": "alice", "company": "Blue Taxi", "email": "a@example.com"}
    run.ok("user", "add", "bob")
    assert [(c["name"], c["drivers"]) for c in run.json("company", "list")] == [("Blue Taxi", 1), ("Green Cabs", 0)]
    assert {u["name"]: u["company"] for u in run.json("user", "list")} == {"alice": "Blue Taxi", "bob": None}
    assert [u["name"] for u in run.json("user", "list", "--company", "Blue Taxi")] == ["alice"]

    tag = run.json("tag", "add", "card1", "--user", "alice", "--expires", "2031-05-01", "--parent", "fleet-a")
    assert (tag["id_tag"], tag["driver"], tag["company"], tag["status"], tag["parent_id_tag"]) == \
        ("CARD1", "alice", "Blue Taxi", "active", "FLEET-A")
    # A date means "valid through that day" in the depot's zone (UTC by default): it expires at the
    # start of the next one.
    assert dt.datetime.fromisoformat(tag["expires_at"]) == dt.datetime(2031, 5, 2, tzinfo=UTC)
    stamp = run.json("tag", "add", "CARD2", "--user", "bob", "--expires", "2031-05-01T12:30:00+02:00")
    assert dt.datetime.fromisoformat(stamp["expires_at"]) == dt.datetime(2031, 5, 1, 10, 30, tzinfo=UTC)
    run.ok("tag", "add", "CARD3", "--user", "bob")

    assert [t["id_tag"] for t in run.json("tag", "list")] == ["CARD1", "CARD2", "CARD3"]
    assert [t["id_tag"] for t in run.json("tag", "list", "--user", "alice")] == ["CARD1"]
    assert run.json("tag", "show", "card1")["expires_at"] == tag["expires_at"]
    assert "CARD3" in run.ok("tag", "list").stdout

    assert run.ok("tag", "block", "card1").stdout.strip() == "tag CARD1 blocked"
    assert run.json("tag", "show", "CARD1")["status"] == "blocked"
    assert [t["id_tag"] for t in run.json("tag", "list", "--status", "blocked")] == ["CARD1"]
    assert run.ok("tag", "unblock", "CARD1").stdout.strip() == "tag CARD1 unblocked"
    assert run.json("tag", "show", "CARD1")["status"] == "active"
    assert run.json("tag", "list", "--status", "blocked") == []


def test_duplicates_in_the_user_group_are_clear_errors(run):
    run.ok("company", "add", "Blue Taxi")
    run.ok("user", "add", "alice")
    run.ok("tag", "add", "CARD1", "--user", "alice")
    assert_clean_error(run("company", "add", "Blue Taxi"), "already exists")
    assert_clean_error(run("user", "add", "alice"), "already exists")
    assert_clean_error(run("tag", "add", "card1", "--user", "alice"), "CARD1", "already exists")
    assert_clean_error(run("tag", "block", "NOPE"), "no tag NOPE")


# -- sessions ----------------------------------------------------------------------------------------

def seed_sessions(data_dir: Path) -> tuple[int, int]:
    """Two sessions on CP1 through the core (one finished with three samples, one running)."""
    t0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

    async def seed() -> tuple[int, int]:
        core = open_core(load_settings({"data_dir": data_dir, "database_url": backend.database_url() or None}, environ={}))
        try:
            await core.chargers.add("CP1", "ocpp1.6-json")
            await core.chargers.load()
            first = await core.transactions.start("CP1", 1, "CARD1", 1000, t0)
            await core.transactions.meter_values("CP1", 1, first.transaction_id, [
                SampleRow(t0 + dt.timedelta(minutes=5), "Energy.Active.Import.Register", "", "", "", "Wh", "Raw",
                          1800.0, "1800"),
                SampleRow(t0 + dt.timedelta(minutes=5), "Power.Active.Import", "", "", "", "W", "Raw", 7200.0,
                          "7200")])
            await core.transactions.stop("CP1", first.transaction_id, 3500, t0 + dt.timedelta(minutes=30),
                                         "EVDisconnected", "CARD1")
            second = await core.transactions.start("CP1", 2, "CARD2", 0, t0 + dt.timedelta(hours=1))
            return first.transaction_id, second.transaction_id
        finally:
            await core.close()

    return asyncio.run(seed())


def test_session_list_and_show(run, data_dir):
    finished, running = seed_sessions(data_dir)
    sessions = run.json("session", "list")
    assert [s["id"] for s in sessions] == [running, finished]  # newest first
    by_id = {s["id"]: s for s in sessions}
    assert (by_id[finished]["energy_wh"], by_id[finished]["stop_reason"]) == (2500, "EVDisconnected")
    assert by_id[running]["stopped_at"] is None
    assert [s["id"] for s in run.json("session", "list", "--active")] == [running]
    assert [s["id"] for s in run.json("session", "list", "--tag", "card1")] == [finished]
    assert [s["id"] for s in run.json("session", "list", "--charger", "CP1", "--limit", "1")] == [running]
    assert "CARD2" in run.ok("session", "list").stdout

    shown = run.json("session", "show", str(finished))
    assert shown["session"]["meter_stop_wh"] == 3500 and shown["session"]["charger_identity"] == "CP1"
    assert sorted(s["measurand"] for s in shown["samples"]) == \
        ["Energy.Active.Import.Register", "Power.Active.Import"]
    assert "EVDisconnected" in run.ok("session", "show", str(finished)).stdout
    assert_clean_error(run("session", "show", "999"), "no session 999")
    assert_clean_error(run("session", "list", "--charger", "NOPE"), "no charger NOPE")


# -- API tokens ----------------------------------------------------------------------------------------

def test_tokens_add_list_revoke(run):
    secret = run.ok("token", "add", "billing-script").stdout.strip()
    assert len(secret) >= 32 and " " not in secret
    listed = run.json("token", "list")
    assert [t["name"] for t in listed] == ["billing-script"]
    assert secret not in json.dumps(listed) and secret not in run.ok("token", "list").stdout
    assert_clean_error(run("token", "add", "billing-script"), "exists")
    assert run.ok("token", "revoke", "billing-script").stdout.strip() == "token 'billing-script' revoked"
    assert run.json("token", "list") == []
    assert_clean_error(run("token", "revoke", "billing-script"), "no token named 'billing-script'")


# -- settings --------------------------------------------------------------------------------------------

def effective(run, *args: str, env: dict[str, str] | None = None) -> dict[str, str]:
    return {row["setting"]: row["value"] for row in run.json(*args, "settings", env=env)}


def test_settings_defaults(run, data_dir):
    values = effective(run)
    assert values["port"] == "8180" and values["unknown_chargers"] == "pending"
    assert values["sqlite_synchronous"] == "full" and values["data_dir"] == str(data_dir)
    rows = run.json("settings")
    assert {r["setting"]: r["environment"] for r in rows}["unknown_chargers"] == "APPLIANCE_UNKNOWN_CHARGERS"
    assert "APPLIANCE_PORT" in run.ok("settings").stdout


def test_settings_precedence_defaults_toml_environment_flags(run, data_dir):
    data_dir.mkdir(parents=True)
    (data_dir / "appliance.toml").write_text(
        'port = 9000\nheartbeat_interval_s = 120\nunknown_chargers = "reject"\nlog_level = "warning"\n')
    env = {"APPLIANCE_PORT": "9100", "APPLIANCE_UNKNOWN_CHARGERS": "accept"}

    from_file = effective(run)
    assert (from_file["port"], from_file["heartbeat_interval_s"], from_file["unknown_chargers"]) == \
        ("9000", "120", "reject")
    from_env = effective(run, env=env)
    assert (from_env["port"], from_env["heartbeat_interval_s"], from_env["unknown_chargers"],
            from_env["log_level"], from_env["command_timeout_s"]) == ("9100", "120", "accept", "warning", "30.0")

    # Flags beat all: the same layers through load_settings, with the overrides serve's flags give.
    settings = load_settings({"data_dir": data_dir, "port": 9200, "host": None}, environ=env)
    assert (settings.port, settings.heartbeat_interval_s, settings.unknown_chargers, settings.host) == \
        (9200, 120, "accept", "0.0.0.0")
    assert load_settings({"data_dir": data_dir}, environ={}).port == 9000
    assert load_settings({"data_dir": data_dir}, environ=env).port == 9100


def test_settings_file_chosen_by_flag_or_environment(run, data_dir, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text("port = 7000\n")
    third = tmp_path / "third.toml"
    third.write_text("port = 7100\n")
    assert effective(run, "--config", str(other))["port"] == "7000"
    assert effective(run, env={"APPLIANCE_CONFIG": str(third)})["port"] == "7100"
    assert effective(run, "--config", str(other), env={"APPLIANCE_CONFIG": str(third)})["port"] == "7000"


# -- errors: one line, non-zero exit, nothing changed ----------------------------------------------------

def test_user_add_with_unknown_company_adds_nothing(run):
    assert_clean_error(run("user", "add", "alice", "--company", "Nope"), "no company 'Nope'")
    assert run.json("user", "list") == []


def test_tag_add_for_unknown_user_adds_nothing(run):
    assert_clean_error(run("tag", "add", "CARD1", "--user", "nobody"), "no user 'nobody'")
    assert run.json("tag", "list") == []


def test_bad_protocol_is_a_usage_error(run):
    line = assert_clean_error(run("charger", "add", "CP1", "--protocol", "ocpp9"), "--protocol", "ocpp9",
                              exit_code=2)
    assert "ocpp1.6-json" in line  # says what would be right
    assert run.json("charger", "list") == []


@pytest.mark.parametrize("expires", ["2031-13-01", "tomorrow", "01/05/2031"])
def test_bad_expiry_date_is_a_usage_error(run, expires):
    run.ok("user", "add", "alice")
    assert_clean_error(run("tag", "add", "CARD1", "--user", "alice", "--expires", expires), "--expires",
                       repr(expires), exit_code=2)
    assert run.json("tag", "list") == []


@pytest.mark.parametrize("args, fragment", [
    (["tag", "show", "NOPE"], "no tag NOPE"),
    (["session", "show", "42"], "no session 42"),
    (["charger", "show", "NOPE"], "no charger NOPE"),
    (["charger", "accept", "NOPE"], "no charger NOPE"),
    (["charger", "add", "bad/id", "--protocol", "ocpp1.6-json"], "may not contain"),
    (["tag", "add", "X" * 21, "--user", "alice"], "1 to 20 characters"),
    (["charger", "access", "NOPE", "--company", "Blue"], "no charger NOPE"),
])
def test_missing_or_invalid_records_are_clear_errors(run, args, fragment):
    assert_clean_error(run(*args), fragment)


@pytest.mark.parametrize("toml, fragments", [
    ("port = [\n", ["appliance.toml"]),
    ("prot = 8000\n", ["appliance.toml", "unknown setting", "prot"]),
    ('port = "eighty"\n', ["port", "appliance.toml", "'eighty'"]),
    ('unknown_chargers = "maybe"\n', ["unknown_chargers", "'maybe'", "reject, pending, accept"]),
])
def test_bad_config_file_is_one_clear_line(run, data_dir, toml, fragments):
    data_dir.mkdir(parents=True)
    (data_dir / "appliance.toml").write_text(toml)
    for args in (["settings"], ["charger", "list"], ["charger", "reset", "CP1"]):
        assert_clean_error(run(*args), *fragments)
    assert not (data_dir / "appliance.sqlite3").exists()  # nothing was opened, let alone changed


@pytest.mark.parametrize("env, fragments", [
    ({"APPLIANCE_PORT": "abc"}, ["APPLIANCE_PORT", "'abc'", "port"]),
    ({"APPLIANCE_PORT": "-1"}, ["APPLIANCE_PORT", "negative"]),
    ({"APPLIANCE_UNKNOWN_CHARGERS": "maybe"}, ["APPLIANCE_UNKNOWN_CHARGERS", "'maybe'"]),
    ({"APPLIANCE_OCPP_VALIDATE_RESPONSES": "perhaps"}, ["APPLIANCE_OCPP_VALIDATE_RESPONSES", "true or false"]),
])
def test_bad_environment_setting_is_one_clear_line(run, env, fragments):
    for args in (["settings"], ["tag", "list"], ["charger", "reset", "CP1"]):
        assert_clean_error(run(*args, env=env), *fragments)


def test_bad_port_flag_is_a_usage_error(run):
    assert_clean_error(run("serve", "--port", "99999"), "--port", exit_code=2)


@backend.sqlite_only("a damaged SQLite file (test_postgres: an unreachable server is one clear error)")
def test_a_database_that_is_not_sqlite_is_one_clear_error(tmp_path):
    data_dir = tmp_path / "broken"
    data_dir.mkdir()
    (data_dir / "appliance.sqlite3").write_bytes(b"this is not a database, just some text " * 100)
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "charger", "list"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot open the database")
    assert "Traceback" not in result.output


def test_an_expiry_date_is_the_end_of_that_day_in_the_depot_time_zone(run):
    run.ok("user", "add", "alice")
    env = {"APPLIANCE_TIMEZONE": "Europe/Berlin"}
    tag = run.json("tag", "add", "CARD9", "--user", "alice", "--expires", "2031-07-01", env=env)
    # Midnight at the start of 2 July in Berlin (summer time, UTC+2) is 22:00 UTC on 1 July.
    assert dt.datetime.fromisoformat(tag["expires_at"]) == dt.datetime(2031, 7, 1, 22, 0, tzinfo=UTC)


def test_an_unknown_time_zone_is_one_clear_error(run):
    assert_clean_error(run("charger", "list", env={"APPLIANCE_TIMEZONE": "Mars/Olympus"}), "timezone",
                       "Mars/Olympus")


def test_charger_access_names_companies_that_exist(run):
    run.ok("charger", "add", "CP1", "--protocol", "ocpp1.6-json")
    assert_clean_error(run("charger", "access", "CP1", "--company", "Nobody Ltd"), "no company Nobody Ltd")
    assert run.json("charger", "access", "CP1")["open_to"] == "the whole depot"
    result = run("charger", "access", "CP1", "--company", "X", "--open")
    assert result.exit_code == 2 and "not both" in result.output


def test_a_tag_needs_exactly_one_owner(run):
    run.ok("user", "add", "alice")
    run.ok("vehicle", "add", "TAXI-1")
    for args in ([], ["--user", "alice", "--vehicle", "TAXI-1"]):
        result = run("tag", "add", "T1", *args)
        assert result.exit_code == 2 and "--user NAME or --vehicle NAME" in result.output
    assert_clean_error(run("tag", "add", "T1", "--vehicle", "NOPE"), "no vehicle 'NOPE'")
    assert run.ok("tag", "add", "T1", "--vehicle", "TAXI-1").stdout.strip() == "tag T1 added for vehicle 'TAXI-1'"


def test_tag_types_and_moving_users(run):
    run.ok("company", "add", "Blue")
    run.ok("user", "add", "alice")
    assert run.json("tag", "add", "AABB", "--user", "alice", "--type", "ISO15693")["token_type"] == "ISO15693"
    assert run("tag", "add", "CCDD", "--user", "alice", "--type", "Magic").exit_code == 2
    assert run.ok("user", "move", "alice", "--company", "Blue").stdout.strip() == "user 'alice' now belongs to 'Blue'"
    assert run.json("tag", "show", "AABB")["company"] == "Blue"
    assert_clean_error(run("user", "move", "nobody", "--no-company"), "no user 'nobody'")
