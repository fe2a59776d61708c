"""Power cuts: the database after a kill at any moment, the fsync before every answer, a bounded log.

What can and cannot be shown here. A process killed with SIGKILL loses its memory but not the
kernel's page cache: whatever SQLite had written is still there. A power cut also loses the page
cache, and only what was fsynced survives; that needs a VM or a device mapper target that drops
unflushed writes (dm-log-writes, dm-flakey), neither of which this machine has. So the proof is in
two parts: (1) servers killed at random moments, several rounds on one data directory, leave a
database that passes integrity_check and holds every message a charger got an answer for (the
ordering of commit and answer is right; tests/test_durability.py checks replays after one such
kill); (2) strace shows that with synchronous=full the -wal is fsynced after a write is submitted
and before it is acknowledged, every time (the ordering of fsync and answer is right), and that
with normal it is not. Together: an answered message was on the disk before the answer left.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from appliance.config import load_settings
from appliance.core.commlog import CommLog
from appliance.core.services import open_core
from appliance.store import logs as log_store
from appliance.store import migrations
from appliance.store.database import Database
from tests import backend
from tests.test_cli_live import ServerProcess
from tests.test_durability import Charger, check_stored, read_database, run_transactions

ROUNDS = 4
CHARGERS_PER_ROUND = 4
KILL_AFTER_S = (0.2, 2.5)  # each round's kill comes at a random moment in this range after the chargers start


async def seed(data_dir: Path, rounds: int) -> list[list[Charger]]:
    core = open_core(load_settings({"data_dir": data_dir}, environ={}))
    try:
        await core.users.add_company("Night Cabs")
        await core.users.add_driver("driver", "Night Cabs")
        chargers = [[Charger(f"PC{r}{i}", 1 + (r + i) % 5) for i in range(CHARGERS_PER_ROUND)] for r in range(rounds)]
        for charger in (c for round_ in chargers for c in round_):
            await core.chargers.add(charger.identity, "ocpp1.6-json")
            await core.users.add_tag(f"TAG-{charger.identity}", "driver")
        return chargers
    finally:
        await core.close()


def check_as_found(path: Path) -> None:
    """What the next start finds: the log recovered (as SQLite does on opening), a sound database."""
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


@backend.sqlite_only("the file's integrity after kills; on PostgreSQL the server keeps its files (test_durability "
                     "checks the appliance's side: every answer stored, on both)")
async def test_killed_at_random_moments_the_database_stays_sound_and_keeps_every_answer(tmp_path):
    seed_value = random.randrange(1 << 30)
    rng = random.Random(seed_value)
    data_dir = tmp_path / "data"
    rounds = await seed(data_dir, ROUNDS)
    servers: list[ServerProcess] = []
    try:
        for r, chargers in enumerate(rounds):
            servers.append(await asyncio.to_thread(ServerProcess(data_dir).start))
            killed = asyncio.Event()
            tasks = [asyncio.create_task(run_transactions(servers[-1].url, c, killed)) for c in chargers]
            await asyncio.sleep(rng.uniform(*KILL_AFTER_S))
            for task in tasks:
                if task.done():
                    task.result()  # a charger that failed before the kill: show why
            killed.set()
            servers[-1].proc.kill()  # SIGKILL, the chargers still sending
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
            servers[-1].kill()

            check_as_found(data_dir / "appliance.sqlite3")
            transactions, samples = read_database(data_dir / "appliance.sqlite3")
            answered = [m for round_ in rounds[:r + 1] for c in round_ for m in c.sent if m.acked]
            assert any(m.kind == "meter" for c in chargers for m in c.sent if m.acked), f"round {r}: too short"
            for message in answered:  # this round's and every earlier round's
                check_stored(message, transactions, samples)
    except BaseException as e:
        e.add_note(f"random seed {seed_value}")
        raise
    finally:
        for server in servers:
            server.kill()


# -- the fsync before the answer ---------------------------------------------------------------------

WRITER = """
import asyncio, os, sys
from pathlib import Path
from appliance.store.database import Database

async def main():
    db = Database(Path(sys.argv[1]), sys.argv[2])
    await db.write(lambda: db.peewee.execute_sql("CREATE TABLE t (n INTEGER)"))
    insert = lambda n: db.peewee.execute_sql("INSERT INTO t VALUES (?)", (n,))
    for i in range(int(sys.argv[3])):
        os.write(1, b"submit %d\\n" % i)
        await asyncio.gather(*(db.write(insert, 4 * i + k) for k in range(4)))  # one group commit
        os.write(1, b"ack %d\\n" % i)
    await db.close()

asyncio.run(main())
"""
# strace pads a pid to five columns (a 4-digit pid gets two spaces): \s+, not one space.
SYNC = re.compile(r"^(\d+)\s+(?:fdatasync|fsync)\(\d+<[^>]*-wal>\)\s+= 0")
SYNC_STARTED = re.compile(r"^(\d+)\s+(?:fdatasync|fsync)\(\d+<[^>]*-wal> <unfinished")
SYNC_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. (?:fdatasync|fsync) resumed>.*= 0")
STDOUT = re.compile(r'^\d+\s+write\(1<[^>]*>, "(submit|ack) (\d+)\\n"')


def strace_works() -> bool:
    if not shutil.which("strace"):
        return False
    return subprocess.run(["strace", "-o", os.devnull, "true"], capture_output=True).returncode == 0


def acks_after_a_wal_fsync(trace: str) -> tuple[int, int]:
    """(acks preceded by an fsync of the -wal that completed after their submit, acks in all)."""
    pending: set[str] = set()
    synced_since_submit: dict[int, bool] = {}
    acks = good = 0
    for line in trace.splitlines():
        if m := SYNC.match(line):
            synced_since_submit = dict.fromkeys(synced_since_submit, True)
        elif m := SYNC_STARTED.match(line):
            pending.add(m.group(1))
        elif (m := SYNC_RESUMED.match(line)) and m.group(1) in pending:
            pending.discard(m.group(1))
            synced_since_submit = dict.fromkeys(synced_since_submit, True)
        elif m := STDOUT.match(line):
            kind, i = m.group(1), int(m.group(2))
            if kind == "submit":
                synced_since_submit[i] = False
            else:
                acks += 1
                good += synced_since_submit.pop(i)
    return good, acks


@backend.sqlite_only("the fsync of SQLite's -wal; PostgreSQL's commit is the server's")
@pytest.mark.skipif(not strace_works(), reason="needs strace (and ptrace allowed) to watch the fsyncs")
@pytest.mark.parametrize("synchronous, all_synced", [("full", True), ("normal", False)])
def test_with_full_every_write_is_fsynced_before_it_is_acknowledged(tmp_path, synchronous, all_synced):
    trace = tmp_path / "trace.txt"
    rounds = 40
    result = subprocess.run(
        ["strace", "-f", "-qq", "-y", "-e", "trace=fdatasync,fsync,write", "-e", "signal=none", "-o", str(trace),
         sys.executable, "-c", WRITER, str(tmp_path / "db.sqlite3"), synchronous, str(rounds)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    good, acks = acks_after_a_wal_fsync(trace.read_text())
    assert acks == rounds
    # full: each acknowledgement waited for an fsync of the log; normal: none did (a power cut
    # could take back what was acknowledged).
    assert good == (rounds if all_synced else 0), (good, acks)


# -- the communication log is bounded in bytes ------------------------------------------------------

FRAME = 64 * 1024  # the largest OCPP-J frame accepted (ocpp_max_frame_bytes)


async def stored_bytes(db: Database) -> int:
    return await db.read(lambda: db.peewee.execute_sql(
        "SELECT coalesce(sum(length(CAST(message AS BLOB))), 0) FROM comm_log").fetchone()[0])


async def kept_messages(db: Database) -> list[int]:
    rows = await db.read(lambda: db.peewee.execute_sql("SELECT message FROM comm_log ORDER BY id").fetchall())
    return [int(m[:8]) for (m,) in rows]


def database_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


@backend.sqlite_only("the size of the database file")
async def test_the_communication_log_of_large_frames_stays_within_its_bytes_and_the_file_stops_growing(tmp_path):
    path = tmp_path / "db.sqlite3"
    db = Database(path, "normal")
    migrations.migrate(db.peewee)
    limit = 1_000_000
    log = CommLog(db, retention_days=14, max_rows=2_000_000, max_bytes=limit)
    n, sizes = 0, []
    try:
        for _ in range(12):
            for _ in range(40):  # 2.6 MB of frames each round, between two prunes
                log.record("CP1", "in", f"{n:08d}" + "x" * (FRAME - 8))
                n += 1
            await db.write(lambda: None)  # the rows go with this commit
            await log.prune()
            kept = await kept_messages(db)
            assert await stored_bytes(db) <= limit
            assert kept == list(range(n - len(kept), n)) and len(kept) == limit // FRAME  # the newest, oldest out
            assert log.size.bytes == await stored_bytes(db)  # the running measure stays true
            with closing(sqlite3.connect(path)) as conn:  # all in the main file: compare like with like
                assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
            sizes.append(database_bytes(path))
    finally:
        await db.close()
    # Pages freed by the prune are used again: after the first rounds the file no longer grows.
    assert max(sizes[3:]) <= sizes[2] * 1.1, sizes


@pytest.mark.parametrize("rows, max_rows, max_bytes, older_than, kept", [
    # rows as (minutes ago logged, message length); kept as the 1-based ids left
    ([(50, 10), (40, 10), (30, 10), (20, 10)], 10, None, 35, [3, 4]),  # age only
    ([(50, 10), (40, 10), (30, 10), (20, 10)], 3, None, 99, [2, 3, 4]),  # count only
    ([(50, 10), (40, 30), (30, 10), (20, 10)], 10, 25, 99, [3, 4]),  # bytes: oldest out until within
    ([(50, 10), (40, 10), (30, 10), (20, 10)], 10, 40, 99, [1, 2, 3, 4]),  # exactly at the bound
    ([(50, 10), (5, 10), (30, 10), (20, 10)], 10, None, 25, [2, 4]),  # a clock set back: only the old ones go
    ([(50, 10), (40, 10)], 10, None, 1, []),  # everything too old
])
async def test_prune_bounds(tmp_path, rows, max_rows, max_bytes, older_than, kept):
    db = Database(backend.location(tmp_path / "db.sqlite3"), "normal")
    migrations.migrate(db.peewee)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        for minutes, length in rows:
            db.append_rows(log_store.INSERT_COMMLOG, log_store.commlog_row(
                "CP1", "in", now - dt.timedelta(minutes=minutes), "m" * length))
        await db.write(lambda: None)
        size = await db.read(log_store.measure_commlog, log_store.CommLogSize())
        removed, size = await db.write(log_store.prune_commlog_within, now - dt.timedelta(minutes=older_than),
                                       max_rows, max_bytes, size)
        left = await db.read(lambda: [r[0] for r in db.peewee.execute_sql("SELECT id FROM comm_log ORDER BY id")])
        assert (left, removed) == (kept, len(rows) - len(kept))
        assert size.bytes == sum(rows[i - 1][1] for i in kept)
        if not kept:  # an emptied table: the measure starts over (from id 0)
            assert size == log_store.CommLogSize()
    finally:
        await db.close()
