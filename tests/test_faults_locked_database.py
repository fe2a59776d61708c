"""The database locked by another process (a technician's long `appliance` command): the server
keeps answering, waits a bounded time for the lock, refuses rather than acknowledges what it could
not store, says so in its health; a long reader does not leave the -wal file grown for good.

The other process is a real one: a Python with sqlite3 that takes the lock (or opens a read
transaction) and keeps it until the test tells it to let go on its standard input.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from pathlib import Path

import pytest
from ocpp.exceptions import InternalError
from ocpp.v16 import call as call16

from appliance.core import health
from appliance.store import database
from tests import backend
from tests.conftest import add_fleet, make_settings, wait_for
from tests.faults import count, meter_values16, send_until_stored
from tests.virtual_charger import connect16

pytestmark = backend.sqlite_only("another process holds SQLite's write lock (on PostgreSQL a writer waits for the advisory lock, "
                                 "tested in test_postgres.py)")

UTC = dt.timezone.utc
HOLDER = """
import sqlite3, sys

connection = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "write":
    connection.execute("BEGIN IMMEDIATE")
else:
    connection.execute("BEGIN")
    connection.execute("SELECT count(*) FROM comm_log").fetchone()  # the snapshot is taken here
print("holding", flush=True)
sys.stdin.readline()
connection.execute("COMMIT")
print("released", flush=True)
"""


class Holder:
    """Another process holding the database: `write` (BEGIN IMMEDIATE) or `read` (an open snapshot)."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path, kind
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> "Holder":
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOLDER, str(self.path), self.kind,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert (await self.process.stdout.readline()).strip() == b"holding"
        return self

    async def release(self) -> None:
        if self.process.returncode is None and not self.process.stdin.is_closing():
            self.process.stdin.write(b"go\n")
            await self.process.stdin.drain()
            assert (await self.process.stdout.readline()).strip() == b"released"
            await self.process.wait()

    async def __aexit__(self, *exc) -> None:
        await self.release()


def start_transaction16(i: int, at: dt.datetime) -> call16.StartTransaction:
    return call16.StartTransaction(connector_id=1 + i % 2, id_tag="CARD1", meter_start=i, timestamp=at.isoformat())


async def test_a_short_lock_delays_writes_while_everything_else_is_answered(appliance, caplog):
    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("CP1", "ocpp1.6-json")
    await core.chargers.add("CP2", "ocpp1.6-json")
    caplog.set_level(logging.INFO, "appliance.store.storage_faults")
    async with connect16(appliance.url, "CP1") as cp, connect16(appliance.url, "CP2") as other:
        async with Holder(core.settings.database_path, "write") as holder:
            start = asyncio.ensure_future(cp.call(start_transaction16(0, dt.datetime.now(UTC)), suppress=False))
            await wait_for(lambda: core.db.storage.current.state == "locked")
            # OCPP-J has one CALL at a time per connection: another charger shows the server still answers
            assert (await other.call(call16.Heartbeat())).current_time
            report = await health.check(core.db)
            assert report.status == "degraded" and "locked by another process" in report.problems[0]
            assert not start.done()  # no answer before the data is stored
            await holder.release()
        tx = (await start).transaction_id  # stored once the lock is free, within the bound
        assert (await core.transactions.get(tx)).meter_start_wh == 0
        await cp.call(meter_values16(tx, 10, dt.datetime.now(UTC)))
    assert core.db.storage.current.state == "ok" and (await health.check(core.db)).status == "ok"
    lines = [r.getMessage() for r in caplog.records if r.name == "appliance.store.storage_faults"]
    assert len(lines) == 2 and "locked" in lines[0] and "writes again" in lines[1]


async def test_a_lock_held_past_the_bound_is_refused_and_the_charger_s_retry_is_stored_once(appliance):
    core = appliance.core
    core.db.lock_wait_s = 0.5
    await add_fleet(core)
    await core.chargers.add("CP1", "ocpp1.6-json")
    at = dt.datetime.now(UTC).replace(microsecond=0)
    async with connect16(appliance.url, "CP1") as cp:
        async with Holder(core.settings.database_path, "write") as holder:
            with pytest.raises(InternalError):
                await cp.call(start_transaction16(0, at), suppress=False)
            assert core.db.storage.current.refused >= 1
            await holder.release()
        answer = await send_until_stored(cp, start_transaction16(0, at))
        again = await send_until_stored(cp, start_transaction16(0, at))  # its answer lost: sent once more
    assert again.transaction_id == answer.transaction_id
    assert await count(core.db, 'SELECT count(*) FROM "transaction"') == 1


async def test_the_cli_says_the_database_is_busy_instead_of_hanging(appliance, tmp_path, monkeypatch):
    monkeypatch.setattr(database, "LOCK_WAIT_S", 1.0)  # the CLI in its own process keeps the default
    core = appliance.core
    async with Holder(core.settings.database_path, "write"):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "appliance", "--data-dir", str(core.settings.data_dir), "company", "add", "Night Taxi",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
    assert process.returncode != 0
    assert "the database is busy" in err.decode() and "try again" in err.decode()
    assert "Traceback" not in err.decode()


async def test_a_long_reader_grows_the_wal_only_while_it_reads(start_appliance, tmp_path, monkeypatch):
    monkeypatch.setattr(database, "WAL_KEPT_BYTES", 256 * 1024)
    app = await start_appliance(make_settings(tmp_path / "data"))
    core = app.core
    wal = Path(str(core.settings.database_path) + "-wal")

    async def log_messages(n: int) -> None:
        for i in range(n):
            core.commlog.record("CP1", "in", f'[2,"{i}","DataTransfer",{{"data":"{"x" * 2000}"}}]')
            if i % 200 == 0:
                await core.db.write(lambda: None)
        await core.db.write(lambda: None)

    async with Holder(core.settings.database_path, "read"):
        await log_messages(3000)  # ~6 MB while the reader's snapshot stops every checkpoint
        grown = wal.stat().st_size
        assert grown > 4 * 1024 * 1024
    # The checkpointer (every second) completes a checkpoint; the next commit starts the -wal over and
    # cuts it back.
    async def cut_back() -> bool:
        await log_messages(50)
        return wal.stat().st_size < grown / 2

    await wait_for(cut_back, timeout=15, interval=0.2)
