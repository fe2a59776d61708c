"""A check's verdict, what the checks share (settings, timeout, the database read-only), and the guard
that turns a check that crashes into a FAIL instead of a traceback."""

from __future__ import annotations

import datetime as dt
import functools
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from appliance.config import Settings
from appliance.store import diagnostics as store
from appliance.store.dialect import DATABASE_ERRORS, DRIVER_ERRORS, DatabaseUrlError

OK, WARNING, FAIL, SKIPPED = "ok", "warning", "fail", "skipped"
SEVERITY = {SKIPPED: 0, OK: 0, WARNING: 1, FAIL: 2}


@dataclass(frozen=True)
class Verdict:
    name: str
    status: str  # ok, warning, fail, skipped
    summary: str  # what was found, one line
    action: str = ""  # what to do about it; empty when nothing


class NoDatabase(Exception):
    """A check that needs the database cannot run; the message says why (the database check says more)."""


@dataclass
class Context:
    settings: Settings
    timeout_s: float = 5.0
    full: bool = False  # integrity_check instead of quick_check
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    damaged: bool = False  # the database check found damage: what other checks would read is not to be trusted
    _conn: Any = None  # sqlite3's connection, or psycopg's with the same interface (store.dialect)
    _error: BaseException | None = None

    def database(self) -> Any:
        """The database, read-only, opened once; raises NoDatabase when there is none to read."""
        if self._conn is None and self._error is None:
            try:
                if self.settings.database_url:
                    self._conn = store.open_readonly_url(self.settings.database_url, self.timeout_s)
                else:
                    self._conn = store.open_readonly(self.settings.database_path, self.timeout_s)
            except (store.DatabaseMissing, DatabaseUrlError, *DRIVER_ERRORS) as e:
                self._error = e
        if self.damaged:
            raise NoDatabase("the database is damaged")
        if self._error is not None:
            raise NoDatabase("no database" if isinstance(self._error, store.DatabaseMissing)
                             else "the database cannot be read")
        return self._conn

    @property
    def database_error(self) -> BaseException | None:
        return self._error

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


Check = Callable[[Context], Verdict]


def guarded(name: str) -> Callable[[Check], Check]:
    """A check that cannot run for want of a database is skipped; one that crashes fails, in one line."""

    def wrap(check: Check) -> Check:
        @functools.wraps(check)
        def run(context: Context) -> Verdict:
            try:
                return check(context)
            except NoDatabase as e:
                return Verdict(name, SKIPPED, f"{e} (see the database check)")
            except DATABASE_ERRORS as e:  # damaged, locked or gone: the database check says which
                return Verdict(name, SKIPPED, f"cannot read the database: {e} (see the database check)")
            except Exception as e:  # a doctor must report, whatever it meets
                return Verdict(name, FAIL, f"the check itself failed: {type(e).__name__}: {e}",
                               "report this, with the output of appliance doctor --json")

        run.check_name = name  # type: ignore[attr-defined]
        return run

    return wrap


def not_readable_here(path: Path) -> str:
    """Why this user cannot read a file that belongs to another (the service's), or ''. Such a file says
    nothing about the service, which reads it as its own user: the doctor then asks to be run as that user."""
    if os.access(path, os.R_OK) or os.geteuid() in (0, path.stat().st_uid):
        return ""
    try:
        owner = pwd.getpwuid(path.stat().st_uid).pw_name
    except KeyError:
        owner = f"uid {path.stat().st_uid}"
    return f"{path} is {owner}'s and not readable by this user"


AS_SERVICE_USER = "run appliance doctor as the service's user (sudo -u appliance appliance doctor) or as root"


def worst(verdicts: list[Verdict]) -> str:
    counted = [v.status for v in verdicts if v.status != SKIPPED]
    return max(counted, key=SEVERITY.__getitem__, default=OK)


def size_text(n_bytes: float) -> str:
    value, unit = float(n_bytes), "bytes"
    for bigger in ("KB", "MB", "GB"):  # a disk of terabytes reads well enough in GB
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.0f} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def age_text(seconds: float) -> str:
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            whole = int(seconds // size)
            rest = int(seconds % size // {"d": 3600, "h": 60, "min": 1}[unit])
            smaller = {"d": "h", "h": "min", "min": "s"}[unit]
            return f"{whole} {unit}" + (f" {rest} {smaller}" if rest and whole < 10 else "")
    return f"{int(seconds)} s"
