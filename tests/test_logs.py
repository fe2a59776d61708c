"""`appliance logs CHARGER` while a real server process talks to a virtual charger: the messages appear,
oldest first, in the depot's time; --follow prints a new one within seconds and ends quietly on
Ctrl-C (SIGINT); an unknown charger gets one clear line."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import sys
import time
import zoneinfo
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from ocpp.v16 import call

from appliance.cli import cli
from appliance.diagnostics.comm_log import parse_since
from tests import backend
from tests.test_cli_live import ServerProcess, cli_run, must
from tests.virtual_charger import connect16

ZONE = "Europe/Berlin"
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} CES?T  (in |out)  (\[.*\])$")


def logs(data_dir: Path, *args: str) -> Result:
    ambient = {k: None for k in os.environ if backend.is_ambient_setting(k)}
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), "logs", *args],
                              env={**ambient, "APPLIANCE_TIMEZONE": ZONE})


async def logged(data_dir: Path, identity: str, count: int, timeout_s: float = 5.0) -> list[dict]:
    """The charger's messages once there are `count` (the server commits its log with its next batch)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await asyncio.to_thread(logs, data_dir, identity, "--json", "--lines", "100")
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        if len(rows) >= count:
            return rows
        assert time.monotonic() < deadline, f"only {len(rows)} messages logged: {rows}"
        await asyncio.sleep(0.1)


@pytest.fixture
async def server(tmp_path):
    data_dir = tmp_path / "data"
    must(await asyncio.to_thread(cli_run, data_dir, "charger", "add", "LOG1", "--protocol", "ocpp1.6-json"))
    srv = ServerProcess(data_dir).start()
    yield srv
    assert srv.terminate() == 0, srv.log()


async def test_a_chargers_messages_are_printed_oldest_first_in_the_depots_time(server):
    async with connect16(server.url, "LOG1") as cp:
        await cp.call(call.Heartbeat())
        rows = await logged(server.data_dir, "LOG1", 4)
    # CALL in, CALLRESULT out, twice
    assert [(r["direction"], json.loads(r["message"])[0]) for r in rows] == [("in", 2), ("out", 3)] * 2
    assert [json.loads(r["message"])[2] for r in rows if r["direction"] == "in"] == ["BootNotification", "Heartbeat"]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert set(rows[0]) == {"id", "charger", "at", "direction", "message"} and rows[0]["charger"] == "LOG1"
    assert abs(dt.datetime.fromisoformat(rows[-1]["at"]) - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)

    text = (await asyncio.to_thread(logs, server.data_dir, "LOG1")).stdout.splitlines()
    assert len(text) == 4 and all(LINE.match(line) for line in text), text
    first = LINE.match(text[0])
    assert first[1] == "in " and '"BootNotification"' in first[2]
    at = dt.datetime.fromisoformat(rows[0]["at"]).astimezone(zoneinfo.ZoneInfo(ZONE))
    assert text[0].startswith(f"{at:%Y-%m-%d %H:%M:%S}")  # the depot's time, not UTC

    last_two = (await asyncio.to_thread(logs, server.data_dir, "LOG1", "--lines", "2")).stdout.splitlines()
    assert last_two == text[2:]
    assert (await asyncio.to_thread(logs, server.data_dir, "LOG1", "--since", "10m")).stdout.splitlines() == text
    later = (dt.datetime.now(zoneinfo.ZoneInfo(ZONE)) + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    assert (await asyncio.to_thread(logs, server.data_dir, "LOG1", "--since", later)).stdout == ""


@pytest.mark.parametrize("sigint_ignored_by_parent", [False, True])
async def test_follow_prints_a_new_message_while_it_runs_and_ends_quietly_on_ctrl_c(server, sigint_ignored_by_parent):
    async with connect16(server.url, "LOG1") as cp:
        await logged(server.data_dir, "LOG1", 2)  # the boot and its answer
        env = {k: v for k, v in os.environ.items() if not backend.is_ambient_setting(k)} | {"APPLIANCE_TIMEZONE": ZONE}
        follower = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "appliance", "--data-dir", str(server.data_dir), "logs", "LOG1", "--follow",
            "--lines", "1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
            # A parent that ignores SIGINT passes that on: Ctrl-C must end the follower all the same.
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored_by_parent else None)
        try:
            first = await asyncio.wait_for(follower.stdout.readline(), 15)  # the follower is reading now
            assert '"BootNotification"' in first.decode() or "currentTime" in first.decode(), first
            await cp.call(call.Heartbeat())
            while True:  # how soon is bench/diagnostics.py's to measure; a bound here only fails a busy box
                line = (await asyncio.wait_for(follower.stdout.readline(), 30)).decode()
                if '"Heartbeat"' in line:
                    break
            follower.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(follower.wait(), 30)  # a loaded CI box took more than 10 s twice
        finally:
            if follower.returncode is None:
                follower.kill()
                await follower.wait()
    assert LINE.match(line.rstrip("\n"))[1] == "in "
    assert code == 0
    assert (await follower.stderr.read()).decode() == ""  # no traceback, no "Aborted!"


def test_an_unknown_charger_gets_one_clear_line(tmp_path):
    data_dir = tmp_path / "data"
    must(cli_run(data_dir, "charger", "add", "KNOWN1", "--protocol", "ocpp1.6-json"))
    result = logs(data_dir, "NOPE")
    assert result.exit_code == 1
    assert result.output == "Error: no charger 'NOPE' here (appliance charger list shows them)\n"
    assert logs(data_dir, "KNOWN1").output == ""  # known, nothing said yet: nothing to print, no error
    assert logs(data_dir, "KNOWN1").exit_code == 0


@backend.sqlite_only("no SQLite file in the data directory")
def test_without_a_database_logs_says_so_and_creates_nothing(tmp_path):
    result = logs(tmp_path / "data", "CP1")
    assert result.exit_code == 1
    assert result.output == f"Error: no database at {tmp_path / 'data' / 'appliance.sqlite3'}: has the appliance run " \
                            "here? (check --data-dir)\n"
    assert not (tmp_path / "data").exists()


def test_a_bad_since_is_a_usage_error(tmp_path):
    result = logs(tmp_path / "data", "CP1", "--since", "yesterday")
    assert result.exit_code == 2
    assert "--since" in result.output and "neither a span like 10m" in result.output


NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
BERLIN = zoneinfo.ZoneInfo(ZONE)


@pytest.mark.parametrize("text, expected", [
    ("10m", NOW - dt.timedelta(minutes=10)),
    ("2h", NOW - dt.timedelta(hours=2)),
    ("1d", NOW - dt.timedelta(days=1)),
    ("90s", NOW - dt.timedelta(seconds=90)),
    ("1.5 h", NOW - dt.timedelta(minutes=90)),
    ("2026-11-20T07:00", dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.timezone.utc)),  # the depot's time (CET)
    ("2026-11-20", dt.datetime(2026, 11, 19, 23, 0, tzinfo=dt.timezone.utc)),  # its midnight
    ("2026-11-20T07:00Z", dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.timezone.utc)),  # a zone given wins
])
def test_since_takes_spans_and_depot_times(text, expected):
    assert parse_since(text, BERLIN, NOW) == expected
