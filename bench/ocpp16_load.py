"""Orchestrates the OCPP 1.6 benchmark: runs the same loads against the appliance and against a
stateless CSMS on the `ocpp` library's defaults, in one run, and prints the figures side by side.

Each scenario gets a fresh server process (a fresh data directory, so peak memory and the
durability check belong to that scenario alone) pinned to CPU 0, and a load generator process
pinned to CPU 1. Everything runs on 127.0.0.1 and is bounded in time; servers are killed at the end.

With --database-url the appliance runs on PostgreSQL instead of SQLite: each server gets a fresh
schema of that database (dropped afterwards). The PostgreSQL server is not pinned: its backends run on
either CPU, beside the appliance or the load generator (the "other processes" warning counts them).
"""

import argparse
import itertools
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
SERVER_CPU, LOADGEN_CPU = 0, 1


@dataclass
class Scenario:
    name: str
    mode: str  # "closed" or "open"
    connections: int
    rate: float = 0.0  # open loop: total MeterValues/s


@dataclass
class Outcome:
    scenario: Scenario
    server: str
    result: dict = field(default_factory=dict)  # the load generator's JSON line
    peak_rss_mb: float = None
    durability: dict = None
    error: str = None
    runs_msg_per_s: list = field(default_factory=list)  # every repeat, to show the spread


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port():
    # A new port for every server: the previous server's connections linger in TIME_WAIT on its.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin_to(cpu):
    def preexec():
        os.sched_setaffinity(0, {cpu})
    return preexec


def peak_rss_mb(pid):
    """The process's peak resident memory (VmHWM), in MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# Benchmark chargers are unknown ids accepted at boot; the limits that protect a depot against a flood of
# made-up ids would refuse thousands of them.
APPLIANCE_ENV = {"APPLIANCE_UNKNOWN_CHARGERS": "accept", "APPLIANCE_UNKNOWN_CHARGERS_PER_MIN": "0",
                 "APPLIANCE_UNKNOWN_CHARGERS_PER_ADDRESS_PER_MIN": "0", "APPLIANCE_UNKNOWN_CHARGERS_MAX": "0"}


def log_tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def wait_healthy(proc, port, kind, log_path, timeout):
    """Until the server's /healthz answers 200; raises (with its log's tail) if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited with {proc.returncode}:\n{log_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{kind} not healthy after {timeout}s:\n{log_tail(log_path)}")


class Server:
    """One server process (the appliance or the baseline) in its own temporary directory."""

    def __init__(self, kind, python, database=None):
        self.kind = kind
        self.python = python
        self.tmp = tempfile.mkdtemp(prefix=f"bench-{kind}-")
        self.port = free_port()
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc = None
        self.database = database if kind == "appliance" else None  # a PostgresSchema, or None: SQLite

    @property
    def db_path(self):
        return os.path.join(self.tmp, "data", "appliance.sqlite3")

    def command(self):
        if self.kind == "appliance":
            return [self.python, "-m", "appliance", "--data-dir", os.path.join(self.tmp, "data"),
                    "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        return [self.python, os.path.join(BENCH_DIR, "stateless_csms.py"),
                "--host", "127.0.0.1", "--port", str(self.port)]

    def start(self, timeout=30.0):
        env = dict(os.environ, **APPLIANCE_ENV)
        if self.database:
            env["APPLIANCE_DATABASE_URL"] = self.database.url
        # The log goes to a file, not a pipe: an unread pipe would block a chatty server.
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(self.command(), cwd=REPO_DIR, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=pin_to(SERVER_CPU))
        wait_healthy(self.proc, self.port, self.kind, self.log_path, timeout)

    def kill(self):
        # SIGKILL, not a graceful stop: the durability check must only count what was committed
        # before the process died, as after a crash (a power cut is not simulated).
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self, n=20):
        return log_tail(self.log_path, n)


class PostgresSchema:
    """A fresh schema of the --database-url database for one server; its URL names it (search_path)."""

    counter = itertools.count(1)

    def __init__(self, url):
        import psycopg
        from urllib.parse import parse_qsl, urlencode, urlsplit

        self.name = f"bench_{os.getpid()}_{next(self.counter)}"
        self.admin_url = url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
        self.url = parts._replace(query=urlencode(query + [("options", f"-csearch_path={self.name}")])).geturl()

    def count(self, sql):
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql).fetchone()[0]

    def drop(self):
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


def server_version(url):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SHOW server_version").fetchone()[0].split()[0]


def check_durability(server, acked):
    """Rows in meter_sample must cover every acknowledged MeterValues (3 sampledValues each)."""
    if server.database:
        rows = server.database.count("SELECT count(*) FROM meter_sample")
        transactions = server.database.count('SELECT count(*) FROM "transaction"')
    else:
        db = sqlite3.connect(server.db_path, timeout=10)
        try:
            rows = db.execute("SELECT count(*) FROM meter_sample").fetchone()[0]
            transactions = db.execute('SELECT count(*) FROM "transaction"').fetchone()[0]
        finally:
            db.close()
    return {"meter_sample_rows": rows, "acked_meter_values": acked, "required": 3 * acked,
            "transactions": transactions, "ok": rows >= 3 * acked}


def run_loadgen(args, scenario, server):
    cmd = [args.python, os.path.join(BENCH_DIR, "loadgen.py"),
           "--url", f"ws://127.0.0.1:{server.port}/ocpp", "--connections", str(scenario.connections),
           "--mode", scenario.mode, "--warmup", str(args.warmup), "--duration", str(args.duration),
           "--ramp-rate", str(args.ramp_rate), "--source-ips", str(args.source_ips),
           "--setup-timeout", str(args.setup_timeout), "--min-rounds", str(args.min_rounds),
           "--max-duration", str(args.max_duration),
           "--server-pid", str(server.proc.pid)]
    if scenario.mode == "open":
        cmd += ["--rate", str(scenario.rate)]
    # Setup, warm-up (closed loop: extended up to --max-duration), measurement (at most
    # --max-duration), a drain of in-flight calls and closing, with a margin.
    ramp = scenario.connections / args.ramp_rate
    timeout = ramp + args.setup_timeout + args.warmup + 2 * max(args.duration, args.max_duration) + 90
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout,
                          preexec_fn=pin_to(LOADGEN_CPU))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"load generator failed (exit {proc.returncode})")
    return json.loads(lines[-1])


def run_scenario(args, scenario, kind):
    outcome = Outcome(scenario, kind)
    database = PostgresSchema(args.database_url) if args.database_url and kind == "appliance" else None
    server = Server(kind, args.python, database)
    try:
        server.start()
        log(f"{scenario.name} against {kind} (pid {server.proc.pid}, port {server.port})")
        outcome.result = run_loadgen(args, scenario, server)
        outcome.peak_rss_mb = peak_rss_mb(server.proc.pid)
        server.kill()
        if kind == "appliance":
            outcome.durability = check_durability(server, outcome.result["acked_total"])
    except Exception as e:  # noqa: BLE001 - report it in the table and go on with the next one
        outcome.error = f"{type(e).__name__}: {e}"
        log(f"{scenario.name} against {kind} failed: {outcome.error} (server log: {server.log_path})")
    finally:
        server.kill()
        # Kept when something failed, so that the server's log can be read.
        if not args.keep_data and not outcome.error:
            shutil.rmtree(server.tmp, ignore_errors=True)
            if database:
                database.drop()
    return outcome


def median_run(runs):
    """Of repeated runs, the one with the median throughput (failed runs count as zero); but a
    run that lost acknowledged data is the one reported, whatever its throughput."""
    lost = [o for o in runs if o.durability and not o.durability["ok"]]
    ranked = sorted(runs, key=lambda o: -1 if o.error else o.result["msg_per_s"])
    chosen = lost[0] if lost else ranked[len(ranked) // 2]
    chosen.runs_msg_per_s = [None if o.error else o.result["msg_per_s"] for o in runs]
    return chosen


def fmt(v, spec="{:.1f}"):
    return "-" if v is None else spec.format(v)


def print_table(outcomes, out=sys.stdout):
    header = (f"{'scenario':<24} {'server':<10} {'held':>12} {'setup s':>7} {'window s':>8} "
              f"{'msg/s':>8} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'max ms':>8} {'peak RSS MB':>11} {'CPU us/msg':>10} {'errors':>6} "
              f"{'appl/base':>9}")
    print(header, file=out)
    print("-" * len(header), file=out)
    by_key = {(o.scenario.name, o.server): o for o in outcomes}
    for o in outcomes:
        r = o.result
        if o.error:
            print(f"{o.scenario.name:<24} {o.server:<10} FAILED: {o.error}", file=out)
            continue
        ratio = ""
        base = by_key.get((o.scenario.name, "baseline"))
        if o.server == "appliance" and base and not base.error and base.result["msg_per_s"]:
            ratio = f"{r['msg_per_s'] / base.result['msg_per_s']:.2f}x"
        errors = r["call_errors"] + r["timeouts"] + r["setup_failed"] + r["dropped"]
        held = f"{r['held']}/{r['connections']}"
        print(f"{o.scenario.name:<24} {o.server:<10} {held:>12} {r['setup_seconds']:>7.1f} "
              f"{r['duration']:>8.1f} {r['msg_per_s']:>8.0f} "
              f"{fmt(r['p50_ms']):>8} {fmt(r['p99_ms']):>8} {fmt(r['max_ms']):>8} "
              f"{fmt(o.peak_rss_mb, '{:.0f}'):>11} {fmt(r.get('server_cpu_us_per_msg'), '{:.0f}'):>10} "
              f"{errors:>6} {ratio:>9}", file=out)
    for o in outcomes:
        d = o.durability
        if d:
            verdict = "OK" if d["ok"] else "FAIL"
            print(f"durability {o.scenario.name}: {d['meter_sample_rows']} meter_sample rows for "
                  f"{d['acked_meter_values']} acknowledged MeterValues (need >= {d['required']}), "
                  f"{d['transactions']} transactions: {verdict}", file=out)
    for o in outcomes:
        if o.result.get("loadgen_cpu", 0) > 0.8:
            print(f"warning {o.scenario.name} {o.server}: the load generator used "
                  f"{o.result['loadgen_cpu']:.0%} of its CPU; it may be the limit", file=out)
        if o.result.get("other_cpu", 0) > 0.1:
            print(f"warning {o.scenario.name} {o.server}: other processes used "
                  f"{o.result['other_cpu']:.0%} of a CPU during the measurement", file=out)
        for e in o.result.get("errors", [])[:2]:
            print(f"error sample {o.scenario.name} {o.server}: {e}", file=out)


def scenarios_from(args):
    found = [Scenario(f"closed N={n}", "closed", n) for n in args.connections]
    if args.open_rate > 0:
        found.append(Scenario(f"open {args.open_rate:g}/s N={args.open_connections}", "open",
                              args.open_connections, args.open_rate))
    return found


FULL = dict(connections="1000,10000", duration=10.0, warmup=3.0, open_rate=1000.0,
            open_connections=1000)
QUICK = dict(connections="50,200", duration=2.0, warmup=1.0, open_rate=100.0, open_connections=50)


def source_version():
    """The last commit of appliance/ that was run, '+dirty' if appliance/ had other changes."""
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%h", "--", "appliance"], cwd=REPO_DIR,
                              text=True, capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "appliance"],
                               cwd=REPO_DIR, text=True, capture_output=True, timeout=10).stdout
        return (head or "unknown") + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    # Defaults are None so that --quick fills in only what was not given on the command line.
    p.add_argument("--duration", type=float, help="seconds measured per scenario (10)")
    p.add_argument("--warmup", type=float, help="seconds of load before measuring (3)")
    p.add_argument("--connections",
                   help="comma-separated connection counts for the closed-loop scenarios (1000,10000)")
    p.add_argument("--open-rate", type=float,
                   help="open loop: total MeterValues/s, 0 skips the open-loop scenario (1000)")
    p.add_argument("--open-connections", type=int, help="open loop: connections (1000)")
    p.add_argument("--min-rounds", type=float, default=10.0,
                   help="closed loop: the window lasts at least this many round trips per charger")
    p.add_argument("--max-duration", type=float, default=60.0,
                   help="closed loop: cap on the window (and on the warm-up's extension)")
    p.add_argument("--ramp-rate", type=int, default=1000, help="new connections per second")
    p.add_argument("--setup-timeout", type=float, default=120.0,
                   help="seconds a charger may take from connecting to its transaction started")
    p.add_argument("--source-ips", type=int, default=1,
                   help="spread client connections over this many 127.0.0.x source addresses")
    p.add_argument("--repeat", type=int, default=1,
                   help="run each scenario this many times and report the median run")
    p.add_argument("--only", choices=("appliance", "baseline"))
    p.add_argument("--quick", action="store_true",
                   help="smoke check: 50 and 200 connections, 2 s each, open loop 100/s over 50")
    p.add_argument("--keep-data", action="store_true",
                   help="keep each server's temporary directory (database, log) for inspection")
    p.add_argument("--json-out", help="also write every outcome as JSON to this file")
    p.add_argument("--database-url", default="",
                   help="run the appliance on this PostgreSQL database (postgresql://USER:PASSWORD@HOST/DB; the user "
                        "creates a schema per server there) instead of SQLite; the baseline keeps nothing")
    p.add_argument("--python", default=sys.executable,
                   help="interpreter for the servers and the load generator")
    args = p.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.connections = [int(n) for n in str(args.connections).split(",") if n.strip()]
    return args


def main(argv=None):
    args = parse_args(argv)
    if os.cpu_count() < 2:
        log("warning: fewer than 2 CPUs; server and load generator will share one")
    # Children inherit the limit: 10,000 connections need 10,000 descriptors on each side.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Turn SIGTERM into an exception so the finally clauses kill the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    servers = [args.only] if args.only else ["appliance", "baseline"]
    version = source_version()
    outcomes = []
    started = time.monotonic()
    # Scenario by scenario, appliance then baseline: the two runs whose ratio is taken are close
    # in time, so a disturbance on the machine is less likely to fall on one side only.
    for scenario in scenarios_from(args):
        for kind in servers:
            runs = [run_scenario(args, scenario, kind) for _ in range(args.repeat)]
            outcomes.append(median_run(runs))
    print()
    print(f"OCPP 1.6 JSON MeterValues load, {os.cpu_count()} CPUs, server on CPU {SERVER_CPU}, "
          f"load generator on CPU {LOADGEN_CPU}; measured {args.duration:g} s or, closed loop, "
          f"{args.min_rounds:g} rounds (at most {args.max_duration:g} s) after a warm-up of "
          f"{args.warmup:g} s or 2 rounds ({time.monotonic() - started:.0f} s in all); "
          f"appliance at {version} on "
          + (f"PostgreSQL {server_version(args.database_url)}" if args.database_url
             else f"SQLite {sqlite3.sqlite_version}"))
    if source_version() != version:
        print("warning: appliance/ changed during the run; its figures mix versions")
    print_table(outcomes)
    print()
    print("reproduce: cd " + shlex.quote(REPO_DIR) + " && "
          + shlex.join([os.path.relpath(args.python, REPO_DIR) if args.python.startswith(REPO_DIR)
                        else args.python, "bench/ocpp16_load.py"]
                       # the database URL's password is not printed
                       + [re.sub(r"(postgres(?:ql)?://[^:/@]*:)[^@]*@", r"\1•••@", a) for a in sys.argv[1:]]))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump([{"scenario": o.scenario.__dict__, "server": o.server, "result": o.result,
                        "peak_rss_mb": o.peak_rss_mb, "durability": o.durability,
                        "error": o.error, "runs_msg_per_s": o.runs_msg_per_s}
                       for o in outcomes], f, indent=1)
    failed = any(o.error or (o.durability and not o.durability["ok"]) for o in outcomes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
