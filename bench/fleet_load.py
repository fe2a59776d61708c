"""Mixed-fleet load benchmark: OCPP 1.6 JSON, 2.0.1 JSON and 1.6 SOAP chargers against the appliance
and, in the same run, against a stateless CSMS on the same libraries (`stateless_csms.py`: the `ocpp`
library's defaults for JSON, spyne's WSGI application for SOAP).

Scenarios (`--scenarios`, in this order by default):
- held:    a big fleet (10,000 JSON chargers and 500 SOAP ones) in transactions, 1,000 readings/s in all,
           open loop: chargers held, latency, memory.
- closed:  1,000 mixed chargers, closed loop: durable readings per second (the server's capacity).
- soap:    SOAP chargers only, closed loop: MeterValues requests per second; `soap-hb` the same with
           Heartbeat (no database write).
- storm:   5,000 mixed chargers in transactions lose the network and all come back at once, each
           replaying its transaction (10% of them twice): time until all are through, then the
           database is checked: every transaction there once, stopped, with every reading, none twice.
- churn:   500 mixed chargers in start / 3 readings / stop cycles, closed loop; every transaction
           must be in the database once, and stopped.

Each scenario gets fresh servers (a fresh data directory) pinned to CPU 0 and the load generator
(`fleet_loadgen.py`, its own process) pinned to CPU 1; all traffic is on 127.0.0.1, every run bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field

from ocpp16_load import APPLIANCE_ENV, free_port, log_tail, peak_rss_mb, pin_to, source_version, wait_healthy

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
SERVER_CPU, LOADGEN_CPU = 0, 1
SAMPLES = 3  # sampled values per reading



@dataclass
class Scenario:
    name: str
    args: list  # fleet_loadgen.py arguments
    check: str = ""  # the database check for the appliance: readings, storm, churn


def scenarios(a) -> dict[str, Scenario]:
    common = ["--warmup", str(a.warmup), "--duration", str(a.duration)]
    return {
        "held": Scenario(f"held {a.held_mix}", ["--scenario", "steady", "--mode", "open", "--rate", str(a.held_rate),
                                                "--mix", a.held_mix, *common], "readings"),
        "closed": Scenario(f"closed {a.closed_mix}", ["--scenario", "steady", "--mode", "closed",
                                                      "--mix", a.closed_mix, *common], "readings"),
        "soap": Scenario(f"soap MeterValues N={a.soap_n}", ["--scenario", "steady", "--mode", "closed",
                                                            "--mix", f"soap16={a.soap_n}", *common], "readings"),
        "soap-hb": Scenario(f"soap Heartbeat N={a.soap_n}", ["--scenario", "steady", "--mode", "closed", "--message",
                                                             "heartbeat", "--mix", f"soap16={a.soap_n}", *common]),
        "storm": Scenario(f"storm {a.storm_mix}", ["--scenario", "storm", "--mix", a.storm_mix,
                                                   "--storm-readings", str(a.storm_readings),
                                                   "--dup-fraction", str(a.dup_fraction)], "storm"),
        "churn": Scenario(f"churn {a.churn_mix}", ["--scenario", "churn", "--mix", a.churn_mix, *common], "churn"),
    }


@dataclass
class Outcome:
    scenario: Scenario
    server: str
    result: dict = field(default_factory=dict)
    peak_rss_mb: float | None = None
    check: dict | None = None
    error: str | None = None


def log(msg):
    print(f"[fleet] {msg}", file=sys.stderr, flush=True)


class Server:
    """The appliance (from --appliance-root) or the stateless baseline, in its own temporary directory."""

    def __init__(self, kind, args):
        self.kind = kind
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix=f"fleet-{kind}-")
        self.port = free_port()
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc = None

    @property
    def db_path(self):
        return os.path.join(self.tmp, "data", "appliance.sqlite3")

    def start(self, timeout=60.0):
        if self.kind == "appliance":
            cmd = [self.args.python, "-m", "appliance", "--data-dir", os.path.join(self.tmp, "data"), "serve",
                   "--host", "127.0.0.1", "--port", str(self.port)]
            cwd, env = self.args.appliance_root, dict(os.environ, **APPLIANCE_ENV)
        else:
            cmd = [self.args.python, os.path.join(BENCH_DIR, "stateless_csms.py"), "--host", "127.0.0.1",
                   "--port", str(self.port)]
            cwd, env = REPO_DIR, dict(os.environ)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, preexec_fn=pin_to(SERVER_CPU))
        wait_healthy(self.proc, self.port, self.kind, self.log_path, timeout)

    def kill(self):
        # SIGKILL, as a crash: the database check counts only what was committed before it.
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self, n=20):
        return log_tail(self.log_path, n)


# -- database checks --------------------------------------------------------------------------------

def check_readings(db_path, result):
    """Every acknowledged reading's samples are stored (3 periodic samples each)."""
    acked = sum(result["readings_acked"].values())
    with sqlite3.connect(db_path, timeout=30) as db:
        rows = db.execute("SELECT count(*) FROM meter_sample WHERE context = 'Sample.Periodic'").fetchone()[0]
    return {"ok": rows >= SAMPLES * acked, "text": f"{rows} periodic samples for {acked} acknowledged readings "
                                                   f"(need >= {SAMPLES * acked})"}


def _per_charger(db):
    tx = {}
    for identity, tx_id, remote, stopped, meter_stop in db.execute(
            'SELECT c.identity, t.id, t.remote_tx_id, t.stopped_at, t.meter_stop_wh FROM "transaction" t '
            "JOIN charger c ON c.id = t.charger_id"):
        tx.setdefault(identity, []).append((tx_id, remote, stopped, meter_stop))
    samples = Counter()
    for tx_id, n in db.execute("SELECT transaction_id, count(*) FROM meter_sample WHERE context = 'Sample.Periodic' "
                               "GROUP BY transaction_id"):
        samples[tx_id] = n
    events = Counter()
    for tx_id, n in db.execute("SELECT transaction_id, count(*) FROM transaction_event GROUP BY transaction_id"):
        events[tx_id] = n
    return tx, samples, events


def check_storm(db_path, expect_path):
    """Each charger that came back: one transaction (the same id), stopped at its last meter, with all
    its readings' samples and, for 2.0.1, every event once."""
    with open(expect_path) as f:
        expected = json.load(f)
    with sqlite3.connect(db_path, timeout=30) as db:
        tx, samples, events = _per_charger(db)
    problems = Counter()
    examples = []
    for e in expected:
        rows = tx.get(e["identity"], [])
        problem = None
        if len(rows) != 1:
            problem = f"{len(rows)} transactions"
        else:
            tx_id, remote, stopped, meter_stop = rows[0]
            if (remote if e["kind"] == "json201" else tx_id) != e["tx"]:
                problem = "another transaction"
            elif stopped is None:
                problem = "not stopped" if e["done"] else "not stopped (its replay failed)"
            elif meter_stop != e["meter_stop"]:
                problem = f"meter stop {meter_stop}, not {e['meter_stop']}"
            elif samples[tx_id] != SAMPLES * e["readings"]:
                problem = f"{samples[tx_id]} samples, not {SAMPLES * e['readings']}"
            elif e["kind"] == "json201" and events[tx_id] != e["readings"] + 2:
                problem = f"{events[tx_id]} events, not {e['readings'] + 2}"
        if problem:
            problems[problem.split(",")[0]] += 1
            if len(examples) < 3:
                examples.append(f"{e['identity']}: {problem}")
    ok = not problems
    text = (f"{len(expected)} chargers' transactions: " + ("each once, stopped, every reading once" if ok else
            "; ".join(f"{n} with {p}" for p, n in problems.items()) + " (e.g. " + "; ".join(examples) + ")"))
    return {"ok": ok, "text": text}


def check_churn(db_path, expect_path):
    """As many transactions per charger as starts it was answered, all stopped."""
    with open(expect_path) as f:
        expected = json.load(f)
    with sqlite3.connect(db_path, timeout=30) as db:
        tx, _, _ = _per_charger(db)
    wrong = [e["identity"] for e in expected if len(tx.get(e["identity"], [])) != e["starts"]]
    open_ = sum(1 for e in expected for row in tx.get(e["identity"], []) if row[2] is None)
    started = sum(e["starts"] for e in expected)
    ok = not wrong and not open_
    return {"ok": ok, "text": f"{started} transactions answered, {sum(len(v) for v in tx.values())} stored, "
                              f"{open_} not stopped, {len(wrong)} chargers with a different count"}


# -- running ------------------------------------------------------------------------------------------

def run_loadgen(args, scenario, server, expect_path):
    cmd = [args.python, os.path.join(BENCH_DIR, "fleet_loadgen.py"), "--url", f"http://127.0.0.1:{server.port}",
           "--server-pid", str(server.proc.pid), "--ramp-rate", str(args.ramp_rate),
           "--setup-timeout", str(args.setup_timeout), "--expect-out", expect_path, *scenario.args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, timeout=args.scenario_timeout,
                          preexec_fn=pin_to(LOADGEN_CPU))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"load generator failed (exit {proc.returncode})")
    return json.loads(lines[-1])


def run_scenario(args, scenario, kind):
    outcome = Outcome(scenario, kind)
    server = Server(kind, args)
    expect_path = os.path.join(server.tmp, "expected.json")
    try:
        server.start()
        log(f"{scenario.name} against {kind} (pid {server.proc.pid}, port {server.port})")
        outcome.result = run_loadgen(args, scenario, server, expect_path)
        outcome.peak_rss_mb = peak_rss_mb(server.proc.pid)
        server.kill()
        if kind == "appliance" and scenario.check == "readings":
            outcome.check = check_readings(server.db_path, outcome.result)
        elif kind == "appliance" and scenario.check == "storm":
            outcome.check = check_storm(server.db_path, expect_path)
        elif kind == "appliance" and scenario.check == "churn":
            outcome.check = check_churn(server.db_path, expect_path)
    except Exception as e:  # noqa: BLE001 - reported in the table; the next scenario runs
        outcome.error = f"{type(e).__name__}: {e}"
        log(f"{scenario.name} against {kind} failed: {outcome.error} (server log: {server.log_path})")
    finally:
        server.kill()
        if not args.keep_data and not outcome.error and not (outcome.check and not outcome.check["ok"]):
            shutil.rmtree(server.tmp, ignore_errors=True)
    return outcome


def fmt(v, spec="{:.1f}"):
    return "-" if v is None else spec.format(v)


def errors_of(r):
    return (r.get("call_errors", 0) + r.get("timeouts", 0) + r.get("dropped", 0)
            + sum(r.get("setup_failed", {}).values()) + r.get("failed", 0))


def print_tables(outcomes, out=sys.stdout):
    by_key = {(o.scenario.name, o.server): o for o in outcomes}
    steady = [o for o in outcomes if o.result.get("scenario") in ("steady", "churn") or
              (o.error and o.scenario.check != "storm")]
    if steady:
        header = (f"{'scenario':<36} {'server':<9} {'kind':<7} {'held':>11} {'setup s':>7} {'msg/s':>7} "
                  f"{'p50 ms':>7} {'p99 ms':>8} {'max ms':>8} {'RSS MB':>6} {'CPU us':>6} {'err':>4} {'a/b':>6}")
        print(header, file=out)
        print("-" * len(header), file=out)
        for o in steady:
            if o.error:
                print(f"{o.scenario.name:<36} {o.server:<9} FAILED: {o.error}", file=out)
                continue
            r = o.result
            base = by_key.get((o.scenario.name, "baseline"))
            for kind in ("all", "json16", "json201", "soap16"):
                w = r["window"][kind]
                if kind != "all" and (not r["mix"].get(kind) or len([k for k in r["mix"] if r["mix"][k]]) == 1):
                    continue
                total = sum(r["mix"].values())
                held = (f"{sum(r['held'].values())}/{total}" if kind == "all" else
                        f"{r['held'][kind]}/{r['mix'][kind]}") if "held" in r else "-"
                ratio = ""
                if o.server == "appliance" and base and not base.error and base.result["window"][kind]["msg_per_s"]:
                    ratio = f"{w['msg_per_s'] / base.result['window'][kind]['msg_per_s']:.2f}x"
                first = kind == "all"
                print(f"{o.scenario.name if first else '':<36} {o.server if first else '':<9} {kind:<7} {held:>11} "
                      f"{fmt(r['setup_seconds']) if first else '':>7} {w['msg_per_s']:>7.0f} {fmt(w['p50_ms']):>7} "
                      f"{fmt(w['p99_ms']):>8} {fmt(w['max_ms']):>8} "
                      f"{fmt(o.peak_rss_mb, '{:.0f}') if first else '':>6} "
                      f"{fmt(r.get('server_cpu_us_per_msg'), '{:.0f}') if first else '':>6} "
                      f"{errors_of(r) if first else '':>4} {ratio:>6}", file=out)
            if r.get("scenario") == "churn":
                print(f"{'':<36} {'':<9} churn: {r['cycles_per_s']} transactions/s (start, "
                      f"readings, stop), {r['transactions_started']} started, {r['transactions_stopped']} stopped",
                      file=out)
        print(file=out)
    storms = [o for o in outcomes if o.scenario.check == "storm"]
    if storms:
        header = (f"{'scenario':<36} {'server':<9} {'chargers':>8} {'twice':>6} {'through':>8} {'lost':>5} "
                  f"{'absorb s':>8} {'p50 s':>6} {'p99 s':>6} {'msg/s':>7} {'RSS MB':>6} {'setup s':>7} {'new id':>6} retries")
        print(header, file=out)
        print("-" * len(header), file=out)
        for o in storms:
            if o.error:
                print(f"{o.scenario.name:<36} {o.server:<9} FAILED: {o.error}", file=out)
                continue
            r = o.result
            print(f"{o.scenario.name:<36} {o.server:<9} {r['reconnected']:>8} {r['replayed_twice']:>6} "
                  f"{r['through']:>8} {r['failed']:>5} {r['absorb_s']:>8.1f} {fmt(r['done_p50_s']):>6} "
                  f"{fmt(r['done_p99_s']):>6} {r['msg_per_s']:>7.0f} {fmt(o.peak_rss_mb, '{:.0f}'):>6} "
                  f"{r['setup_seconds']:>7.1f} {r['start_mismatch']:>6} "
                  f"{', '.join(f'{n} {k}' for k, n in r.get('retries', {}).items()) or '-'}", file=out)
        print("(through: every queued message answered; lost: not through after --storm-timeout; new id: replayed "
              "StartTransactions answered with another transaction id; retries: a charger's call timed out (30 s) or "
              "its connection failed, and it reconnected and sent its queue again)", file=out)
        print(file=out)
    for o in outcomes:
        if o.check:
            print(f"database {o.scenario.name}: {o.check['text']}: {'OK' if o.check['ok'] else 'FAIL'}", file=out)
    for o in outcomes:
        r = o.result
        if r.get("loadgen_cpu", 0) > 0.8:
            print(f"warning {o.scenario.name} {o.server}: the load generator used {r['loadgen_cpu']:.0%} of its "
                  "CPU; it may be the limit", file=out)
        if r.get("other_cpu", 0) > 0.1:
            print(f"warning {o.scenario.name} {o.server}: other processes used {r['other_cpu']:.0%} of a CPU",
                  file=out)
        for e in r.get("errors", [])[:2]:
            print(f"error sample {o.scenario.name} {o.server}: {e}", file=out)


QUICK = dict(held_mix="json16=140,json201=60,soap16=20", held_rate=100.0, closed_mix="json16=70,json201=20,soap16=10",
             soap_n=20, storm_mix="json16=60,json201=30,soap16=10", churn_mix="json16=30,json201=15,soap16=5",
             duration=3.0, warmup=1.0)
FULL = dict(held_mix="json16=7000,json201=3000,soap16=500", held_rate=1000.0,
            closed_mix="json16=700,json201=200,soap16=100", soap_n=100,
            storm_mix="json16=3000,json201=1500,soap16=500", churn_mix="json16=300,json201=150,soap16=50",
            duration=10.0, warmup=3.0)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default="held,closed,soap,soap-hb,storm,churn")
    p.add_argument("--only", choices=("appliance", "baseline"))
    p.add_argument("--quick", action="store_true", help="small fleets, short windows: a smoke check (~2 min)")
    for name, default in FULL.items():
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=None,
                       help=f"(default {default}; --quick {QUICK[name]})")
    p.add_argument("--storm-readings", type=int, default=3, help="readings each charger queued while offline")
    p.add_argument("--dup-fraction", type=float, default=0.1, help="share of chargers replaying twice")
    p.add_argument("--ramp-rate", type=int, default=1000)
    p.add_argument("--setup-timeout", type=float, default=120.0)
    p.add_argument("--scenario-timeout", type=float, default=900.0)
    p.add_argument("--appliance-root", default=REPO_DIR,
                   help="the source tree whose appliance/ is run (to measure a change before it lands)")
    p.add_argument("--keep-data", action="store_true")
    p.add_argument("--json-out")
    p.add_argument("--python", default=sys.executable)
    args = p.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv=None):
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    known = scenarios(args)
    chosen = [known[name.strip()] for name in args.scenarios.split(",") if name.strip()]
    servers = [args.only] if args.only else ["appliance", "baseline"]
    version = source_version() if os.path.samefile(args.appliance_root, REPO_DIR) else args.appliance_root
    started = time.monotonic()
    outcomes = [run_scenario(args, s, kind) for s in chosen for kind in servers]
    print()
    print(f"Mixed fleet load, {os.cpu_count()} CPUs, servers on CPU {SERVER_CPU}, load generator on CPU "
          f"{LOADGEN_CPU}, {time.monotonic() - started:.0f} s in all; appliance at {version}")
    print_tables(outcomes)
    print()
    print("reproduce: cd " + shlex.quote(REPO_DIR) + " && " + shlex.join(
        [os.path.relpath(args.python, REPO_DIR) if args.python.startswith(REPO_DIR) else args.python,
         "bench/fleet_load.py"] + sys.argv[1:]))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump([{"scenario": o.scenario.__dict__, "server": o.server, "result": o.result,
                        "peak_rss_mb": o.peak_rss_mb, "check": o.check, "error": o.error} for o in outcomes], f,
                      indent=1)
    return 1 if any(o.error or (o.check and not o.check["ok"]) for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
