"""Schema migrations: a database made by an earlier version ends up with exactly the schema a new
one gets, and keeps its rows."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from appliance.store import migrations
from appliance.store.database import Database
from tests import backend

V1_SCHEMA = Path(__file__).parent / "data" / "schema_v1.sql"  # made by the code of schema version 1


def v1_statements(postgres: bool) -> list[str]:
    """The version 1 schema as that code made it on each database: peewee wrote SQLite's; PostgreSQL's
    differs in the types peewee gives two fields there (AutoField SERIAL, DateTimeField TIMESTAMP)."""
    text = V1_SCHEMA.read_text()
    if postgres:
        text = text.replace('"id" INTEGER NOT NULL PRIMARY KEY', '"id" SERIAL NOT NULL PRIMARY KEY')
        text = re.sub(r"\bDATETIME\b", "TIMESTAMP", text)
    return [s.strip() for s in text.split(";\n") if s.strip()]


def schema_of(where) -> dict[str, set]:
    """Columns (name, type, not null, default) of every table, and every index's columns and uniqueness."""
    if backend.is_postgres_location(where):
        return postgres_schema_of(where)
    with sqlite3.connect(where) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%'")]
        out = {}
        for table in tables:
            columns = {tuple(row[1:5]) for row in conn.execute(f'PRAGMA table_info("{table}")')}
            indexes = {(tuple(r[2] for r in conn.execute(f'PRAGMA index_info("{ix[1]}")')), ix[2])
                       for ix in conn.execute(f'PRAGMA index_list("{table}")') if ix[3] == "c"}
            out[table] = (columns, indexes)
        return out


def postgres_schema_of(url: str) -> dict[str, set]:
    columns = backend.query(url, "SELECT table_name, column_name, data_type, is_nullable, column_default "
                                 "FROM information_schema.columns WHERE table_schema = current_schema()")
    indexes = backend.query(url, "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
    out: dict[str, tuple[set, set]] = {}
    for table, *column in columns:
        out.setdefault(table, (set(), set()))[0].add(tuple(column))
    for table, definition in indexes:
        # The definition names the schema, which differs between the two databases compared.
        out[table][1].add(re.sub(r" ON \S+\.", " ON ", definition))
    return out


def make_v1(where) -> None:
    postgres = backend.is_postgres_location(where)
    rows = [
        "INSERT INTO schema_version (version, applied_at) VALUES (1, '2026-01-01 00:00:00')",
        "INSERT INTO charger (identity, protocol, password_hash, registration, description, vendor, "
        "model, serial_number, firmware_version, iccid, imsi, meter_type, meter_serial_number, "
        "connection_state, endpoint_url, firmware_status, diagnostics_status, created_at, created_by) "
        "VALUES ('CP1', 'ocpp1.6-json', NULL, 'accepted', '', '', '', '', '', '', '', '', '', "
        "'online', '', '', '', '2026-01-01 00:00:00', 'admin')",
        "INSERT INTO connector (charger_id, evse_id, connector_number, current_type, status, error_code, "
        "info, vendor_error_code) VALUES (1, NULL, 1, 'AC', 'Charging', 'NoError', '', '')",
        "INSERT INTO \"transaction\" (charger_id, connector_number, remote_tx_id, id_tag, auth_status, "
        "started_at, meter_start_wh, stop_reason, stop_id_tag, stop_auth_status, created_at) VALUES "
        "(1, 1, '', 'CARD1', 'Accepted', '2026-01-01 08:00:00', 100, '', '', '', '2026-01-01 08:00:00')",
        "INSERT INTO meter_sample (charger_id, connector_number, transaction_id, sampled_at, measurand, "
        "phase, location, context, unit, format, value, raw_value) VALUES (1, 1, 1, "
        "'2026-01-01 08:05:00', 'Energy.Active.Import.Register', '', '', '', 'Wh', 'Raw', 600, '600')",
    ]
    for statement in v1_statements(postgres) + rows:
        backend.query(where, statement)


def place(tmp_path: Path, name: str):
    """A database with nothing in it: a new SQLite file, or an empty PostgreSQL schema."""
    return backend.empty_database_url() if backend.ON_POSTGRES else tmp_path / name


async def test_a_version_1_database_migrates_to_the_schema_of_a_new_one(tmp_path):
    old_place, fresh_place = place(tmp_path, "old.sqlite3"), place(tmp_path, "fresh.sqlite3")
    make_v1(old_place)
    old = Database(old_place, "normal")
    assert migrations.migrate(old.peewee) == (1, migrations.LATEST_VERSION)
    await old.close()
    fresh = Database(fresh_place, "normal")
    migrations.migrate(fresh.peewee)
    await fresh.close()
    assert schema_of(old_place) == schema_of(fresh_place)
    assert backend.query(old_place, "SELECT connector_number, evse_connector_id, status FROM connector") == \
        [(1, 1, "Charging")]
    # Tables rebuilt by the migration keep the rows that refer to them (no cascade on the rebuild).
    assert backend.query(old_place, 'SELECT id, id_tag, offline FROM "transaction"') == [(1, "CARD1", False)]
    assert backend.query(old_place, "SELECT transaction_id, value FROM meter_sample") == [(1, 600.0)]


async def test_migrating_twice_changes_nothing(tmp_path):
    where = place(tmp_path, "db.sqlite3")
    make_v1(where)
    for expected in ((1, migrations.LATEST_VERSION), (migrations.LATEST_VERSION, migrations.LATEST_VERSION)):
        database = Database(where, "normal")
        assert migrations.migrate(database.peewee) == expected
        await database.close()
