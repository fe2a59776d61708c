"""Versioned schema migrations, applied at start.

A new database is created from the models as they are now and stamped with the latest version;
an existing one runs, in order, each migration newer than its stamp. A database stamped newer
than this code knows is refused: running old code on it could lose data.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

from peewee import SqliteDatabase

from appliance.store import models


class SchemaTooNewError(RuntimeError):
    pass


# Each entry: (version, what it does, the function that does it on the open database).
# Version 1 is the baseline created from the models; later ones use playhouse.migrate.
MIGRATIONS: list[tuple[int, str, Callable[[SqliteDatabase], None]]] = []

LATEST_VERSION = max([1] + [version for version, _, _ in MIGRATIONS])


def current_version(db: SqliteDatabase) -> int | None:
    if not db.table_exists(models.SchemaVersion._meta.table_name):
        return None
    row = models.SchemaVersion.select().order_by(models.SchemaVersion.version.desc()).first()
    return row.version if row else None


def migrate(db: SqliteDatabase) -> tuple[int | None, int]:
    """Bring the schema to LATEST_VERSION; returns (version before, version after)."""
    with db.connection_context():
        with db.atomic("IMMEDIATE"):
            before = current_version(db)
            if before is None:
                db.create_tables(models.ALL_MODELS)
                _stamp(LATEST_VERSION)
                return None, LATEST_VERSION
            if before > LATEST_VERSION:
                raise SchemaTooNewError(
                    f"the database has schema version {before}, newer than this appliance knows "
                    f"({LATEST_VERSION}); run the newer version or restore a backup"
                )
            for version, _, apply in MIGRATIONS:
                if version > before:
                    apply(db)
                    _stamp(version)
            return before, LATEST_VERSION


def _stamp(version: int) -> None:
    models.SchemaVersion.create(version=version, applied_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
