"""PostgreSQL through a database URL: the setting and what is shown of it, the commands that are SQLite's
only, and (with APPLIANCE_TEST_DATABASE_URL) what only a server database does: connections it drops,
writers of two processes, the doctor's check of it. The rest of the suite runs on it as it is."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from click.testing import CliRunner

from appliance.cli import cli
from appliance.config import SettingsError, load_settings
from appliance.store import dialect, migrations
from appliance.store.database import Database, StoreError
from appliance.store.models import Company
from tests import backend
from tests.conftest import make_settings

postgres_only = pytest.mark.skipif(not backend.ON_POSTGRES, reason="needs PostgreSQL: APPLIANCE_TEST_DATABASE_URL")
SECRET = "s3cret-Pa55"
ELSEWHERE = f"postgresql://depot:{SECRET}@db.example.invalid:5432/depot"


@pytest.mark.parametrize("sql, expected", [
    ("SELECT ? FROM t WHERE a = ?", "SELECT %s FROM t WHERE a = %s"),
    ("SELECT '?' , ? FROM t", "SELECT '?' , %s FROM t"),  # a question mark in a literal is text
    ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s"),
    ('SELECT "odd?name" FROM t WHERE x LIKE \'%a\' AND y = ?', 'SELECT "odd?name" FROM t WHERE x LIKE \'%%a\' AND y = %s'),
    ("SELECT 5 % 2, ?", "SELECT 5 %% 2, %s"),  # psycopg reads a lone % as the start of a placeholder
])
def test_question_marks_become_psycopg_placeholders_outside_quotes(sql, expected):
    assert dialect.placeholders(sql) == expected


@pytest.mark.parametrize("url, says", [
    ("mysql://depot:pw@host/depot", "is not a postgresql:// URL"),
    ("postgresql://depot:pw@host", "names no database"),
    ("/var/lib/depot.sqlite3", "is not a postgresql:// URL"),
])
def test_a_database_url_that_is_not_postgresql_is_a_clear_setting_error(url, says):
    with pytest.raises(SettingsError, match="database_url") as raised:
        load_settings({"data_dir": "/tmp/unused", "database_url": url}, environ={})
    assert says in str(raised.value) and ":pw@" not in str(raised.value)


def test_postgres_scheme_is_taken_as_postgresql():
    assert dialect.check_url("postgres://u:p@h/db") == "postgresql://u:p@h/db"


def test_the_password_in_the_database_url_is_never_shown(tmp_path):
    env = {k: None for k in os.environ if k.startswith("APPLIANCE_")} | {"APPLIANCE_DATABASE_URL": ELSEWHERE}
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "settings", "--json"], env=env)
    assert result.exit_code == 0, result.output
    shown = {row["setting"]: row["value"] for row in json.loads(result.stdout)}["database_url"]
    assert shown == "postgresql://depot:•••@db.example.invalid:5432/depot" and SECRET not in result.output
    assert dialect.redact(f"postgresql://h/db?user=u&password={SECRET}") == "postgresql://h/db?user=u&password=•••"


@pytest.mark.parametrize("command, says", [
    (["backup", "copy.dump"], "pg_dump --format=custom --file=FILE"),
    (["restore", "copy.dump", "--yes"], "pg_restore --clean --if-exists --no-owner"),
])
def test_backup_and_restore_on_postgresql_say_to_use_its_own_tools(tmp_path, command, says):
    env = {k: None for k in os.environ if k.startswith("APPLIANCE_")} | {"APPLIANCE_DATABASE_URL": ELSEWHERE}
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), *command], env=env)
    assert result.exit_code == 1
    assert says in result.output and "the database is PostgreSQL" in result.output
    assert SECRET not in result.output and not (tmp_path / "copy.dump").exists()


def test_an_unreachable_server_is_one_clear_error_without_the_password():
    # Port 1 on loopback: nothing listens there, the refusal is immediate.
    with pytest.raises(StoreError, match=r"cannot open the database postgresql://depot:•••@127\.0\.0\.1:1/depot") as e:
        Database(f"postgresql://depot:{SECRET}@127.0.0.1:1/depot")
    assert SECRET not in str(e.value)


def test_doctor_says_when_the_server_cannot_be_reached(tmp_path):
    env = {k: None for k in os.environ if k.startswith("APPLIANCE_")} | {
        "APPLIANCE_DATABASE_URL": f"postgresql://depot:{SECRET}@127.0.0.1:1/depot"}
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "doctor", "--json", "--timeout", "2"], env=env)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["database"]["status"] == "fail" and "cannot connect to" in checks["database"]["summary"]
    assert "pg_isready" in checks["database"]["action"] and SECRET not in result.stdout
    assert result.exit_code == 1


# -- on a PostgreSQL server ----------------------------------------------------------------------------

APPLICATION = f"appliance-test-{os.getpid()}"  # this process's connections, among a shared server's


@pytest.fixture
async def db(tmp_path):
    where = backend.location(tmp_path / "t.sqlite3")
    database = Database(f"{where}&application_name={APPLICATION}" if backend.ON_POSTGRES else where, "normal")
    migrations.migrate(database.peewee)
    yield database
    await database.close()


def add_company(name: str) -> None:
    Company.insert(name=name, created_at="2026-11-21 00:00:00").execute()


def backends_of(url: str) -> list[int]:
    """The server processes serving this test's Database."""
    rows = backend.query(url, "SELECT pid FROM pg_stat_activity WHERE application_name = ?", (APPLICATION,))
    return [pid for (pid,) in rows]


@postgres_only
async def test_a_write_after_the_server_dropped_the_connection_goes_through(db, database_url, monkeypatch):
    await db.write(add_company, "Before")
    await db.read(lambda: Company.select().count())
    dropped = backends_of(database_url)
    assert len(dropped) == 2  # the writer's and a reader's
    for pid in dropped:  # as a server restart or a firewall cutting idle connections does
        backend.query(database_url, "SELECT pg_terminate_backend(?)", (pid,))
    monkeypatch.setattr("appliance.store.database.IDLE_CHECK_AFTER_S", 0.0)  # the idle check is the point
    await db.write(add_company, "After")
    assert await db.read(lambda: sorted(c.name for c in Company.select())) == ["After", "Before"]


@postgres_only
async def test_a_writer_waits_while_another_process_writes(db, database_url):
    """The writer takes the same lock as every other process's writer (the CLI's), as SQLite's BEGIN
    IMMEDIATE does: a job that reads and then writes sees no other writer's rows appear in between."""
    other = backend.connect(database_url)
    try:
        other.execute("BEGIN")
        other.execute("SELECT pg_advisory_xact_lock(%s)", (dialect.WRITER_LOCK_KEY,))
        write = asyncio.create_task(db.write(add_company, "Waiting"))
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        for _ in range(500):
            if backend.query(database_url, waiting)[0][0]:
                break
            await asyncio.sleep(0.01)
        assert backend.query(database_url, waiting)[0][0] == 1 and not write.done()
        other.execute("COMMIT")
        await asyncio.wait_for(write, 10)
    finally:
        other.close()
    assert [r[0] for r in backend.query(database_url, "SELECT name FROM company")] == ["Waiting"]


async def test_a_read_sees_one_snapshot(db):
    """Rows committed while a read runs are not half in, half out of it (PostgreSQL: REPEATABLE READ; SQLite:
    a read transaction)."""
    await db.write(add_company, "A")
    started, go_on = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def read_twice() -> tuple[int, int]:
        first = Company.select().count()
        loop.call_soon_threadsafe(started.set)
        asyncio.run_coroutine_threadsafe(go_on.wait(), loop).result(10)
        return first, Company.select().count()

    reading = asyncio.create_task(db.read(read_twice))
    await started.wait()
    await db.write(add_company, "B")
    go_on.set()
    assert await reading == (1, 1)


@postgres_only
def test_doctor_checks_the_server_the_schema_and_that_it_takes_writes(tmp_path, database_url):
    asyncio.run(_migrated(make_settings(tmp_path / "data")))
    env = {k: None for k in os.environ if backend.is_ambient_setting(k)}
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "doctor", "--json"], env=env)
    database = {c["name"]: c for c in json.loads(result.stdout)["checks"]}["database"]
    assert database["status"] == "ok", database
    assert database["summary"].startswith("PostgreSQL ") and f"schema {migrations.LATEST_VERSION}" in database["summary"]


async def _migrated(settings) -> None:
    from appliance.core.services import open_core

    core = open_core(settings)
    await core.close()
