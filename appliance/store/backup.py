"""Copies of the database: online backups, checking a copy, putting one back, and the automatic
backups kept before an upgrade migrates the schema or a restore replaces the database.

Every copy goes through SQLite's online backup API, never a file copy: in WAL mode the newest
commits live in the -wal file, and copying the main file alone (or the two at different moments)
gives an old or torn database. Copies are written to NAME.tmp, checked, fsynced and renamed, so a
file under its final name is always a complete, checked copy.

All of it is SQLite's: a PostgreSQL database (database_url) is the server's, backed up with pg_dump
(the CLI's backup and restore say so) and not copied before an upgrade (services.open_core says why).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import sqlite3
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from appliance.store.database import StoreError
from appliance.store.migrations import LATEST_VERSION

# Pages copied per backup step (4 KB pages: 4 MB a step). The copy reads from one snapshot held
# for the whole run (see copy_database), so steps never restart; they bound the work done per
# call, which makes progress visible and keeps each call short.
STEP_PAGES = 1024
UPGRADE_PREFIX = "before-upgrade"
RESTORE_PREFIX = "before-restore"
_STAMP = "%Y%m%dT%H%M%SZ"
_AUTOMATIC = re.compile(r"^(before-upgrade|before-restore)-.*?(\d{8}T\d{6}Z)(?:-(\d+))?\.sqlite3$")


class BackupError(StoreError):
    """A backup or restore cannot be done (or a copy is unusable); the message says why and what to do."""


class DamagedError(BackupError):
    """The file is not an SQLite database, or a damaged one."""


@dataclass(frozen=True)
class Summary:
    """What a database file holds, as a technician wants to see it before trusting it."""

    path: Path
    schema_version: int | None
    size_bytes: int
    chargers: int
    sessions: int
    integrity: str  # "ok", or SQLite's first complaint
    seconds: float = 0.0  # time the copy took (backup only)


# -- copying ---------------------------------------------------------------------------------------

def copy_database(source: Path, target: Path, overwrite: bool = False, source_read_only: bool = False,
                  progress: Callable[[int, int, int], object] | None = None) -> Summary:
    """Copy the database at `source` into the new file `target` while others may write to it.

    The copy is consistent (one snapshot), self-contained (rollback-journal mode: no -wal file
    belongs to it), checked with integrity_check before it takes the name `target`, and durable
    (fsync of the file and of its directory) when this returns.
    """
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists; choose another name or add --force to overwrite it")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory")
    started = time.monotonic()
    tmp = target.with_name(target.name + ".tmp")
    _remove(tmp, Path(f"{tmp}-journal"))
    try:
        _create_private(tmp)
        src = _open(source, read_only=source_read_only)
        try:
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                _backup(src, dst, progress)
                # The copy carries the source's WAL flag in its header; a backup file should be one
                # file that can be carried on a stick, so it goes back to a rollback journal. The
                # server switches it to WAL again when it opens a restored copy.
                dst.execute("PRAGMA journal_mode=DELETE")
                summary = _summarise(dst, target)
            finally:
                dst.close()
        finally:
            src.close()
        if summary.integrity != "ok":
            raise BackupError(f"the copy of {source} fails the integrity check ({summary.integrity}); "
                              "the database itself may be damaged: run 'appliance doctor'")
        _give_to_owner_of(target.parent, tmp)
        _fsync_file(tmp)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except sqlite3.Error as e:
        raise BackupError(f"cannot copy {source}: {e}") from None
    except OSError as e:
        raise BackupError(f"cannot write {target}: {e.strerror or e}") from None
    finally:
        _remove(tmp, Path(f"{tmp}-journal"))
    return Summary(target, summary.schema_version, target.stat().st_size, summary.chargers, summary.sessions,
                   summary.integrity, time.monotonic() - started)


def _backup(src: sqlite3.Connection, dst: sqlite3.Connection, progress: Callable | None = None) -> None:
    # An online backup restarts from page 1 whenever another connection commits between two of
    # its steps; with chargers committing every few milliseconds it may never finish (measured:
    # 500+ restarts copying 25 MB beside a busy writer). A read transaction held across all steps
    # pins one WAL snapshot: writers go on undisturbed and the copy is of that moment.
    src.execute("BEGIN")
    src.execute("SELECT count(*) FROM sqlite_master").fetchone()
    try:
        src.backup(dst, pages=STEP_PAGES, progress=progress)
    finally:
        src.execute("COMMIT")


def _open(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A connection to an existing database file.

    The live database is opened read-write although only read: a WAL database needs its -wal and
    -shm files, and when nothing else has it open, SQLite creates them; a read-write connection
    deletes them again when it closes, a read-only one leaves them behind, and if they were made
    by root (a technician's sudo) the service's user could then no longer open its database.
    Backup files are in rollback-journal mode and opened read-only.
    """
    if not path.is_file():
        raise BackupError(f"there is no database at {path}")
    if read_only:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=10)
    return sqlite3.connect(path, isolation_level=None, timeout=10)


def describe(path: Path, live: bool = False) -> Summary:
    """Check a database file and say what it holds; `live`: the appliance's own database (see _open)."""
    try:
        conn = _open(path, read_only=not live)
        try:
            return _summarise(conn, path)
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        error = getattr(e, "sqlite_errorname", "")
        if error == "SQLITE_NOTADB":
            raise DamagedError(f"{path} is not a database of this appliance ({e})") from None
        if error == "SQLITE_CORRUPT":
            raise DamagedError(f"{path} fails the integrity check ({e})") from None
        raise BackupError(f"cannot read {path}: {e}") from None


def _summarise(conn: sqlite3.Connection, path: Path) -> Summary:
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    integrity = "ok" if rows == [("ok",)] else "; ".join(r[0] for r in rows[:3])
    version = schema_version(conn)
    chargers = _count(conn, "charger")
    sessions = _count(conn, "transaction")
    size = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    return Summary(path, version, size, chargers, sessions, integrity)


def schema_version(conn: sqlite3.Connection) -> int | None:
    if not _has_table(conn, "schema_version"):
        return None
    return conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def _count(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] if _has_table(conn, table) else 0


# -- restoring ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Restored:
    restored: Summary  # what is now the database
    kept: Path | None  # where the database it replaced was kept (None: there was none)
    migrates: bool  # an older schema: the next start migrates it (after an automatic backup)


def check_restorable(path: Path) -> Summary:
    """The checks a file passes before it may become the database, each refusal saying why."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise BackupError(f"{path} is empty")
    summary = describe(path)
    if summary.integrity != "ok":
        raise BackupError(f"{path} fails the integrity check ({summary.integrity}); choose another backup")
    if summary.schema_version is None:
        raise BackupError(f"{path} is an SQLite database but not one of this appliance (no schema_version table)")
    if summary.schema_version > LATEST_VERSION:
        raise BackupError(f"{path} has schema version {summary.schema_version}, newer than this appliance knows "
                          f"({LATEST_VERSION}): it was made by a newer version; install that version to restore it")
    return summary


def restore(source: Path, database: Path, backups_dir: Path, now: dt.datetime, keep: int) -> Restored:
    """Make a copy of `source` the database at `database`, keeping the current one in `backups_dir`.

    The caller has made sure no server runs; this checks again that no process has the database
    open, before the current database is kept and again just before the swap.
    """
    if source.resolve() == database.resolve():
        raise BackupError(f"{source} is the database itself")
    check_restorable(source)
    ensure_not_open(database)
    candidate = database.with_name(database.name + ".restore-tmp")
    copy_database(source, candidate, overwrite=True, source_read_only=True)
    try:
        kept = _swap_in(candidate, database, backups_dir, now, keep)
    except OSError as e:
        raise BackupError(f"restore stopped: {e}. The database's name holds either the old database or the "
                          "restored one, never a mix: run the restore again") from None
    finally:
        _remove(candidate)
    restored = describe(database)
    return Restored(restored, kept, (restored.schema_version or 0) < LATEST_VERSION)


def _swap_in(candidate: Path, database: Path, backups_dir: Path, now: dt.datetime, keep: int) -> Path | None:
    """Keep the current database, then put the checked copy `candidate` in its place."""
    kept = _keep_current(database, backups_dir, now, keep) if database.exists() else None
    ensure_not_open(database)
    # Order matters. A -wal file beside the database's name belongs to whatever file holds that
    # name; if the restored file took the name while the old database's -wal (or its -shm index
    # pointing into it) was still there, the next open would read the old log as the new file's
    # and write the old pages over the restored ones: the classic way to corrupt an SQLite
    # database. So: the old database is first made self-contained (its log checkpointed into it,
    # see _retire) or moved away with its log, then any stale -wal/-shm goes, and only then does
    # the restored file take the name, in one rename. A crash at any point leaves the name
    # holding either the whole old database or the whole restored one.
    _remove(*_companions(database))
    _fsync_dir(database.parent)
    os.replace(candidate, database)
    _fsync_dir(database.parent)
    return kept


def _keep_current(database: Path, backups_dir: Path, now: dt.datetime, keep: int) -> Path:
    """Keep the database about to be replaced: a checked copy, or, when it is too damaged to copy
    (often the reason for the restore), its files as they are, moved together with their log."""
    try:
        healthy = describe(database, live=True).integrity == "ok"
    except DamagedError:
        healthy = False
    if healthy:
        kept = copy_database(database, automatic_path(backups_dir, RESTORE_PREFIX, now)).path
        prune_automatic(backups_dir, RESTORE_PREFIX, keep)
        _retire(database)
        return kept
    # Not named like an automatic backup, so never pruned.
    kept = automatic_path(backups_dir, "damaged-" + RESTORE_PREFIX, now)
    for log_suffix in ("-wal", "-journal"):  # a log moves with its database, keeping the pair intact
        if Path(f"{database}{log_suffix}").exists():
            os.replace(f"{database}{log_suffix}", f"{kept}{log_suffix}")
    os.replace(database, kept)
    _fsync_dir(backups_dir)
    return kept


def _companions(database: Path) -> list[Path]:
    return [Path(f"{database}-wal"), Path(f"{database}-shm"), Path(f"{database}-journal")]


def _retire(database: Path) -> None:
    """Checkpoint the old database's WAL into its main file and leave WAL mode (SQLite deletes the
    -wal and -shm files), so that no log of it remains when the restored file takes its name."""
    try:
        conn = sqlite3.connect(database, isolation_level=None, timeout=10)
        try:
            mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as e:
        mode = str(e)
    if mode != "delete":
        raise BackupError(f"cannot take {database} out of WAL mode (is another process using it?)")


def ensure_not_open(database: Path) -> None:
    """Refuse if any other process has the database open (a server, a CLI command, a copy).

    In WAL mode every open connection holds a shared POSIX lock on the database file and on the
    -shm index; F_GETLK asks the kernel whether such a lock exists and who holds it, without
    taking one. Call it only while this process has no connection to the database: closing any
    descriptor of a file drops all of this process's POSIX locks on it, SQLite's included.
    """
    for path in (database, Path(f"{database}-shm")):
        pid = lock_holder(path)
        if pid:
            raise BackupError(f"the database is open in process {pid}{_process_name(pid)}: stop the server first "
                              "(systemctl stop appliance) and any other appliance command, then restore")


def lock_holder(path: Path) -> int | None:
    """The pid of a process holding any POSIX lock on `path` (Linux), or None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        layout = "hhqqi"  # struct flock: type, whence, start, len, pid (native alignment)
        request = struct.pack(layout, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0).ljust(64, b"\0")
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, request)
        kind, _, _, _, pid = struct.unpack(layout, answer[:struct.calcsize(layout)])
        return None if kind == fcntl.F_UNLCK else pid
    finally:
        os.close(fd)


def _process_name(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
    return f" ({cmdline[:80]})" if cmdline else ""


# -- automatic backups --------------------------------------------------------------------------------

def backup_before_upgrade(database: Path, backups_dir: Path, old: int, new: int, now: dt.datetime,
                          keep: int) -> Summary:
    """The copy taken before a migration from schema `old` to `new`; the newest `keep` are kept."""
    summary = copy_database(database, automatic_path(backups_dir, f"{UPGRADE_PREFIX}-v{old}-to-v{new}", now))
    prune_automatic(backups_dir, UPGRADE_PREFIX, keep)
    return summary


def automatic_path(backups_dir: Path, prefix: str, now: dt.datetime) -> Path:
    """backups/PREFIX-<UTC time>.sqlite3, with -2, -3... if one was taken in the same second."""
    if not backups_dir.is_dir():
        try:
            backups_dir.mkdir(mode=0o700, parents=True)
            _give_to_owner_of(backups_dir.parent, backups_dir)
        except OSError as e:
            raise BackupError(f"cannot make {backups_dir} for the backup: {e.strerror or e}") from None
    stem = f"{prefix}-{now.astimezone(dt.timezone.utc).strftime(_STAMP)}"
    path, n = backups_dir / f"{stem}.sqlite3", 1
    while path.exists():
        n += 1
        path = backups_dir / f"{stem}-{n}.sqlite3"
    return path


def automatic_backups(backups_dir: Path, kind: str) -> list[Path]:
    """The automatic backups of one kind (before-upgrade, before-restore), newest first."""
    found = []
    for path in backups_dir.glob(f"{kind}-*.sqlite3") if backups_dir.is_dir() else []:
        m = _AUTOMATIC.match(path.name)
        if m and m.group(1) == kind:
            found.append(((m.group(2), int(m.group(3) or 1)), path))
    return [path for _, path in sorted(found, reverse=True)]


def prune_automatic(backups_dir: Path, kind: str, keep: int) -> list[Path]:
    """Delete all but the newest `keep` (at least one) automatic backups of a kind; returns those deleted.
    Copies the technician made, or renamed, do not match the pattern and are never touched."""
    deleted = []
    for path in automatic_backups(backups_dir, kind)[max(1, keep):]:
        try:  # one that cannot go stays; the next prune tries again
            path.unlink()
            deleted.append(path)
        except OSError:
            pass
    return deleted


# -- files --------------------------------------------------------------------------------------------

def _create_private(path: Path) -> None:
    # The database holds password and token hashes: copies are for the owner only. SQLite takes
    # an empty file as an empty database.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))


def _give_to_owner_of(reference: Path, path: Path) -> None:
    """Run as root (a technician's sudo), hand what is made in the data directory to its owner,
    the service's user, which must be able to open the restored database and add to backups/."""
    if os.geteuid() != 0:
        return
    owner = reference.stat()
    if path.stat().st_uid != owner.st_uid:
        os.chown(path, owner.st_uid, owner.st_gid)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """A rename is durable only once its directory is synced."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(*paths: Path) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
