"""When the database cannot take a write: the disk is full, or another process holds the write lock.

Neither may ever end in an acknowledgement for data that was not stored (DESIGN: nothing
acknowledged is lost), so the writer fails the jobs concerned with an error saying why, and the
adapters answer the charger with an error: the charger keeps its message and sends it again. What
the operator sees is the writer's condition (`StorageCondition`), logged once when it changes and
shown by /healthz, not a traceback per message.

Disk full is recognised by SQLite's SQLITE_FULL (which it also returns for ENOSPC from the file
system, and for a database at its max_page_count) or by an OSError ENOSPC; a lock held elsewhere
by SQLITE_BUSY/SQLITE_LOCKED ("database is locked"). peewee wraps the sqlite3 error in its own, with
the original as its first argument, and a failed savepoint rollback chains it as the context: the
whole chain is searched.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Protocol

from appliance.store.logs import INSERT_COMMLOG

log = logging.getLogger(__name__)

SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL = 5, 6, 13
FULL_MESSAGE = "the appliance cannot store data: disk full"

OK, FULL, LOCKED = "ok", "full", "locked"
# PostgreSQL's SQLSTATE for a full disk (psycopg's DiskFull).
PG_DISK_FULL = ("53100",)
# While the disk is full, the communication log is pruned to make room at most this often.
FREE_SPACE_EVERY_S = 10.0
# A disk that is nearly full takes small writes and refuses bigger ones: the condition ends only after
# writes have gone in this long without a refusal, so that it is logged once, not at every message.
FULL_ENDS_AFTER_S = 30.0
# Unawaited rows kept for the next batch while the database is locked elsewhere, at most.
MAX_CARRIED_ROWS = 100_000


class StoreError(RuntimeError):
    """The database cannot be used (not a SQLite file, unreadable, disk full, PostgreSQL not reachable);
    the message says which."""


class StoreFullError(StoreError):
    """Nothing of this write was stored: the disk (or the database's size limit) is full."""

    def __init__(self) -> None:
        super().__init__(FULL_MESSAGE)


class StoreBusyError(StoreError):
    """Nothing of this write was stored: another process held the write lock for longer than we wait."""

    def __init__(self, waited_s: float) -> None:
        super().__init__(f"the appliance cannot store data: the database is busy, another process (the server, "
                         f"or an `appliance` command) has been writing to it for more than {waited_s:g} s; "
                         "nothing was stored, try again")


def _chain(error: BaseException | None):
    seen: set[int] = set()
    stack = [error]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend([e.__cause__, e.__context__])
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))


def is_full(error: BaseException | None) -> bool:
    for e in _chain(error):
        if isinstance(e, StoreFullError):
            return True
        if isinstance(e, sqlite3.Error) and (getattr(e, "sqlite_errorcode", None) == SQLITE_FULL
                                             or "database or disk is full" in str(e)):
            return True
        if getattr(e, "sqlstate", None) in PG_DISK_FULL:
            return True
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return True
    return False


def is_busy(error: BaseException | None) -> bool:
    for e in _chain(error):
        if isinstance(e, sqlite3.Error) and (getattr(e, "sqlite_errorcode", None) in (SQLITE_BUSY, SQLITE_LOCKED)
                                             or "database is locked" in str(e)):
            return True
    return False


@dataclass(frozen=True)
class StorageState:
    """What /healthz shows of the store. `refused` counts writes answered with an error since `since`;
    `log_rows_dropped` communication-log rows given up to leave the space to charger data."""

    state: str = OK
    reason: str = ""
    since: dt.datetime | None = None
    refused: int = 0
    log_rows_dropped: int = 0
    log_rows_freed: int = 0  # rows pruned to make room, since the disk was last full


class StorageCondition:
    """The writer's condition, changed by the writer thread, read by anyone (a snapshot).

    Each change of state is logged once: a full disk or a lock held elsewhere produces one warning
    when it starts and one line when it ends, however many messages it refuses meanwhile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = StorageState()

    @property
    def current(self) -> StorageState:
        return self._state

    @property
    def full(self) -> bool:
        return self._state.state == FULL

    def become(self, state: str, reason: str, now: dt.datetime) -> None:
        with self._lock:
            before = self._state
            if before.state == state:
                return
            if state == OK:
                log.warning("storage writes again (%s for %s; %d writes refused, %d communication-log rows "
                            "dropped)", before.reason, now - before.since if before.since else "?", before.refused,
                            before.log_rows_dropped)
                self._state = StorageState(log_rows_freed=before.log_rows_freed if before.state == FULL else 0)
                return
            log.error("storage: %s", reason)
            freed = before.log_rows_freed if before.state != OK else 0
            self._state = StorageState(state, reason, now, log_rows_freed=freed)

    def count(self, refused: int = 0, log_rows_dropped: int = 0, log_rows_freed: int = 0) -> None:
        with self._lock:
            s = self._state
            self._state = replace(s, refused=s.refused + refused, log_rows_dropped=s.log_rows_dropped + log_rows_dropped,
                                  log_rows_freed=s.log_rows_freed + log_rows_freed)


def free_log_space(connection: sqlite3.Connection, fraction: float = 0.25, at_least: int = 1000) -> int:
    """Delete the oldest `fraction` of the communication log (at least `at_least` rows), in a
    transaction of its own; returns the rows deleted. The communication log is the biggest table and
    the only one whose loss costs no charger data: it goes first when space is short. Deleted pages
    go to SQLite's free list, where the next writes find room without growing the file."""
    low, high = connection.execute("SELECT min(id), max(id) FROM comm_log").fetchone()
    if low is None:
        return 0
    cut = low + max(at_least, int((high - low + 1) * fraction)) - 1
    connection.execute("BEGIN IMMEDIATE")
    try:
        removed = connection.execute("DELETE FROM comm_log WHERE id <= ?", (cut,)).rowcount
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return removed


class SpaceReserve:
    """A file beside the database that holds some disk space in reserve, given up when the disk is full.

    On a disk that is really full even deleting rows fails: SQLite needs room in the -wal for the
    pages it changes. Giving up the reserve makes that room, so the communication log can be pruned
    and its pages reused. It is taken again once writes go in again and the disk has room for it.
    Its size follows the database's (5%, within RESERVE_MIN_BYTES..RESERVE_MAX_BYTES)."""

    RESERVE_MIN_BYTES = 256 * 1024
    RESERVE_MAX_BYTES = 16 * 1024 * 1024

    def __init__(self, database_path) -> None:
        self.database_path = database_path
        self.path = database_path.with_name(database_path.name + ".reserve")

    def take(self) -> bool:
        """Make (or resize) the reserve; False when the disk has no room for it."""
        try:
            size = self.database_path.stat().st_size // 20
        except OSError:
            size = 0
        size = min(self.RESERVE_MAX_BYTES, max(self.RESERVE_MIN_BYTES, size))
        try:
            if self.path.exists() and self.path.stat().st_size >= size:
                return True
            with open(self.path, "wb") as f:
                os.posix_fallocate(f.fileno(), 0, size)  # allocated blocks, not a sparse file
            return True
        except OSError as e:
            self.path.unlink(missing_ok=True)
            if e.errno != errno.ENOSPC:
                log.warning("cannot keep disk space in reserve at %s: %s", self.path, e)
            return False

    def release(self) -> int:
        """Give the reserve back to the file system; returns the bytes freed."""
        try:
            size = self.path.stat().st_size
            self.path.unlink()
        except OSError:
            return 0
        return size


class _Job(Protocol):
    error: BaseException | None


class StorageFaults:
    """The writer's side of a full disk or a lock held elsewhere, batch by batch: which unawaited rows
    go in (none of the communication log while the disk is full; those a locked batch could not
    write, carried), the final error of every job, the condition that follows, and room made by
    giving up the reserve and pruning the log. `database_path` None: PostgreSQL, whose disk is the
    server's (no reserve file beside it, no log pruning for room)."""

    def __init__(self, database_path: Path | None) -> None:
        self.condition = StorageCondition()
        self.reserve = SpaceReserve(database_path) if database_path is not None else None
        self.log_space_freed = 0  # times the communication log was pruned for room (its size is then re-measured)
        self._carried: dict[str, list[tuple]] = {}
        self._freed_at = -FREE_SPACE_EVERY_S
        self._no_room_for_log = False
        self._refused_at = 0.0

    def take_reserve(self) -> None:
        if self.reserve is not None:
            self.reserve.take()

    def rows_to_append(self, rows: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
        """The batch's unawaited rows after those carried from a batch that found the database locked."""
        appended, self._carried = self._carried, {}
        for sql, values in rows.items():
            appended.setdefault(sql, []).extend(values)
        if self.condition.full and INSERT_COMMLOG in appended:  # charger data needs the room
            self.condition.count(log_rows_dropped=len(appended.pop(INSERT_COMMLOG)))
        return appended

    def carry(self, rows: dict[str, list[tuple]]) -> None:
        """Keep a locked batch's unawaited rows (the newest, up to MAX_CARRIED_ROWS) for the next one."""
        kept = 0
        for sql, values in rows.items():
            room = max(0, MAX_CARRIED_ROWS - kept)
            if len(values) > room:
                self.condition.count(log_rows_dropped=len(values) - room)
                values = values[len(values) - room:]
            self._carried[sql] = values
            kept += len(values)

    def log_found_no_room(self) -> None:
        """Charger data still fit, the communication log's rows no longer did: the disk is full."""
        self._no_room_for_log = True

    def settle(self, jobs: list[_Job], failure: BaseException | None,
               connection: Callable[[], sqlite3.Connection]) -> None:
        """Give every job its final error, and change the condition by what happened. `connection`:
        the writer's, to prune the log with when the disk is full."""
        full = is_full(failure) or any(is_full(job.error) for job in jobs) or self._no_room_for_log
        self._no_room_for_log = False
        for job in jobs:
            if failure is not None and (job.error is None or isinstance(failure, StoreBusyError)):
                job.error = failure
            if is_full(job.error) and not isinstance(job.error, StoreFullError):
                cause, job.error = job.error, StoreFullError()
                job.error.__cause__ = cause
        refused = sum(1 for job in jobs if isinstance(job.error, (StoreFullError, StoreBusyError)))
        if refused or full:
            self._refused_at = time.monotonic()
        if full:
            self.condition.become(FULL, "disk full: not storing; chargers get an error for what needs storing and "
                                  "send it again; the communication log is paused and pruned to make room", _now())
            self._free_space(connection)
        elif (failure is None and jobs and self.condition.full
              and time.monotonic() - self._refused_at >= FULL_ENDS_AFTER_S):
            self.condition.become(OK, "", _now())
            self.take_reserve()
        self.condition.count(refused=refused)

    def _free_space(self, connection: Callable[[], sqlite3.Connection]) -> None:
        if self.reserve is None or time.monotonic() - self._freed_at < FREE_SPACE_EVERY_S:
            return
        self._freed_at = time.monotonic()
        released = self.reserve.release()
        if released:
            log.warning("disk full: gave up the %d KB kept in reserve at %s", released // 1024, self.reserve.path)
        try:
            removed = free_log_space(connection())
        except Exception as e:
            log.warning("could not prune the communication log to make room: %s", e)
            return
        if removed:
            self.log_space_freed += 1
            self.condition.count(log_rows_freed=removed)
            log.warning("disk full: pruned the oldest %d communication-log rows to make room", removed)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
