"""What synchronous=FULL costs against NORMAL on this disk, through the appliance's own writer.

Each write is one MeterValues' worth (three sample rows) through `Database.write`, awaited: the
caller is answered only after its commit, as a charger is. Two loads per mode: one writer at a time
(every write its own commit: the raw cost of an fsync) and many at once (the writer's group commit
shares each fsync among what queued meanwhile, as under real load).

    .venv/bin/python bench/sqlite_synchronous.py [--writes 400] [--concurrent 100] [--dir DIR]

--dir puts the database on the disk to judge (default: a temporary directory; /tmp may be tmpfs,
where fsync costs nothing: the script says which file system it measured).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.store.database import Database  # noqa: E402

INSERT = "INSERT INTO sample (tx, at, measurand, value) VALUES (?, ?, ?, ?)"


def meter_values(db: Database, tx: int, n: int) -> None:
    conn = db.peewee.connection()
    conn.executemany(INSERT, [(tx, n, m, float(n)) for m in ("Energy", "Power", "Current")])


async def run(path: Path, synchronous: str, writes: int, concurrent: int) -> dict:
    db = Database(path, synchronous)
    await db.write(lambda: db.peewee.execute_sql(
        "CREATE TABLE sample (id INTEGER PRIMARY KEY, tx INTEGER, at INTEGER, measurand TEXT, value REAL)"))
    latencies: list[float] = []

    async def charger(tx: int, count: int) -> None:
        for n in range(count):
            started = time.perf_counter()
            await db.write(meter_values, db, tx, n)
            latencies.append(time.perf_counter() - started)

    out = {}
    for name, chargers, each in (("one at a time", 1, writes), (f"{concurrent} at once", concurrent, writes)):
        latencies.clear()
        commits = db.commits
        started = time.perf_counter()
        await asyncio.gather(*(charger(tx, each) for tx in range(chargers)))
        wall = time.perf_counter() - started
        latencies.sort()
        out[name] = {"writes/s": len(latencies) / wall, "writes/commit": len(latencies) / (db.commits - commits),
                     "p50 ms": 1000 * statistics.median(latencies),
                     "p99 ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))]}
    await db.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=400, help="writes per writer")
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        fs = subprocess.run(["df", "--output=fstype", tmp], capture_output=True, text=True).stdout.split()[-1]
        print(f"database in {tmp} ({fs})")
        print(f"{'mode':8} {'load':16} {'writes/s':>9} {'writes/commit':>14} {'p50 ms':>8} {'p99 ms':>8}")
        for synchronous in ("full", "normal"):
            figures = asyncio.run(run(Path(tmp) / f"{synchronous}.sqlite3", synchronous, args.writes, args.concurrent))
            for load, f in figures.items():
                print(f"{synchronous:8} {load:16} {f['writes/s']:9.0f} {f['writes/commit']:14.1f} "
                      f"{f['p50 ms']:8.2f} {f['p99 ms']:8.2f}")


if __name__ == "__main__":
    main()
