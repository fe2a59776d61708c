"""`appliance notify set|show|test` and `appliance metrics token` on a real data directory (click's
CliRunner): what is stored wins over the config file, the password never shows, bad input is one
clear line, and `notify test` without a server sends the message itself and says what happened."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli import cli
from appliance.config import load_settings
from appliance.core.secrets import hash_token
from appliance.core.services import open_core
from appliance.store.notifications import stored_settings
from appliance.web.metrics import TOKEN_SETTING
from tests import backend
from tests.notify_peers import MailServer, free_port


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("APPLIANCE_") and key != backend.ENV:
            monkeypatch.delenv(key)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def run(data_dir):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(cli, ["--data-dir", str(data_dir), *args], input=input)

    return invoke


def test_set_then_show_what_is_in_force(run):
    result = run("notify", "set", "--smtp", "smtp://mail.depot.example:2525", "--plain", "--from", "a@depot.example",
                 "--to", "night@depot.example", "--to", "boss@depot.example;severity=critical",
                 "--kinds", "connector_faulted,charger_offline_long_term", "--daily-summary", "06:30")
    assert result.exit_code == 0, result.output
    shown = json.loads(run("notify", "show", "--json").output)
    assert shown["mail_server"] == "smtp://mail.depot.example:2525 (plain), from a@depot.example"
    assert [(r["recipient"], r["severity"], r["kinds"]) for r in shown["recipients"]] == [
        ("night@depot.example", "warning and worse", ["charger_offline_long_term", "connector_faulted"]),
        ("boss@depot.example", "critical and worse", ["charger_offline_long_term", "connector_faulted"])]
    assert shown["configuration"]["notify_daily_summary_at"] == {"value": "06:30", "from": "appliance notify set"}


def test_what_is_stored_wins_over_the_config_file_until_reset(run, data_dir):
    (data_dir / "appliance.toml").write_text('notify_to = "file@depot.example"\nnotify_batch_s = 120\n')
    assert "file@depot.example" in run("notify", "show").output
    run("notify", "set", "--to", "cli@depot.example")
    output = run("notify", "show").output
    assert "cli@depot.example" in output and "file@depot.example" not in output and "within 120 s" in output
    run("notify", "set", "--reset", "--batch-s", "30")
    output = run("notify", "show").output
    assert "file@depot.example" in output and "within 30 s" in output


def test_a_webhooks_key_is_never_shown(run):
    result = run("notify", "set", "--webhook", "https://chat.example/services/T01/B02/KEY0123456789",
                 "--webhook", "https://hooks.example/alarm?token=KEY9876543210")
    assert result.exit_code == 0, result.output
    for output in (result.output, run("notify", "show").output, run("notify", "show", "--json").output):
        assert "KEY" not in output
    assert "https://chat.example/services/*** (webhook)" in result.output
    assert "https://hooks.example/alarm?*** (webhook)" in result.output


def test_the_password_is_read_from_standard_input_and_never_shown(run):
    result = run("notify", "set", "--smtp", "smtp://mail.depot.example", "--user", "alarms", input="pa55-word\n")
    assert result.exit_code == 0, result.output
    for output in (result.output, run("notify", "show").output, run("notify", "show", "--json").output):
        assert "pa55-word" not in output
    assert "login alarms (password set)" in run("notify", "show").output


@pytest.mark.parametrize("args, says", [
    (["--to", "nobody"], "'nobody' is not an e-mail address"),
    (["--webhook", "ftp://x.example/hook"], "is not a webhook URL"),
    (["--smtp", "mail.example:25"], "is not an SMTP server"),
    (["--to", "a@x.example", "--kinds", "fire"], "unknown alarm kind(s) fire"),
    (["--severity", "critical"], "--severity and --kinds apply to the --to and --webhook recipients"),
    (["--daily-summary", "7am"], "is not a time of day"),
    ([], "nothing to set"),
])
def test_bad_input_is_one_clear_line(run, args, says):
    result = run("notify", "set", *args)
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output


def test_notify_test_without_a_server_sends_itself_and_says_what_happened(run):
    mail = MailServer().start()
    try:
        run("notify", "set", "--smtp", mail.url, "--plain", "--to", "ops@depot.example",
            "--webhook", f"http://127.0.0.1:{free_port()}/hook")
        result = run("notify", "test")
    finally:
        mail.stop()
    assert result.exit_code == 3  # one recipient not reached
    assert "sent to ops@depot.example (email): accepted by 127.0.0.1" in result.output
    assert "NOT sent to http://127.0.0.1:" in result.output and "could not be reached" in result.output
    assert mail.received[0]["Subject"].endswith("test message")


def test_notify_test_with_nobody_to_tell(run):
    result = run("notify", "test")
    assert result.exit_code == 1 and "no recipients are configured" in result.output


def test_metrics_token_is_shown_once_and_stored_hashed(run, data_dir):
    result = run("metrics", "token")
    assert result.exit_code == 0
    token = result.output.splitlines()[0]
    assert len(token) >= 40 and "/metrics is off" in result.output

    async def stored() -> dict[str, str]:
        core = open_core(load_settings({"data_dir": data_dir}))
        try:
            return await core.db.read(stored_settings)
        finally:
            await core.close()

    assert asyncio.run(stored())[TOKEN_SETTING] == hash_token(token)
    again = run("metrics", "token").output.splitlines()[0]
    assert again != token and asyncio.run(stored())[TOKEN_SETTING] == hash_token(again)  # the old one is gone


def test_appliance_settings_never_prints_the_secrets(run, data_dir):
    (data_dir / "appliance.toml").write_text('notify_smtp_password = "pa55-word"\nmetrics_token = "tok-123456"\n')
    output = run("settings").output
    assert "pa55-word" not in output and "tok-123456" not in output and "******** (set)" in output
