"""Versioned schema migrations, applied at start.

A new database is created from the models as they are now and stamped with the latest version;
an existing one runs, in order, each migration newer than its stamp. A database stamped newer
than this code knows is refused: running old code on it could lose data. Migrations are written
with playhouse.migrate's operations, which its migrator for the database (SQLite's or PostgreSQL's)
turns into that database's statements; all of them run in one transaction.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

from peewee import BooleanField, CharField, Database, DateTimeField, ForeignKeyField, IntegerField
from playhouse.migrate import SchemaMigrator, migrate as apply_operations

from appliance.store import dialect, models


class SchemaTooNewError(RuntimeError):
    pass


def _v2_ocpp201(db: Database) -> None:
    m = SchemaMigrator.from_database(db)
    apply_operations(
        m.add_column("evse", "supply_phases", IntegerField(null=True)),
        m.add_column("connector", "evse_connector_id", IntegerField(default=1)),
        m.add_column("connector", "connector_type", CharField(max_length=20, default="")),
        m.drop_index("connector", "connector_charger_id_connector_number"),
        m.add_index("connector", ("charger_id", "connector_number", "evse_connector_id"), True),
        m.add_column("status_history", "evse_connector_id", IntegerField(default=1)),
        m.add_column("transaction", "charging_state", CharField(max_length=20, default="")),
        m.add_column("transaction", "offline", BooleanField(default=False)),
        m.add_column("transaction", "remote_start_id", IntegerField(null=True)),
    )
    db.create_tables([models.TransactionEvent, models.DeviceVariable, models.ChargerReport])


def _v3_reachability(db: Database) -> None:
    m = SchemaMigrator.from_database(db)
    apply_operations(
        m.add_column("charger", "reachable", CharField(max_length=3, default="")),
        m.add_column("charger", "reachable_detail", CharField(max_length=200, default="")),
        m.add_column("charger", "reachable_at", DateTimeField(null=True)),
    )


def _v4_unknown_tags_and_local_lists(db: Database) -> None:
    db.create_tables([models.UnknownTag, models.LocalListState])


def _v5_charger_access(db: Database) -> None:
    db.create_tables([models.ChargerAccess])


def _v6_vehicles(db: Database) -> None:
    db.create_tables([models.Vehicle])
    apply_operations(SchemaMigrator.from_database(db).add_column(
        "tag", "vehicle_id", ForeignKeyField(models.Vehicle, null=True, field=models.Vehicle.id, on_delete="SET NULL")))


def _v7_charger_groups(db: Database) -> None:
    db.create_tables([models.ChargerGroup, models.GroupAccess])
    apply_operations(SchemaMigrator.from_database(db).add_column(
        "charger", "group_id",
        ForeignKeyField(models.ChargerGroup, null=True, field=models.ChargerGroup.id, on_delete="SET NULL")))


def _v8_company_cards(db: Database) -> None:
    apply_operations(SchemaMigrator.from_database(db).add_column(
        "tag", "company_id", ForeignKeyField(models.Company, null=True, field=models.Company.id, on_delete="SET NULL")))


def _copy(field):
    """A fresh field like a model's, for playhouse.migrate (a field belongs to one model)."""
    return type(field)(default=field.default, constraints=field.constraints)


def _v9_load_management(db: Database) -> None:
    m = SchemaMigrator.from_database(db)
    new_columns = [("company", models.Company.priority), ("driver", models.Driver.priority),
                   ("vehicle", models.Vehicle.priority), ("transaction", models.Transaction.charge_first)]
    apply_operations(*[
        m.add_column(table, field.column_name, _copy(field)) for table, field in new_columns
        # version 6 made the vehicle table from the model as it is now, priority included
        if field.column_name not in {c.name for c in db.get_columns(table)}])
    db.create_tables([models.Circuit, models.CircuitMember, models.EvseLimit, models.CircuitLoad])


def _v10_billing(db: Database) -> None:
    db.create_tables([models.Tariff, models.TariffGroup, models.TariffRule, models.EvseTariff,
                      models.ChargeDetailRecord, models.HeadOffice])


def _v11_staff_accounts(db: Database) -> None:
    db.create_tables([models.StaffAccount, models.StaffSession, models.AuditEntry])
    db.execute_sql('CREATE INDEX IF NOT EXISTS "transaction_started_at" ON "transaction" ("started_at")')


def _v12_longer_auth_statuses(db: Database) -> None:
    m = SchemaMigrator.from_database(db)
    apply_operations(*[m.alter_column_type("transaction", field.column_name, _copy_char(field))
                       for field in (models.Transaction.auth_status, models.Transaction.stop_auth_status)])


def _v13_alarms_and_maintenance(db: Database) -> None:
    db.create_tables([models.Alarm, models.ChargerMaintenance, models.MaintenanceNote, models.RecoveryAttempt])


def _v14_notifications(db: Database) -> None:
    db.create_tables([models.StoredSetting, models.Notification])


def _v15_reports(db: Database) -> None:
    db.create_tables([models.SavedReport])
    db.execute_sql('CREATE INDEX IF NOT EXISTS "transaction_stopped_at_started_at" ON "transaction" '
                   '("stopped_at", "started_at")')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "transaction_started_at_stopped_at_energy_wh" ON "transaction" '
                   '("started_at", "stopped_at", "energy_wh")')


def _v16_lighter_transactions(db: Database) -> None:
    # NULL until the transaction's next event rebuilds it
    apply_operations(SchemaMigrator.from_database(db).add_column("transaction", "last_event_at",
                                                                  DateTimeField(null=True)))
    # Each was the first column of another index on its table, which serves the foreign key as well.
    for index in ("meter_sample_charger_id", "meter_sample_transaction_id", "transaction_event_transaction_id",
                  "transaction_charger_id"):
        db.execute_sql(f'DROP INDEX IF EXISTS "{index}"')


def _copy_char(field):
    return CharField(max_length=field.max_length, default=field.default, null=field.null)


# Each entry: (version, what it does, the function that does it on the open database).
# Version 1 is the baseline created from the models; later ones use playhouse.migrate.
MIGRATIONS: list[tuple[int, str, Callable[[Database], None]]] = [
    (2, "OCPP 2.0.1: connectors within EVSEs, transaction events, device model, charger reports", _v2_ocpp201),
    (3, "whether commands reach a charger (SOAP callbacks)", _v3_reachability),
    (4, "tags tapped at a charger that nobody enrolled; chargers' local lists", _v4_unknown_tags_and_local_lists),
    (5, "chargers open only to named companies", _v5_charger_access),
    (6, "vehicles, and tags that belong to a vehicle", _v6_vehicles),
    (7, "groups of chargers, open to named companies", _v7_charger_groups),
    (8, "cards enrolled to a company before anyone is given them", _v8_company_cards),
    (9, "load management: circuits, how EVSEs are wired, limits in force, priorities", _v9_load_management),
    (10, "billing: tariffs, tariff groups per EVSE, charge detail records (the outbox to head office)", _v10_billing),
    (11, "web UI: staff accounts, their sessions, the audit log; sessions by start time", _v11_staff_accounts),
    (12, "authorization statuses as long as OCPP 2.0.1's (PostgreSQL enforces a column's length)",
     _v12_longer_auth_statuses),
    (13, "alarms, chargers' maintenance data and notes, auto-recovery's attempts", _v13_alarms_and_maintenance),
    (14, "notifications: the queue of messages to recipients; settings stored by CLI commands", _v14_notifications),
    (15, "reports: saved reports; sessions by stop and start time, and by start time with their energy",
     _v15_reports),
    (16, "a 2.0.1 transaction's latest event time; meter samples, transaction events and transactions without "
         "indexes another index already covers", _v16_lighter_transactions),
]

LATEST_VERSION = max([1] + [version for version, _, _ in MIGRATIONS])


def too_new_message(path: str, version: int) -> str:
    if dialect.is_postgres_url(path):
        return (f"the database {dialect.redact(path)} has schema version {version}, newer than this appliance knows "
                f"({LATEST_VERSION}): a newer version of the appliance wrote it. Install that version again, or "
                f"restore the dump taken before the upgrade (pg_restore); nothing was changed")
    backups = Path(path).parent / "backups"
    return (f"the database {path} has schema version {version}, newer than this appliance knows ({LATEST_VERSION}): "
            f"a newer version of the appliance wrote it. Install that version again, or stop the service and "
            f"restore a backup taken by this version ('appliance restore FILE'; the copies taken before upgrades "
            f"are in {backups}); nothing was changed")


def current_version(db: Database) -> int | None:
    if not db.table_exists(models.SchemaVersion._meta.table_name):
        return None
    row = models.SchemaVersion.select().order_by(models.SchemaVersion.version.desc()).first()
    return row.version if row else None


def migrate(db: Database) -> tuple[int | None, int]:
    """Bring the schema to LATEST_VERSION; returns (version before, version after)."""
    with db.connection_context():
        if current_version(db) == LATEST_VERSION:  # a read: no write lock, which a busy server may hold
            return LATEST_VERSION, LATEST_VERSION
        if dialect.is_postgres(db):  # changes columns in place; foreign keys hold throughout
            return _migrate_in_transaction(db)
        # SQLite cannot change a column's constraints in place: playhouse.migrate rebuilds such a
        # table (copy, drop, rename), and with foreign keys on, the drop would cascade into every
        # row that refers to it. SQLite's documented procedure: keys off (it is a no-op inside a
        # transaction, so before it), rebuild, check, keys on again.
        db.execute_sql("PRAGMA foreign_keys = OFF")
        try:
            return _migrate_in_transaction(db)
        finally:
            db.execute_sql("PRAGMA foreign_keys = ON")


def _migrate_in_transaction(db: Database) -> tuple[int | None, int]:
    with dialect.write_transaction(db):
        before = current_version(db)
        if before is None:
            db.create_tables(models.ALL_MODELS)
            _stamp(LATEST_VERSION)
            return None, LATEST_VERSION
        if before > LATEST_VERSION:
            raise SchemaTooNewError(too_new_message(db.database, before))
        for version, _, apply in MIGRATIONS:
            if version > before:
                apply(db)
                _stamp(version)
        broken = [] if dialect.is_postgres(db) else db.execute_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"migration left rows that refer to nothing: {broken[:5]}")
        return before, LATEST_VERSION


def _stamp(version: int) -> None:
    models.SchemaVersion.create(version=version, applied_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
