"""The two databases the store runs on, and the little that differs between them, in one place.

SQLite is a file in the data directory (the default); PostgreSQL is a database URL (setting
database_url), for a site that outgrows one box. Queries are written once: peewee's for the ordinary
ones, plain SQL for the hot paths (boot, status, meter values: peewee's query building costs more
than the statement there). Plain SQL uses `?` placeholders and only SQL that both take (SQLite 3.35
or newer: RETURNING, ON CONFLICT, NULLS LAST, TRUE/FALSE). `raw()` gives the current thread's
connection with sqlite3's interface (`execute`, `executemany`, cursors with fetchone, fetchall,
rowcount): SQLite's own, or psycopg's behind an adapter that writes `?` as `%s`.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import urlsplit

from peewee import Database as PeeweeDatabase
from peewee import IntegrityError as PeeweeIntegrityError
from peewee import PostgresqlDatabase

try:  # an optional extra (depot-appliance[postgres]): an installation on SQLite does without it
    import psycopg
except ImportError:  # pragma: no cover - the test extra installs it
    psycopg = None

POSTGRES_SCHEMES = ("postgresql", "postgres")
# What a failed statement raises on either database (peewee's own queries wrap them in peewee's errors).
DRIVER_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error,) + ((psycopg.Error,) if psycopg else ())
# What a damaged, locked or unreachable database raises (not a mistake in the statement's use).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,) + ((psycopg.DatabaseError,) if psycopg else ())
INTEGRITY_ERRORS: tuple[type[BaseException], ...] = (
    (PeeweeIntegrityError, sqlite3.IntegrityError) + ((psycopg.IntegrityError,) if psycopg else ()))
# The key of the advisory lock that lets one writer at a time into the database (write_transaction).
WRITER_LOCK_KEY = 0x0DE907
POSTGRES_MAX_PARAMETERS = 65_535


class DatabaseUrlError(ValueError):
    pass


def is_postgres_url(location: Any) -> bool:
    return isinstance(location, str) and urlsplit(location).scheme in POSTGRES_SCHEMES


def check_url(url: str) -> str:
    """The URL as psycopg takes it (postgres:// spelled postgresql://); raises DatabaseUrlError."""
    parts = urlsplit(url)
    if parts.scheme not in POSTGRES_SCHEMES:
        raise DatabaseUrlError(f"{redact(url)!r} is not a postgresql:// URL (empty: SQLite in the data directory)")
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        raise DatabaseUrlError(f"{redact(url)!r} names no database (postgresql://USER:PASSWORD@HOST:5432/DATABASE)")
    return "postgresql" + url[len(parts.scheme):]


def redact(url: str) -> str:
    """The URL fit to show or log: its password masked (in the user part or as a password= parameter)."""
    parts = urlsplit(url)
    if parts.password:
        url = url.replace(f":{parts.password}@", ":•••@", 1)
    return re.sub(r"(?i)(password=)[^&]*", r"\1•••", url)


def open_postgres(url: str) -> PostgresqlDatabase:
    if psycopg is None:
        raise DatabaseUrlError("database_url names PostgreSQL, but its driver is not installed: "
                               "pip install 'depot-appliance[postgres]' (psycopg)")
    params = {} if "connect_timeout" in url else {"connect_timeout": 10}
    if "application_name" not in url:
        params["application_name"] = "depot-appliance"
    return PostgresqlDatabase(check_url(url), prefer_psycopg3=True, **params)


@contextlib.contextmanager
def write_transaction(db: PeeweeDatabase) -> Iterator[None]:
    """A transaction that no other writer (another process: the CLI, a second server starting) interleaves
    with: SQLite's write lock taken at BEGIN; on PostgreSQL an advisory lock held to the end of the
    transaction, for which another writer waits. Two things rely on it: jobs that read and then write
    (a status report, a replayed start) see no other writer's rows appear in between, and ids are taken
    in commit order, so that a reader who goes on from the last id it saw (the event journal's tail,
    `appliance logs --follow`) misses no row; with writers interleaved, a sequence's later value can be
    committed first."""
    if not is_postgres(db):
        with db.atomic("IMMEDIATE"):
            yield
        return
    with db.atomic():
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK_KEY,))
        yield


def is_postgres(db: PeeweeDatabase) -> bool:
    db = getattr(db, "obj", db)  # the models' DatabaseProxy, or a database
    return isinstance(db, PostgresqlDatabase)


def raw(db: PeeweeDatabase) -> Any:
    """The calling thread's connection with sqlite3's interface and `?` placeholders."""
    conn = db.connection()
    return _Postgres(conn) if is_postgres(db) else conn


def insert_rows(db: PeeweeDatabase, sql: str, row: str, rows: list[Sequence]) -> int:
    """INSERT rows (`sql` with `{rows}` where the VALUES go, `row` one row's placeholders); returns how many
    were inserted. SQLite: one statement run for each row (executemany, in-process: cheap). PostgreSQL: all
    rows in one statement, one round trip to the server instead of one for each row."""
    if not rows:
        return 0
    if is_postgres(db):  # in chunks: a statement takes at most 65,535 parameters
        per_chunk = max(1, POSTGRES_MAX_PARAMETERS // max(1, len(rows[0])))
        inserted = 0
        for at in range(0, len(rows), per_chunk):
            chunk = rows[at:at + per_chunk]
            inserted += raw(db).execute(sql.format(rows=", ".join([row] * len(chunk))),
                                        [v for r in chunk for v in r]).rowcount
        return inserted
    return db.connection().executemany(sql.format(rows=row), rows).rowcount


def is_postgres_connection(conn: Any) -> bool:
    return isinstance(conn, _Postgres)


def wrap_connection(conn: Any) -> Any:
    """A driver connection (opened outside peewee) with sqlite3's interface and `?` placeholders."""
    return conn if isinstance(conn, sqlite3.Connection) else _Postgres(conn)


class _Postgres:
    """psycopg's connection as the store's plain SQL expects it. Cursors are psycopg's own: they have
    fetchone, fetchall, rowcount (summed over an executemany, as sqlite3's) and iterate over rows."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence = ()) -> Any:
        cursor = self._conn.cursor()
        if params:
            cursor.execute(placeholders(sql), tuple(params))
        else:  # without parameters psycopg takes the text as it is (a `%` stays single)
            cursor.execute(sql)
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> Any:
        cursor = self._conn.cursor()
        cursor.executemany(placeholders(sql), rows)
        return cursor

    def close(self) -> None:
        self._conn.close()


_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?|%")


@functools.lru_cache(maxsize=512)
def placeholders(sql: str) -> str:
    """SQLite's `?` placeholders as psycopg's `%s`; a literal `%` doubled (psycopg reads `%` as the start
    of a placeholder, inside quotes too); a `?` inside quotes is left alone."""
    return _TOKENS.sub(lambda m: {"?": "%s", "%": "%%"}.get(m[0], m[0].replace("%", "%%")), sql)


def text_bytes(db: PeeweeDatabase, expression: str) -> str:
    """SQL for the size in bytes of a text as stored (UTF-8), not its length in characters."""
    # SQLite has no octet_length before 3.43; a text cast to BLOB has its bytes' length.
    return f"octet_length({expression})" if is_postgres(db) else f"length(CAST({expression} AS BLOB))"
