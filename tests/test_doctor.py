"""`appliance doctor` against real things: data directories fresh, healthy (a real server process with a
virtual charger), damaged; a port held by another socket; a head office on loopback that answers and
one that refuses; TLS certificates good and expired; reader devices missing and unusable; chargers
never heard from; and the exit status and JSON a script relies on."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import hashlib
import http.server
import json
import os
import socket
import tempfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance import diagnostics, tls
from appliance.cli import cli
from appliance.diagnostics import Verdict
from appliance.store import models
from appliance.store.database import open_database
from appliance.store.migrations import LATEST_VERSION
from tests import backend
from tests.conftest import make_settings
from tests.test_cli_live import ServerProcess, cli_run, must
from tests.virtual_charger import connect16

CHECK_NAMES = ["database", "disk", "time-sync", "clock", "ports", "readers", "certificates", "head-office", "outbox",
               "chargers", "notifications"]


@pytest.fixture
def port(unused_tcp_port) -> int:
    return unused_tcp_port


def doctor(data_dir: Path, port: int, *args: str, **env: str) -> tuple[int, dict[str, dict]]:
    """Run `appliance doctor --json` as a technician would (settings from the environment); returns the exit
    status and the checks by name, after checking the shape of the report and the exit-status rule."""
    ambient = {k: None for k in os.environ if backend.is_ambient_setting(k)}
    settings_env = {f"APPLIANCE_{k.upper()}": v for k, v in {"host": "127.0.0.1", "port": str(port), **env}.items()}
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "doctor", "--json", "--timeout", "3", *args],
                                env={**ambient, **settings_env})
    assert isinstance(result.exception, (SystemExit, type(None))), repr(result.exception)
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert list(checks) == CHECK_NAMES
    for check in report["checks"]:
        assert set(check) == {"name", "status", "summary", "action"}
        assert check["status"] in ("ok", "warning", "fail", "skipped")
        assert "\n" not in check["summary"] and "Traceback" not in check["summary"]
    statuses = {c["status"] for c in report["checks"]}
    assert report["status"] == ("fail" if "fail" in statuses else "warning" if "warning" in statuses else "ok")
    assert result.exit_code == (1 if report["status"] == "fail" else 0)
    return result.exit_code, checks


def depot(data_dir: Path, *chargers: str) -> Path:
    """A data directory with a database (made by the CLI, as a technician would) and these chargers."""
    must(cli_run(data_dir, "company", "add", "Blue Taxi"))
    for identity in chargers:
        must(cli_run(data_dir, "charger", "add", identity, "--protocol", "ocpp1.6-json"))
    return data_dir


def sql(data_dir: Path, statement: str, *args) -> list[tuple]:
    return backend.query(backend.location(data_dir / "appliance.sqlite3"), statement, args)


# -- the database -----------------------------------------------------------------------------------

@backend.sqlite_only("no SQLite file yet (PostgreSQL: test_postgres checks an unreachable server and a sound one)")
def test_a_fresh_data_directory_is_reported_and_left_as_it_was(tmp_path, port):
    data_dir = tmp_path / "data"
    code, checks = doctor(data_dir, port)
    assert checks["database"]["status"] == "warning"
    assert checks["database"]["summary"] == f"no database at {data_dir / 'appliance.sqlite3'}"
    assert "first start" in checks["database"]["action"]
    for name in ("clock", "head-office", "outbox", "chargers", "notifications"):
        assert checks[name] == {"name": name, "status": "skipped", "summary": "no database (see the database check)",
                                "action": ""}
    assert checks["ports"]["status"] == "ok" and "free" in checks["ports"]["summary"]
    assert not data_dir.exists()  # read-only: nothing created
    assert code == 0 or checks["disk"]["status"] == "fail"  # warnings alone do not fail


@backend.sqlite_only("integrity_check and WAL of the SQLite file, and its bytes unchanged")
def test_a_sound_database_is_only_read(tmp_path, port):
    data_dir = depot(tmp_path / "data")
    database = data_dir / "appliance.sqlite3"
    before = hashlib.sha256(database.read_bytes()).hexdigest()
    _, checks = doctor(data_dir, port, "--full")
    assert checks["database"]["status"] == "ok"
    assert checks["database"]["summary"].startswith(f"sound (integrity_check); schema {LATEST_VERSION}; WAL; ")
    assert hashlib.sha256(database.read_bytes()).hexdigest() == before


@backend.sqlite_only("a file that is not a SQLite database")
def test_garbage_instead_of_a_database_fails_with_what_to_do(tmp_path, port):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "appliance.sqlite3").write_bytes(os.urandom(64 * 1024))
    code, checks = doctor(data_dir, port)
    assert code == 1
    assert checks["database"]["status"] == "fail"
    assert "cannot be read as a database: file is not a database" in checks["database"]["summary"]
    assert "appliance restore" in checks["database"]["action"]
    assert checks["chargers"]["status"] == "skipped"
    assert checks["chargers"]["summary"] == "the database cannot be read (see the database check)"


@backend.sqlite_only("a damaged page of the SQLite file")
def test_a_damaged_page_fails_and_nothing_is_read_from_it(tmp_path, port):
    data_dir = depot(tmp_path / "data", *[f"DMG{i}" for i in range(5)])
    database = data_dir / "appliance.sqlite3"
    [(page,)] = sql(data_dir, "SELECT rootpage FROM sqlite_master WHERE name = 'charger'")
    [(page_size,)] = sql(data_dir, "PRAGMA page_size")
    sql(data_dir, "PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself, none in the WAL
    data = bytearray(database.read_bytes())
    start = (page - 1) * page_size + 8  # past the page header: its cells now point nowhere
    data[start:page * page_size] = b"\xff" * (page * page_size - start)
    database.write_bytes(bytes(data))
    code, checks = doctor(data_dir, port)
    assert code == 1
    assert checks["database"]["status"] == "fail" and "damaged" in checks["database"]["summary"]
    assert checks["chargers"]["summary"] == "the database is damaged (see the database check)"


@pytest.mark.parametrize("version, status, words", [
    # PostgreSQL's is not copied: the action asks for a pg_dump first
    (LATEST_VERSION - 1, "warning", "the next start migrates it" if backend.ON_POSTGRES
     else "the next start copies it to {backups} and migrates it"),
    (LATEST_VERSION + 1, "fail", f"newer than this appliance knows ({LATEST_VERSION})"),
])
def test_a_schema_of_another_version_says_what_happens_next(tmp_path, port, version, status, words):
    data_dir = depot(tmp_path / "data")
    sql(data_dir, "UPDATE schema_version SET version = ?", version)
    _, checks = doctor(data_dir, port)
    assert checks["database"]["status"] == status
    summary = checks["database"]["summary"]
    assert f"schema version {version}" in summary and words.format(backups=data_dir / "backups") in summary
    assert checks["database"]["action"]


Usage = collections.namedtuple("Usage", "total used free")


@pytest.mark.parametrize("free, total, status, found", [
    (150_000_000, 16_000_000_000, "fail", "150.0 MB free of 16.0 GB (0.9%)"),  # under 200 MB
    (1_500_000_000, 100_000_000_000, "fail", "1.5 GB free of 100.0 GB (1.5%)"),  # under 2 %
    (800_000_000, 6_000_000_000, "warning", "800.0 MB free of 6.0 GB (13%)"),  # under 1 GB
    (5_000_000_000, 64_000_000_000, "warning", "5.0 GB free of 64.0 GB (7.8%)"),  # under 10 %
    (5_000_000_000, 16_000_000_000, "ok", "5.0 GB free of 16.0 GB (31%)"),
])
def test_free_disk_space_thresholds_and_what_takes_the_space(tmp_path, port, monkeypatch, free, total, status, found):
    data_dir = depot(tmp_path / "data")
    (data_dir / "backups").mkdir()
    (data_dir / "backups" / "old.sqlite3").write_bytes(b"x" * 300_000)
    monkeypatch.setattr("appliance.diagnostics.disk.shutil.disk_usage", lambda path: Usage(total, total - free, free))
    _, checks = doctor(data_dir, port)
    disk = checks["disk"]
    assert disk["status"] == status
    assert disk["summary"].startswith(f"{found} at {data_dir}")
    if status != "ok":
        assert disk["summary"].endswith("backups 300.0 KB")
        assert ("; database " in disk["summary"]) is not backend.ON_POSTGRES  # PostgreSQL's is on its server
        assert f"delete old backups in {data_dir / 'backups'}" in disk["action"] and "commlog_max_mb" in disk["action"]


# -- a healthy depot with its server running -----------------------------------------------------------

async def test_a_running_server_and_its_charger_are_healthy(tmp_path, port):
    data_dir = await asyncio.to_thread(depot, tmp_path / "data", "HEALTHY1")
    srv = ServerProcess(data_dir).start()
    try:
        async with connect16(srv.url, "HEALTHY1"):
            _, checks = await asyncio.to_thread(doctor, data_dir, port)
            other_code, elsewhere = await asyncio.to_thread(doctor, tmp_path / "other", int(srv.url.rsplit(":", 1)[1]))
    finally:
        assert srv.terminate() == 0
    assert checks["database"]["status"] == "ok"
    assert checks["ports"]["status"] == "ok"
    assert checks["ports"]["summary"].startswith(f"served by pid {srv.proc.pid} at {srv.url} ")
    assert "1 charger(s) connected" in checks["ports"]["summary"]
    assert checks["chargers"]["status"] == "ok"
    assert checks["clock"]["status"] == "ok" and "not behind the newest time stored" in checks["clock"]["summary"]
    for name in ("readers", "certificates", "head-office"):
        assert checks[name]["status"] in ("ok", "skipped")
    # another data directory configured for the same port learns who holds it
    assert other_code == 1 and elsewhere["ports"]["status"] == "fail"
    assert "in use by another appliance server" in elsewhere["ports"]["summary"]
    _, stopped = doctor(data_dir, port)
    assert stopped["ports"]["status"] == "ok" and "free: no server running" in stopped["ports"]["summary"]


def test_a_port_held_by_another_program_fails(tmp_path, port):
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        code, checks = doctor(tmp_path / "data", port)
    assert code == 1
    assert checks["ports"]["status"] == "fail"
    assert checks["ports"]["summary"].startswith(f"port {port} is in use by another program (pid {os.getpid()} ")
    assert "another port" in checks["ports"]["action"]


def test_a_server_that_does_not_answer_fails_and_a_stale_server_file_does_not(tmp_path, port,
                                                                             unused_tcp_port_factory):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with socket.socket() as hung:  # listens, never answers: a server whose event loop is stuck
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        (data_dir / "server.json").write_text(json.dumps({"url": url, "pid": os.getpid(), "token": "x"}))
        code, checks = doctor(data_dir, port, "--timeout", "1")
    assert code == 1
    assert checks["ports"]["summary"] == \
        f"the server (pid {os.getpid()}) runs but {url}/healthz does not answer: no answer within the timeout"
    assert "journalctl" in checks["ports"]["action"]
    # the same file naming a port nobody holds: left by a killed server whose pid is now another program's
    free = unused_tcp_port_factory()
    (data_dir / "server.json").write_text(json.dumps({"url": f"http://127.0.0.1:{free}", "pid": os.getpid()}))
    _, checks = doctor(data_dir, port)
    assert checks["ports"]["status"] == "ok"
    assert checks["ports"]["summary"].endswith("is free: no server running (server.json names a server that is gone)")


def test_a_charger_never_heard_from_is_a_warning(tmp_path, port):
    data_dir = depot(tmp_path / "data", "SILENT1")
    sql(data_dir, "UPDATE charger SET last_contact_at = ? WHERE identity = 'SILENT1'",
        str(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(hours=3)))
    must(cli_run(data_dir, "charger", "add", "NEVER1", "--protocol", "ocpp1.6-json"))
    _, checks = doctor(data_dir, port)
    assert checks["chargers"]["status"] == "warning"
    assert checks["chargers"]["summary"] == "2 not heard from: NEVER1 (never connected), SILENT1 (last heard 3 h ago)"
    assert "OCPP URL" in checks["chargers"]["action"]


def test_a_clock_behind_the_stored_times_fails(tmp_path, port):
    data_dir = depot(tmp_path / "data")
    ahead = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=2)
    sql(data_dir, "INSERT INTO comm_log (charger_identity, direction, logged_at, message) VALUES ('X', 'in', ?, '[]')",
        str(ahead))
    code, checks = doctor(data_dir, port)
    assert code == 1
    assert checks["clock"]["status"] == "fail"
    assert "behind the newest time stored" in checks["clock"]["summary"]
    assert "timedatectl" in checks["clock"]["action"]


# -- head office ------------------------------------------------------------------------------------

class _HeadOffice(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_head_office_that_answers_is_reachable_and_one_that_refuses_is_not(tmp_path, port, unused_tcp_port_factory):
    data_dir = depot(tmp_path / "data")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HeadOffice)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        must(cli_run(data_dir, "sync", "set", "--url", f"http://127.0.0.1:{server.server_port}/api", "--token", "T"))
        _, checks = doctor(data_dir, port)
    finally:
        server.shutdown()
        server.server_close()
    assert checks["head-office"]["status"] == "ok"
    assert checks["head-office"]["summary"].startswith(f"http://127.0.0.1:{server.server_port}/api answered HTTP 404 ")
    assert checks["outbox"] == {"name": "outbox", "status": "ok", "action": "",
                                "summary": "every charge detail record is at head office"}
    closed = unused_tcp_port_factory()
    must(cli_run(data_dir, "sync", "set", "--url", f"http://127.0.0.1:{closed}/api"))
    code, checks = doctor(data_dir, port)
    assert code == 1
    assert checks["head-office"]["status"] == "fail"
    assert checks["head-office"]["summary"] == \
        f"http://127.0.0.1:{closed}/api: 127.0.0.1:{closed} refused the connection"
    assert "down" in checks["head-office"]["action"]


def add_unsent_cdr(data_dir: Path, charger: str, written_at: dt.datetime) -> None:
    """A charge detail record as the billing writes one, not yet sent (models bound for the moment)."""
    db = open_database(backend.location(data_dir / "appliance.sqlite3"))
    with db.connection_context():
        tx = models.Transaction.create(charger=models.Charger.get(identity=charger), connector_number=1, id_tag="T1",
                                       auth_status="Accepted", started_at=written_at, meter_start_wh=0,
                                       created_at=written_at)
        models.ChargeDetailRecord.create(cdr_id="DE-DEP-1", transaction=tx, document="{}", currency="EUR",
                                         total_incl_vat="1.19", total_excl_vat="1.00", created_at=written_at)
    db.close()


def test_a_sync_that_fails_and_records_waiting_for_days_are_warnings(tmp_path, port):
    data_dir = depot(tmp_path / "data", "BILL1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HeadOffice)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    try:
        must(cli_run(data_dir, "sync", "set", "--url", f"http://127.0.0.1:{server.server_port}", "--token", "OLD"))
        sql(data_dir, "UPDATE head_office SET failures = 4, last_error = 'head office answered HTTP 401 for CDRs', "
                      "last_error_at = ?", str(now - dt.timedelta(minutes=3)))
        add_unsent_cdr(data_dir, "BILL1", now - dt.timedelta(days=2, hours=1))
        _, checks = doctor(data_dir, port)
    finally:
        server.shutdown()
        server.server_close()
    assert checks["head-office"]["status"] == "warning"
    assert checks["head-office"]["summary"].endswith(
        "but the last sync failed 3 min ago: head office answered HTTP 401 for CDRs")
    assert "token" in checks["head-office"]["action"]
    assert checks["outbox"]["status"] == "warning"
    assert checks["outbox"]["summary"] == \
        "1 charge detail record(s) not yet at head office, the oldest written 2 d 1 h ago"
    assert "appliance sync now" in checks["outbox"]["action"]


def test_head_office_not_configured_is_skipped(tmp_path, port):
    _, checks = doctor(depot(tmp_path / "data"), port)
    assert checks["head-office"]["status"] == "skipped" and checks["head-office"]["summary"] == "not configured"
    assert checks["outbox"]["status"] == "skipped"


# -- certificates ---------------------------------------------------------------------------------

def make_certificate(directory: Path, not_before: dt.datetime, not_after: dt.datetime) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "depot.example")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_with_the_appliances_own_certificate_is_ok(tmp_path, port):
    data_dir = tmp_path / "data"
    info = tls.ensure_certificate(make_settings(data_dir, tls=True))
    _, checks = doctor(data_dir, port, tls="true")
    assert checks["certificates"]["status"] == "ok"
    assert f"valid until {info.not_after:%Y-%m-%d}" in checks["certificates"]["summary"]
    assert info.sha256_fingerprint[:23] in checks["certificates"]["summary"]
    _, off = doctor(data_dir, port)
    assert off["certificates"] == {"name": "certificates", "status": "skipped", "summary": "TLS is off", "action": ""}


@pytest.mark.parametrize("days_left, status, words", [
    (-1, "fail", "expired on"),
    (10, "warning", "expires in 9 days"),  # 9 full days and some hours
])
def test_a_certificate_expired_or_nearly_so(tmp_path, port, days_left, status, words):
    now = dt.datetime.now(dt.timezone.utc)
    cert_file, key_file = make_certificate(tmp_path / "pki", now - dt.timedelta(days=400),
                                           now + dt.timedelta(days=days_left, hours=-1))
    _, checks = doctor(tmp_path / "data", port, tls="true", tls_cert_file=str(cert_file), tls_key_file=str(key_file))
    assert checks["certificates"]["status"] == status
    assert words in checks["certificates"]["summary"]
    assert "new certificate" in checks["certificates"]["action"]


def test_a_key_that_does_not_belong_to_the_certificate_fails(tmp_path, port):
    now = dt.datetime.now(dt.timezone.utc)
    cert_file, _ = make_certificate(tmp_path / "one", now - dt.timedelta(days=1), now + dt.timedelta(days=300))
    _, other_key = make_certificate(tmp_path / "two", now - dt.timedelta(days=1), now + dt.timedelta(days=300))
    code, checks = doctor(tmp_path / "data", port, tls="true", tls_cert_file=str(cert_file),
                          tls_key_file=str(other_key))
    assert code == 1
    assert checks["certificates"]["summary"] == \
        f"the TLS key {other_key} does not belong to the certificate {cert_file}"


# -- readers ----------------------------------------------------------------------------------------

def test_readers_missing_present_and_serial_urls(tmp_path, port):
    leader, follower = os.openpty()
    try:
        device = os.ttyname(follower)
        _, checks = doctor(tmp_path / "data", port, rfid_readers=f"{device},/dev/rfid/no-such-reader=rdm6300,loop://")
    finally:
        os.close(leader)
        os.close(follower)
    readers = checks["readers"]
    assert readers["status"] == "warning"
    assert readers["summary"].startswith(f"{device} ok (serial device, usable by ")
    assert "/dev/rfid/no-such-reader is missing" in readers["summary"]
    assert "loop:// is a serial URL (pyserial), not a device file: not checked" in readers["summary"]
    assert "plug the reader in" in readers["action"]
    _, none = doctor(tmp_path / "data", port)
    assert none["readers"]["status"] == "ok" and none["readers"]["summary"] == "none configured"


@pytest.mark.skipif(os.geteuid() != 0, reason="judging another user's access needs root to set up")
def test_a_reader_the_services_user_cannot_open_fails(tmp_path, port):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.chown(data_dir, 65534, 65534)  # the service's user owns its data directory
    device = tmp_path / "ttyFAKE"
    device.write_bytes(b"")
    device.chmod(0o600)  # root's only
    code, checks = doctor(data_dir, port, rfid_readers=str(device))
    assert code == 1
    assert checks["readers"]["status"] == "fail"
    assert checks["readers"]["summary"].startswith(f"{device} is not readable and writable by ")
    assert "udev rule" in checks["readers"]["action"]


def checks_as(uid: int, settings) -> dict[str, dict]:
    """run_checks in a forked child that has become `uid` (a technician logged in as themselves)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.write(write_end, json.dumps([v.__dict__ for v in diagnostics.run_checks(settings, 2)]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        data = answer.read()
    os.waitpid(pid, 0)
    return {c["name"]: c for c in json.loads(data)}


@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another user needs root")
@backend.sqlite_only("the SQLite file's directory and its -shm")
def test_files_of_the_service_that_this_user_cannot_read_ask_for_the_services_user(tmp_path, port):
    checks = checks_as(65534, make_settings(tmp_path / "data", port=port))  # pytest's tmp_path is root's only
    assert checks["database"]["status"] == "warning"
    assert checks["database"]["summary"] == f"cannot check: {tmp_path / 'data'} is not open to this user"
    with tempfile.TemporaryDirectory() as open_to_all:
        Path(open_to_all).chmod(0o755)  # made 0700
        data_dir = depot(Path(open_to_all) / "data")
        settings = make_settings(data_dir, tls=True, port=port)
        tls.ensure_certificate(settings)  # its key is the owner's only (0600)
        checks = checks_as(65534, settings)
    assert checks["database"]["status"] == "warning"
    assert checks["database"]["summary"] == \
        f"cannot check: this user may not create appliance.sqlite3-shm in {data_dir}"
    assert checks["certificates"]["status"] == "warning"
    assert checks["certificates"]["summary"] == f"cannot check: {data_dir / 'tls' / 'key.pem'} is root's and not " \
                                                "readable by this user"
    for name in ("database", "certificates"):
        assert "sudo -u appliance" in checks[name]["action"]


# -- output and exit status -----------------------------------------------------------------------

def canned(*verdicts: Verdict):
    return [lambda context, v=v: v for v in verdicts]


@pytest.mark.parametrize("statuses, exit_code", [
    (["ok", "skipped"], 0),
    (["ok", "warning", "skipped"], 0),  # warnings alone: 0
    (["warning", "fail", "ok"], 1),
])
def test_the_exit_status_is_1_only_when_a_check_failed(tmp_path, monkeypatch, statuses, exit_code):
    verdicts = [Verdict(f"c{i}", s, "found", "do") for i, s in enumerate(statuses)]
    monkeypatch.setattr(diagnostics, "CHECKS", canned(*verdicts))
    assert cli_run(tmp_path / "data", "doctor").exit_code == exit_code


def test_lines_say_verdict_check_finding_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(diagnostics, "CHECKS", canned(Verdict("disk", "warning", "3.1 GB free", "delete backups"),
                                                      Verdict("certificates", "skipped", "TLS is off"),
                                                      Verdict("ports", "fail", "port 8180 is in use", "stop it")))
    result = cli_run(tmp_path / "data", "doctor")
    assert result.stdout.splitlines() == ["WARN  disk          3.1 GB free — delete backups",
                                          "SKIP  certificates  TLS is off",
                                          "FAIL  ports         port 8180 is in use — stop it"]


def test_a_check_that_crashes_is_a_failure_not_a_traceback(tmp_path, port, monkeypatch):
    def broken(path):
        raise RuntimeError("boom")

    monkeypatch.setattr("appliance.diagnostics.disk.shutil.disk_usage", broken)
    code, checks = doctor(tmp_path / "data", port)
    assert code == 1
    assert checks["disk"]["status"] == "fail"
    assert checks["disk"]["summary"] == "the check itself failed: RuntimeError: boom"
