"""What holding a small batch for the next writes (the writer's commit wait) saves, in an open loop.

Writes arrive on their own clock, as chargers' meter values do (each one three sample rows through
`Database.write_statements`, awaited), at --rate a second for --seconds, pinned to one CPU as the
server is in bench/fleet_load.py. Printed per commit wait: jobs per commit, CPU per write (user and
kernel: the fsync is the kernel's), and the writes' latency.

    .venv/bin/python bench/commit_wait.py [--rate 1000] [--seconds 8] [--waits 0,2,5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.store import database  # noqa: E402
from appliance.store.database import Database, Statement  # noqa: E402

INSERT = "INSERT INTO sample (tx, at, measurand, value) VALUES (?, ?, ?, ?), (?, ?, ?, ?), (?, ?, ?, ?)"


async def run(path: Path, wait_ms: float, rate: int, seconds: float) -> dict:
    database.COMMIT_WAIT_S = wait_ms / 1000
    db = Database(path, "full")
    await db.write(lambda: db.peewee.execute_sql(
        "CREATE TABLE sample (id INTEGER PRIMARY KEY, tx INTEGER, at INTEGER, measurand TEXT, value REAL)"))
    await db.write(lambda: db.peewee.execute_sql("CREATE INDEX sample_tx ON sample (tx, at)"))
    latencies: list[float] = []

    async def one(n: int) -> None:
        started = time.perf_counter()
        tx = n % 1000
        await db.write_statements(Statement(INSERT, [(tx, n, "E", 1.0, tx, n, "P", 1.0, tx, n, "C", 1.0)]))
        latencies.append(time.perf_counter() - started)

    before, commits = resource.getrusage(resource.RUSAGE_SELF), db.commits
    tasks, start, n = [], time.perf_counter(), 0
    while n < rate * seconds:
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(n)))
        n += 1
    await asyncio.gather(*tasks)
    after = resource.getrusage(resource.RUSAGE_SELF)
    await db.close()
    latencies.sort()
    return {"jobs/commit": n / (db.commits - commits),
            "cpu us": 1e6 * (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / n,
            "kernel us": 1e6 * (after.ru_stime - before.ru_stime) / n,
            "p50 ms": 1000 * latencies[len(latencies) // 2], "p99 ms": 1000 * latencies[int(0.99 * len(latencies))]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--waits", default="0,2,5", help="commit waits to compare, in ms")
    parser.add_argument("--dir", type=Path, help="where the database goes (default: a temporary directory)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    print(f"open loop, {args.rate} writes/s for {args.seconds:.0f} s, one CPU; "
          f"default commit wait {database.COMMIT_WAIT_S * 1000:g} ms")
    print(f"{'wait ms':>7} {'jobs/commit':>11} {'CPU us':>7} {'kernel us':>9} {'p50 ms':>7} {'p99 ms':>7}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for wait in (float(w) for w in args.waits.split(",")):
            f = asyncio.run(run(Path(tmp) / f"w{wait}.sqlite3", wait, args.rate, args.seconds))
            print(f"{wait:7g} {f['jobs/commit']:11.1f} {f['cpu us']:7.0f} {f['kernel us']:9.0f} "
                  f"{f['p50 ms']:7.1f} {f['p99 ms']:7.1f}")
    print(f"reproduce: .venv/bin/python bench/commit_wait.py --rate {args.rate} --seconds {args.seconds:g} "
          f"--waits {args.waits}")


if __name__ == "__main__":
    main()
