"""The single binary (packaging/build) built and run as a technician runs it.

What a PyInstaller binary lacks shows only at run time (../shared/FACTS.md, "One binary"), so each
test goes through one thing that has to be collected: templates and static files (the web UI),
the OCPP JSON schemas (a 1.6 charger's session), spyne/zeep/lxml and the WSDLs (a SOAP charger
booting from the served WSDL), pyserial's URL handlers (`reader test loop://`), argon2's cffi
binding (`admin add`, then a login), fpdf2 and the font (`statement --pdf`), time zone data with no
system zoneinfo, APScheduler's entry points (every start schedules the head-office sync), the
systemd unit (`service install`), and a clean stop on SIGTERM.

The tests marked `binary` are skipped unless APPLIANCE_BINARY_TESTS is set; with "required"
(.ci/run) a failed build fails them, with any other value it skips them. The binary is built once
per session (1-2 minutes; log in test-artifacts/binary-build.log) into a temporary folder, or taken
from APPLIANCE_BINARY when that names one already built.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from appliance import __version__
from appliance.cli import cli
from tests import backend
from tests.virtual_charger import connect16
from tests.virtual_soap_client import VirtualSoapCharger

MODE = os.environ.get("APPLIANCE_BINARY_TESTS", "")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
BUILD_TIMEOUT_S = 1200
START_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0


def test_version_from_source_says_so():
    shown = CliRunner().invoke(cli, ["--version"])
    assert (shown.exit_code, shown.output) == (0, f"appliance {__version__} (build: source)\n")


@pytest.fixture(scope="session")
def binary(tmp_path_factory) -> Path:
    if backend.ON_POSTGRES:  # the PostgreSQL pass would build the very same binary again
        pytest.skip("SQLite only: the single binary runs on its SQLite file (psycopg is not in it); the SQLite "
                    "pass builds and drives it")
    if not MODE:
        pytest.skip("set APPLIANCE_BINARY_TESTS=1 to build and test the single binary")
    given = os.environ.get("APPLIANCE_BINARY")
    if given:
        path = Path(given).resolve()
        assert path.is_file() and os.access(path, os.X_OK), f"APPLIANCE_BINARY={given} is no executable file"
        return path
    dist = tmp_path_factory.mktemp("dist")
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "binary-build.log"
    # The interpreter of this test run, not a venv's: the binary embeds the Python the tests ran on.
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON") or sys._base_executable}
    started = time.monotonic()
    with open(log, "wb") as out:
        try:
            built = subprocess.run([str(ROOT / "packaging" / "build"), "--dist", str(dist)], stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, env=env, timeout=BUILD_TIMEOUT_S)
            code = built.returncode
        except subprocess.TimeoutExpired:
            code = f"timeout after {BUILD_TIMEOUT_S} s"
    took = time.monotonic() - started
    with open(log, "a") as out:
        out.write(f"\n[test_binary] packaging/build: exit {code} after {took:.0f} s\n")
    if code != 0:
        message = f"packaging/build failed ({code}); its log, {log}, ends:\n" + log.read_text(errors="replace")[-3000:]
        if MODE == "required":
            pytest.fail(message)
        pytest.skip(message)
    return dist / "appliance"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env["APPLIANCE_LOCAL_LIST_SYNC"] = "false"  # as in tests/test_cli_live.py: only the local-list tests sync
    env.update(extra)
    return env


def run(binary: Path, *args: str, data_dir: Path | None = None, stdin: str = "", env: dict[str, str] | None = None,
        ok: bool = True) -> subprocess.CompletedProcess:
    argv = [str(binary), *(["--data-dir", str(data_dir)] if data_dir else []), *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
                          env=env or clean_env())
    if ok:
        assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


async def arun(binary: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    """`run` in a worker thread, so that a virtual charger on this loop can answer meanwhile."""
    return await asyncio.to_thread(run, binary, *args, **kw)


class BinaryServer:
    """`appliance --data-dir D serve` from the binary, on a port the OS picks.

    Ready once server.json (written after the port listens) exists and /healthz answers. The pid in
    it is the server's, a child of the one-file binary's unpacking process, so unlike
    tests/test_cli_live.py's ServerProcess this takes any server.json in its fresh data directory.
    """

    def __init__(self, binary: Path, data_dir: Path, **env: str) -> None:
        self.binary, self.data_dir = binary, data_dir
        self.env = clean_env(APPLIANCE_UNKNOWN_CHARGERS="accept", **env)
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.started_in_s = 0.0

    @property
    def state_path(self) -> Path:
        return self.data_dir / "server.json"

    def start(self) -> BinaryServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.state_path.unlink(missing_ok=True)
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(self.binary), "--data-dir", str(self.data_dir), "serve", "--host",
                                          "127.0.0.1", "--port", "0"], stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=self.env)
        while not self._healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"the binary's server exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() - started > START_TIMEOUT_S:
                self.kill()
                raise AssertionError(f"the binary's server not up within {START_TIMEOUT_S} s:\n{self.log()}")
            time.sleep(0.02)
        self.started_in_s = time.monotonic() - started
        return self

    def _healthy(self) -> bool:
        try:
            url = json.loads(self.state_path.read_text())["url"]
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                ok = response.status == 200 and json.loads(response.read())["status"] == "ok"
        except (OSError, ValueError, KeyError):
            return False
        self.url = url
        return ok

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM; (exit code, seconds to exit). Kills after `timeout`, which then fails."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the binary's server ignored SIGTERM for {timeout} s:\n{self.log()}") from None
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def server(binary, tmp_path_factory):
    """One server from the binary for the tests below, on a depot whose fleet the binary's CLI added."""
    data_dir = tmp_path_factory.mktemp("binary") / "data"
    run(binary, "company", "add", "Blue Taxi", data_dir=data_dir)
    run(binary, "user", "add", "alice", "--company", "Blue Taxi", data_dir=data_dir)
    run(binary, "tag", "add", "CARD1", "--user", "alice", data_dir=data_dir)
    srv = BinaryServer(binary, data_dir).start()
    yield srv
    if srv.proc.poll() is None:
        code, _ = srv.terminate()
        assert code == 0, srv.log()
    assert "Traceback" not in srv.log(), srv.log()


@pytest.mark.binary
def test_version_names_the_version_and_the_build(binary):
    shown = run(binary, "--version").stdout.strip()
    match = re.fullmatch(r"appliance (\S+) \(build (\w+) (\d{4}-\d\d-\d\d)\)", shown)
    assert match, shown
    assert match[1] == __version__
    assert match[2] == "unknown" or re.fullmatch(r"[0-9a-f]{7,}", match[2]), shown


@pytest.mark.binary
def test_serve_answers_healthz(server):
    with urllib.request.urlopen(server.url + "/healthz", timeout=5) as response:
        assert (response.status, json.loads(response.read())["status"]) == (200, "ok")


@pytest.mark.binary
async def test_the_web_ui_login_page_and_its_stylesheet_are_served(server):
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/login") as response:
            assert response.status == 200
            page = await response.text()
        assert '<form method="post" action="/login">' in page
        stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page)[1]
        async with session.get(server.url + stylesheet) as response:
            assert response.status == 200
            assert response.content_type == "text/css"
            served = await response.text()
    assert "{" in served
    if not os.environ.get("APPLIANCE_BINARY"):  # built from this tree: the very file
        assert served == (ROOT / "appliance" / "web" / "static" / "app.css").read_text()


@pytest.mark.binary
async def test_a_16_json_charger_charges_and_the_month_statement_pdf_shows_it(server, binary):
    month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    async with connect16(server.url, "CP-BIN-16") as cp:
        assert (await cp.boot()).status == "Accepted"  # unknown chargers: accept (BinaryServer)
        await cp.status_notification(1, "Available")
        started = await cp.start_transaction("CARD1", meter_start=1000)
        assert started.id_tag_info["status"] == "Accepted"
        await cp.meter_values(started.transaction_id, 5000)
        await cp.meter_values(started.transaction_id, 9000)
        stopped = await cp.stop_transaction(started.transaction_id, 12000, id_tag="CARD1", reason="Local")
        assert stopped.id_tag_info["status"] == "Accepted"
    session = (await arun(binary, "session", "show", str(started.transaction_id), "--json",
                          data_dir=server.data_dir)).stdout
    shown = json.loads(session)
    assert shown["session"]["energy_wh"] == 11000
    assert len(shown["samples"]) >= 2
    pdf = server.data_dir.parent / "statement.pdf"
    await arun(binary, "statement", "--month", month, "--pdf", str(pdf), data_dir=server.data_dir)
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF-")
    assert b"DejaVu" in content  # the shipped font, embedded


@pytest.mark.binary
async def test_a_soap_16_charger_boots_from_the_served_wsdl(server):
    async with aiohttp.ClientSession() as session, session.get(server.url + "/ocpp/soap/1.6?wsdl") as response:
        assert response.status == 200
        wsdl = await response.text()
    assert "CentralSystemService" in wsdl and "chargeBoxIdentity" in wsdl
    # The port 9 (discard) callback: nothing there, so whatever the appliance sends back fails at once.
    cp = await VirtualSoapCharger.connect(server.url, "CP-BIN-SOAP", "1.6", from_url="http://127.0.0.1:9/ocpp/cp")
    assert (await cp.boot()).status == "Accepted"


@pytest.mark.binary
async def test_admin_add_takes_the_password_from_stdin_and_it_logs_in(server, binary):
    added = await arun(binary, "admin", "add", "tech", "--role", "admin", stdin="a-long-password-1\n",
                       data_dir=server.data_dir)
    assert "tech" in added.stdout
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(server.url + "/login") as response:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())[1]
        form = {"csrf_token": csrf, "next": "", "name": "tech", "password": "a-long-password-1"}
        async with session.post(server.url + "/login", data=form, allow_redirects=False) as response:
            assert response.status == 303, await response.text()


@pytest.mark.binary
def test_reader_test_opens_a_pyserial_url(binary, tmp_path):
    done = run(binary, "reader", "test", "loop://", "--family", "rdm6300", "--timeout", "0.5",
               data_dir=tmp_path / "data")
    assert "reader connected: loop://" in done.stderr


@pytest.mark.binary
def test_time_zones_come_with_the_binary(binary, tmp_path):
    # An empty PYTHONTZPATH hides the system's zoneinfo, as on a box without it.
    env = clean_env(PYTHONTZPATH="", APPLIANCE_TIMEZONE="America/Argentina/Buenos_Aires")
    shown = run(binary, "settings", data_dir=tmp_path / "data", env=env).stdout
    assert "America/Argentina/Buenos_Aires" in shown


@pytest.mark.binary
def test_service_install_places_the_binary_and_the_unit_it_carries(binary, tmp_path):
    root = tmp_path / "root"
    run(binary, "service", "install", "--root", str(root))
    assert (root / "usr/local/bin/appliance").read_bytes() == binary.read_bytes()
    for placed, source in [("etc/systemd/system/appliance.service", "appliance.service"),
                           ("etc/udev/rules.d/70-appliance-rfid-readers.rules", "70-appliance-rfid-readers.rules")]:
        assert (root / placed).is_file(), placed
        if not os.environ.get("APPLIANCE_BINARY"):  # built from this tree: the very file
            assert (root / placed).read_text() == (ROOT / "systemd" / source).read_text()


@pytest.mark.binary
async def test_sigterm_stops_it_cleanly_with_a_charger_connected(binary, tmp_path):
    srv = await asyncio.to_thread(BinaryServer(binary, tmp_path / "data").start)
    try:
        async with connect16(srv.url, "CP-BIN-STOP"):
            code, took = await asyncio.to_thread(srv.terminate)
    finally:
        srv.kill()
    assert code == 0, srv.log()
    assert took < 5, f"{took:.1f} s to stop"
    assert not srv.state_path.exists()
    assert "Traceback" not in srv.log(), srv.log()
