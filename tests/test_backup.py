"""Backup and restore: a copy taken while a charger charges restores to an identical database
holding everything acknowledged before it; restore refuses what would do harm; an older backup is
migrated at the next start, after the automatic backup of it; automatic backups are pruned.

The server is a real process (`python -m appliance serve`), the backup a real CLI process beside
it, the charger a virtual 1.6 charger sending MeterValues without pause.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from appliance.config import load_settings
from appliance.core.services import open_core
from appliance.store import backup as copies
from appliance.store.migrations import LATEST_VERSION, SchemaTooNewError
from tests import backend
from tests.conftest import wait_for
from tests.test_cli_live import ServerProcess, cli_run
from tests.test_migrations import make_v1
from tests.virtual_charger import connect16

# backup and restore copy the SQLite file; on PostgreSQL they say to use pg_dump (tests/test_postgres.py).
pytestmark = backend.sqlite_only("appliance backup and restore copy the SQLite file")

FILLER_ROWS = 40_000  # ~40 MB of communication log, so that the copy takes many steps
SAMPLES_PER_METER_VALUES = 3
UTC = dt.timezone.utc


def contents(path: Path) -> dict[str, list]:
    """The schema and every table's rows in rowid order: what "an identical database" means here."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out: dict[str, list] = {"": sorted(r[0] for r in conn.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))}
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            out[table] = conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
        return out
    finally:
        conn.close()


def sample_times(path: Path) -> dict[str, int]:
    """Samples per MeterValues timestamp (ISO, as the charger sent it)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT sampled_at, count(*) FROM meter_sample GROUP BY sampled_at").fetchall()
    finally:
        conn.close()
    return {dt.datetime.fromisoformat(at).replace(tzinfo=UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"): n for at, n in rows}


def integrity(path: Path) -> list:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def settings_for(data_dir: Path, **overrides):
    return load_settings({"data_dir": data_dir, **overrides}, environ={})


async def set_up_depot(data_dir: Path, filler_rows: int = 0) -> None:
    core = open_core(settings_for(data_dir))
    try:
        await core.users.add_company("Blue Taxi")
        await core.users.add_driver("alice", "Blue Taxi")
        await core.users.add_tag("CARD1", "alice")
        await core.chargers.add("CP1", "ocpp1.6-json")
    finally:
        await core.close()
    with closing(sqlite3.connect(data_dir / "appliance.sqlite3")) as conn, conn:
        conn.executemany("INSERT INTO comm_log (charger_identity, direction, logged_at, message) VALUES (?, ?, ?, ?)",
                         ((f"OLD{i % 50}", "in", "2026-01-01 00:00:00", f'[2,"{i}","Heartbeat",{{}}]' + "x" * 1000)
                          for i in range(filler_rows)))


class Charging:
    """One transaction, MeterValues one after the other until stopped; each answered one is noted
    with the time its answer came."""

    def __init__(self) -> None:
        self.sent: list[str] = []  # timestamps, in order
        self.acked: list[tuple[str, float]] = []  # (timestamp, monotonic time of the answer)
        self.stop = asyncio.Event()
        self.base = dt.datetime.now(UTC).replace(microsecond=0)

    def at(self, i: int) -> str:
        return (self.base + dt.timedelta(milliseconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    async def run(self, cp) -> None:
        started = await cp.start_transaction("CARD1", meter_start=0, timestamp=self.at(0))
        i = 0
        while not self.stop.is_set():
            i += 1
            self.sent.append(self.at(i))
            await cp.meter_values(started.transaction_id, 10 * i, timestamp=self.sent[-1])
            self.acked.append((self.sent[-1], time.monotonic()))


async def run_backup_process(data_dir: Path, target: Path) -> tuple[dict, float]:
    """`appliance backup` as a process of its own; returns its JSON output and when it ended."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "appliance", "--data-dir", str(data_dir), "backup", str(target), "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return json.loads(out), time.monotonic()


async def test_a_backup_taken_while_charging_restores_to_an_identical_database(tmp_path):
    data_dir, copy = tmp_path / "data", tmp_path / "depot.sqlite3"
    await set_up_depot(data_dir, FILLER_ROWS)
    server = await asyncio.to_thread(ServerProcess(data_dir).start)
    try:
        charging = Charging()
        async with connect16(server.url, "CP1") as cp:
            task = asyncio.create_task(charging.run(cp))
            await wait_for(lambda: len(charging.acked) >= 50 or task.done(), 10)
            acked_before = [at for at, _ in charging.acked]
            report, ended = await run_backup_process(data_dir, copy)
            copying = [at for at, when in charging.acked if ended - report["seconds"] <= when <= ended]
            await wait_for(lambda: len(charging.acked) >= len(acked_before) + len(copying) + 20 or task.done(), 10)
            charging.stop.set()
            await task
        assert server.terminate() == 0, server.log()
    finally:
        server.kill()

    # The charger was answered all along: the copy blocked nobody.
    assert copying, f"no MeterValues answered during the {report['seconds']:.2f} s copy"
    assert report["integrity"] == "ok" and report["schema_version"] == LATEST_VERSION, report
    assert report["chargers"] == 1 and report["sessions"] == 1, report
    assert integrity(copy) == [("ok",)]
    assert not Path(f"{copy}-wal").exists() and not copy.with_name(copy.name + ".tmp").exists()
    # One moment's snapshot: every MeterValues answered before the backup began, whole (3 samples),
    # and after them only a prefix of what followed, each whole too.
    in_copy = sample_times(copy)
    assert set(acked_before) <= set(in_copy)
    assert set(in_copy.values()) == {SAMPLES_PER_METER_VALUES}
    assert set(in_copy) == set(charging.sent[:len(in_copy)])
    assert len(in_copy) < len(charging.acked)  # and not what came after

    before_restore = contents(data_dir / "appliance.sqlite3")
    result = cli_run(data_dir, "restore", str(copy), "--yes")
    assert result.exit_code == 0, result.output
    assert "kept as" in result.output and "migrate" not in result.output, result.output
    assert contents(data_dir / "appliance.sqlite3") == contents(copy)
    assert not Path(f"{data_dir}/appliance.sqlite3-wal").exists()
    # The database it replaced, with everything answered after the backup too, is kept.
    kept = copies.automatic_backups(data_dir / "backups", copies.RESTORE_PREFIX)
    assert len(kept) == 1 and contents(kept[0]) == before_restore
    assert {at for at, _ in charging.acked} <= set(sample_times(kept[0]))


async def test_restore_refuses_while_the_server_runs(tmp_path):
    data_dir = tmp_path / "data"
    await set_up_depot(data_dir)
    copy = tmp_path / "copy.sqlite3"
    assert cli_run(data_dir, "backup", str(copy)).exit_code == 0
    server = await asyncio.to_thread(ServerProcess(data_dir).start)
    try:
        before = contents(data_dir / "appliance.sqlite3")
        result = await asyncio.to_thread(cli_run, data_dir, "restore", str(copy), "--yes")
        assert result.exit_code == 1 and "systemctl stop appliance" in result.output, result.output
        assert f"pid {server.proc.pid}" in result.output, result.output
        assert contents(data_dir / "appliance.sqlite3") == before
        assert not (data_dir / "backups").exists()
        # Whatever process has the database open, the restore finds it, server.json or not.
        state = server.state_path.read_text()
        server.state_path.unlink()
        result = await asyncio.to_thread(cli_run, data_dir, "restore", str(copy), "--yes")
        assert result.exit_code == 1 and f"open in process {server.proc.pid}" in result.output, result.output
        server.state_path.write_text(state)
        assert server.terminate() == 0, server.log()
    finally:
        server.kill()
    # A server.json left by a killed server names a process that is gone: no obstacle.
    server.state_path.write_text(state)
    assert cli_run(data_dir, "restore", str(copy), "--yes").exit_code == 0


def newer(copy: Path, target: Path) -> Path:
    target.write_bytes(copy.read_bytes())
    with closing(sqlite3.connect(target)) as conn, conn:
        conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, '2030-01-01 00:00:00')",
                     (LATEST_VERSION + 1,))
    return target


def written(target: Path, data: bytes) -> Path:
    target.write_bytes(data)
    return target


def damaged(copy: Path, target: Path) -> Path:
    """A copy with a run of pages in the middle overwritten (the header stays valid)."""
    data = bytearray(copy.read_bytes())
    data[8 * 4096:12 * 4096] = b"\xa5" * (4 * 4096)
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("make, says", [
    (newer, f"newer than this appliance knows ({LATEST_VERSION})"),
    (damaged, "integrity"),
    (lambda copy, target: written(target, b"not a database\n" * 100), "not a database of this appliance"),
    (lambda copy, target: written(target, b""), "is empty"),
    (lambda copy, target: target, "does not exist"),
])
async def test_restore_refuses_a_file_it_cannot_trust_and_changes_nothing(tmp_path, make, says):
    data_dir = tmp_path / "data"
    await set_up_depot(data_dir, filler_rows=100)
    copy = tmp_path / "copy.sqlite3"
    assert cli_run(data_dir, "backup", str(copy)).exit_code == 0
    offered = make(copy, tmp_path / "offered.sqlite3")
    before = contents(data_dir / "appliance.sqlite3")
    result = cli_run(data_dir, "restore", str(offered), "--yes")
    assert result.exit_code == 1 and says in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert contents(data_dir / "appliance.sqlite3") == before
    assert not (data_dir / "backups").exists()


async def test_restore_asks_first_and_without_a_terminal_wants_yes(tmp_path):
    data_dir = tmp_path / "data"
    await set_up_depot(data_dir)
    copy = tmp_path / "copy.sqlite3"
    assert cli_run(data_dir, "backup", str(copy)).exit_code == 0
    result = cli_run(data_dir, "restore", str(copy))
    assert result.exit_code == 1 and "--yes" in result.output, result.output
    assert not (data_dir / "backups").exists()


async def test_an_older_backup_restored_is_migrated_at_the_next_start_after_a_backup_of_it(tmp_path):
    data_dir, old = tmp_path / "data", tmp_path / "v1.sqlite3"
    await set_up_depot(data_dir)
    make_v1(old)
    result = cli_run(data_dir, "restore", str(old), "--yes")
    assert result.exit_code == 0 and "the next start migrates it" in result.output, result.output
    assert copies.describe(data_dir / "appliance.sqlite3").schema_version == 1

    server = await asyncio.to_thread(ServerProcess(data_dir).start)
    assert server.terminate() == 0, server.log()
    now = copies.describe(data_dir / "appliance.sqlite3")
    assert (now.schema_version, now.chargers, now.sessions, now.integrity) == (LATEST_VERSION, 1, 1, "ok")
    [taken] = copies.automatic_backups(data_dir / "backups", copies.UPGRADE_PREFIX)
    assert taken.name.startswith(f"before-upgrade-v1-to-v{LATEST_VERSION}-")
    assert contents(taken) == contents(old)  # the database as restored, before the migration
    assert f"backed up the database to {taken}" in server.log(), server.log()


async def test_a_database_newer_than_the_appliance_is_refused_with_what_to_do(tmp_path):
    data_dir = tmp_path / "data"
    await set_up_depot(data_dir)
    newer(data_dir / "appliance.sqlite3", tmp_path / "newer.sqlite3").replace(data_dir / "appliance.sqlite3")
    before = contents(data_dir / "appliance.sqlite3")
    with pytest.raises(SchemaTooNewError, match="Install that version again, or stop the service and restore"):
        open_core(settings_for(data_dir))
    result = await asyncio.to_thread(cli_run, data_dir, "charger", "list")
    assert result.exit_code == 1 and f"{data_dir / 'backups'}" in result.output, result.output
    assert contents(data_dir / "appliance.sqlite3") == before
    assert not (data_dir / "backups").exists()


def test_automatic_backups_keep_the_newest_of_each_kind(tmp_path):
    db, backups = tmp_path / "db.sqlite3", tmp_path / "backups"
    make_v1(db)
    start = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for day in (5, 1, 4, 2, 3):  # taken out of order: age goes by the time in the name
        copies.backup_before_upgrade(db, backups, 1, LATEST_VERSION, start + dt.timedelta(days=day), keep=3)
    copies.backup_before_upgrade(db, backups, 1, LATEST_VERSION, start + dt.timedelta(days=5), keep=3)  # same second
    (backups / "my-own-copy.sqlite3").write_bytes(db.read_bytes())
    copies.copy_database(db, copies.automatic_path(backups, copies.RESTORE_PREFIX, start))
    copies.backup_before_upgrade(db, backups, 1, LATEST_VERSION, start + dt.timedelta(days=6), keep=3)
    names = sorted(p.name for p in backups.iterdir())
    assert names == [
        "before-restore-20260301T120000Z.sqlite3",
        f"before-upgrade-v1-to-v{LATEST_VERSION}-20260306T120000Z-2.sqlite3",
        f"before-upgrade-v1-to-v{LATEST_VERSION}-20260306T120000Z.sqlite3",
        f"before-upgrade-v1-to-v{LATEST_VERSION}-20260307T120000Z.sqlite3",
        "my-own-copy.sqlite3",
    ]


async def test_open_core_backs_up_before_migrating_and_keeps_backups_keep(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for _ in range(3):
        make_v1(data_dir / "appliance.sqlite3")  # each time an old database again
        core = open_core(settings_for(data_dir, backups_keep=2))
        await core.close()
        (data_dir / "appliance.sqlite3").unlink()
    kept = copies.automatic_backups(data_dir / "backups", copies.UPGRADE_PREFIX)
    assert len(kept) == 2 and {copies.describe(p).schema_version for p in kept} == {1}


async def test_restore_over_a_damaged_database_keeps_its_files_as_they_were(tmp_path):
    data_dir = tmp_path / "data"
    await set_up_depot(data_dir, filler_rows=200)
    copy = tmp_path / "copy.sqlite3"
    assert cli_run(data_dir, "backup", str(copy)).exit_code == 0
    database = data_dir / "appliance.sqlite3"
    damaged(database, tmp_path / "broken.sqlite3").replace(database)
    broken = database.read_bytes()
    result = cli_run(data_dir, "restore", str(copy), "--yes")
    assert result.exit_code == 0, result.output
    [kept] = (data_dir / "backups").glob("damaged-before-restore-*.sqlite3")
    assert kept.read_bytes() == broken and str(kept) in result.output
    assert contents(database) == contents(copy)
    assert copies.automatic_backups(data_dir / "backups", copies.RESTORE_PREFIX) == []


async def test_backup_wants_force_to_overwrite_and_names_the_file_in_a_directory(tmp_path):
    data_dir = tmp_path / "data"
    await set_up_depot(data_dir)
    copy = tmp_path / "copy.sqlite3"
    copy.write_text("precious")
    result = cli_run(data_dir, "backup", str(copy))
    assert result.exit_code == 1 and "--force" in result.output and copy.read_text() == "precious"
    assert cli_run(data_dir, "backup", str(copy), "--force").exit_code == 0
    assert contents(copy) == contents(data_dir / "appliance.sqlite3")
    folder = tmp_path / "usb"
    folder.mkdir()
    result = cli_run(data_dir, "backup", str(folder))
    assert result.exit_code == 0 and "schema version" in result.output, result.output
    [made] = folder.glob("appliance-*.sqlite3")
    assert integrity(made) == [("ok",)] and made.stat().st_mode & 0o077 == 0  # for the owner only
    assert cli_run(tmp_path / "nothing-here", "backup", str(tmp_path / "x.sqlite3")).output.startswith(
        "Error: there is no database at")


def test_the_copy_is_one_snapshot_and_never_restarts_beside_a_busy_writer(tmp_path):
    """SQLite restarts an online backup whenever another connection commits between its steps;
    the copy holds a read snapshot instead, so it finishes in one pass whatever the writers do."""
    db = tmp_path / "busy.sqlite3"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("PRAGMA journal_mode=wal")
        conn.execute("CREATE TABLE t (n INTEGER, pad TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", ((0, "x" * 500) for _ in range(60_000)))
    stop, commits = threading.Event(), []

    def write() -> None:
        conn = sqlite3.connect(db, isolation_level=None)
        while not stop.is_set():
            conn.execute("INSERT INTO t VALUES (1, '')")
            commits.append(1)
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    steps: list[int] = []
    try:
        while len(commits) < 10:
            time.sleep(0.01)
        before = len(commits)
        copies.copy_database(db, tmp_path / "copy.sqlite3", progress=lambda status, remaining, total: steps.append(
            remaining))
        during = len(commits) - before
    finally:
        stop.set()
        writer.join()
    assert during > 0 and len(steps) > 3  # writers committed between the steps
    assert steps == sorted(steps, reverse=True), "the copy restarted"
