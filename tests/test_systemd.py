"""The appliance as a systemd service.

The unit passes `systemd-analyze verify` and carries its hardening; the readers' udev rule agrees with
it; a real server process speaks sd_notify to a socket the test binds as systemd would (READY=1 only
once /healthz answers, WATCHDOG=1 at half of WATCHDOG_USEC from its event loop, a status line that
follows the chargers, STOPPING=1 and exit 0 on SIGTERM); `appliance service install --root` places the
files and prints what it would run, and refuses a real install without root.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import aiohttp
import click
import pytest
from click.testing import CliRunner

from appliance import systemd_notify
from appliance.cli import cli
from appliance.cli.service import _run_all
from appliance.systemd_notify import Notifier, keep_telling, watchdog_interval_s
from tests.virtual_charger import connect16

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "appliance.service"
RULE = REPO / "systemd" / "70-appliance-rfid-readers.rules"
STARTUP_TIMEOUT_S = 30.0


def unit_entries(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every setting of a unit file, in order; comments left out."""
    entries, section = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def service_values(key: str) -> list[str]:
    return [v for section, k, v in unit_entries(UNIT.read_text()) if section == "Service" and k == key]


# -- (1) systemd-analyze verify ----------------------------------------------------------------------

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


def verify(unit: Path) -> tuple[int, list[str]]:
    """`systemd-analyze verify`: its exit status and what it says about this unit. It exits 0 for
    unknown keys and unparsable values (it ignores them, as systemd would): its words are the verdict."""
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    said = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    return result.returncode, said


def unit_with_stand_in(tmp_path: Path, extra: str = "") -> Path:
    """The unit as shipped but for ExecStart's program, which verify insists exists: /usr/local/bin/
    appliance is only there on an installed box, so an existing executable stands in for it."""
    text = UNIT.read_text()
    assert text.count("\nExecStart=/usr/local/bin/appliance serve\n") == 1
    text = text.replace("\nExecStart=/usr/local/bin/appliance ", f"\nExecStart={shutil.which('true')} ")
    copy = tmp_path / "appliance.service"
    copy.write_text(text.replace("[Service]\n", f"[Service]\n{extra}\n") if extra else text)
    return copy


@needs_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path):
    assert verify(unit_with_stand_in(tmp_path)) == (0, [])


@needs_analyze
def test_the_unit_as_shipped_is_faulted_for_nothing_but_the_binary_not_installed_here():
    status, said = verify(UNIT)
    if Path("/usr/local/bin/appliance").exists():
        assert (status, said) == (0, [])
    else:
        assert said and all("/usr/local/bin/appliance" in line for line in said), said


@needs_analyze
@pytest.mark.parametrize("bad_line", [
    "Restart=sometimes",            # a value systemd cannot parse: ignored with a warning, exit 0
    "DeviceAllow=char-ttyUSB rwx",  # bad rights
    "ProtectSytem=strict",          # a misspelt key: the hardening silently missing
])
def test_verify_as_used_here_catches_what_systemd_would_ignore(tmp_path, bad_line):
    status, said = verify(unit_with_stand_in(tmp_path, extra=bad_line))
    assert said, f"verify said nothing about {bad_line!r} (exit {status})"


@needs_analyze
def test_systemd_analyze_rates_the_unit_well_exposed_below_2_5(tmp_path):
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit_with_stand_in(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    if "--offline" in result.stderr and result.returncode != 0:
        pytest.skip("this systemd-analyze has no offline security check (systemd < 250)")
    exposure = re.search(r"Overall exposure level for appliance\.service: ([\d.]+)", result.stdout)
    assert exposure, result.stdout + result.stderr
    assert float(exposure.group(1)) < 2.5, result.stdout  # 1.8 with systemd 252


# -- (2) the hardening and the rest the service needs, line by line -----------------------------------

@pytest.mark.parametrize("key, value", [
    ("Type", "notify"),
    ("NotifyAccess", "all"),  # a PyInstaller one-file binary notifies from the bootloader's child
    ("WatchdogSec", "30s"),
    ("Restart", "on-failure"),
    ("RestartSec", "10s"),
    ("KillMode", "mixed"),  # SIGTERM once, through the bootloader, never twice
    ("ExecStart", "/usr/local/bin/appliance serve"),
    ("User", "appliance"),
    ("Group", "appliance"),
    ("StateDirectory", "appliance"),
    ("Environment", "APPLIANCE_DATA_DIR=/var/lib/appliance"),
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("PrivateTmp", "yes"),  # the one-file binary unpacks itself into /tmp at every start
    ("ProtectHome", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX AF_NETLINK"),
    ("LockPersonality", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("SystemCallArchitectures", "native"),
    ("CapabilityBoundingSet", ""),  # empty: no capabilities at all
    ("DevicePolicy", "closed"),
    ("DeviceAllow", "char-ttyUSB rw"),
    ("DeviceAllow", "char-ttyACM rw"),
    ("DeviceAllow", "char-input rw"),  # HID (keyboard) readers
    ("StandardOutput", "journal"),
    ("StandardError", "journal"),
    ("SyslogIdentifier", "appliance"),
])
def test_unit_sets(key, value):
    assert value in service_values(key), f"{key}={value} missing; the unit has {service_values(key)}"


def test_unit_allows_no_devices_but_the_readers_and_no_capabilities():
    assert sorted(service_values("DeviceAllow")) == ["char-input rw", "char-ttyACM rw", "char-ttyUSB rw"]
    assert service_values("AmbientCapabilities") in ([], [""])
    assert service_values("CapabilityBoundingSet") == [""]


def test_unit_leaves_room_for_thousands_of_charger_connections():
    assert int(service_values("LimitNOFILE")[0]) >= 10_000  # one descriptor per websocket


def test_unit_loads_the_serial_drivers_before_it_resolves_its_device_list():
    unit = [(k, v) for section, k, v in unit_entries(UNIT.read_text()) if section == "Unit"]
    for module in ("usbserial", "cdc_acm"):
        assert ("Wants", f"modprobe@{module}.service") in [(k, w) for k, v in unit for w in v.split()]
        assert ("After", f"modprobe@{module}.service") in [(k, w) for k, v in unit for w in v.split()]
    assert ("WantedBy", "multi-user.target") in [(k, v) for s, k, v in unit_entries(UNIT.read_text())
                                                 if s == "Install"]


# -- the readers' udev rule ------------------------------------------------------------------------------

def rule_lines() -> list[str]:
    return [line for line in RULE.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_udev_rule_gives_the_readers_to_the_services_group_and_only_devices_the_unit_allows():
    group = service_values("Group")[0]
    allowed = {"tty": {"char-ttyUSB rw", "char-ttyACM rw"}, "input": {"char-input rw"}}
    for line in rule_lines():
        assert f'GROUP="{group}"' in line and 'MODE="0660"' in line, line
        subsystem = re.search(r'SUBSYSTEM=="(\w+)"', line).group(1)
        assert allowed[subsystem] & set(service_values("DeviceAllow")), line


def test_udev_rule_passes_udevadm_verify_where_udevadm_has_it():
    if shutil.which("udevadm") is None:
        pytest.skip("udevadm not installed")
    probe = subprocess.run(["udevadm", "verify", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:  # systemd-udev 252 (Debian 12) has no verify; it came with 254
        version = subprocess.run(["udevadm", "--version"], capture_output=True, text=True).stdout.strip()
        pytest.skip(f"udevadm {version} has no `verify`")
    result = subprocess.run(["udevadm", "verify", str(RULE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# -- (5) sd_notify itself ----------------------------------------------------------------------------------

def bound_socket(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


def test_without_notify_socket_nothing_is_sent():
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert (notifier.ready("x"), notifier.watchdog(), notifier.stopping()) == (False, False, False)


def test_an_abstract_socket_gets_the_message():
    name = f"appliance-test-{uuid.uuid4().hex}"
    with bound_socket("\0" + name) as sock:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready("listening on 0.0.0.0:8180")
        assert sock.recv(4096) == b"READY=1\nSTATUS=listening on 0.0.0.0:8180"


def test_a_socket_path_gets_the_message(tmp_path):
    path = str(tmp_path / "notify.sock")
    with bound_socket(path) as sock:
        assert Notifier({"NOTIFY_SOCKET": path}).stopping()
        assert sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping"


def test_a_vanished_socket_is_warned_about_once_and_never_raises(tmp_path, caplog):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    with caplog.at_level(logging.WARNING, logger="appliance.systemd_notify"):
        assert (notifier.watchdog(), notifier.watchdog()) == (False, False)
    assert len(caplog.records) == 1 and "cannot notify systemd" in caplog.records[0].getMessage()


def test_a_relative_notify_socket_is_ignored():
    assert not Notifier({"NOTIFY_SOCKET": "notify.sock"}).enabled


@pytest.mark.parametrize("environ, frozen, interval_s", [
    ({}, False, None),
    ({"WATCHDOG_USEC": "30000000"}, False, 15.0),  # half of it, as sd_watchdog_enabled(3) advises
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "{pid}"}, False, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, False, None),  # meant for another process
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "{ppid}"}, False, None),
    # a PyInstaller one-file binary: systemd watches the bootloader, whose child we are
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "{ppid}"}, True, 15.0),
    ({"WATCHDOG_USEC": "0"}, False, None),
    ({"WATCHDOG_USEC": "soon"}, False, None),
])
def test_watchdog_interval(monkeypatch, environ, frozen, interval_s):
    monkeypatch.setattr(sys, "frozen", frozen, raising=False)
    environ = {k: v.format(pid=os.getpid(), ppid=os.getppid()) for k, v in environ.items()}
    assert watchdog_interval_s(environ) == interval_s


class Arrivals:
    """Datagrams and the moment each arrived, read by a thread: the event loop under test may be blocked."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.items: list[tuple[float, bytes]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:  # closed, or nothing for the socket's timeout
                return
            self.items.append((time.monotonic(), data))


async def test_pings_come_from_the_event_loop_so_a_blocked_loop_sends_none(tmp_path):
    path = str(tmp_path / "notify.sock")
    with bound_socket(path) as sock:
        arrivals = Arrivals(sock)
        notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})  # a ping every 0.1 s
        task = asyncio.create_task(keep_telling(notifier, lambda: "fine"))
        await asyncio.sleep(0.35)
        blocked_at = time.monotonic()
        time.sleep(1.0)  # the loop is stuck, as a blocking call on it would leave it
        unblocked_at = time.monotonic()
        await asyncio.sleep(0.35)
        task.cancel()
        pings = [at for at, data in list(arrivals.items) if b"WATCHDOG=1" in data]
    assert not [at for at in pings if blocked_at + 0.05 < at < unblocked_at - 0.05]
    assert len([at for at in pings if at < blocked_at]) >= 2
    assert len([at for at in pings if at > unblocked_at]) >= 2  # and they resume
    assert arrivals.items[0][1] == b"WATCHDOG=1\nSTATUS=fine"  # the status only when it changes
    assert all(data == b"WATCHDOG=1" for _, data in arrivals.items[1:])


async def test_without_a_watchdog_only_the_status_is_refreshed(tmp_path, monkeypatch):
    monkeypatch.setattr(systemd_notify, "STATUS_INTERVAL_S", 0.05)
    path = str(tmp_path / "notify.sock")
    statuses = iter(["0 chargers", "0 chargers", "1 charger", "1 charger"] + ["1 charger"] * 100)
    with bound_socket(path) as sock:
        task = asyncio.create_task(keep_telling(Notifier({"NOTIFY_SOCKET": path}), lambda: next(statuses)))
        first = await asyncio.to_thread(sock.recv, 4096)
        second = await asyncio.to_thread(sock.recv, 4096)
        task.cancel()
    assert (first, second) == (b"STATUS=0 chargers", b"STATUS=1 charger")


# -- (3) a real server process under a stand-in for systemd --------------------------------------------

class NotifySocket:
    """What systemd listens on: the test binds it and reads the server's messages as `{KEY: value}`."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)

    async def next(self, timeout: float = STARTUP_TIMEOUT_S) -> tuple[float, dict[str, str]]:
        loop = asyncio.get_running_loop()
        data = await asyncio.wait_for(loop.sock_recv(self.sock, 4096), timeout)
        return loop.time(), dict(line.split("=", 1) for line in data.decode().splitlines())

    async def until(self, key: str, value: str | None = None, timeout: float = STARTUP_TIMEOUT_S) -> list[dict]:
        """Messages up to and including the first that sets `key` (to `value`, when given)."""
        seen = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            _, message = await self.next(max(0.01, deadline - asyncio.get_running_loop().time()))
            seen.append(message)
            if key in message and (value is None or message[key] == value):
                return seen


def start_server(data_dir: Path, notify_socket: str, log_path: Path, watchdog_usec: int) -> subprocess.Popen:
    """`python -m appliance serve` as systemd would start it: NOTIFY_SOCKET, WATCHDOG_USEC, and
    WATCHDOG_PID set to the server's own pid (sh sets it to its $$, then exec keeps that pid)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("APPLIANCE_", "NOTIFY_SOCKET", "WATCHDOG_"))}
    env.update(APPLIANCE_LOCAL_LIST_SYNC="false", NOTIFY_SOCKET=notify_socket, WATCHDOG_USEC=str(watchdog_usec))
    data_dir.mkdir(parents=True)
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            ["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', sys.executable, "-m", "appliance",
             "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1", "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)


@pytest.fixture
def served(tmp_path):
    """A server started under the stand-in; killed at the end if the test left it running."""
    notify = NotifySocket(tmp_path / "notify.sock")
    log_path = tmp_path / "server.log"
    proc = start_server(tmp_path / "data", notify.path, log_path, watchdog_usec=1_000_000)
    yield proc, notify, tmp_path / "data", log_path
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    notify.sock.close()


async def healthz(url: str) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/healthz", timeout=aiohttp.ClientTimeout(total=5)) as response:
            assert response.status == 200
            return await response.json()


async def test_server_tells_systemd_it_is_ready_alive_how_it_is_and_stopping(served):
    proc, notify, data_dir, log_path = served
    before = await notify.until("READY")
    # READY=1 only once the port answers and server.json names this very process
    state = json.loads((data_dir / "server.json").read_text())
    assert state["pid"] == proc.pid
    assert (await healthz(state["url"]))["status"] == "ok"
    port = state["url"].rsplit(":", 1)[1]
    assert before[-1] == {"READY": "1", "STATUS": f"listening on 127.0.0.1:{port}, 0 chargers connected"}
    assert [m.get("STATUS") for m in before[:-1]] == ["starting: opening the database"]

    pings = []
    while len(pings) < 6:  # WATCHDOG_USEC is 1 s: a ping every half second, from the event loop
        at, message = await notify.next(timeout=5)
        if message.get("WATCHDOG") == "1":
            pings.append(at)
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert 0.3 < statistics.median(gaps) < 0.9, gaps

    async with connect16(state["url"], "SD-1"):
        await notify.until("STATUS", f"listening on 127.0.0.1:{port}, 1 charger connected", timeout=10)
    await notify.until("STATUS", f"listening on 127.0.0.1:{port}, 0 chargers connected", timeout=10)

    proc.send_signal(signal.SIGTERM)
    stopping = await notify.until("STOPPING", timeout=15)
    assert stopping[-1] == {"STOPPING": "1", "STATUS": "stopping"}
    assert await asyncio.to_thread(proc.wait, 30) == 0
    log = log_path.read_text()
    assert "Traceback" not in log, log
    assert not (data_dir / "server.json").exists()


async def test_a_server_killed_by_the_watchdog_leaves_its_stacks_in_the_log(served):
    proc, notify, _, log_path = served
    await notify.until("READY")
    proc.send_signal(signal.SIGABRT)  # what systemd sends when the pings stop (WatchdogSignal)
    returned = await asyncio.to_thread(proc.wait, 30)
    log = log_path.read_text()
    assert returned == -signal.SIGABRT, log
    assert "Fatal Python error: Aborted" in log and 'File "' in log, log


# -- (4) appliance service install -------------------------------------------------------------------------

def fake_binary(path: Path, text: str) -> Path:
    path.write_text(f"#!/bin/sh\necho {text}\n")
    path.chmod(0o755)
    return path


def install(*args: str):
    return CliRunner().invoke(cli, ["service", "install", *args])


def test_install_with_root_places_binary_unit_and_rule_and_prints_the_commands(tmp_path):
    root = tmp_path / "root"
    result = install("--binary", str(fake_binary(tmp_path / "appliance", "v1")), "--root", str(root))
    assert result.exit_code == 0, result.output
    placed = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
    assert sorted(placed) == ["etc/systemd/system/appliance.service",
                              "etc/udev/rules.d/70-appliance-rfid-readers.rules", "usr/local/bin/appliance"]
    assert placed["usr/local/bin/appliance"].read_text() == "#!/bin/sh\necho v1\n"
    assert placed["etc/systemd/system/appliance.service"].read_bytes() == UNIT.read_bytes()
    assert placed["etc/udev/rules.d/70-appliance-rfid-readers.rules"].read_bytes() == RULE.read_bytes()
    assert {k: oct(p.stat().st_mode & 0o777) for k, p in placed.items()} == {
        "etc/systemd/system/appliance.service": "0o644",
        "etc/udev/rules.d/70-appliance-rfid-readers.rules": "0o644",
        "usr/local/bin/appliance": "0o755"}
    commands = [line.strip() for line in result.output.split("to finish, run as root on the box:\n")[1]
                .splitlines() if line.startswith("  ")]
    assert commands[0].startswith("getent passwd appliance >/dev/null || useradd --system --home-dir "
                                  "/var/lib/appliance --no-create-home --shell ")
    assert commands[0].endswith(" --user-group appliance")
    assert commands[1:] == ["systemctl daemon-reload", "udevadm control --reload",
                            "udevadm trigger --subsystem-match=tty --subsystem-match=input",
                            "systemctl enable appliance", "systemctl restart appliance"]
    assert "sudo -u appliance APPLIANCE_DATA_DIR=/var/lib/appliance appliance admin add NAME --role admin" \
        in result.output
    assert "journalctl -u appliance" in result.output


def test_installing_again_replaces_the_binary_and_leaves_nothing_behind(tmp_path):
    root = tmp_path / "root"
    assert install("--binary", str(fake_binary(tmp_path / "old", "v1")), "--root", str(root)).exit_code == 0
    installed = root / "usr/local/bin/appliance"
    running = installed.open("rb")  # a running binary: the upgrade must not write into it
    again = install("--binary", str(fake_binary(tmp_path / "new", "v2")), "--root", str(root))
    assert again.exit_code == 0, again.output
    assert installed.read_text() == "#!/bin/sh\necho v2\n"
    assert running.read() == b"#!/bin/sh\necho v1\n"  # the old inode, untouched
    running.close()
    assert "systemctl restart appliance" in again.output
    assert not [p for p in root.rglob(".*")]  # no temporary files left


def test_install_without_a_binary_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = install("--root", str(tmp_path / "root"))
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: no appliance binary at dist/appliance: build it with packaging/build, "
                                     "or give --binary PATH")


def test_a_real_install_is_refused_without_root(tmp_path):
    binary = fake_binary(tmp_path / "appliance", "v1")
    command = [sys.executable, "-m", "appliance", "service", "install", "--binary", str(binary)]
    if os.geteuid() == 0:  # run it as nobody: the real thing, not a mocked euid
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and no setpriv to drop privileges")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip() == ("Error: installing the service needs root: run it with sudo (or give --root DIR "
                                     "to only place the files)")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_installing_the_installed_binary_over_itself_only_restarts(tmp_path):
    root = tmp_path / "root"
    assert install("--binary", str(fake_binary(tmp_path / "appliance", "v1")), "--root", str(root)).exit_code == 0
    installed = root / "usr/local/bin/appliance"
    again = install("--binary", str(installed), "--root", str(root))
    assert again.exit_code == 0, again.output
    assert f"{installed}: already in place" in again.output
    assert installed.read_text() == "#!/bin/sh\necho v1\n"


def test_a_failing_step_of_a_real_install_is_one_line_naming_the_command():
    with pytest.raises(click.ClickException) as failed:
        _run_all([["sh", "-c", "echo first >&2; echo Unit appliance.service failed >&2; exit 3"]])
    assert failed.value.message == ("sh -c 'echo first >&2; echo Unit appliance.service failed >&2; exit 3' failed "
                                    "(exit 3): Unit appliance.service failed")


def test_under_the_journal_each_log_line_carries_its_priority():
    import logging

    from appliance.cli.server import JournalFormatter

    formatter = JournalFormatter()
    warning = logging.LogRecord("appliance.x", logging.WARNING, __file__, 1, "disk %s full", ("nearly",), None)
    assert formatter.format(warning) == "<4>WARNING appliance.x: disk nearly full"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        error = logging.LogRecord("appliance.x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    lines = formatter.format(error).splitlines()
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines)
