"""The disk check: free space where the data directory lives, and what in it takes the space."""

from __future__ import annotations

import shutil
from pathlib import Path

from appliance.config import Settings
from appliance.diagnostics.verdict import FAIL, OK, WARNING, Context, Verdict, guarded, size_text

NAME = "disk"
# Below these SQLite may fail a commit (a charger then gets no answer); WAL and backups need room to grow.
FAIL_BYTES, FAIL_SHARE = 200_000_000, 0.02
WARN_BYTES, WARN_SHARE = 1_000_000_000, 0.10


@guarded(NAME)
def check_disk(context: Context) -> Verdict:
    settings = context.settings
    where, usage = _usage(settings.data_dir)
    share = usage.free / usage.total if usage.total else 0.0
    share_text = f"{share:.1%}" if share < 0.1 else f"{share:.0%}"  # "1.5%", not a rounded "2%" that fails
    found = f"{size_text(usage.free)} free of {size_text(usage.total)} ({share_text}) at {where}"
    if usage.free < FAIL_BYTES or share < FAIL_SHARE:
        status = FAIL
    elif usage.free < WARN_BYTES or share < WARN_SHARE:
        status = WARNING
    else:
        return Verdict(NAME, OK, found)
    return Verdict(NAME, status, f"{found}{_what_takes_it(settings)}",
                   f"delete old backups in {settings.backups_dir} (or lower backups_keep, now "
                   f"{settings.backups_keep}); "
                   f"lower commlog_max_mb (now {settings.commlog_max_mb}) or commlog_retention_days (now "
                   f"{settings.commlog_retention_days}); check what else fills the disk (du -xsh /var/* /home/*)")


def _usage(path: Path):
    """The data directory's filesystem: its own, or its nearest parent's that this user can reach (before
    the first start there is none; another user's may be closed to this one)."""
    path = path.absolute()
    for candidate in (path, *path.parents):
        try:
            return candidate, shutil.disk_usage(candidate)
        except OSError:
            continue
    return path, shutil.disk_usage(path)  # the root itself failed: say why


def _what_takes_it(settings: Settings) -> str:
    parts = []
    try:
        database = settings.database_path
        if database.exists():
            wal = database.with_name(database.name + "-wal")
            parts.append(f"database {size_text(database.stat().st_size + (wal.stat().st_size if wal.exists() else 0))}")
        if settings.backups_dir.is_dir():
            files = [f for f in settings.backups_dir.rglob("*") if f.is_file()]
            parts.append(f"backups {size_text(sum(f.stat().st_size for f in files))}")
    except OSError:  # another user's directory: the free space is what matters
        pass
    return f"; {', '.join(parts)}" if parts else ""
