"""What the fault tests share: a charger that keeps a refused message and sends it again, and a
database made full the way a full disk makes it (SQLITE_FULL), then given room again."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call as call16

from appliance.store import models
from appliance.store.database import Database
from appliance.store.dialect import raw
from appliance.store.storage_faults import StoreFullError

UTC = dt.timezone.utc


async def send_until_stored(cp: Any, request: Any, refusals: list[OCPPError] | None = None,
                            attempts: int = 200, pause_s: float = 0.05) -> Any:
    """What a charger does with a transaction message (OCPP 1.6 §4.7): keep it and send it again until
    it is answered. Each CALLERROR is appended to `refusals`."""
    for _ in range(attempts):
        try:
            return await cp.call(request, suppress=False)
        except OCPPError as e:
            if refusals is not None:
                refusals.append(e)
            await asyncio.sleep(pause_s)
    raise AssertionError(f"{type(request).__name__} was never accepted")


def meter_values16(transaction_id: int, energy_wh: int, at: dt.datetime) -> call16.MeterValues:
    return call16.MeterValues(connector_id=1, transaction_id=transaction_id, meter_value=[{
        "timestamp": at.isoformat(), "sampledValue": [
            {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}])


def _pages() -> int:
    return models.database.execute_sql("PRAGMA page_count").fetchone()[0]


def _limit_pages(pages: int) -> int:
    # max_page_count belongs to the connection: this runs on the writer's. SQLite answers SQLITE_FULL
    # for a write past it, exactly as for a write the file system refuses with ENOSPC.
    models.database.execute_sql(f"PRAGMA max_page_count = {pages}")
    return models.database.execute_sql("PRAGMA max_page_count").fetchone()[0]


def _add_ballast(size: int) -> None:
    models.database.execute_sql("CREATE TABLE IF NOT EXISTS test_ballast (data BLOB)")
    models.database.execute_sql(f"INSERT INTO test_ballast VALUES (zeroblob({size}))")


async def fill_database(db: Database, most_rows: int = 5000) -> int:
    """Cap the database at its present size and fill what is left of it; returns the cap in pages.
    One ballast row per write, so the write that finds no room is the only one refused. The first
    refusal makes the appliance prune its communication log; the room that makes is filled too.
    Pages of other tables and indexes keep some room: a write that needs no new page still fits."""
    cap = await db.write(_limit_pages, await db.write(_pages))
    for size in (3000, 3000, 300, 30):
        for _ in range(most_rows):
            try:
                await db.write(_add_ballast, size)
            except StoreFullError:
                break
        else:
            raise AssertionError("the capped database never filled")
    return cap


async def give_room(db: Database, pages: int = 100_000) -> None:
    """The disk has room again (an operator freed some, or the volume grew)."""
    await db.write(_limit_pages, pages)


async def count(db: Database, sql: str, *args: Any) -> int:
    """`sql` with `?` placeholders, on SQLite or PostgreSQL."""
    return await db.read(lambda: raw(models.database).execute(sql, args).fetchone()[0])


async def execute(db: Database, sql: str, *args: Any) -> None:
    await db.write(lambda: raw(models.database).execute(sql, args))
