"""The database the tests run against: a SQLite file per test (the default), or PostgreSQL when
APPLIANCE_TEST_DATABASE_URL is a postgresql:// URL (the role needs CREATE on that database).

On PostgreSQL every test gets a schema of its own, named in its database URL (search_path), which
the appliance finds migrated and empty, its ids starting at 1, as a new SQLite file would be. Creating
the tables costs ~0.3 s, emptying them ~5 ms: so a test's schema is emptied after it and handed to the
next test, unless the test left it otherwise than the appliance makes it (a migration test, a newer
schema version), in which case it is dropped. A test that needs a schema with nothing in it at all
(no tables: the first start of an appliance) asks for `empty_database_url()`; a data directory shared by
a module's tests (its server) gets a schema of its own with `share()`, and each example of a property
test one with `own_database()`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import urllib.parse
from pathlib import Path
from typing import Iterator

import pytest

TEST_URL = os.environ.get("APPLIANCE_TEST_DATABASE_URL", "")
ON_POSTGRES = bool(TEST_URL)
ENV = "APPLIANCE_DATABASE_URL"  # how the appliance (and its CLI and server processes) is told the URL


def sqlite_only(reason: str):
    """Skip a test of something only SQLite has (a file to copy, PRAGMAs, fsync of the -wal)."""
    return pytest.mark.skipif(ON_POSTGRES, reason=f"SQLite only: {reason}")


def database_url() -> str:
    """The current test's database URL ('' on SQLite: the file in the data directory)."""
    return os.environ.get(ENV, "") if ON_POSTGRES else ""


def location(path: Path) -> Path | str:
    """Where a test's own Database goes: the SQLite file `path`, or the test's PostgreSQL schema."""
    return database_url() or path


def with_schema(url: str, schema: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query)
    query = [(k, v) for k, v in query if k != "options"] + [("options", f"-csearch_path={schema}")]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def connect(url: str):
    """A plain psycopg connection (autocommit), outside the appliance."""
    import psycopg

    return psycopg.connect(url, autocommit=True)


class Schemas:
    """The schemas of one test session: created, emptied and handed on, dropped at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.admin = connect(url)
        # A test that left a transaction open somewhere must not hang the clean-up: it gives up instead.
        self.admin.execute("SET lock_timeout = '5s'")
        self.prefix = f"t{os.getpid()}_"
        self.counter = itertools.count(1)
        self.clean: list[str] = []  # migrated and emptied, ready for the next test
        self.sequences: dict[str, list[str]] = {}
        self.all: set[str] = set()

    def new(self) -> str:
        name = f"{self.prefix}{next(self.counter)}"
        self.admin.execute(f'CREATE SCHEMA "{name}"')
        self.all.add(name)
        return name

    def take(self) -> str:
        return self.clean.pop() if self.clean else self.new()

    def give_back(self, name: str) -> None:
        """Empty the schema for the next test if it holds what the appliance makes; else drop it."""
        from appliance.store import migrations, models

        tables = {m._meta.table_name for m in models.ALL_MODELS}
        try:
            found = {r[0] for r in self.admin.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                                      (name,))}
            if found == tables and self._version(name) == migrations.LATEST_VERSION:
                self._empty(name, tables)
                self.clean.append(name)
            elif found:
                self.drop(name)
            else:
                self.clean.append(name)  # nothing in it: as new
        except Exception:  # locked by something the test left behind: the end of the session drops it
            pass

    def _version(self, name: str) -> int | None:
        return self.admin.execute(f'SELECT max(version) FROM "{name}".schema_version').fetchone()[0]

    def _empty(self, name: str, tables: set[str]) -> None:
        from peewee import sort_models

        from appliance.store import models

        if name not in self.sequences:
            self.sequences[name] = [r[0] for r in self.admin.execute(
                "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = %s", (name,))
                if not r[0].startswith("schema_version_")]
        ordered = [m._meta.table_name for m in reversed(sort_models(models.ALL_MODELS))
                   if m is not models.SchemaVersion]  # keeps its stamp: the schema stays migrated
        with self.admin.transaction():
            self.admin.execute("; ".join(f'DELETE FROM "{name}"."{t}"' for t in ordered))
            self.admin.execute("SELECT " + ", ".join(f"setval('\"{name}\".\"{s}\"', 1, false)"
                                                     for s in self.sequences[name]))

    def drop(self, name: str) -> None:
        self.admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        self.all.discard(name)
        self.sequences.pop(name, None)

    def close(self) -> None:
        for name in sorted(self.all):
            try:
                self.drop(name)
            except Exception:  # still locked: the next session's run removes it
                pass
        self.admin.close()

    def drop_leftovers(self) -> None:
        """Schemas of earlier sessions that were killed before they could drop theirs."""
        for (name,) in self.admin.execute("SELECT nspname FROM pg_namespace WHERE nspname ~ '^t[0-9]+_[0-9]+$'"
                                          ).fetchall():
            pid = int(name[1:].split("_")[0])
            if pid != os.getpid() and not _alive(pid):
                try:
                    self.admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
                except Exception:
                    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_schemas: Schemas | None = None


def schemas() -> Schemas:
    global _schemas
    if _schemas is None:
        _schemas = Schemas(TEST_URL)
        _schemas.drop_leftovers()
    return _schemas


def empty_database_url() -> str:
    """A schema with nothing in it (PostgreSQL): dropped when the session ends."""
    return with_schema(TEST_URL, schemas().new())


def close() -> None:
    if _schemas is not None:
        _schemas.close()


def query(where: Path | str, sql: str, params: tuple = (), dicts: bool = False) -> list:
    """Run one statement (`?` placeholders) on a connection of its own, outside the appliance: it sees
    only what is committed, and what it writes is committed at once. `where`: a SQLite file or a URL.
    Rows are tuples, or dicts by column name; times are as each database gives them (SQLite: text)."""
    import sqlite3

    from appliance.store.dialect import is_postgres_url, wrap_connection

    if is_postgres_url(where):
        with connect(str(where)) as conn:
            cursor = wrap_connection(conn).execute(sql, params)
            if not cursor.description:
                return []
            rows = cursor.fetchall()
            names = [c.name for c in cursor.description]
            return [dict(zip(names, row)) for row in rows] if dicts else rows
    conn = sqlite3.connect(where)
    try:
        if dicts:
            conn.row_factory = sqlite3.Row
        with conn:
            rows = conn.execute(sql, params).fetchall()
        return [dict(row) for row in rows] if dicts else rows
    finally:
        conn.close()


def is_postgres_location(where: Path | str) -> bool:
    from appliance.store.dialect import is_postgres_url

    return is_postgres_url(where)


def is_ambient_setting(key: str) -> bool:
    """An APPLIANCE_* variable of the machine running the tests, which a test keeps out of the appliance's
    processes; the test's own database URL is not one (it is how those processes find the test's database)."""
    return key.startswith("APPLIANCE_") and key != ENV


_shared: dict[Path, str] = {}


def share(data_dir: Path) -> Path:
    """A data directory that outlives a test (a module's server, used by each of its tests): on PostgreSQL
    it gets a schema of its own, which every process working on that directory is given (env_for), as
    the SQLite file in it would be found by each. Returns the directory."""
    if ON_POSTGRES:
        _shared[Path(data_dir)] = with_schema(TEST_URL, schemas().new())
    return data_dir


def env_for(data_dir: Path) -> dict[str, str]:
    """The environment that sends a process working on `data_dir` to its database: that of a shared
    directory (share), else none beyond the test's own."""
    url = _shared.get(Path(data_dir))
    return {ENV: url} if url else {}


@contextlib.contextmanager
def own_database() -> Iterator[str]:
    """A database of its own for one part of a test (each example of a property test): a PostgreSQL schema
    as a test gets, given back afterwards; '' on SQLite (the part's own data directory has its file)."""
    if not ON_POSTGRES:
        yield ""
        return
    name = schemas().take()
    try:
        yield with_schema(TEST_URL, name)
    finally:
        schemas().give_back(name)
