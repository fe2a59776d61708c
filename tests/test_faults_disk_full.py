"""The disk filling up: nothing unstored is acknowledged, the operator is told once, the
communication log gives up its room first, and the appliance recovers by itself.

The database is made full the way a full disk makes it: SQLite's SQLITE_FULL, from a page cap
(max_page_count) on the writer's connection, or, where this machine lets us mount one, from a
real tmpfs that runs out of space.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import zeep
from ocpp.exceptions import InternalError
from ocpp.v16 import call as call16

from appliance.core import health
from appliance.store import storage_faults
from appliance.store.storage_faults import FULL_MESSAGE
from tests import backend
from tests.conftest import add_fleet, make_settings
from tests.faults import count, execute, fill_database, give_room, meter_values16, send_until_stored
from tests.virtual_charger import connect16
from tests.virtual_soap_client import VirtualSoapCharger

pytestmark = backend.sqlite_only("a full disk is simulated with SQLite's max_page_count and a tmpfs under the database "
                                 "file (PostgreSQL's disk is the server's)")

UTC = dt.timezone.utc
STORAGE_LOG = "appliance.store.storage_faults"


async def start_transaction(cp) -> int:
    answer = await cp.call(call16.StartTransaction(connector_id=1, id_tag="CARD1", meter_start=0,
                                                   timestamp=dt.datetime.now(UTC).isoformat()))
    return answer.transaction_id


async def send_until_refused(cp, tx: int, start: dt.datetime, refusals: list, in_a_row: int,
                             most: int = 5000) -> int:
    """Meter values 0, 1, 2... each sent again when refused, until one is refused `in_a_row` times;
    returns its number (all before it are stored)."""
    i = row = 0
    for _ in range(most):
        try:
            await cp.call(meter_values16(tx, i, start + dt.timedelta(seconds=i)), suppress=False)
            i, row = i + 1, 0
        except InternalError as e:
            refusals.append(e)
            row += 1
            if row == in_a_row:
                return i
    raise AssertionError("no meter values refused")


async def energy_readings(core, transaction_id: int) -> list[int]:
    return sorted(int(s.value) for s in await core.transactions.samples(transaction_id)
                  if s.measurand == "Energy.Active.Import.Register")


async def test_a_full_disk_refuses_what_it_cannot_store_says_so_once_and_recovers(appliance, caplog, monkeypatch):
    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("CP1", "ocpp1.6-json")
    await core.chargers.add("SOAP1", "ocpp1.6-soap")
    soap = await VirtualSoapCharger.connect(appliance.url, "SOAP1")
    await soap.boot()
    soap_tx = (await soap.start()).transactionId
    caplog.set_level(logging.INFO, STORAGE_LOG)
    async with connect16(appliance.url, "CP1") as cp:
        tx = await start_transaction(cp)
        await execute(core.db, "DELETE FROM comm_log")  # nothing the appliance could prune to make room
        await fill_database(core.db)
        monkeypatch.setattr(storage_faults, "FREE_SPACE_EVERY_S", 3600.0)
        start = dt.datetime.now(UTC)
        # The charger goes on metering. The appliance takes what it has room for (it stops writing the
        # communication log first) and refuses the rest: the charger keeps each refused message.
        refusals: list = []
        stored = await send_until_refused(cp, tx, start, refusals, in_a_row=3)
        assert all(e.description == FULL_MESSAGE or e.code == "InternalError" for e in refusals)
        for i in range(2000):  # the SOAP charger's messages go in until they need room too
            try:
                await soap.meter_values(soap_tx, i)
            except zeep.exceptions.Fault as fault:
                assert fault.subcodes[0].localname == "InternalError"
                break
        else:
            raise AssertionError("no SOAP Fault")
        assert (await cp.call(call16.Heartbeat())).current_time  # what needs no storing is still answered
        report = await health.check(core.db)
        assert report.status == "degraded" and report.problems[0].startswith("disk full: not storing")
        assert report.storage.refused >= 4 and report.storage.log_rows_dropped > 0
        # one line for the whole incident (it began when the ballast filled the disk), none per message
        full_lines = [r for r in caplog.records if r.name == STORAGE_LOG and r.levelno == logging.ERROR]
        assert len(full_lines) == 1 and "disk full" in full_lines[0].getMessage()

        monkeypatch.setattr(storage_faults, "FULL_ENDS_AFTER_S", 0.0)
        await give_room(core.db)
        await send_until_stored(cp, meter_values16(tx, stored, start + dt.timedelta(seconds=stored)))
        await send_until_stored(cp, meter_values16(tx, stored + 1, start + dt.timedelta(hours=1)))
        assert (await health.check(core.db)).status == "ok"
        assert any("storage writes again" in r.getMessage() for r in caplog.records if r.name == STORAGE_LOG)
        # each once, whatever was refused before
        assert await energy_readings(core, tx) == list(range(stored + 2))
        assert await count(core.db, "SELECT count(*) FROM comm_log") > 0  # logging again


async def test_the_communication_log_gives_up_its_room_first(appliance, monkeypatch):
    core = appliance.core
    await add_fleet(core)
    await core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(appliance.url, "CP1") as cp:
        tx = await start_transaction(cp)
        for i in range(3000):  # a communication log of some weight: the oldest messages
            core.commlog.record("CP1", "in", f'[2,"{i}","DataTransfer",{{"data":"{"x" * 1000}"}}]')
        await execute(core.db, "SELECT 1")  # the log rows are committed with the next write
        logged = await count(core.db, "SELECT count(*) FROM comm_log")
        await fill_database(core.db)
        monkeypatch.setattr(storage_faults, "FREE_SPACE_EVERY_S", 0.0)  # prune again at each full, not every 10 s
        start = dt.datetime.now(UTC)
        refusals: list = []
        for i in range(100):  # with no room left but the log's, the charger's data still gets in
            await send_until_stored(cp, meter_values16(tx, i, start + dt.timedelta(seconds=i)), refusals)
        assert await energy_readings(core, tx) == list(range(100))
        assert await count(core.db, "SELECT count(*) FROM comm_log") < logged
        assert core.db.storage.current.log_rows_freed > 0 or core.db.faults.log_space_freed > 0
        assert await count(core.db, "SELECT count(*) FROM test_ballast") > 0  # the depot's data is all kept


# -- a real file system that runs out of space ------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path):
    """A 6 MB tmpfs for the data directory; skipped where mounting needs rights we do not have."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_disk(path: Path) -> None:
    """Write a file until the file system refuses (ENOSPC), as whatever else on the box would."""
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            pass


async def test_a_real_disk_running_full_refuses_then_recovers_when_space_is_freed(small_disk, start_appliance,
                                                                                 monkeypatch):
    app = await start_appliance(make_settings(small_disk / "data"))
    core = app.core
    await add_fleet(core)
    await core.chargers.add("CP1", "ocpp1.6-json")
    async with connect16(app.url, "CP1") as cp:
        tx = await start_transaction(cp)
        fill_disk(small_disk / "other-program.log")
        monkeypatch.setattr(storage_faults, "FREE_SPACE_EVERY_S", 3600.0)  # only the operator frees space here
        start = dt.datetime.now(UTC)
        stored, refused = [], None
        for i in range(20000):  # until the disk's last bytes are gone; each message is unique (a uuid)
            request = call16.DataTransfer(vendor_id="test", message_id="fill", data=uuid.uuid4().hex * 30)
            try:
                await cp.call(meter_values16(tx, i, start + dt.timedelta(seconds=i)), suppress=False)
                await cp.call(request, suppress=False)
                stored.append(i)
            except InternalError:
                refused = i
                break
        assert refused is not None, "the disk never filled"
        report = await health.check(core.db)
        assert report.status == "degraded" and report.storage.log_rows_freed > 0  # the reserve made room to prune

        monkeypatch.setattr(storage_faults, "FULL_ENDS_AFTER_S", 0.0)
        os.remove(small_disk / "other-program.log")  # the operator frees space
        await send_until_stored(cp, meter_values16(tx, refused, start + dt.timedelta(seconds=refused)))
        assert (await health.check(core.db)).status == "ok"
        readings = await energy_readings(core, tx)
        assert readings == sorted(set(readings)) and set(stored) <= set(readings) and refused in readings
