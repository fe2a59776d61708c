"""Read-only queries for diagnostics (`appliance doctor`, `appliance logs`): the database as it is,
never created, migrated or written, while a server may be writing it.

Why a plain driver connection and not the models: peewee's models are bound to one database for the
process (open_database initialises it, and open_core migrates), and a read-only look must not do either.
SQLite's is opened with `mode=ro`; PostgreSQL's sets its session read-only (a role of its own with only
SELECT would be the stricter way, for a site that wants it). Both are used through dialect's `?`
interface, so the queries below are written once.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from appliance.store import dialect
from appliance.store.times import from_db, to_db


class DatabaseMissing(LookupError):
    pass


def open_readonly(path: Path, timeout_s: float = 5.0) -> sqlite3.Connection:
    """A connection that cannot write; raises DatabaseMissing (no file) or sqlite3.DatabaseError
    (not a database, unreadable). In WAL mode SQLite may create the -wal and -shm files beside it
    (owned like the database when run as root): that is how readers share the WAL, not a write."""
    if not path.is_file():
        raise DatabaseMissing(str(path))
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout_s,
                           isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # a garbage file fails here
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def open_readonly_url(url: str, timeout_s: float = 5.0):
    """A read-only session on the PostgreSQL database; raises psycopg's errors (cannot connect, refused)."""
    if dialect.psycopg is None:
        raise dialect.DatabaseUrlError("database_url names PostgreSQL, but its driver is not installed: "
                                       "pip install 'depot-appliance[postgres]' (psycopg)")
    conn = dialect.psycopg.connect(dialect.check_url(url), autocommit=True, connect_timeout=max(1, round(timeout_s)),
                                   application_name="depot-appliance doctor")
    conn.execute("SET default_transaction_read_only = on")
    conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{int(timeout_s * 1000)}",))
    return dialect.wrap_connection(conn)


def has_table(conn, name: str) -> bool:
    if dialect.is_postgres_connection(conn):
        sql = "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?"
    else:
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(sql, (name,)).fetchone() is not None


@dataclass(frozen=True)
class ServerFacts:
    version: str  # e.g. 15.18
    size_bytes: int
    read_only: bool  # a standby (recovery): the appliance cannot write there


def server_facts(conn) -> ServerFacts:
    """PostgreSQL: the server's version, the database's size, and whether it can take writes."""
    version, size, recovery = conn.execute(
        "SELECT current_setting('server_version'), pg_database_size(current_database()), pg_is_in_recovery()"
    ).fetchone()
    return ServerFacts(version.split()[0], size, recovery)


def integrity_problems(conn: sqlite3.Connection, full: bool = False, limit: int = 20) -> list[str]:
    """SQLite only (a PostgreSQL server checks its own pages). What `PRAGMA quick_check` (or the slower integrity_check, which also checks indexes' contents)
    finds; empty when the database is sound."""
    rows = conn.execute(f"PRAGMA {'integrity_check' if full else 'quick_check'}({int(limit)})").fetchall()
    return [] if [r[0] for r in rows] == ["ok"] else [r[0] for r in rows]


def journal_mode(conn: sqlite3.Connection) -> str:  # SQLite only
    return conn.execute("PRAGMA journal_mode").fetchone()[0]


def schema_version(conn: sqlite3.Connection) -> int | None:
    if not has_table(conn, "schema_version"):
        return None
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return row[0] if row else None


def newest_received(conn: sqlite3.Connection) -> dt.datetime | None:
    """The newest time this box wrote as 'now' into the communication log, transactions and chargers'
    last contact: a clock now earlier than it has jumped back."""
    queries = [("comm_log", "SELECT max(logged_at) FROM comm_log"),  # indexed
               # the newest row by id is the newest received; max(created_at) would scan the table
               ("transaction", 'SELECT created_at FROM "transaction" ORDER BY id DESC LIMIT 1'),
               ("charger", "SELECT max(last_contact_at) FROM charger")]
    found = [from_db(row[0]) for table, sql in queries if has_table(conn, table)
             for row in [conn.execute(sql).fetchone()] if row and row[0]]
    return max(found, default=None)


@dataclass(frozen=True)
class HeadOfficeState:
    url: str
    last_success_at: dt.datetime | None
    last_error: str
    last_error_at: dt.datetime | None
    failures: int


def head_office(conn: sqlite3.Connection) -> HeadOfficeState | None:
    """The configured head office (the token is not read), or None when none is."""
    if not has_table(conn, "head_office"):
        return None
    row = conn.execute("SELECT url, last_success_at, last_error, last_error_at, failures FROM head_office "
                       "ORDER BY id LIMIT 1").fetchone()
    if row is None or not row[0]:
        return None
    return HeadOfficeState(row[0], from_db(row[1]), row[2] or "", from_db(row[3]), row[4] or 0)


def outbox(conn: sqlite3.Connection) -> tuple[int, dt.datetime | None]:
    """(charge detail records not yet sent to head office, when the oldest of them was written)."""
    if not has_table(conn, "charge_detail_record"):
        return 0, None
    count, oldest = conn.execute("SELECT count(*), min(created_at) FROM charge_detail_record "
                                 "WHERE sent_at IS NULL").fetchone()
    return count, from_db(oldest)


@dataclass(frozen=True)
class NotificationQueue:
    stored_settings: dict[str, str]  # what `appliance notify set` stored (the password among them: not shown)
    failing: int  # waiting after a failed attempt
    oldest_failing_at: dt.datetime | None
    last_error: str
    refused: int  # refused for good (kept 30 days)


def notification_queue(conn: sqlite3.Connection) -> NotificationQueue | None:
    """How the notification queue stands, or None before the schema has it."""
    if not has_table(conn, "notification"):
        return None
    stored = dict(conn.execute("SELECT name, value FROM stored_setting").fetchall())
    failing, oldest = conn.execute("SELECT count(*), min(created_at) FROM notification "
                                   "WHERE status = 'pending' AND attempts > 0").fetchone()
    row = conn.execute("SELECT last_error FROM notification WHERE last_error <> '' AND status IN ('pending', 'failed') "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    refused = conn.execute("SELECT count(*) FROM notification WHERE status = 'failed'").fetchone()[0]
    return NotificationQueue(stored, failing, from_db(oldest), row[0] if row else "", refused)


@dataclass(frozen=True)
class SilentCharger:
    identity: str
    last_contact_at: dt.datetime | None  # None: never connected


def silent_chargers(conn: sqlite3.Connection, heard_before: dt.datetime) -> list[SilentCharger]:
    """Accepted chargers not heard from since `heard_before` (or never), longest silent first."""
    rows = conn.execute("SELECT identity, last_contact_at FROM charger WHERE registration = 'accepted' AND "
                        "(last_contact_at IS NULL OR last_contact_at < ?) "
                        "ORDER BY last_contact_at IS NOT NULL, last_contact_at, identity",
                        (str(to_db(heard_before)),)).fetchall()
    return [SilentCharger(identity, from_db(at)) for identity, at in rows]


def charger_known(conn: sqlite3.Connection, identity: str) -> bool:
    """Recorded as a charger, or has messages in the communication log (a rejected stranger's)."""
    return (conn.execute("SELECT 1 FROM charger WHERE identity = ?", (identity,)).fetchone() is not None
            or conn.execute("SELECT 1 FROM comm_log WHERE charger_identity = ? LIMIT 1", (identity,)).fetchone()
            is not None)


@dataclass(frozen=True)
class LoggedMessage:
    id: int
    logged_at: dt.datetime
    direction: str
    message: str


def last_messages(conn: sqlite3.Connection, identity: str, limit: int | None,
                  since: dt.datetime | None = None) -> list[LoggedMessage]:
    """The charger's last `limit` messages (all when None), since `since` if given, oldest first."""
    sql = "SELECT id, logged_at, direction, message FROM comm_log WHERE charger_identity = ?"
    args: list = [identity]
    if since is not None:
        sql += " AND logged_at >= ?"
        args.append(str(to_db(since)))
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return [LoggedMessage(i, from_db(at), d, m) for i, at, d, m in reversed(conn.execute(sql, args).fetchall())]


def messages_after(conn: sqlite3.Connection, identity: str, after_id: int, limit: int = 1000) -> list[LoggedMessage]:
    """Messages committed since the one with `after_id` (ids grow in commit order: one writer)."""
    rows = conn.execute("SELECT id, logged_at, direction, message FROM comm_log WHERE charger_identity = ? AND id > ? "
                        "ORDER BY id LIMIT ?", (identity, after_id, limit)).fetchall()
    return [LoggedMessage(i, from_db(at), d, m) for i, at, d, m in rows]


def last_message_id(conn: sqlite3.Connection, identity: str) -> int:
    row = conn.execute("SELECT max(id) FROM comm_log WHERE charger_identity = ?", (identity,)).fetchone()
    return row[0] or 0
