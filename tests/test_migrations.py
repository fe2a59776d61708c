"""Schema migrations: a database made by an earlier version ends up with exactly the schema a new
one gets, and keeps its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.store import migrations
from appliance.store.database import Database

V1_SCHEMA = Path(__file__).parent / "data" / "schema_v1.sql"  # made by the code of schema version 1


def schema_of(path: Path) -> dict[str, set]:
    """Columns (name, type, not null, default) of every table, and every index's columns and uniqueness."""
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%'")]
        out = {}
        for table in tables:
            columns = {tuple(row[1:5]) for row in conn.execute(f'PRAGMA table_info("{table}")')}
            indexes = {(tuple(r[2] for r in conn.execute(f'PRAGMA index_info("{ix[1]}")')), ix[2])
                       for ix in conn.execute(f'PRAGMA index_list("{table}")') if ix[3] == "c"}
            out[table] = (columns, indexes)
        return out


def make_v1(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA.read_text())
        conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (1, '2026-01-01 00:00:00')")
        conn.execute("INSERT INTO charger (identity, protocol, password_hash, registration, description, vendor, "
                     "model, serial_number, firmware_version, iccid, imsi, meter_type, meter_serial_number, "
                     "connection_state, endpoint_url, firmware_status, diagnostics_status, created_at, created_by) "
                     "VALUES ('CP1', 'ocpp1.6-json', NULL, 'accepted', '', '', '', '', '', '', '', '', '', "
                     "'online', '', '', '', '2026-01-01 00:00:00', 'admin')")
        conn.execute("INSERT INTO connector (charger_id, evse_id, connector_number, current_type, status, error_code, "
                     "info, vendor_error_code) VALUES (1, NULL, 1, 'AC', 'Charging', 'NoError', '', '')")
        conn.execute("INSERT INTO \"transaction\" (charger_id, connector_number, remote_tx_id, id_tag, auth_status, "
                     "started_at, meter_start_wh, stop_reason, stop_id_tag, stop_auth_status, created_at) VALUES "
                     "(1, 1, '', 'CARD1', 'Accepted', '2026-01-01 08:00:00', 100, '', '', '', '2026-01-01 08:00:00')")
        conn.execute("INSERT INTO meter_sample (charger_id, connector_number, transaction_id, sampled_at, measurand, "
                     "phase, location, context, unit, format, value, raw_value) VALUES (1, 1, 1, "
                     "'2026-01-01 08:05:00', 'Energy.Active.Import.Register', '', '', '', 'Wh', 'Raw', 600, '600')")


async def test_a_version_1_database_migrates_to_the_schema_of_a_new_one(tmp_path):
    make_v1(tmp_path / "old.sqlite3")
    old = Database(tmp_path / "old.sqlite3", "normal")
    assert migrations.migrate(old.peewee) == (1, migrations.LATEST_VERSION)
    await old.close()
    fresh = Database(tmp_path / "fresh.sqlite3", "normal")
    migrations.migrate(fresh.peewee)
    await fresh.close()
    assert schema_of(tmp_path / "old.sqlite3") == schema_of(tmp_path / "fresh.sqlite3")
    with sqlite3.connect(tmp_path / "old.sqlite3") as conn:
        assert conn.execute("SELECT connector_number, evse_connector_id, status FROM connector").fetchall() == \
            [(1, 1, "Charging")]
        # Tables rebuilt by the migration keep the rows that refer to them (no cascade on the rebuild).
        assert conn.execute('SELECT id, id_tag, offline FROM "transaction"').fetchall() == [(1, "CARD1", 0)]
        assert conn.execute("SELECT transaction_id, value FROM meter_sample").fetchall() == [(1, 600.0)]


async def test_migrating_twice_changes_nothing(tmp_path):
    make_v1(tmp_path / "db.sqlite3")
    for expected in ((1, migrations.LATEST_VERSION), (migrations.LATEST_VERSION, migrations.LATEST_VERSION)):
        database = Database(tmp_path / "db.sqlite3", "normal")
        assert migrations.migrate(database.peewee) == expected
        await database.close()
