"""The database: one writer thread with group commit, reads off the event loop; SQLite's pragmas.

SQLite takes one writer at a time, and a commit (an fsync with synchronous=FULL) must never
run on the event loop. Every write from async code goes to one writer thread as a job. The
writer takes whatever has queued since its last commit, runs each job in a savepoint of one
transaction, commits once, and only then resolves the jobs' futures: a caller that awaits
`write()` knows its data is durable, and under load many jobs share one commit (group commit),
so a MeterValues answer waits for one commit, not for a timer.

Power cuts. The box can lose power at any moment, and what a charger was told is stored must
still be there when it comes back (DESIGN: nothing acknowledged is lost). Hence:
- WAL (journal_mode=wal): a commit appends to the -wal file and never rewrites pages of the main
  file in place; a torn append fails its checksum and is discarded at the next open, so the
  database is always one committed state. Readers (the web UI, the CLI, `appliance backup`) do
  not block the writer. It needs the -wal and -shm files to stay beside the database: copy it
  only with the backup API (store/backup.py), never with cp.
- synchronous=FULL (the default, setting sqlite_synchronous): every commit fsyncs the -wal before
  it returns, and the writer answers the chargers only after that. With WAL+NORMAL the -wal is
  fsynced only at checkpoints: consistent after a power cut, but the last commits, already
  acknowledged to chargers, can be gone. NORMAL is for process crashes only (a killed process
  loses nothing either way: the OS still has the pages). FULL costs one fsync per commit, not per
  message: the writer's group commit shares it among everything queued meanwhile.
- The -wal file is checkpointed into the main file every ~4 MB (wal_autocheckpoint, by the
  committing connection, i.e. on the writer thread, never on the event loop) and cut back to
  journal_size_limit afterwards, so a burst (or a long backup holding a snapshot) does not leave
  a large -wal on the disk for good.
- What no setting can fix: storage that acknowledges a flush it has not done (some SD cards and
  USB sticks) loses the last writes whatever SQLite does; use storage with power-loss protection.

PostgreSQL (setting database_url) gets the same shape: one writer thread whose batches are one
transaction each, jobs in savepoints, and a transaction-scoped advisory lock that lets one writer at a
time in, as SQLite's BEGIN IMMEDIATE does (the CLI writes from another process; read-then-write jobs
such as a status report's assume nobody writes between their read and their write). Its durability is
the server's (synchronous_commit, fsync): the writer answers after COMMIT returns. Readers read in
REPEATABLE READ transactions, the one snapshot a SQLite read transaction gives. Each thread has its own
connection (peewee's are per thread); a connection the server dropped is opened again for the next
batch or read.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from peewee import Database as PeeweeDatabase
from peewee import DatabaseError as PeeweeDatabaseError
from peewee import PeeweeException
from peewee import SqliteDatabase

from appliance.store import dialect, models

log = logging.getLogger(__name__)

# Bounded so that a burst cannot grow one transaction (and the latency of everyone in it) without limit.
MAX_JOBS_PER_COMMIT = 2000
# The -wal is copied into the database after this many pages (SQLite's default, ~4 MB) and truncated
# to this size afterwards (SQLite's default is to keep whatever size it reached).
WAL_CHECKPOINT_PAGES = 1000
WAL_KEPT_BYTES = 64 * 1024 * 1024
# PostgreSQL: a connection idle this long is checked (SELECT 1) before it is used again.
IDLE_CHECK_AFTER_S = 5.0


def open_sqlite(path: Path, synchronous: str = "full") -> SqliteDatabase:
    """Open (and bind the models to) the database file with the pragmas the appliance relies on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = SqliteDatabase(
        str(path),
        pragmas={
            "journal_mode": "wal",
            "synchronous": synchronous,
            "foreign_keys": 1,
            # Another process (the CLI) may hold the write lock for a moment.
            "busy_timeout": 10000,
            "cache_size": -16000,
            "wal_autocheckpoint": WAL_CHECKPOINT_PAGES,
            "journal_size_limit": WAL_KEPT_BYTES,
        },
        check_same_thread=False,
    )
    models.database.initialize(db)
    return db


def open_database(location: Path | str, synchronous: str = "full") -> PeeweeDatabase:
    """Open (and bind the models to) a SQLite file (a path) or a PostgreSQL database (a URL)."""
    if dialect.is_postgres_url(location):
        db = dialect.open_postgres(str(location))
        models.database.initialize(db)
        return db
    return open_sqlite(Path(location), synchronous)


def location_of(settings) -> Path | str:
    """Where the settings say the database is: the database URL, else the file in the data directory."""
    return settings.database_url or settings.database_path


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple
    future: asyncio.Future | None
    loop: asyncio.AbstractEventLoop | None
    result: Any = None
    error: BaseException | None = None


@dataclass
class _LogRows:
    """Rows appended to a table without waiting (communication log): coalesced per commit."""

    sql: str
    rows: list[tuple] = field(default_factory=list)


class StoreError(RuntimeError):
    """The database cannot be used (not a SQLite file, unreadable, disk full, PostgreSQL not reachable);
    the message says which."""


class Database:
    """Async access to the store: `await write(fn, *args)` and `await read(fn, *args)`.

    `fn` runs with the peewee database bound and a connection for its thread; for writes it
    runs inside the shared transaction, in a savepoint so that its failure spoils only itself.
    """

    def __init__(self, location: Path | str, synchronous: str = "full", readers: int = 2):
        """`location`: a SQLite file's path, or a postgresql:// URL."""
        self.postgres = dialect.is_postgres_url(location)
        self.path = None if self.postgres else Path(location)
        self.shown = dialect.redact(str(location)) if self.postgres else str(location)
        try:  # fail here, with a clear message, rather than in the writer thread
            self.peewee = open_database(location, synchronous)
            self.peewee.connect(reuse_if_open=True)
            self.peewee.close()
        except dialect.DatabaseUrlError as e:
            raise StoreError(str(e)) from None
        except (PeeweeDatabaseError, *dialect.DRIVER_ERRORS) as e:
            raise StoreError(f"cannot open the database {self.shown}: {_one_line(e)}") from None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="db-read")
        self._reader_connections: list = []
        self._writer = threading.Thread(target=self._write_loop, name="db-writer", daemon=True)
        self._closed = False
        self._used = threading.local()  # when this thread last used its connection (PostgreSQL)
        self.commits = 0
        self.jobs_committed = 0
        self._writer.start()

    # -- async API -----------------------------------------------------------------------

    async def write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._closed:
            raise RuntimeError("database is closed")
        if kwargs:
            fn = functools.partial(fn, **kwargs)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(fn, args, future, loop))
        return await future

    def append_rows(self, sql: str, row: tuple) -> None:
        """Queue a row for an append-only table; it is committed with the next batch, unawaited."""
        if not self._closed:
            self._queue.put(_LogRows(sql, [row]))

    async def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            fn = functools.partial(fn, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn, args)

    def _run_read(self, fn: Callable[..., Any], args: tuple) -> Any:
        # Each reader thread keeps its connection; the transaction gives fn one consistent snapshot.
        self._connect_thread(self._reader_connections)
        with self.peewee.atomic(*self._snapshot):
            return fn(*args)

    @property
    def _snapshot(self) -> tuple:
        # PostgreSQL's default (READ COMMITTED) takes a new snapshot for every statement.
        return ("REPEATABLE READ",) if self.postgres else ()

    def _connect_thread(self, opened: list | None = None) -> None:
        """Make sure this thread has a working connection: one the server dropped (PostgreSQL restarted, an
        idle connection cut by a firewall) is given up and opened again, so that the write or read about to
        run does not fail on it. A connection in use is not asked (a busy writer pays nothing); one idle
        for a while is, with one round trip. A SQLite file's connection does not break that way."""
        if self.postgres and not self.peewee.is_closed() and not self._still_there():
            log.warning("the connection to %s was lost; opening a new one", self.shown)
            self.peewee.close()
        if self.peewee.connect(reuse_if_open=True) and opened is not None:
            opened.append(self.peewee.connection())
        self._used.at = time.monotonic()

    def _still_there(self) -> bool:
        if not self.peewee.is_connection_usable():
            return False
        if time.monotonic() - getattr(self._used, "at", 0.0) < IDLE_CHECK_AFTER_S:
            return True
        try:
            self.peewee.execute_sql("SELECT 1")
            return True
        except PeeweeException:  # OperationalError, InterfaceError: gone, whichever way
            return False

    def close_sync(self) -> None:
        """Close from synchronous code (CLI, failed start): waits for queued writes to commit."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._writer.join()
            self._readers.shutdown(wait=True)
            self._close_readers()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
        self._readers.shutdown(wait=True)
        self._close_readers()

    def _close_readers(self) -> None:
        # The reader threads are gone but their connections would live on until garbage collection,
        # keeping the database open (and its locks held) in this process: a restore or a last
        # connection's checkpoint of the -wal would then find it busy (a PostgreSQL server, a session).
        for conn in self._reader_connections:
            try:
                conn.close()
            except dialect.DRIVER_ERRORS:  # already broken: nothing left to close
                pass
        self._reader_connections.clear()

    # -- the writer thread -------------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                batch = [item]
                stop = self._drain_into(batch)
                self._commit_batch(batch)
                if stop:
                    return
        finally:
            self.peewee.close()

    def _drain_into(self, batch: list) -> bool:
        while len(batch) < MAX_JOBS_PER_COMMIT:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _commit_batch(self, batch: list) -> None:
        jobs = [item for item in batch if isinstance(item, _Job)]
        appended: dict[str, list[tuple]] = {}
        for item in batch:
            if isinstance(item, _LogRows):
                appended.setdefault(item.sql, []).extend(item.rows)
        try:
            self._connect_thread()
            with dialect.write_transaction(self.peewee):
                for job in jobs:
                    self._run_job(job)
                conn = dialect.raw(self.peewee)
                for sql, rows in appended.items():
                    conn.executemany(sql, rows)
        except Exception as e:  # the commit itself failed: nothing of the batch is durable
            log.exception("commit of %d jobs failed", len(jobs))
            for job in jobs:
                job.error = job.error or e
        self.commits += 1
        self.jobs_committed += len(jobs)
        for job in jobs:
            if job.loop is not None and not job.loop.is_closed():
                job.loop.call_soon_threadsafe(_resolve, job)

    def _run_job(self, job: _Job) -> None:
        if self.postgres:
            return self._run_job_in_savepoint(job)
        try:
            with self.peewee.atomic():  # a savepoint inside the batch transaction
                job.result = job.fn(*job.args)
        except Exception as e:
            job.error = e

    def _run_job_in_savepoint(self, job: _Job) -> None:
        """PostgreSQL: a savepoint costs a round trip to the server for each statement, and peewee's takes
        two (SAVEPOINT, RELEASE). This one is never released: the next job's savepoint of the same name
        hides it, and COMMIT ends them all; a job that fails is rolled back to its own, the latest."""
        self.peewee.execute_sql("SAVEPOINT job")
        try:
            job.result = job.fn(*job.args)
        except Exception as e:
            job.error = e
            self.peewee.execute_sql("ROLLBACK TO SAVEPOINT job")


def _resolve(job: _Job) -> None:
    if job.future is None or job.future.done():
        return
    if job.error is not None:
        job.future.set_exception(job.error)
    else:
        job.future.set_result(job.result)


def is_constraint_error(error: BaseException) -> bool:
    """A unique, foreign-key or not-null constraint refused the write, on either database, through
    peewee or plain SQL."""
    return isinstance(error, dialect.INTEGRITY_ERRORS)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
