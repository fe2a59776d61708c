"""How long reports take over a year of a big depot: 200 chargers (two EVSEs each, one in five DC),
about 500,000 sessions with their energy register readings and charge detail records, generated with
bulk inserts into a fresh data directory (SQLite), then a month at day grain and a few other reports
timed through the same service the page, the API and the CLI use.

    .venv/bin/python bench/report_year.py [--chargers 200] [--sessions-per-evse 1250] [--readings-every 15]
                                          [--runs 3] [--dir DIR] [--keep] [--without-index] [--reuse DIR]

--without-index drops migration 15's indexes before timing, to show what they are for; --reuse DIR times
the reports again on a data directory kept by --keep. Each report is run --runs times; the first run
(cold caches) and the median are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.analytics.service import Analytics, Query  # noqa: E402
from appliance.config import load_settings  # noqa: E402
from appliance.core.services import open_core  # noqa: E402
from appliance.store.database import open_sqlite  # noqa: E402
from appliance.store.models import Charger, Circuit, Company, Connector, Driver, Tag, Tariff  # noqa: E402

YEAR = 2025
START = dt.datetime(YEAR, 1, 1) - dt.timedelta(hours=1)  # naive UTC: midnight in Berlin
END = dt.datetime(YEAR + 1, 1, 1) - dt.timedelta(hours=1)
REPORTS = [
    ("energy, a month per day", Query("energy", f"{YEAR}-06", grain="day")),
    ("energy, the last month per day", Query("energy", f"{YEAR}-12", grain="day")),
    ("energy, a month per day by company", Query("energy", f"{YEAR}-06", grain="day", by="company")),
    ("energy, a month per day against the one before", Query("energy", f"{YEAR}-06", "previous", "day")),
    ("sessions, the year per month", Query("sessions", str(YEAR), grain="month")),
    ("energy, the year per month", Query("energy", str(YEAR), grain="month")),
    ("revenue, a month per day by tariff", Query("revenue", f"{YEAR}-06", grain="day", by="tariff")),
    ("charging time, a month per day", Query("charging-time", f"{YEAR}-06", grain="day")),
    ("utilisation, a month by charger", Query("utilisation", f"{YEAR}-06", grain="week", by="charger")),
    ("peak power, a week per hour", Query("peak-power", f"{YEAR}-06-02..{YEAR}-06-08", grain="hour")),
    ("energy, a day per hour by EVSE", Query("energy", f"{YEAR}-06-04", grain="hour", by="evse")),
    ("held back, a month per day", Query("held-back", f"{YEAR}-06", grain="day")),
]


def ts(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def people(path: Path, chargers: int, made: str) -> None:
    """The small tables, through the models (their defaults filled in): companies, drivers and their cards,
    two tariffs, the chargers with two connectors each (one charger in five DC), the main circuit."""
    db = open_sqlite(path, "normal")
    with db.connection_context(), db.atomic():
        Company.insert_many([{"name": f"Company {c}", "created_at": made} for c in range(10)]).execute()
        Driver.insert_many([{"name": f"driver {d}", "company": 1 + d % 10, "created_at": made}
                            for d in range(400)]).execute()
        Tag.insert_many([{"id_tag": f"TAG{d:04d}", "driver": d + 1, "created_at": made, "updated_at": made}
                         for d in range(400)]).execute()
        Tariff.insert_many([{"name": n, "kind": "duration_energy", "created_at": made, "updated_at": made}
                            for n in ("Day", "Fleet")]).execute()
        Charger.insert_many([{"identity": f"CP{c:03d}", "protocol": "ocpp1.6-json", "registration": "accepted",
                              "created_at": made} for c in range(chargers)]).execute()
        Connector.insert_many([{"charger": c + 1, "connector_number": n, "current_type": "DC" if c % 5 == 0 else "AC"}
                               for c in range(chargers) for n in (1, 2)]).execute()
        Circuit.insert(name="Main", max_current_a=2000, created_at=made, updated_at=made).execute()
    db.close()


def generate(path: Path, chargers: int, per_evse: int, readings_every_min: int, seed: int = 13) -> dict:
    rng = random.Random(seed)
    counts = {"sessions": 0, "readings": 0, "cdrs": 0}
    made = ts(START)
    people(path, chargers, made)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("PRAGMA synchronous = OFF")
        loads, at = [], START
        while at < END:  # load management's record every 5 minutes
            waiting = rng.choice((0, 0, 0, 0, 1, 2))
            amps = json.dumps({p: round(rng.uniform(200, 1900), 1) for p in ("L1", "L2", "L3")})
            loads.append((ts(at), amps, waiting))
            at += dt.timedelta(minutes=5)
        conn.executemany("INSERT INTO circuit_load (circuit_id, at, available_a, allocated_a, measured_a, sessions, "
                         "waiting) VALUES (1, ?, '{}', '{}', ?, 0, ?)", loads)
        tx = 0
        mean_gap_min = (END - START).total_seconds() / 60 / per_evse - 105
        for c in range(chargers):
            dc = c % 5 == 0
            for evse in (1, 2):
                sessions, samples, cdrs = [], [], []
                at = START + dt.timedelta(minutes=rng.uniform(0, mean_gap_min))
                meter = rng.randint(0, 10**6)
                while True:
                    length = dt.timedelta(minutes=rng.uniform(20, 190))
                    stop = at + length
                    if stop >= END:
                        break
                    tx += 1
                    power_w = rng.uniform(30_000, 120_000) if dc else rng.uniform(3_700, 11_000)
                    wh = int(power_w * length.total_seconds() / 3600 * rng.uniform(0.5, 1.0))
                    driver = rng.randint(1, 400)
                    sessions.append((tx, c + 1, evse, evse, f"TAG{driver - 1:04d}", driver, driver, ts(at), meter,
                                     meter + wh, ts(stop), meter + wh, wh, ts(stop), ts(stop)))
                    if readings_every_min:
                        step = dt.timedelta(minutes=readings_every_min)
                        t = at
                        while t <= stop:
                            share = (t - at) / length
                            samples.append((c + 1, evse, tx, ts(t), meter + int(wh * share)))
                            t += step
                        samples.append((c + 1, evse, tx, ts(stop), meter + wh))
                    net = round(wh / 1000 * 0.30, 2)
                    document = json.dumps({"id": f"cdr{tx}", "tariffs": [{"id": "1" if driver % 3 else "2"}]})
                    cdrs.append((f"cdr{tx}", tx, document, f"{round(net * 1.19, 2):.2f}", f"{net:.2f}", ts(stop)))
                    meter += wh
                    at = stop + dt.timedelta(minutes=rng.expovariate(1 / max(mean_gap_min, 1)))
                conn.executemany(
                    'INSERT INTO "transaction" (id, charger_id, connector_number, evse_number, id_tag, tag_id, '
                    "driver_id, auth_status, started_at, meter_start_wh, last_meter_wh, last_meter_at, meter_stop_wh, "
                    "energy_wh, stopped_at, created_at, remote_tx_id, stop_reason, stop_id_tag, stop_auth_status, "
                    "charging_state, offline, charge_first) VALUES (?, ?, ?, ?, ?, ?, ?, 'Accepted', ?, ?, ?, ?, ?, ?, "
                    "?, ?, '', 'Local', '', '', '', 0, 0)",
                    [(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11], s[12], s[13], s[14])
                     for s in sessions])
                conn.executemany(
                    "INSERT INTO meter_sample (charger_id, connector_number, transaction_id, sampled_at, measurand, "
                    "phase, location, context, unit, format, value, raw_value) VALUES (?, ?, ?, ?, "
                    "'Energy.Active.Import.Register', '', '', 'Sample.Periodic', 'Wh', 'Raw', ?, '') "
                    "ON CONFLICT DO NOTHING", [(*s[:4], s[4]) for s in samples])
                conn.executemany(
                    "INSERT INTO charge_detail_record (cdr_id, transaction_id, kind, credits, document, currency, "
                    "total_incl_vat, total_excl_vat, created_at, attempts, last_error) "
                    "VALUES (?, ?, 'cdr', '', ?, 'EUR', ?, ?, ?, 0, '')", cdrs)
                counts["sessions"] += len(sessions)
                counts["readings"] += len(samples)
                counts["cdrs"] += len(cdrs)
        conn.execute("ANALYZE")
    return counts


async def time_reports(settings, runs: int) -> list[tuple[str, float, float, str]]:
    core = open_core(settings)
    analytics = Analytics(core)
    out = []
    try:
        for name, query in REPORTS:
            times, report = [], None
            for _ in range(runs):
                started = time.perf_counter()
                report = await analytics.report(query)
                times.append(time.perf_counter() - started)
            total = f"{report['total']} {report['unit']}"
            out.append((name, times[0], statistics.median(times), total))
        started = time.perf_counter()
        await analytics.load_profile(f"{YEAR}-06", "day")
        out.append(("load profile, a month per day", time.perf_counter() - started, time.perf_counter() - started, ""))
    finally:
        await core.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=200)
    parser.add_argument("--sessions-per-evse", type=int, default=1250)
    parser.add_argument("--readings-every", type=int, default=15, help="minutes between register readings (0: none)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--without-index", action="store_true")
    parser.add_argument("--reuse", type=Path, help="time the reports on a data directory kept by --keep")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="report-year-", dir=args.dir)
    data_dir = args.reuse or Path(tmp) / "data"
    settings = load_settings({"data_dir": data_dir, "timezone": "Europe/Berlin"}, environ={})

    async def create() -> None:
        await open_core(settings).close()

    asyncio.run(create())
    if not args.reuse:
        started = time.perf_counter()
        counts = generate(settings.database_path, args.chargers, args.sessions_per_evse, args.readings_every)
        generated_s = time.perf_counter() - started
        size_mb = settings.database_path.stat().st_size / 1e6
        print(f"generated {counts['sessions']:,} sessions, {counts['readings']:,} register readings, "
              f"{counts['cdrs']:,} CDRs for {args.chargers} chargers over {YEAR} in {generated_s:.0f} s "
              f"({size_mb:.0f} MB, SQLite)")
    if args.without_index:
        with closing(sqlite3.connect(settings.database_path)) as conn:
            for index in ("transaction_stopped_at_started_at", "transaction_started_at_stopped_at_energy_wh"):
                conn.execute(f'DROP INDEX IF EXISTS "{index}"')
        print("without migration 15's indexes on (stopped_at, started_at) and (started_at, stopped_at, energy_wh)")
    results = asyncio.run(time_reports(settings, args.runs))
    width = max(len(r[0]) for r in results)
    print(f"{'report'.ljust(width)}  first s  median s  total")
    for name, first, median, total in results:
        print(f"{name.ljust(width)}  {first:7.3f}  {median:8.3f}  {total}")
    print("reproduce: .venv/bin/python bench/report_year.py " + " ".join(sys.argv[1:]))
    if args.keep or args.reuse:
        print(f"data directory kept: {settings.data_dir}")
    if not args.keep:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
