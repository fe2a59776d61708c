"""The store's writer: answers only after commit, failures stay in their own savepoint, and
many waiting writes share one commit."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from appliance.store import database, migrations
from appliance.store.checkpointer import Checkpointer
from appliance.store.database import Database, Statement, is_constraint_error
from appliance.store.models import Company
from tests import backend
from tests.conftest import wait_for


def add_company(name: str) -> int:
    return Company.insert(name=name, created_at="2026-11-21 00:00:00").execute()


def committed_names(db: Database) -> set[str]:
    """Read with a separate plain connection: sees only what is committed."""
    return {row[0] for row in backend.query(db.path or backend.database_url(), "SELECT name FROM company")}


async def test_write_returns_after_the_data_is_committed(db):
    await db.write(add_company, "A")
    assert committed_names(db) == {"A"}


async def test_a_failing_write_does_not_spoil_the_others_in_its_batch(db):
    await db.write(add_company, "A")
    results = await asyncio.gather(db.write(add_company, "B"), db.write(add_company, "A"),
                                   db.write(add_company, "C"), return_exceptions=True)
    assert is_constraint_error(results[1])
    assert committed_names(db) == {"A", "B", "C"}


async def test_concurrent_writes_share_commits(db):
    await asyncio.gather(*(db.write(add_company, f"C{i}") for i in range(500)))
    assert len(committed_names(db)) == 500
    assert db.commits < 500  # group commit: whatever queued during a commit goes in the next one


async def test_writes_arriving_in_a_stream_share_a_commit(db, monkeypatch):
    # Chargers send on their own clocks, not waiting for one another: a small batch is held a moment
    # for the writes about to come, and they pay one commit (one fsync) between them.
    monkeypatch.setattr(database, "COMMIT_WAIT_S", 0.5)
    await db.write(add_company, "FIRST")  # a commit has just ended: writes are coming in a stream
    commits = db.commits

    async def later(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await db.write(add_company, name)

    await asyncio.gather(later("A", 0), later("B", 0.05), later("C", 0.1))
    assert db.commits == commits + 1
    assert committed_names(db) == {"FIRST", "A", "B", "C"}


async def test_a_caller_waiting_for_each_answer_is_not_held_for_others(db, monkeypatch):
    # One caller writing again only once answered: a wait gathers nothing, so it is not tried again
    # for a while (every write would otherwise be held COMMIT_WAIT_S).
    monkeypatch.setattr(database, "COMMIT_WAIT_S", 0.5)
    monkeypatch.setattr(database, "COMMIT_WAIT_BACKOFF_S", 60.0)
    for i in range(20):
        await db.write(add_company, f"S{i}")
    assert db.commit_waits <= 1


INSERT_COMPANY = "INSERT INTO company (name, created_at) VALUES {rows}"
COMPANY_ROW = "(?, '2026-11-21 00:00:00')"
RENAME = "UPDATE company SET name = ? WHERE name = ?"


async def in_one_batch(db: Database, *writes):
    """Start the writes while the writer is held in a job, so that they all queue for its next batch."""
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        release.wait(10)

    held = asyncio.ensure_future(db.write(hold))
    await asyncio.to_thread(entered.wait, 10)
    tasks = [asyncio.ensure_future(write) for write in writes]
    await asyncio.sleep(0.05)  # every task has queued its write
    commits = db.commits
    release.set()
    await held
    results = await asyncio.gather(*tasks, return_exceptions=True)
    return results, db.commits - commits


async def test_statement_writes_of_many_callers_share_a_batch_and_keep_their_order(db):
    results, commits = await in_one_batch(db, *(
        db.write_statements(Statement(INSERT_COMPANY, [(f"S{i}",)], COMPANY_ROW),
                            Statement(RENAME, [(f"R{i}", f"S{i}")])) for i in range(50)))
    assert results == [None] * 50
    assert commits <= 2  # the held job's batch, then all fifty together
    assert committed_names(db) == {f"R{i}" for i in range(50)}  # each insert ran before its rename


async def test_a_failing_statement_write_fails_alone(db):
    await db.write(add_company, "Taken")
    results, _ = await in_one_batch(
        db, db.write_statements(Statement(INSERT_COMPANY, [("A",)], COMPANY_ROW)),
        db.write_statements(Statement(INSERT_COMPANY, [("B",), ("Taken",)], COMPANY_ROW)),
        db.write_statements(Statement(INSERT_COMPANY, [("C",)], COMPANY_ROW)))
    assert results[0] is None and results[2] is None
    assert is_constraint_error(results[1])
    assert committed_names(db) == {"Taken", "A", "C"}  # none of the failed write's rows, not even B


async def test_statement_writes_and_other_writes_run_in_the_order_they_were_queued(db):
    def rename_all() -> None:
        Company.update(name=Company.name.concat("+")).execute()

    results, _ = await in_one_batch(
        db, db.write_statements(Statement(INSERT_COMPANY, [("A",)], COMPANY_ROW)),
        db.write(rename_all),
        db.write_statements(Statement(INSERT_COMPANY, [("B",)], COMPANY_ROW)))
    assert results == [None, None, None]
    assert committed_names(db) == {"A+", "B"}


async def test_reads_run_off_the_loop_and_see_committed_data(db):
    await db.write(add_company, "A")
    assert await db.read(lambda: Company.select().count()) == 1


async def test_appended_rows_are_committed_with_the_next_batch(db):
    db.append_rows("INSERT INTO company (name, created_at) VALUES (?, ?)", ("Z", "2026-11-21 00:00:00"))
    await db.write(add_company, "A")
    assert committed_names(db) == {"A", "Z"}


async def test_a_newer_schema_is_refused(tmp_path):
    database = Database(backend.location(tmp_path / "new.sqlite3"), "normal")
    migrations.migrate(database.peewee)
    backend.query(database.path or backend.database_url(),
                  "INSERT INTO schema_version (version, applied_at) VALUES (999, '2030-01-01')")
    with pytest.raises(migrations.SchemaTooNewError, match="999"):
        migrations.migrate(database.peewee)
    await database.close()


@backend.sqlite_only("journal modes are SQLite's")
async def test_sqlite_runs_in_wal_mode(db):
    with sqlite3.connect(db.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@backend.sqlite_only("the -wal and its checkpoints")
async def test_the_wal_starts_over_under_a_steady_load(db):
    """The -wal starts over only after a checkpoint has copied every frame in it; a passive copy alone
    never does while writes go on (the writer appends during the copy), and the file grew for as long
    as the load lasted. Four seconds of writes with always one queued must leave a -wal smaller than
    what was written, having started over again and again."""
    import os
    import time

    row = "x" * 1000
    written = 0
    until = time.monotonic() + 4.0

    def insert_rows() -> None:
        db.peewee.execute_sql("INSERT INTO comm_log (charger_identity, direction, logged_at, message) "
                              "VALUES ('CP', 'in', '2026-11-22 10:00:00', ?), ('CP', 'out', '2026-11-22 10:00:00', ?)",
                              (row, row))

    async def keep_writing() -> None:
        nonlocal written
        while time.monotonic() < until:
            await db.write(insert_rows)
            written += 2 * len(row)

    db.checkpointer.stop()
    db.checkpointer = Checkpointer(db.path, every_s=0.25)  # several rounds within the load
    db.checkpointer.start()
    await asyncio.gather(*(keep_writing() for _ in range(10)))
    wal = os.path.getsize(f"{db.path}-wal")
    assert written > 10_000_000  # enough to tell
    # Without the writer's last copy the -wal holds every frame written (more bytes than the rows:
    # whole pages); with it, what came between two starts over, and the file is cut back to
    # journal_size_limit (64 MiB) when a start over finds it larger.
    assert wal < written, f"the -wal is {wal / 1e6:.1f} MB after {written / 1e6:.1f} MB written"
    assert db.checkpointer.restarts >= 2


@backend.sqlite_only("the -wal and its checkpoints")
async def test_a_reader_holding_the_wal_back_is_said_once_and_its_end_too(db, monkeypatch, caplog):
    """A reader in a long transaction (a sqlite3 shell left open) keeps the -wal from being copied, so
    from starting over; under writes it grows until the reader is done. That is said once in the log,
    not every second, and said again when the -wal is copied whole."""
    import logging

    from appliance.store import checkpointer as ck

    monkeypatch.setattr(ck, "HELD_BACK_AFTER_S", 0.5)
    monkeypatch.setattr(ck, "HELD_BACK_FRAMES", 20)
    caplog.set_level(logging.INFO, "appliance.store.checkpointer")
    db.checkpointer.stop()
    db.checkpointer = Checkpointer(db.path, every_s=0.1)
    db.checkpointer.start()
    shell = sqlite3.connect(db.path, isolation_level=None)
    shell.execute("BEGIN")
    shell.execute("SELECT count(*) FROM company").fetchone()  # the snapshot it keeps
    for i in range(40):
        await asyncio.gather(*(db.write(add_company, f"K{i}-{k}") for k in range(20)))
        await asyncio.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records]
    assert sum("could not be copied" in line for line in lines) == 1, lines
    shell.execute("COMMIT")
    shell.close()
    await db.write(add_company, "after")
    await wait_for(lambda: any("copied into the database again" in r.getMessage() for r in caplog.records), timeout=5)
    assert not db.checkpointer.held_back


@backend.sqlite_only("the -wal and its checkpoints")
async def test_the_checkpointer_copies_committed_writes_into_the_database_file(db, tmp_path):
    """The writer's commits do not copy the -wal into the database file (that would hold up their
    answers); the checkpointer thread does, within about a second."""
    import shutil

    await asyncio.gather(*(db.write(add_company, f"K{i}") for i in range(300)))

    def main_file_alone() -> set[str]:
        copy = tmp_path / "alone.sqlite3"  # the database file without its -wal: only what was copied
        shutil.copyfile(db.path, copy)
        with sqlite3.connect(copy) as conn:
            try:
                return {row[0] for row in conn.execute("SELECT name FROM company")}
            except sqlite3.OperationalError:  # not even the schema copied yet
                return set()

    async def copied() -> bool:
        return len(await asyncio.to_thread(main_file_alone)) == 300

    await wait_for(copied, timeout=10, interval=0.2)
    assert db.checkpointer.checkpoints >= 1
