"""The database check: there, readable, sound, in WAL mode, at the schema version this appliance knows;
on PostgreSQL (database_url): reachable, writable (no standby), at that schema version."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from appliance.diagnostics.verdict import AS_SERVICE_USER, FAIL, OK, SEVERITY, WARNING, Context, NoDatabase, \
    Verdict, guarded, not_readable_here, size_text
from appliance.store import diagnostics as store
from appliance.store.dialect import redact
from appliance.store.migrations import LATEST_VERSION

NAME = "database"
RESTORE = "stop the service and restore the newest backup (appliance restore FILE); keep the damaged file aside"
# A WAL this big means checkpoints cannot finish: something holds an old snapshot open.
BIG_WAL_BYTES = 100_000_000


@guarded(NAME)
def check_database(context: Context) -> Verdict:
    if context.settings.database_url:
        return _check_postgres(context)
    path = context.settings.database_path
    try:
        exists = path.exists()
    except PermissionError:
        return Verdict(NAME, WARNING, f"cannot check: {path.parent} is not open to this user", AS_SERVICE_USER)
    if not exists:
        return Verdict(NAME, WARNING, f"no database at {path}",
                       "the first start of the service creates it; if the appliance has run before, check "
                       "--data-dir / APPLIANCE_DATA_DIR")
    try:
        conn = context.database()
    except NoDatabase:
        return _unreadable(path, context.database_error)
    try:
        problems = _problems(conn, context.full)
        findings = [_integrity(problems, context.full), _schema(conn, context.settings.backups_dir), _journal(conn),
                    *_wal(path)]
    except sqlite3.DatabaseError as e:
        if "locked" in str(e) or "busy" in str(e):
            return Verdict(NAME, WARNING, f"the database stayed locked for {context.timeout_s:g} s ({e})",
                           "something holds it exclusively (a restore?); try again in a minute")
        context.damaged = True  # SQLite gave up reading it ("database disk image is malformed")
        return Verdict(NAME, FAIL, f"the database is damaged: {e}", RESTORE)
    context.damaged = bool(problems)
    worst = max((status for status, _, _ in findings), key=SEVERITY.__getitem__, default=OK)
    sizes = f"{size_text(path.stat().st_size)} + WAL {size_text(_wal_size(path))}"
    if worst == OK:
        return Verdict(NAME, OK, "; ".join(text for _, text, _ in findings) + f"; {sizes}")
    bad = [(text, action) for status, text, action in findings if status == worst]
    return Verdict(NAME, worst, "; ".join(text for text, _ in bad) + f" ({sizes})", bad[0][1])


def _unreadable(path: Path, error: BaseException | None) -> Verdict:
    elsewhere = not_readable_here(path)
    if elsewhere:
        return Verdict(NAME, WARNING, f"cannot check: {elsewhere}", AS_SERVICE_USER)
    if not os.access(path, os.R_OK):
        return Verdict(NAME, FAIL, f"{path} is not readable, not even by its owner", f"chmod u+rw {path}")
    if ("unable to open" in str(error) or "readonly" in str(error)) and not os.access(path.parent, os.W_OK):
        # a WAL reader needs the -shm index; with the server stopped it must be created, beside the file
        return Verdict(NAME, WARNING, f"cannot check: this user may not create {path.name}-shm in {path.parent}",
                       AS_SERVICE_USER)
    return Verdict(NAME, FAIL, f"{path} cannot be read as a database: {error}", RESTORE)


def _problems(conn, full: bool) -> list[str]:
    return [line for row in store.integrity_problems(conn, full) for line in row.splitlines()
            if line.strip() and not line.startswith("*** ")]  # "*** in database main ***" heads a list


def _integrity(problems: list[str], full: bool) -> tuple[str, str, str]:
    how = "integrity_check" if full else "quick_check"
    if not problems:
        return OK, f"sound ({how})", ""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return FAIL, f"damaged: {how} found {problems[0]}{more}", RESTORE


def _check_postgres(context: Context) -> Verdict:
    """Integrity, WAL and backups are the PostgreSQL server's business (and its operator's: pg_dump,
    pg_amcheck); what the appliance needs of it is checked here."""
    where = redact(context.settings.database_url)
    try:
        conn = context.database()
    except NoDatabase:
        return Verdict(NAME, FAIL, f"cannot connect to {where}: {_one_line(context.database_error)}",
                       "check database_url and that the PostgreSQL server runs and takes connections from this "
                       "box (pg_isready -d URL)")
    facts = store.server_facts(conn)
    status, text, action = _schema(conn, None)
    summary = f"PostgreSQL {facts.version}; {text}; {size_text(facts.size_bytes)}"
    if facts.read_only:
        return Verdict(NAME, FAIL, f"{where} is a standby in recovery: it takes no writes ({summary})",
                       "point database_url at the primary server")
    return Verdict(NAME, status, summary, action)


def _one_line(error: BaseException | None) -> str:
    return " ".join(str(error).split())


def _schema(conn, backups_dir: Path | None) -> tuple[str, str, str]:
    version = store.schema_version(conn)
    if version is None and backups_dir is None:
        return (FAIL, "no schema version: no appliance tables in this database (schema), or its first start did "
                      "not finish", "check database_url; the service's first start creates the tables")
    if version is None:
        return (FAIL, "no schema version: not the appliance's database, or its first start did not finish",
                "check --data-dir; else move the file aside and start the service (or restore a backup)")
    if version > LATEST_VERSION:
        return (FAIL, f"schema version {version} is newer than this appliance knows ({LATEST_VERSION})",
                "run the newer appliance that wrote it, or restore a backup made before the upgrade")
    if version < LATEST_VERSION:
        if backups_dir is None:  # PostgreSQL: nothing to copy it to here
            return (WARNING, f"schema version {version}, older than this appliance's {LATEST_VERSION}: the next "
                             f"start migrates it", "take a pg_dump, then restart the service (systemctl restart "
                                                   "appliance)")
        return (WARNING, f"schema version {version}, older than this appliance's {LATEST_VERSION}: the next start "
                         f"copies it to {backups_dir} and migrates it",
                "restart the service (systemctl restart appliance)")
    return OK, f"schema {version}", ""


def _journal(conn) -> tuple[str, str, str]:
    mode = store.journal_mode(conn)
    if mode.lower() != "wal":
        return WARNING, f"journal mode {mode}, not WAL", "start the service once: it sets WAL"
    return OK, "WAL", ""


def _wal(path: Path) -> list[tuple[str, str, str]]:
    wal = _wal_size(path)
    if wal > max(BIG_WAL_BYTES, path.stat().st_size):
        return [(WARNING, f"the WAL has grown to {size_text(wal)}: checkpoints cannot finish",
                 "restart the service at a quiet moment; stop any long-running reader (sqlite3 shell, backup)")]
    return []


def _wal_size(path: Path) -> int:
    try:
        return path.with_name(path.name + "-wal").stat().st_size
    except FileNotFoundError:
        return 0
