"""Soak: the appliance under chargers coming and going for a long time; memory must stay flat and the
database consistent.

One appliance process (CPU 0, a fresh data directory) and this process driving a mixed fleet (CPU 1):
each charger connects, boots, and then loops: start a transaction, send readings every --interval s
(a random number of them), stop it, and now and then drop the connection between transactions and
come back. Some drop mid-transaction (--drop-fraction): they go away without a stop, come back a
little later and start a new transaction; the one they left stays open until the stuck-transaction
rule closes it (APPLIANCE_STUCK_TRANSACTION_AFTER_S, --stuck-after, shortened so that the rule works
during the run). The server's resident memory is sampled every --sample-s seconds.

At the end the load stops with every charger where it is, and the database is read while the server
still runs. Every transaction must be closed, or open for a reason: its charger is still connected
and in it, or its charger dropped it less than --stuck-after (plus a supervision round) ago; one
dropped longer ago must have been closed by the rule (reason Stuck). Every reading a charger was
answered for must be there once (three samples), and nothing else.

    .venv/bin/python bench/soak.py                      # one hour
    .venv/bin/python bench/soak.py --duration 900       # 15 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import sqlite3
import sys
import time
from collections import Counter

import aiohttp

from fleet_chargers import CLASSES, KINDS, CallError, Dropped, Tally, parse_mix
from fleet_load import Server, pin_to
from loadgen import Clock, percentile

STUCK = "Stuck"
WAL_BOUND_MB = 128.0  # journal_size_limit (64 MiB) and a checkpoint round's writes, with room to spare
FLAT_PCT = 5.0  # what the second half may move, as a share of its level, and still be flat


def log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def file_mb(path):
    try:
        return os.path.getsize(path) / 1e6
    except FileNotFoundError:
        return 0.0


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


class Books:
    """What the chargers were answered: per transaction, its readings and how it ended."""

    def __init__(self):
        self.readings = Counter()  # (identity, tx) -> readings acknowledged
        self.stopped = set()  # (identity, tx) stopped by the charger, acknowledged
        self.dropped = {}  # (identity, tx) -> monotonic time the charger went away in it
        self.running = {}  # identity -> tx it is in now, connected
        self.latencies = []  # (monotonic time, seconds)
        self.errors = Counter()
        self.troubled = set()  # chargers that saw an error: a call may have been stored but not answered
        self.samples = []
        self.cycles = 0


class Soaker:
    def __init__(self, args, server):
        self.args = args
        self.server = server
        self.books = Books()
        self.clock = Clock()
        self.tally = Tally()
        self.stopping = False
        mix = parse_mix(args.mix)
        self.chargers = [CLASSES[kind](i, "SOAK", self.clock, self.tally, args.call_timeout)
                         for kind in KINDS for i in range(mix[kind])]
        self.rng = random.Random(args.seed)

    async def timed(self, coro):
        t0 = time.monotonic()
        result = await coro
        self.books.latencies.append((t0, time.monotonic() - t0))
        return result

    async def connect(self, session, c):
        if c.kind == "soap16":
            await c.connect("127.0.0.1", self.server.port)
        else:
            await c.connect(session, f"ws://127.0.0.1:{self.server.port}/ocpp")
        await self.timed(c.boot())
        await self.timed(c.status("Available"))

    async def life(self, session, c):
        """One charger's life, until the run ends."""
        a, rng, books = self.args, self.rng, self.books
        await asyncio.sleep(rng.uniform(0, a.interval * 5))  # do not all start at once
        while not self.stopping:
            try:
                if not c.connected:
                    await self.connect(session, c)
                tx = await self.timed(c.start())
                key = (c.identity, tx)
                books.running[c.identity] = tx
                for _ in range(rng.randint(a.min_readings, a.max_readings)):
                    await asyncio.sleep(a.interval * rng.uniform(0.8, 1.2))
                    if self.stopping:
                        return  # left running, connected: open for a reason
                    await self.timed(c.meter())
                    books.readings[key] += 1
                if rng.random() < a.drop_fraction:  # gone mid-transaction: no stop
                    books.running.pop(c.identity, None)
                    books.dropped[key] = time.monotonic()
                    await self.go_away(c)
                    continue
                await self.timed(c.stop())
                books.stopped.add(key)
                books.running.pop(c.identity, None)
                books.cycles += 1
                await asyncio.sleep(a.interval * rng.uniform(0.5, 3))
                if rng.random() < a.leave_fraction:  # unplugged from the network between sessions
                    await self.go_away(c)
            except (CallError, Dropped, asyncio.TimeoutError, ConnectionError, aiohttp.ClientError) as e:
                books.errors[type(e).__name__] += 1
                books.troubled.add(c.identity)
                tx = books.running.pop(c.identity, None)
                if tx is not None:  # the transaction stays open: like a drop
                    books.dropped[(c.identity, tx)] = time.monotonic()
                await self.go_away(c)

    async def go_away(self, c):
        await c.close()
        if c.kind == "soap16":
            c.http = None
        else:
            c.ws = None
        await asyncio.sleep(self.args.interval * self.rng.uniform(2, 10))

    async def sample_memory(self):
        t0 = time.monotonic()
        while not self.stopping:
            rss = rss_mb(self.server.proc.pid)
            lat = [s for t, s in self.books.latencies if t >= time.monotonic() - self.args.sample_s]
            lat.sort()
            db = self.server.db_path
            self.books.samples.append({
                "t": round(time.monotonic() - t0), "rss_mb": round(rss, 1),
                "db_mb": round(file_mb(db), 1), "wal_mb": round(file_mb(db + "-wal"), 1),
                "msgs": len(lat), "p50_ms": round(1000 * (percentile(lat, 0.5) or 0), 1),
                "p99_ms": round(1000 * (percentile(lat, 0.99) or 0), 1)})
            self.books.latencies = [(t, s) for t, s in self.books.latencies if t >= time.monotonic() - 60]
            if len(self.books.samples) % max(1, int(60 / self.args.sample_s)) == 0:
                s = self.books.samples[-1]
                log(f"t={s['t']}s RSS {s['rss_mb']} MB, database {s['db_mb']} MB + -wal {s['wal_mb']} MB, "
                    f"{s['msgs'] / self.args.sample_s:.0f} msg/s, "
                    f"p99 {s['p99_ms']} ms, {self.books.cycles} sessions done, errors {dict(self.books.errors)}")
            await asyncio.sleep(self.args.sample_s)

    async def run(self):
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            lives = [asyncio.create_task(self.life(session, c)) for c in self.chargers]
            sampler = asyncio.create_task(self.sample_memory())
            await asyncio.sleep(self.args.duration)
            self.stopping = True
            await asyncio.wait(lives, timeout=self.args.call_timeout + 2 * self.args.interval)
            sampler.cancel()
            # The database is read while the chargers in a transaction are still connected.
            ended_at = time.monotonic()
            check = check_database(self.server.db_path, self.books, self.args, ended_at)
            for c in self.chargers:
                await c.close()
        return check


def check_database(db_path, books, args, ended_at):
    db = sqlite3.connect(db_path, timeout=30)
    try:
        rows = db.execute('SELECT c.identity, t.id, t.remote_tx_id, t.stopped_at, t.stop_reason FROM "transaction" t '
                          "JOIN charger c ON c.id = t.charger_id WHERE c.identity LIKE 'SOAK%'").fetchall()
        samples = Counter(dict(db.execute(
            "SELECT transaction_id, count(*) FROM meter_sample WHERE context = 'Sample.Periodic' "
            "GROUP BY transaction_id").fetchall()))
    finally:
        db.close()
    # A transaction is known to the chargers by its id (1.x) or by the id they minted (2.0.1).
    stored = {(identity, remote or tx_id): (tx_id, stopped, reason) for identity, tx_id, remote, stopped, reason in rows}
    grace = args.stuck_after + 2 * args.supervision_s
    verdict = Counter()
    problems = []

    def problem(text):
        verdict["problems"] += 1
        if len(problems) < 8:
            problems.append(text)

    known = set(books.readings) | books.stopped | set(books.dropped) | {(i, tx) for i, tx in books.running.items()}
    for key in known:
        row = stored.get(key)
        if row is None:
            if books.readings[key] or key in books.stopped:
                problem(f"{key}: answered but not in the database")
            continue
        tx_id, stopped, reason = row
        expected = 3 * books.readings[key]
        # A charger that saw an error may have had a reading stored whose answer it never got.
        if samples[tx_id] < expected or samples[tx_id] > expected and key[0] not in books.troubled:
            problem(f"{key}: {samples[tx_id]} samples for {books.readings[key]} readings answered")
        if key in books.stopped:
            verdict["stopped by the charger"] += 1
            if stopped is None:
                problem(f"{key}: stopped by its charger, open in the database")
        elif books.running.get(key[0]) == key[1]:
            verdict["open: charger connected, in it"] += 1
            if stopped is not None:
                problem(f"{key}: its charger is still in it, closed in the database ({reason})")
        elif key in books.dropped:
            away = ended_at - books.dropped[key]
            if stopped is not None:
                verdict["dropped, closed by the stuck rule"] += 1
                if reason != STUCK:
                    problem(f"{key}: dropped, closed as {reason!r}, not by the stuck rule")
            elif away <= grace:
                verdict["dropped, open (younger than the stuck rule)"] += 1
            else:
                problem(f"{key}: dropped {away:.0f}s ago, still open (the stuck rule closes at {args.stuck_after}s)")
    for key in set(stored) - known:
        if key[0] in books.troubled:  # a start whose answer was lost with the connection
            verdict["started, answer lost with the connection"] += 1
        else:
            problem(f"{key}: in the database, never answered to a charger")
    readings = sum(books.readings.values())
    stored_samples = sum(samples[stored[k][0]] for k in known if k in stored)
    return {"transactions": len(known), "verdict": dict(verdict), "problems": problems,
            "readings_answered": readings, "samples_stored": stored_samples, "ok": not verdict["problems"]}


def memory_trend(samples):
    """Mean RSS per quarter of the run, the least-squares slopes, and whether it is flat.

    The first half is the warm-up: the fleet connects, SQLite's page caches and the registry fill, and the
    collector's thresholds settle (the first full collection comes after minutes). A leak is what still
    grows after that, so the verdict reads the second half only: its slope over the whole run's length, and
    its last quarter against its first, each within FLAT_PCT of its level."""
    values = [s["rss_mb"] for s in samples]
    n = len(values)
    if n < 8:
        return None
    q = n // 4
    quarters = [sum(part) / len(part) for part in (values[:q], values[q:2 * q], values[2 * q:3 * q], values[3 * q:])]
    second_half = samples[n // 2:]
    level = sum(values[n // 2:]) / len(second_half)
    slope_h = _slope(second_half) * 3600
    span_h = (samples[-1]["t"] - samples[0]["t"]) / 3600
    drift_pct = 100 * slope_h * span_h / level
    late_pct = 100 * (quarters[3] - quarters[2]) / quarters[2]
    return {"quarters_mb": [round(v, 1) for v in quarters],
            "growth_pct": round(100 * (quarters[3] - quarters[0]) / quarters[0], 1),
            "slope_mb_per_h": round(_slope(samples) * 3600, 1),
            "second_half_slope_mb_per_h": round(slope_h, 1), "second_half_drift_pct": round(drift_pct, 1),
            "last_vs_third_quarter_pct": round(late_pct, 1), "peak_mb": max(values),
            "flat": abs(drift_pct) <= FLAT_PCT and abs(late_pct) <= FLAT_PCT}


def _slope(samples):
    """Least-squares MB per second."""
    ts, vs = [s["t"] for s in samples], [s["rss_mb"] for s in samples]
    mt, mv = sum(ts) / len(ts), sum(vs) / len(vs)
    return sum((t - mt) * (v - mv) for t, v in zip(ts, vs)) / max(1e-9, sum((t - mt) ** 2 for t in ts))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=3600.0, help="seconds of load (3600)")
    p.add_argument("--mix", default="json16=300,json201=150,soap16=50")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between a charger's readings")
    p.add_argument("--min-readings", type=int, default=3)
    p.add_argument("--max-readings", type=int, default=30)
    p.add_argument("--drop-fraction", type=float, default=0.1, help="transactions left by a dropped connection")
    p.add_argument("--leave-fraction", type=float, default=0.2, help="chargers going away between sessions")
    p.add_argument("--stuck-after", type=float, default=300.0, help="the stuck-transaction rule, seconds")
    p.add_argument("--supervision-s", type=float, default=10.0, help="how often the server applies it")
    p.add_argument("--sample-s", type=float, default=10.0, help="seconds between memory samples")
    p.add_argument("--call-timeout", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--appliance-root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--keep-data", action="store_true")
    p.add_argument("--json-out")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.environ["APPLIANCE_STUCK_TRANSACTION_AFTER_S"] = str(args.stuck_after)
    os.environ["APPLIANCE_SUPERVISION_INTERVAL_S"] = str(args.supervision_s)
    server = Server("appliance", args)
    try:
        server.start()
        pin_to(1)()
        log(f"appliance pid {server.proc.pid} on port {server.port}, data in {server.tmp}; "
            f"{len(parse_mix(args.mix))} kinds, {sum(parse_mix(args.mix).values())} chargers, {args.duration:g} s")
        soaker = Soaker(args, server)
        check = asyncio.run(soaker.run())
    finally:
        server.kill()
    samples = soaker.books.samples
    trend = memory_trend(samples)
    print()
    print(f"Soak: {sum(parse_mix(args.mix).values())} chargers ({args.mix}), {args.duration:g} s, a reading every "
          f"~{args.interval:g} s per charger in a transaction, {args.drop_fraction:.0%} of sessions dropped "
          f"mid-transaction, stuck rule at {args.stuck_after:g} s")
    print(f"{'t s':>6} {'RSS MB':>7} {'DB MB':>7} {'WAL MB':>7} {'msg/s':>6} {'p50 ms':>7} {'p99 ms':>7}")
    step = max(1, len(samples) // 20)
    for s in samples[::step] + ([samples[-1]] if samples and (len(samples) - 1) % step else []):
        print(f"{s['t']:>6} {s['rss_mb']:>7.1f} {s['db_mb']:>7.1f} {s['wal_mb']:>7.1f} "
              f"{s['msgs'] / args.sample_s:>6.0f} {s['p50_ms']:>7.1f} {s['p99_ms']:>7.1f}")
    if samples:
        # The -wal file keeps its largest size until it starts over past journal_size_limit (64 MiB):
        # bounded means a checkpoint's worth of writes, not the run's.
        wal_peak = max(s["wal_mb"] for s in samples)
        print(f"disk: the -wal at most {wal_peak:.1f} MB, {samples[-1]['wal_mb']:.1f} MB at the end; the database "
              f"{samples[0]['db_mb']:.1f} -> {samples[-1]['db_mb']:.1f} MB: "
              f"{'bounded' if wal_peak <= WAL_BOUND_MB else 'the -wal GREW'} (at most {WAL_BOUND_MB:g} MB)")
    if trend:
        print(f"memory by quarter: {' / '.join(f'{v} MB' for v in trend['quarters_mb'])} "
              f"(first to last {trend['growth_pct']:+.1f}%, warm-up included); slope {trend['slope_mb_per_h']:+.1f} "
              f"MB/h, second half {trend['second_half_slope_mb_per_h']:+.1f} MB/h "
              f"({trend['second_half_drift_pct']:+.1f}% over the run), last quarter against the third "
              f"{trend['last_vs_third_quarter_pct']:+.1f}%; peak {trend['peak_mb']} MB: "
              f"{'flat' if trend['flat'] else 'GROWING'} (second half within {FLAT_PCT:g}%)")
    print(f"sessions completed: {soaker.books.cycles}; connection errors seen by chargers: "
          f"{dict(soaker.books.errors) or 'none'}")
    print(f"database: {check['transactions']} transactions; " + ", ".join(f"{n} {k}" for k, n in
                                                                       check["verdict"].items()))
    print(f"database: {check['readings_answered']} readings answered, {check['samples_stored']} periodic samples "
          f"stored (3 each): {'OK' if check['ok'] else 'FAIL'}")
    for text in check["problems"]:
        print(f"  problem: {text}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"samples": samples, "trend": trend, "check": check}, f, indent=1)
    if not args.keep_data and check["ok"]:
        import shutil
        shutil.rmtree(server.tmp, ignore_errors=True)
    return 0 if check["ok"] and (trend is None or abs(trend["growth_pct"]) <= 10) else 1


if __name__ == "__main__":
    sys.exit(main())
