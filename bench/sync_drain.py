"""Drains a backlog of charge detail records into a loopback head office and prints records per second.

The backlog: `--records` CDRs (100,000), each an OCPI 2.2.1 document of ~1.6 KB built by the
appliance's own `cdr_document` (a time-of-day tariff with two bands, three charging periods; with
`--signed-data` also OCMF signed meter data at start and end, ~2.9 KB), each with its own finished
transaction (one CDR per session, as the appliance writes them), all unsent, inserted with
executemany into a fresh database made by the appliance's migrations.

Head office is an aiohttp server in its own process (pinned to CPU 1, the drain to CPU 0, when there
are two CPUs). It parses each batch, keeps a digest of each record (canonical JSON) by id and
answers at once (or after `--latency-ms`). Then `HeadOfficeSync(db, batch=--batch).drain()` runs
once, timed; head office reports what it received, and the bench checks that every id arrived
exactly once and in the order the records were written, and that the appliance's queue is empty.

    .venv/bin/python bench/sync_drain.py [--records 100000] [--batch 100] [--latency-ms 0] [--signed-data]
                                         [--profile]

With `--profile`, cProfile runs on the event loop and inside the database calls of the drain (in the
reader and writer threads), and the top functions of each are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import hashlib
import io
import json
import os
import platform
import pstats
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, REPO_DIR)  # run from anywhere, without installing the appliance

TOKEN = "bench-token"
UTC = dt.timezone.utc
DRAIN_CPU, HEAD_OFFICE_CPU = 0, 1


# -- head office (its own process: `sync_drain.py --serve-head-office`) ---------------------------

def serve_head_office(latency_ms: float) -> None:
    """Prints `port N` once listening; POST /cdrs stores a digest of each record by id; GET /report
    says what arrived (ids in order of first arrival, copies, conflicts, requests, CPU seconds)."""
    from aiohttp import web

    digests: dict[str, bytes] = {}
    order: list[str] = []
    state = {"requests": 0, "records": 0, "conflicts": 0, "bad_token": 0, "first_at": None, "last_at": None,
             "handler_cpu_s": 0.0, "parse_cpu_s": 0.0, "check_cpu_s": 0.0}

    async def cdrs(request: web.Request) -> web.Response:
        cpu0 = time.thread_time()
        now = time.monotonic()
        state["first_at"] = state["first_at"] or now
        state["requests"] += 1
        if request.headers.get("Authorization") != f"Token {TOKEN}":
            state["bad_token"] += 1
            return web.Response(status=401)
        body = await request.read()
        cpu1 = time.thread_time()
        batch = json.loads(body)["cdrs"]
        cpu2 = time.thread_time()
        accepted = []
        for cdr in batch:
            digest = hashlib.blake2b(json.dumps(cdr, sort_keys=True).encode(), digest_size=16).digest()
            known = digests.setdefault(cdr["id"], digest)
            if known is digest:
                order.append(cdr["id"])
            elif known != digest:
                state["conflicts"] += 1
            accepted.append(cdr["id"])
        state["records"] += len(batch)
        cpu3 = time.thread_time()
        state["parse_cpu_s"] += cpu2 - cpu1
        state["check_cpu_s"] += cpu3 - cpu2
        state["handler_cpu_s"] += cpu3 - cpu0
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        state["last_at"] = time.monotonic()
        return web.json_response({"accepted": accepted})

    async def report(request: web.Request) -> web.Response:
        busy = (state["last_at"] - state["first_at"]) if state["first_at"] and state["last_at"] else 0.0
        return web.json_response(dict(state, order=order, unique=len(digests), cpu_s=time.process_time(),
                                      busy_s=busy))

    async def main() -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/cdrs", cdrs)
        app.router.add_get("/report", report)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        print(f"port {port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def start_head_office(latency_ms: float, pin: bool) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, os.path.abspath(__file__), "--serve-head-office", "--latency-ms", str(latency_ms)]
    if pin:
        command = ["taskset", "-c", str(HEAD_OFFICE_CPU)] + command
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO_DIR)
    line = proc.stdout.readline()
    if not line.startswith("port "):
        proc.kill()
        raise SystemExit(f"head office did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


# -- the backlog ----------------------------------------------------------------------------------

def template_document(signed_data: bool) -> dict:
    """One realistic CDR, priced and shaped by the appliance's own code (~1.6 KB; ~2.9 KB with the
    signed meter data of a charger with an OCMF meter)."""
    from appliance.billing import cdr as cdr_shape
    from appliance.billing import pricing
    from appliance.billing.tariffs import Tariff, TimeBand

    tariff = Tariff("7", "depot day/night", "time_of_day", connection_fee=Decimal("0.50"), bands=(
        TimeBand(dt.time(6), dt.time(22), Decimal("0.39"), Decimal("0.02"), "day"),
        TimeBand(dt.time(22), dt.time(6), Decimal("0.29"), Decimal(0), "night")))
    start = dt.datetime(2026, 11, 20, 19, 12, 31, tzinfo=UTC)
    stop = start + dt.timedelta(hours=4, minutes=7)
    usage = pricing.Usage(start, stop, (pricing.MeterPoint(start, 1_204_331),
                                        pricing.MeterPoint(start + dt.timedelta(hours=2), 1_236_900),
                                        pricing.MeterPoint(stop, 1_262_118)))
    price = pricing.price(tariff, usage, __import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    session = cdr_shape.Session(1, "DEPOT-CP-017", 2, "IEC_62196_T2", "AC_3_PHASE", "04A2B3C4D5E6F7",
                                "RFID", "AUTH_REQUEST", "Blue Taxi GmbH", start, stop)
    payload = {"FV": "1.0", "GI": "ABL SBC-301", "GS": "808829900001", "GV": "1.4p3", "PG": "T12345",
               "MV": "Phoenix Contact", "MM": "EEM-350-D-MCB", "MS": "BQ27400330016", "IS": True, "IT": "ISO14443",
               "ID": "04A2B3C4D5E6F7", "RD": [{"TM": "2026-11-20T19:12:31,000+0000 S", "TX": "B", "RV": 1204.331,
                                               "RI": "1-b:1.8.0", "RU": "kWh", "ST": "G"}]}
    signature = {"SA": "ECDSA-secp256r1-SHA256",
                 "SD": "3045022100C3A1F7A5F2B1E0D9C8B7A6958473625140F1E2D3C4B5A69788796A5B4C3D2E1F002205A4B3C2D1"
                       "E0F9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F1A0B9C8D7E6F5A4"}

    def ocmf(tx: str) -> str:
        return "OCMF|" + json.dumps(dict(payload, TX=tx), separators=(",", ":")) + "|" + \
            json.dumps(signature, separators=(",", ":"))

    signed = [cdr_shape.SignedValue("Start", "", ocmf("B")), cdr_shape.SignedValue("End", "", ocmf("E"))]
    return cdr_shape.cdr_document("0" * 32, cdr_shape.Party("DE", "DEP"), session, price, tariff,
                                  signed if signed_data else [], "OCMF" if signed_data else "", "", stop)


def insert_backlog(db, records: int, signed_data: bool) -> tuple[list[str], int]:
    """`records` finished transactions and one unsent CDR each; returns the CDR ids in written order
    and the mean document size in bytes."""
    from peewee import AutoField

    from appliance.store.models import ChargeDetailRecord, Charger, Transaction

    template = template_document(signed_data)
    base = dt.datetime(2026, 1, 1, 6, tzinfo=UTC)
    now = str(dt.datetime(2026, 11, 21, 8, 0))

    def insert_sql(model, given: list[str]) -> tuple[str, tuple, list[str]]:
        """INSERT for `model` with the `given` columns varying per row and every other column at its
        model default (what Model.create would write)."""
        fields = [f for f in model._meta.sorted_fields if not isinstance(f, AutoField)]
        columns = [f.column_name for f in fields]
        fixed = []
        for f in fields:
            if f.column_name in given:
                continue
            value = f.default() if callable(f.default) else f.default
            if value is None and not f.null:
                raise ValueError(f"{model.__name__}.{f.name} needs a value")
            fixed.append(f.db_value(value) if value is not None else None)
        order = given + [c for c in columns if c not in given]
        sql = (f'INSERT INTO "{model._meta.table_name}" ({", ".join(chr(34) + c + chr(34) for c in order)}) '
               f'VALUES ({", ".join("?" * len(order))})')
        return sql, tuple(fixed), order

    with db.peewee.connection_context():
        with db.peewee.atomic():
            charger = Charger.create(identity="DEPOT-CP-017", protocol="ocpp1.6-json", registration="accepted",
                                     created_at=dt.datetime(2026, 1, 1))
        conn = db.peewee.connection()
        tx_sql, tx_fixed, _ = insert_sql(Transaction, ["id", "charger_id", "connector_number", "id_tag", "auth_status",
                                                       "started_at", "meter_start_wh", "stopped_at",
                                                       "meter_stop_wh", "energy_wh", "stop_reason", "created_at"])
        cdr_sql, cdr_fixed, _ = insert_sql(ChargeDetailRecord, ["cdr_id", "transaction_id", "document", "currency",
                                                                "total_incl_vat", "total_excl_vat", "created_at"])
        ids, size = [], 0
        chunk = 10_000
        for first in range(0, records, chunk):
            tx_rows, cdr_rows = [], []
            for n in range(first, min(records, first + chunk)):
                tx_id = n + 1
                started = base + dt.timedelta(minutes=7 * n)
                stopped = started + dt.timedelta(hours=4, minutes=7)
                cdr_id = uuid.uuid4().hex
                ids.append(cdr_id)
                doc = dict(template, id=cdr_id, session_id=str(tx_id),
                           start_date_time=started.isoformat().replace("+00:00", "Z"),
                           end_date_time=stopped.isoformat().replace("+00:00", "Z"),
                           cdr_token=dict(template["cdr_token"], uid=f"04A2B3C4{n:06X}",
                                          contract_id=f"04A2B3C4{n:06X}"),
                           total_energy=round(57.787 + (n % 100) / 10, 3))
                text = json.dumps(doc, separators=(",", ":"))
                size += len(text)
                started_db, stopped_db = str(started.replace(tzinfo=None)), str(stopped.replace(tzinfo=None))
                tx_rows.append((tx_id, charger.id, 2, doc["cdr_token"]["uid"], "Accepted", started_db, 1_204_331,
                                stopped_db, 1_262_118, 57_787, "Local", stopped_db) + tx_fixed)
                cdr_rows.append((cdr_id, tx_id, text, "EUR", str(template["total_cost"]["incl_vat"]),
                                 str(template["total_cost"]["excl_vat"]), now) + cdr_fixed)
            with db.peewee.atomic():
                conn.executemany(tx_sql, tx_rows)
                conn.executemany(cdr_sql, cdr_rows)
    return ids, size // max(records, 1)


# -- the drain, timed and (with --profile) profiled ---------------------------------------------------

class Timings:
    """Where the drain's wall time goes, batch by batch (wrappers in this bench; no appliance change)."""

    def __init__(self, profile: bool) -> None:
        self.read_s = self.write_s = self.post_s = 0.0  # time inside each step, as the event loop sees it
        self.read_work_s = self.write_work_s = 0.0  # time inside the store functions, in their threads
        self.started = 0.0
        self.machine_busy_s: float | None = None  # CPU seconds the whole machine used during the drain
        self.batches = 0
        self.batch_ends: list[float] = []  # perf_counter when each POST ended
        self.profiles = {name: cProfile.Profile() for name in ("unsent (reader thread)", "mark_sent (writer thread)")} \
            if profile else {}

    def in_thread(self, fn, attr: str, profile_name: str):
        def timed(*args, **kwargs):
            profile = self.profiles.get(profile_name)
            started = time.perf_counter()
            if profile:
                profile.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                if profile:
                    profile.disable()
                setattr(self, attr, getattr(self, attr) + time.perf_counter() - started)
        return timed


def run_drain(data_dir: Path, url: str, batch: int, timings: Timings, profile_loop: cProfile.Profile | None):
    from appliance.config import load_settings
    from appliance.store import billing as store
    from appliance.sync import head_office

    settings = load_settings({"data_dir": data_dir}, environ={})

    # The store functions the drain calls, timed where they run (their module attribute is what
    # head_office.py looks up: `store.unsent`, `store.mark_sent`).
    store.unsent = timings.in_thread(store.unsent, "read_work_s", "unsent (reader thread)")
    store.mark_sent = timings.in_thread(store.mark_sent, "write_work_s", "mark_sent (writer thread)")

    class TimedSync(head_office.HeadOfficeSync):
        async def _post(self, http, config, records):
            started = time.perf_counter()
            try:
                return await super()._post(http, config, records)
            finally:
                timings.batch_ends.append(time.perf_counter())
                timings.post_s += time.perf_counter() - started
                timings.batches += 1

    from appliance.store.database import Database

    db = Database(settings.database_path, settings.sqlite_synchronous)
    real_read, real_write = db.read, db.write

    async def read(fn, *args, **kwargs):
        started = time.perf_counter()
        try:
            return await real_read(fn, *args, **kwargs)
        finally:
            if fn is store.unsent:
                timings.read_s += time.perf_counter() - started

    async def write(fn, *args, **kwargs):
        started = time.perf_counter()
        try:
            return await real_write(fn, *args, **kwargs)
        finally:
            if fn is store.mark_sent:
                timings.write_s += time.perf_counter() - started

    db.read, db.write = read, write

    async def main():
        sync = TimedSync(db, settings.sync_timeout_s, batch=batch)  # as the server makes it, batch aside
        await sync.configure(url, TOKEN)
        cpu0, wall0, busy0 = time.process_time(), time.perf_counter(), machine_busy_seconds()
        timings.started = wall0
        if profile_loop:
            profile_loop.enable()
        sent = await sync.drain()
        if profile_loop:
            profile_loop.disable()
        wall, cpu, busy1 = time.perf_counter() - wall0, time.process_time() - cpu0, machine_busy_seconds()
        timings.machine_busy_s = None if busy0 is None or busy1 is None else busy1 - busy0
        status = await sync.status()
        await db.close()
        return sent, wall, cpu, status

    return asyncio.run(main()), settings.sqlite_synchronous


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes on the machine have used, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def head_office_report(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(url + "/report", timeout=60) as response:
        return json.loads(response.read())


def print_profile(name: str, profile: cProfile.Profile, top: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    total = sum(v[2] for v in stats.stats.values())  # internal time of every function
    print(f"\n== cProfile: {name} ({total:.2f} s of own time in all; top {top} by cumulative time)")
    stats.sort_stats("cumulative").print_stats(top)
    print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))


# -- main ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="CDRs in the backlog")
    parser.add_argument("--batch", type=int, default=100, help="CDRs per request (HeadOfficeSync's batch)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="head office's extra delay per answer")
    parser.add_argument("--signed-data", action="store_true",
                        help="CDRs with signed meter data (OCMF at start and end): ~2.9 KB instead of ~1.6 KB")
    parser.add_argument("--profile", action="store_true", help="cProfile the event loop and the store calls")
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the drain and head office to CPUs")
    parser.add_argument("--serve-head-office", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_head_office:
        serve_head_office(args.latency_ms)
        return 0

    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2 \
        and shutil.which("taskset") is not None
    if pin:
        os.sched_setaffinity(0, {DRAIN_CPU})
    data_dir = Path(tempfile.mkdtemp(prefix="sync-drain-"))
    head, url = start_head_office(args.latency_ms, pin)
    try:
        from appliance.config import load_settings
        from appliance.store.database import Database
        from appliance.store.migrations import migrate

        settings = load_settings({"data_dir": data_dir}, environ={})
        started = time.perf_counter()
        db = Database(settings.database_path, settings.sqlite_synchronous)
        migrate(db.peewee)
        written, mean_size = insert_backlog(db, args.records, args.signed_data)
        db.close_sync()
        setup_s = time.perf_counter() - started

        head_cpu_before = head_office_report(url)["cpu_s"]
        timings = Timings(args.profile)
        loop_profile = cProfile.Profile() if args.profile else None
        (sent, wall, cpu, status), synchronous = run_drain(data_dir, url, args.batch, timings, loop_profile)
        report = head_office_report(url)
    finally:
        head.kill()
        head.wait()
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)

    order = report["order"]
    head_cpu = report["cpu_s"] - head_cpu_before  # the report itself not counted: taken at its start
    exactly_once = report["records"] == len(written) and report["unique"] == len(written) and not report["conflicts"]
    in_order = order == written
    ok = exactly_once and in_order and sent == len(written) and status.queue_length == 0 and not report["bad_token"]
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs"
          + (f", drain on CPU {DRAIN_CPU}, head office on CPU {HEAD_OFFICE_CPU}" if pin else "")
          + f"; SQLite synchronous={synchronous}; backlog of {len(written)} CDRs (~{mean_size} bytes each, one "
          f"transaction per CDR) written in {setup_s:.1f} s"
          + (f"; data kept in {data_dir}" if args.keep_data else ""))
    print()
    print(f"{'records':>8} {'batch':>6} {'batches':>8} {'seconds':>8} {'records/s':>10} {'ms/batch':>9} "
          f"{'drain CPU s':>11} {'HO CPU s':>9}  exactly once, in order")
    print(f"{sent:>8} {args.batch:>6} {report['requests']:>8} {wall:>8.2f} {sent / wall:>10.0f} "
          f"{1000 * wall / max(report['requests'], 1):>9.2f} {cpu:>11.2f} {head_cpu:>9.2f}  "
          f"{'yes' if ok else 'NO'}")
    print(f"head office: {report['records']} records received in {report['requests']} requests, {report['unique']} "
          f"distinct ids, {report['conflicts']} conflicts, first arrivals {'in' if in_order else 'NOT in'} written "
          f"order; appliance: {sent} confirmed, queue {status.queue_length}"
          + (f", last error {status.last_error!r}" if status.last_error else ""))
    per_batch = 1000 / max(report["requests"], 1)
    print(f"head office CPU per batch: {head_cpu * per_batch:.2f} ms in all, of which in its handler "
          f"{report['handler_cpu_s'] * per_batch:.2f} ms (parsing the JSON {report['parse_cpu_s'] * per_batch:.2f} ms, "
          f"checking and storing each record {report['check_cpu_s'] * per_batch:.2f} ms); the rest is aiohttp's "
          f"HTTP server")
    own = wall - head_cpu
    print(f"against an instant head office (the drain's time less head office's CPU, which the one-batch-at-a-time "
          f"protocol puts on the drain's path): ~{own:.2f} s, ~{sent / own:.0f} records/s")
    other = wall - timings.read_s - timings.write_s - timings.post_s
    print(f"where the drain's {wall:.2f} s go (as the event loop awaits them): "
          f"read unsent {timings.read_s:.2f} s ({100 * timings.read_s / wall:.0f}%; in the reader thread "
          f"{timings.read_work_s:.2f} s), POST {timings.post_s:.2f} s ({100 * timings.post_s / wall:.0f}%), "
          f"mark sent {timings.write_s:.2f} s ({100 * timings.write_s / wall:.0f}%; in the writer thread "
          f"{timings.write_work_s:.2f} s, commit not included), other {other:.2f} s")
    ends = timings.batch_ends
    if len(ends) >= 20:
        tenth = len(ends) // 10
        first_s = ends[tenth - 1] - timings.started
        last_s = ends[-1] - ends[-tenth - 1]
        print(f"steady: the first tenth of the batches at {tenth * args.batch / first_s:.0f} records/s, "
              f"the last tenth at {tenth * args.batch / last_s:.0f} records/s")
    if timings.machine_busy_s is not None:
        other_cpu = (timings.machine_busy_s - cpu - head_cpu) / wall
        print(f"machine: {timings.machine_busy_s / wall:.0%} of a CPU busy during the drain, of which other "
              f"processes {max(other_cpu, 0):.0%}"
              + (" -- WARNING: the figures are disturbed, run again on a quiet machine" if other_cpu > 0.1 else ""))
    if args.profile:
        print_profile("event loop (drain)", loop_profile, args.top)
        for name, profile in timings.profiles.items():
            print_profile(name, profile, args.top)
    python = sys.executable
    shown = os.path.relpath(python, REPO_DIR) if python.startswith(REPO_DIR) else python
    print()
    print("reproduce: cd " + shlex.quote(REPO_DIR) + " && "
          + shlex.join([shown, "bench/sync_drain.py", "--records", str(args.records), "--batch", str(args.batch)]
                       + (["--latency-ms", f"{args.latency_ms:g}"] if args.latency_ms else [])
                       + (["--signed-data"] if args.signed_data else [])
                       + (["--profile"] if args.profile else []) + (["--no-pin"] if args.no_pin else [])))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
