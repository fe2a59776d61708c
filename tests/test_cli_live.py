"""The CLI against a REAL running server (`python -m appliance serve` as a subprocess).

CLI changes take effect in the running server at once; live commands reach a connected virtual
charger and print its answer; no server, a killed server or an offline charger give a clear
message; SIGTERM stops the server cleanly and removes server.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from ocpp.v16 import call

from appliance.cli import cli
from tests import backend
from tests.conftest import wait_for
from tests.virtual_charger import connect16

STARTUP_TIMEOUT_S = 20.0


class ServerProcess:
    """`python -m appliance --data-dir D serve` on a free loopback port (the OS picks it: --port 0)."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        self._log = None

    @property
    def state_path(self) -> Path:
        return self.data_dir / "server.json"

    def start(self) -> "ServerProcess":
        env = {k: v for k, v in os.environ.items() if not backend.is_ambient_setting(k)}
        env["APPLIANCE_LOCAL_LIST_SYNC"] = "false"  # as in make_settings: only the local-list tests sync
        env.update(backend.env_for(self.data_dir))
        env.update(self.extra_env)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "--data-dir", str(self.data_dir), "serve",
             "--host", "127.0.0.1", "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:  # poll (with a deadline) for server.json naming this process, then for /healthz
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            if self._healthy():
                return self
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"server not up within {STARTUP_TIMEOUT_S} s:\n{self.log()}")
            time.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return False
        if state.get("pid") != self.proc.pid:  # a stale file left by a killed server
            return False
        context = None
        if state.get("tls_cert_file"):  # the server's own certificate, trusted exactly
            context = ssl.create_default_context(cafile=state["tls_cert_file"])
            context.check_hostname = False
        try:
            with urllib.request.urlopen(state["url"] + "/healthz", timeout=2, context=context) as response:
                ok = response.status == 200 and json.loads(response.read())["status"] == "ok"
        except OSError:
            return False
        self.url = state["url"]
        return ok

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code (kills after `timeout`, which then fails)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"server ignored SIGTERM for {timeout} s:\n{self.log()}")
        self._close_log()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def cli_run(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], env=backend.env_for(data_dir) or None)


async def acli(data_dir: Path, *args: str, ok: bool = True) -> Result:
    """The CLI in a worker thread, so the virtual charger on this loop can answer meanwhile."""
    result = await asyncio.to_thread(cli_run, data_dir, *args)
    assert isinstance(result.exception, (SystemExit, type(None))), repr(result.exception)
    if ok:
        assert result.exit_code == 0, f"{args}: {result.output}"
    return result


def must(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the live-command tests; each test uses its own charger ids."""
    data_dir = backend.share(tmp_path_factory.mktemp("live") / "data")
    must(cli_run(data_dir, "company", "add", "Blue Taxi"))
    must(cli_run(data_dir, "user", "add", "alice", "--company", "Blue Taxi"))
    must(cli_run(data_dir, "tag", "add", "CARD1", "--user", "alice"))
    srv = ServerProcess(data_dir).start()
    yield srv
    assert srv.terminate() == 0, srv.log()
    assert not srv.state_path.exists()
    assert "Traceback" not in srv.log(), srv.log()


async def add_charger(data_dir: Path, identity: str) -> None:
    await acli(data_dir, "charger", "add", identity, "--protocol", "ocpp1.6-json")


# -- (a) a change made with the CLI takes effect in the running server at once ------------------

async def test_tag_blocked_with_the_cli_is_refused_at_the_next_authorize(server):
    await add_charger(server.data_dir, "BLK1")
    await acli(server.data_dir, "tag", "add", "BLK-CARD", "--user", "alice")
    async with connect16(server.url, "BLK1") as cp:
        assert (await cp.call(call.Authorize(id_tag="BLK-CARD"))).id_tag_info["status"] == "Accepted"
        assert (await acli(server.data_dir, "tag", "block", "BLK-CARD")).stdout.strip() == "tag BLK-CARD blocked"
        assert (await cp.call(call.Authorize(id_tag="BLK-CARD"))).id_tag_info["status"] == "Blocked"
        started = await cp.start_transaction("BLK-CARD")
        assert started.id_tag_info["status"] == "Blocked"
        await cp.stop_transaction(started.transaction_id, 0, reason="DeAuthorized")
        await acli(server.data_dir, "tag", "unblock", "BLK-CARD")
        assert (await cp.call(call.Authorize(id_tag="BLK-CARD"))).id_tag_info["status"] == "Accepted"


# -- (d) accepting a pending charger with the CLI --------------------------------------------------

async def test_pending_charger_accepted_with_the_cli_boots_accepted(server):
    async with connect16(server.url, "NEWCOMER", boot=False) as cp:
        assert (await cp.boot()).status == "Pending"
        listed = json.loads((await acli(server.data_dir, "charger", "list", "--registration", "pending",
                                        "--json")).stdout)
        assert "NEWCOMER" in [c["identity"] for c in listed]
        assert (await acli(server.data_dir, "charger", "accept", "NEWCOMER")).stdout.strip() == \
            "charger NEWCOMER accepted"
        assert (await cp.boot()).status == "Accepted"
        assert (await cp.call(call.Authorize(id_tag="CARD1"))).id_tag_info["status"] == "Accepted"
        await acli(server.data_dir, "charger", "reject", "NEWCOMER")
        assert (await cp.boot()).status == "Rejected"


# -- (b) live commands print the charger's answer --------------------------------------------------

LIVE_COMMANDS = [
    # CLI arguments after the charger id, the call the charger must get, its arguments, the answer shown
    (["reset"], "Reset", {"type": "Soft"}, "Accepted"),
    (["reset", "--hard"], "Reset", {"type": "Hard"}, "Accepted"),
    (["unlock", "--connector", "1"], "UnlockConnector", {"connector_id": 1}, "Unlocked"),
    (["trigger", "StatusNotification"], "TriggerMessage", {"requested_message": "StatusNotification"}, "Accepted"),
    (["remote-start", "--connector", "1", "--tag", "CARD1"], "RemoteStartTransaction",
     {"connector_id": 1, "id_tag": "CARD1"}, "Accepted"),
    (["remote-stop", "--transaction", "17"], "RemoteStopTransaction", {"transaction_id": 17}, "Accepted"),
    (["config", "set", "HeartbeatInterval", "60"], "ChangeConfiguration",
     {"key": "HeartbeatInterval", "value": "60"}, "Accepted"),
]


def live_args(args: list[str], identity: str) -> list[str]:
    """`charger config set ID KEY VALUE`: the id comes after the sub-command's name."""
    if args[0] == "config":
        return ["charger", "config", args[1], identity, *args[2:]]
    return ["charger", args[0], identity, *args[1:]]


@pytest.mark.parametrize("args, action, expected, answer", LIVE_COMMANDS,
                         ids=["-".join(c[0][:2]) for c in LIVE_COMMANDS])
async def test_live_command_prints_the_chargers_answer(server, args, action, expected, answer):
    identity = f"LIVE-{action}-{len(args)}"
    await add_charger(server.data_dir, identity)
    async with connect16(server.url, identity) as cp:
        text = (await acli(server.data_dir, *live_args(args, identity))).stdout
        assert f"status: {answer}" in text.splitlines()
        got = cp.last(action)
        assert {k: got.get(k) for k in expected} == expected
        if action == "Reset":
            assert got["type"] == ("Hard" if "--hard" in args else "Soft")
        as_json = json.loads((await acli(server.data_dir, *live_args(args, identity), "--json")).stdout)
        assert (as_json["status"], as_json["ok"]) == (answer, True)
        assert [a for a, _ in cp.received].count(action) == 2

        refusal = "UnlockFailed" if action == "UnlockConnector" else "Rejected"
        cp.answers[action] = refusal  # whatever the charger says is what the CLI shows
        refused = await acli(server.data_dir, *live_args(args, identity), "--json", ok=False)
        rejected = json.loads(refused.stdout)
        assert (rejected["status"], rejected["ok"], refused.exit_code) == (refusal, False, 3)
        refused = await acli(server.data_dir, *live_args(args, identity), ok=False)
        assert f"status: {refusal}" in refused.stdout and refused.exit_code == 3


async def test_config_get_prints_the_keys(server):
    await add_charger(server.data_dir, "CFG1")
    async with connect16(server.url, "CFG1") as cp:
        everything = json.loads((await acli(server.data_dir, "charger", "config", "get", "CFG1", "--json")).stdout)
        assert cp.last("GetConfiguration") == {"key": None}
        assert {k["key"]: k["value"] for k in everything["data"]["configuration_key"]} == \
            {"HeartbeatInterval": "300", "MeterValueSampleInterval": "60"}

        await acli(server.data_dir, "charger", "config", "set", "CFG1", "HeartbeatInterval", "90")
        assert cp.configuration["HeartbeatInterval"] == "90"
        one = json.loads((await acli(server.data_dir, "charger", "config", "get", "CFG1", "HeartbeatInterval",
                                     "--json")).stdout)
        assert cp.last("GetConfiguration") == {"key": ["HeartbeatInterval"]}
        assert [(k["key"], k["value"]) for k in one["data"]["configuration_key"]] == [("HeartbeatInterval", "90")]
        text = (await acli(server.data_dir, "charger", "config", "get", "CFG1", "NoSuchKey")).stdout
        assert "NoSuchKey" in text and "unknown_key" in text


async def test_trigger_of_a_message_the_version_lacks_says_so(server):
    await add_charger(server.data_dir, "TRG1")
    async with connect16(server.url, "TRG1") as cp:
        answer = await acli(server.data_dir, "charger", "trigger", "TRG1", "SignCertificate", "--json", ok=False)
        assert answer.exit_code == 3
        result = json.loads(answer.stdout)
        assert result["status"] == "NotSupportedByCharger" and "SignCertificate" in result["detail"]
        assert "TriggerMessage" not in [a for a, _ in cp.received]


# -- (c) no server, a killed server, an offline or unknown charger ----------------------------------

async def test_live_command_to_a_charger_not_connected_says_offline(server):
    await add_charger(server.data_dir, "OFF1")
    answer = await acli(server.data_dir, "charger", "reset", "OFF1", ok=False)
    text = answer.stdout
    assert "status: Offline" in text.splitlines() and "OFF1 is not connected" in text and answer.exit_code == 3
    result = json.loads((await acli(server.data_dir, "charger", "unlock", "OFF1", "--connector", "1",
                                    "--json", ok=False)).stdout)
    assert (result["status"], result["ok"]) == ("Offline", False)


async def test_live_command_to_an_unknown_charger_is_a_clear_error(server):
    result = await acli(server.data_dir, "charger", "reset", "NOSUCH", ok=False)
    assert result.exit_code == 1 and result.stderr.strip() == "Error: no charger NOSUCH"


def assert_one_error_line(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 1, proc
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def real_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not backend.is_ambient_setting(k)}
    return subprocess.run([sys.executable, "-m", "appliance", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_live_command_without_a_server_is_one_clear_error(tmp_path):
    data_dir = tmp_path / "data"
    must(cli_run(data_dir, "charger", "add", "CP1", "--protocol", "ocpp1.6-json"))
    for args in (["charger", "reset", "CP1"], ["charger", "config", "get", "CP1"],
                 ["charger", "remote-start", "CP1", "--connector", "1", "--tag", "CARD1", "--json"]):
        assert_one_error_line(real_cli(data_dir, *args), "no server is running", str(data_dir))


def test_killed_server_then_sigterm_restart(tmp_path):
    data_dir = tmp_path / "data"
    must(cli_run(data_dir, "charger", "add", "CP1", "--protocol", "ocpp1.6-json"))
    first = ServerProcess(data_dir).start()
    first.proc.kill()  # SIGKILL: server.json stays behind, naming a dead address
    first.kill()
    assert first.state_path.exists()
    assert_one_error_line(real_cli(data_dir, "charger", "reset", "CP1"), first.url, "does not answer")

    second = ServerProcess(data_dir).start()  # overwrites the stale server.json
    try:
        assert json.loads(second.state_path.read_text())["pid"] == second.proc.pid
        proc = real_cli(data_dir, "charger", "reset", "CP1", "--json")
        assert proc.returncode == 3, proc.stderr  # reached the server; the charger is not there
        assert json.loads(proc.stdout)["status"] == "Offline"
    finally:
        code = second.terminate()
    assert code == 0, second.log()
    assert not second.state_path.exists()
    assert "Traceback" not in second.log()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])  # the setting event_loop: both serve and stop alike
async def test_sigterm_with_a_charger_connected_stops_cleanly(tmp_path, loop):
    data_dir = tmp_path / "data"
    await acli(data_dir, "charger", "add", "CP1", "--protocol", "ocpp1.6-json")
    srv = ServerProcess(data_dir, env={"APPLIANCE_EVENT_LOOP": loop}).start()
    try:
        async with connect16(srv.url, "CP1") as cp:
            assert (await cp.call(call.Heartbeat())).current_time
            srv.proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(asyncio.to_thread(srv.proc.wait), 15)
            await wait_for(lambda: cp._connection.ws.closed)  # the server closed the socket, not just died
    finally:
        srv.kill()
    assert code == 0, srv.log()
    assert not srv.state_path.exists()
    assert "Traceback" not in srv.log(), srv.log()
    assert f"event loop {loop})" in srv.log()
    assert_one_error_line(real_cli(data_dir, "charger", "reset", "CP1"), "no server is running")
    shown = json.loads((await acli(data_dir, "charger", "show", "CP1", "--json")).stdout)
    assert shown["charger"]["vendor"] == "Virtual"  # the boot it acknowledged was kept
