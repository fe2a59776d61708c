"""How long `appliance backup` takes, and whether the writer notices, on a database of a given size.

A database of --mb megabytes (communication log rows of 1 KB) is copied with the backup's own
function while the appliance's writer commits MeterValues-sized writes without pause (synchronous
as configured, default full); the writer's commit latency during the copy is set beside its
latency before it.

    .venv/bin/python bench/backup.py [--mb 200] [--synchronous full] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.store import backup as copies  # noqa: E402
from appliance.store import migrations  # noqa: E402
from appliance.store.database import Database  # noqa: E402


def fill(path: Path, mb: int) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany("INSERT INTO comm_log (charger_identity, direction, logged_at, message) VALUES (?, ?, ?, ?)",
                         ((f"CP{i % 100}", "in", "2026-01-01 00:00:00", "x" * 1000) for i in range(mb * 1000)))


async def measure(path: Path, target: Path, synchronous: str) -> dict:
    db = Database(path, synchronous)
    latencies: list[tuple[float, float]] = []  # (when done, how long)
    stop = asyncio.Event()

    async def write() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            await db.write(lambda: db.peewee.execute_sql(
                "INSERT INTO comm_log (charger_identity, direction, logged_at, message) VALUES ('W', 'in', ?, ?)",
                ("2026-01-01 00:00:00", "y" * 600)))
            latencies.append((time.perf_counter(), time.perf_counter() - started))

    writer = asyncio.create_task(write())
    await asyncio.sleep(2.0)
    copy_started = time.perf_counter()
    summary = await asyncio.to_thread(copies.copy_database, path, target)
    copy_ended = time.perf_counter()
    await asyncio.sleep(0.5)
    stop.set()
    await writer
    await db.close()
    before = sorted(d for t, d in latencies if t < copy_started)
    during = sorted(d for t, d in latencies if copy_started <= t <= copy_ended)
    return {"summary": summary, "before": before, "during": during, "copy_s": copy_ended - copy_started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--synchronous", default="full", choices=("full", "normal"))
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "appliance.sqlite3"
        db = Database(path, args.synchronous)
        migrations.migrate(db.peewee)
        db.close_sync()
        fill(path, args.mb)
        r = asyncio.run(measure(path, Path(tmp) / "copy.sqlite3", args.synchronous))
        s = r["summary"]
        print(f"copied {s.size_bytes / 1e6:.0f} MB in {r['copy_s']:.2f} s ({s.size_bytes / 1e6 / r['copy_s']:.0f} MB/s, "
              f"integrity_check included), integrity {s.integrity}")
        for name in ("before", "during"):
            lat = r[name]
            print(f"writer {name:6} the copy: {len(lat):6} commits, p50 {1000 * statistics.median(lat):.2f} ms, "
                  f"p99 {1000 * lat[int(0.99 * (len(lat) - 1))]:.2f} ms, max {1000 * lat[-1]:.1f} ms")


if __name__ == "__main__":
    main()
