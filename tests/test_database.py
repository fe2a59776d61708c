"""The store's writer: answers only after commit, failures stay in their own savepoint, and
many waiting writes share one commit."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from appliance.store import migrations
from appliance.store.database import Database, is_constraint_error
from appliance.store.models import Company
from tests import backend


@pytest.fixture
async def db(tmp_path):
    database = Database(backend.location(tmp_path / "t.sqlite3"), "normal")
    migrations.migrate(database.peewee)
    yield database
    await database.close()


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
