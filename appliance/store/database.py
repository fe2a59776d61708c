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
- The -wal file is copied into the main file by a checkpointer thread of its own, every second
  (checkpointer.py: never on the event loop, and not in a commit, whose answers would wait for the
  copy); the last frames of each round are copied by the writer itself between two batches, so that
  the -wal starts over under a steady load too. It is cut back to journal_size_limit when it starts
  over, so a burst (or a long backup holding a snapshot) does not leave a large -wal on the disk for
  good. Connections other than a
  Database's writer keep SQLite's own checkpoint every ~4 MB (wal_autocheckpoint).
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

Faults (storage_faults.py: StorageFaults says what follows from a batch, the writer applies it). A
full disk fails the writes it hits with StoreFullError, and the whole batch with them: SQLite may
already have rolled the transaction back (it does for SQLITE_FULL; the writer checks after every
job, since a later COMMIT would then "succeed" on nothing). While the disk is full the communication
log is not written; on the first refusal, and every FREE_SPACE_EVERY_S while it lasts, the space
reserve is given up (SpaceReserve: even a DELETE needs room in the -wal) and the oldest quarter of
the communication log pruned, so that charger data finds room. The condition ends when writes have
gone in for FULL_ENDS_AFTER_S without a refusal. A write
lock held by another process (an `appliance` command's long transaction) is waited for in short
polls, the condition shown meanwhile; after LOCK_WAIT_S the waiting writes fail with StoreBusyError
and their communication-log rows are kept for the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from peewee import Database as PeeweeDatabase
from peewee import DatabaseError as PeeweeDatabaseError
from peewee import PeeweeException
from peewee import SqliteDatabase

from appliance.store import dialect, models
from appliance.store.checkpointer import Checkpointer
from appliance.store.storage_faults import LOCKED, OK, StorageFaults, StoreBusyError, StoreError, is_busy, is_full

log = logging.getLogger(__name__)

# Bounded so that a burst cannot grow one transaction (and the latency of everyone in it) without limit.
MAX_JOBS_PER_COMMIT = 2000
# A commit costs ~300 us of CPU (half of it the fsync's, in the kernel) however few jobs it holds.
# Chargers send on their own clocks: at 1,000 messages a second a commit that starts at once holds
# one or two. In such a stream a small batch waits up to COMMIT_WAIT_S until it holds COMMIT_GATHER_JOBS
# queued items (jobs and log rows, as MAX_JOBS_PER_COMMIT counts them): ~100 us less CPU a write,
# ~2 ms more latency at 1,000 writes a second (bench/commit_wait.py). A wait that gathers nothing
# (callers awaiting each answer before writing again) is not tried for COMMIT_WAIT_BACKOFF_S.
COMMIT_WAIT_S = 0.002
COMMIT_GATHER_JOBS = 16
COMMIT_WAIT_BACKOFF_S = 0.1
# The -wal is copied into the database after this many pages (SQLite's default, ~4 MB) and truncated
# to this size afterwards (SQLite's default is to keep whatever size it reached). A Database's own
# writer leaves the copying to its checkpointer thread (checkpointer.py).
WAL_CHECKPOINT_PAGES = 1000
WAL_KEPT_BYTES = 64 * 1024 * 1024
# PostgreSQL: a connection idle this long is checked (SELECT 1) before it is used again.
IDLE_CHECK_AFTER_S = 5.0
# How long a write waits for a write lock another process holds before it is refused. A charger waits
# for its answer meanwhile; most give up after 30 to 60 s, so 10 s leaves it time to get the error
# and send again. The lock is polled every LOCK_POLL_MS so that the wait shows in /healthz.
LOCK_WAIT_S = 10.0
LOCK_POLL_MS = 100


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
    queued_at: float = field(default_factory=time.monotonic)
    statements: tuple[Statement, ...] | None = None  # a job of plain statements (write_statements)


@dataclass(frozen=True)
class Statement:
    """A plain statement run once for each of `rows`, for `Database.write_statements`. An INSERT may
    give `row`, one row's placeholders, with `{rows}` in `sql` where the VALUES go: PostgreSQL then
    takes many rows in one statement (dialect.insert_rows)."""

    sql: str
    rows: list[tuple]
    row: str | None = None


@dataclass
class _LogRows:
    """Rows appended to a table without waiting (communication log): coalesced per commit."""

    sql: str
    rows: list[tuple] = field(default_factory=list)


class _RolledBack(StoreError):
    """SQLite ended the batch's transaction itself (it does for a full disk): nothing of it is stored."""

    def __init__(self) -> None:
        super().__init__("the appliance could not store this: the database rolled the write back")


class Database:
    """Async access to the store: `await write(fn, *args)` and `await read(fn, *args)`.

    `fn` runs with the peewee database bound and a connection for its thread; for writes it
    runs inside the shared transaction, in a savepoint so that its failure spoils only itself.
    """

    def __init__(self, location: Path | str, synchronous: str = "full", readers: int = 2,
                 lock_wait_s: float | None = None):
        """`location`: a SQLite file's path, or a postgresql:// URL."""
        self.postgres = dialect.is_postgres_url(location)
        self.path = None if self.postgres else Path(location)
        self.shown = dialect.redact(str(location)) if self.postgres else str(location)
        self.lock_wait_s = LOCK_WAIT_S if lock_wait_s is None else lock_wait_s
        self.faults = StorageFaults(self.path)  # full disk, lock held elsewhere
        self.storage = self.faults.condition  # what /healthz shows
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
        self._last_commit_end = float("-inf")
        self._no_wait_until = 0.0
        self.commit_waits = 0  # small batches held for more (see _worth_waiting)
        self.jobs_committed = 0
        self.checkpointer = None if self.postgres else Checkpointer(self.path)
        self._writer.start()
        if self.checkpointer is not None:
            self.checkpointer.start()

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

    async def write_statements(self, *statements: Statement) -> None:
        """Run plain statements in the next batch and return once it is committed. The writer runs
        those of consecutive such writes together, one executemany for each statement however many
        callers queued it (the meter-value firehose: most of a batch under load); if that fails, each
        write runs alone, so that only the one at fault fails."""
        if self._closed:
            raise RuntimeError("database is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(functools.partial(_execute, self.peewee, statements), (), future, loop,
                             statements=statements))
        await future

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
            if self.checkpointer is not None:
                self.checkpointer.stop()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._writer.join)
        self._readers.shutdown(wait=True)
        self._close_readers()
        if self.checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.checkpointer.stop)

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
        if not self.postgres:
            self.peewee.connect(reuse_if_open=True)
            self.peewee.connection().execute(f"PRAGMA busy_timeout = {LOCK_POLL_MS}")
            self.peewee.connection().execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's job
            # A batch's multi-row INSERT needs a statement journal (the pages it changes, kept to undo it
            # alone); past 64 KiB SQLite spills that to a temporary file: under load, one file created and
            # unlinked per commit and about half of the writer's pwrite calls. Memory holds it instead:
            # a batch is at most MAX_JOBS_PER_COMMIT jobs. Readers keep the file default (a report's sort).
            self.peewee.connection().execute("PRAGMA temp_store = MEMORY")
            self.faults.take_reserve()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                batch = [item]
                stop = self._drain_into(batch)
                if not stop and self._worth_waiting(batch):
                    stop = self._gather(batch)
                self._commit_batch(batch)
                if self.checkpointer is not None and self.checkpointer.finish_wanted:
                    self.checkpointer.finish(self.peewee.connection())
                self._last_commit_end = time.monotonic()
                if stop:
                    return
        finally:
            self.peewee.close()

    def _worth_waiting(self, batch: list) -> bool:
        """Whether to hold a small batch for COMMIT_WAIT_S: only in a stream of writes (the last commit
        ended moments ago) and not just after a wait that gathered nothing (callers who wait for their
        own answer before writing again: a closed loop gains nothing from waiting)."""
        now = time.monotonic()
        return (COMMIT_WAIT_S > 0 and len(batch) < COMMIT_GATHER_JOBS and now >= self._no_wait_until
                and now - self._last_commit_end < COMMIT_WAIT_S)

    def _gather(self, batch: list) -> bool:
        self.commit_waits += 1
        had = len(batch)
        stop = self._drain_into(batch, COMMIT_GATHER_JOBS, time.monotonic() + COMMIT_WAIT_S)
        if len(batch) == had:
            self._no_wait_until = time.monotonic() + COMMIT_WAIT_BACKOFF_S
        return stop

    def _drain_into(self, batch: list, limit: int = MAX_JOBS_PER_COMMIT, deadline: float | None = None) -> bool:
        """Add queued items to `batch` up to `limit`: those queued now, or, given a deadline, also those
        queued until then. True when the writer is told to stop."""
        while len(batch) < limit:
            try:
                if deadline is None:
                    item = self._queue.get_nowait()
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    item = self._queue.get(timeout=left)
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _commit_batch(self, batch: list) -> None:
        jobs = [item for item in batch if isinstance(item, _Job)]
        rows = self.faults.rows_to_append(_log_rows_of(batch))
        failure: BaseException | None = None
        try:
            with self._transaction(min((job.queued_at for job in jobs), default=time.monotonic())):
                self._run_jobs(jobs)
                self._append(rows)
        except StoreBusyError as e:
            failure = e
            self.faults.carry(rows)
        except Exception as e:  # the commit itself failed, or SQLite rolled it back: nothing is durable
            failure = e
            if not is_full(e):
                log.exception("commit of %d jobs failed", len(jobs))
        self.faults.settle(jobs, failure, self.peewee.connection)
        self.commits += 1
        self.jobs_committed += len(jobs)
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job in jobs:
            if job.loop is not None:
                by_loop.setdefault(job.loop, []).append(job)
        for loop, resolved in by_loop.items():  # one wake-up of the loop per batch, not one per job
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve_all, resolved)

    @contextlib.contextmanager
    def _transaction(self, oldest_queued_at: float):
        """BEGIN IMMEDIATE, waiting for a lock another process holds until LOCK_WAIT_S after the oldest
        job was queued; commit on leaving (peewee rolls back if the commit fails, and raises)."""
        self._connect_thread()
        if self.postgres:  # another writer's advisory lock is waited for (dialect.write_transaction)
            with dialect.write_transaction(self.peewee):
                yield
            return
        deadline = oldest_queued_at + self.lock_wait_s
        while True:
            txn = self.peewee.atomic("IMMEDIATE")
            try:
                txn.__enter__()
                break
            except Exception as e:
                if not is_busy(e):
                    raise
                self.storage.become(LOCKED, f"the database is locked by another process (an `appliance` "
                                    f"command?): writes wait up to {self.lock_wait_s:g} s, then chargers get an "
                                    "error and send again", _now())
                if time.monotonic() >= deadline:
                    raise StoreBusyError(self.lock_wait_s) from e
        if self.storage.current.state == LOCKED:
            self.storage.become(OK, "", _now())
        try:
            yield
        except BaseException as e:
            txn.__exit__(type(e), e, e.__traceback__)
            raise
        txn.__exit__(None, None, None)

    def _run_jobs(self, jobs: list[_Job]) -> None:
        conn = self.peewee.connection()
        start = 0
        while start < len(jobs):
            end = start + 1
            while end < len(jobs) and jobs[start].statements is not None and jobs[end].statements is not None:
                end += 1
            if end - start > 1:
                unit = self._run_together(jobs[start:end])
            else:
                unit = jobs[start]
                self._run_job(unit)
            start = end
            if self.postgres:  # a failed job was rolled back to its savepoint; the batch goes on
                continue
            if not conn.in_transaction:  # SQLite rolled back the batch, jobs before this one included
                raise _RolledBack() from unit.error
            if is_full(unit.error):  # the rest would fail too: leave what space there is to the commit
                raise _RolledBack() from unit.error

    def _run_together(self, run: list[_Job]) -> _Job:
        """Consecutive statement jobs as one: each statement once with all their rows. Returns the job
        that stands for them (its error is theirs when the batch cannot go on)."""
        merged: dict[tuple[str, str | None], list[tuple]] = {}
        for job in run:
            for statement in job.statements or ():
                merged.setdefault((statement.sql, statement.row), []).extend(statement.rows)
        together = _Job(functools.partial(_execute, self.peewee, [Statement(sql, rows, row)
                                                                   for (sql, row), rows in merged.items()]),
                        (), None, None)
        self._run_job(together)
        if together.error is None:
            return together
        if (not self.postgres and not self.peewee.connection().in_transaction) or is_full(together.error):
            for job in run:
                job.error = together.error
            return together
        for job in run:  # one of them is at fault: each alone, so that only that one fails
            self._run_job(job)
            if not self.postgres and not self.peewee.connection().in_transaction:
                return job
        return next((job for job in run if is_full(job.error)), run[-1])

    def _append(self, rows: dict[str, list[tuple]]) -> None:
        """Unawaited rows, each table in a savepoint: a failure drops only those rows."""
        conn = dialect.raw(self.peewee)
        for sql, values in rows.items():
            try:
                with self.peewee.atomic():
                    conn.executemany(sql, values)
            except Exception as e:
                if not self.postgres and not self.peewee.connection().in_transaction:
                    raise _RolledBack() from e
                self.storage.count(log_rows_dropped=len(values))
                if is_full(e):
                    self.faults.log_found_no_room()  # charger data still fits, the log no longer does
                else:
                    log.exception("%d rows not appended", len(values))

    def _run_job(self, job: _Job) -> None:
        if self.postgres:
            return self._run_job_in_savepoint(job)
        # A savepoint inside the batch transaction, by hand: peewee's costs a uuid and two queries
        # through its query machinery, at every job. Jobs' own atomic() blocks still nest under it
        # (peewee sees the batch's transaction and makes them savepoints too).
        conn = self.peewee.connection()
        conn.execute("SAVEPOINT job")
        try:
            job.result = job.fn(*job.args)
        except Exception as e:
            job.error = e
            if conn.in_transaction:  # else SQLite rolled back the whole batch: _run_jobs says so
                conn.execute("ROLLBACK TO SAVEPOINT job")
                conn.execute("RELEASE SAVEPOINT job")
            return
        conn.execute("RELEASE SAVEPOINT job")

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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _log_rows_of(batch: list) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = {}
    for item in batch:
        if isinstance(item, _LogRows):
            rows.setdefault(item.sql, []).extend(item.rows)
    return rows


def _resolve_all(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future is None or job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)


def _execute(db: PeeweeDatabase, statements: Iterable[Statement]) -> None:
    for statement in statements:
        if statement.row is not None:
            dialect.insert_rows(db, statement.sql, statement.row, statement.rows)
        else:
            dialect.raw(db).executemany(statement.sql, statement.rows)


def is_constraint_error(error: BaseException) -> bool:
    """A unique, foreign-key or not-null constraint refused the write, on either database, through
    peewee or plain SQL."""
    return isinstance(error, dialect.INTEGRITY_ERRORS)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
