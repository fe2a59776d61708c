"""Backing up the database while the server runs, and putting a backup back with the server stopped."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

import click

from appliance.cli.base import cli, json_option, settings_of
from appliance.cli_output import print_result
from appliance.config import Settings
from appliance.store import backup as copies
from appliance.store.dialect import redact
from appliance.store.migrations import LATEST_VERSION


@cli.command("backup")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@json_option
@click.pass_context
def backup(ctx: click.Context, file: Path, force: bool, as_json: bool) -> None:
    """Copy the database to FILE: consistent, checked, safe to run while the server runs.

    FILE may be a directory: the copy is then named appliance-<UTC time>.sqlite3 in it.
    On PostgreSQL (database_url) this says how to back it up with pg_dump instead.
    """
    settings = settings_of(ctx)
    _refuse_if_postgres(settings, "backup")
    if file.is_dir():
        file = file / f"appliance-{_utc_stamp()}.sqlite3"
    try:
        summary = copies.copy_database(settings.database_path, file, overwrite=force)
    except copies.BackupError as e:
        raise click.ClickException(str(e)) from None
    print_result(_record(summary), as_json, summary=(
        f"backed up {settings.database_path} to {summary.path}\n"
        f"  schema version {summary.schema_version}, {_size(summary.size_bytes)}, {summary.chargers} chargers, "
        f"{summary.sessions} sessions, integrity {summary.integrity}, {summary.seconds:.2f} s"))


@cli.command("restore")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@json_option
@click.pass_context
def restore(ctx: click.Context, file: Path, yes: bool, as_json: bool) -> None:
    """Replace the database with the backup FILE (stop the server first).

    FILE is checked (an appliance database, intact, a schema this version knows) before anything
    changes; the current database is kept in DATA_DIR/backups. A backup from an older version is
    migrated at the next start. On PostgreSQL (database_url) this says how to restore with pg_restore.
    """
    settings = settings_of(ctx)
    _refuse_if_postgres(settings, "restore")
    try:
        _refuse_if_server_runs(settings)
        offered = copies.check_restorable(file)
        if not yes:
            _confirm(settings, offered)
        result = copies.restore(file, settings.database_path, settings.backups_dir, dt.datetime.now(dt.timezone.utc),
                                settings.backups_keep)
    except copies.BackupError as e:
        raise click.ClickException(str(e)) from None
    record = {**_record(result.restored), "restored_from": str(file),
              "previous_kept_as": str(result.kept) if result.kept else None, "migrates_at_next_start": result.migrates}
    lines = [f"restored {file} to {settings.database_path}",
             f"  schema version {result.restored.schema_version}, {result.restored.chargers} chargers, "
             f"{result.restored.sessions} sessions, integrity {result.restored.integrity}",
             f"  the database it replaced is kept as {result.kept}" if result.kept else "  there was no database before"]
    if result.migrates:
        lines.append(f"  schema version {result.restored.schema_version} is older than this appliance's "
                     f"({LATEST_VERSION}): the next start migrates it, after copying it to {settings.backups_dir}")
    lines.append("  start the server again: systemctl start appliance")
    print_result(record, as_json, summary="\n".join(lines))


def _refuse_if_postgres(settings: Settings, command: str) -> None:
    """backup and restore copy the SQLite file; a PostgreSQL database is backed up with PostgreSQL's tools
    (consistent while the server runs, like ours)."""
    if not settings.database_url:
        return
    url = redact(settings.database_url)
    how = {"backup": f"back it up with PostgreSQL's own tool, consistent while the server runs:\n"
                     f"  pg_dump --format=custom --file=FILE '{url}'",
           "restore": f"restore a dump with PostgreSQL's own tool, with the service stopped:\n"
                      f"  systemctl stop appliance\n"
                      f"  pg_restore --clean --if-exists --no-owner --dbname='{url}' FILE\n"
                      f"  systemctl start appliance"}[command]
    raise click.ClickException(f"the database is PostgreSQL ({url}): appliance {command} works on the SQLite file "
                               f"only; {how}\n(the password is the one in database_url)")


def _refuse_if_server_runs(settings: Settings) -> None:
    """server.json names the running server's pid. A file left by a server that was killed (or
    lost power) names a pid that is gone, or one the system has since given to another program:
    that one is neither an appliance nor has the database open. (The restore itself checks again,
    for any process, that nothing has the database open.)"""
    try:
        pid = int(json.loads(settings.server_state_path.read_text()).get("pid", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return
    if pid > 0 and _alive(pid) and (copies.lock_holder(settings.database_path) == pid or _is_appliance(pid)):
        raise copies.BackupError(f"the server is running on {settings.data_dir} (pid {pid}): stop it first "
                                 "(systemctl stop appliance), restore, then start it again")


def _is_appliance(pid: int) -> bool:
    try:
        return b"appliance" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # cannot tell: assume the worst


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _confirm(settings: Settings, offered: copies.Summary) -> None:
    if not sys.stdin.isatty():
        raise click.ClickException("restore replaces the database: add --yes to confirm (there is no terminal "
                                   "to ask on)")
    current = "no database yet"
    if settings.database_path.exists():
        try:
            now = copies.describe(settings.database_path, live=True)
            current = f"schema version {now.schema_version}, {now.chargers} chargers, {now.sessions} sessions"
        except copies.BackupError as e:
            current = f"unreadable: {e}"
    click.echo(f"database now: {settings.database_path} ({current})")
    click.echo(f"backup:       {offered.path} (schema version {offered.schema_version}, {offered.chargers} chargers, "
               f"{offered.sessions} sessions, {_size(offered.size_bytes)})")
    if not click.confirm("Replace the database with the backup? (the current one is kept in backups/)"):
        raise click.ClickException("nothing changed")


def _record(summary: copies.Summary) -> dict:
    return {"file": str(summary.path), "schema_version": summary.schema_version, "size_bytes": summary.size_bytes,
            "chargers": summary.chargers, "sessions": summary.sessions, "integrity": summary.integrity,
            "seconds": round(summary.seconds, 3)}


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.0f} kB"


def _utc_stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
