"""Figures for the technician's diagnostics: how long `appliance doctor` takes (in all, and per check), how
long its database check takes on a big database, and how soon `appliance logs --follow` shows a message.

1. A real server (`python -m appliance serve --port 0`) on a fresh data directory, one charger speaking
   OCPP 1.6 JSON by hand (aiohttp websocket, no `ocpp` library) that boots.
2. `appliance logs BENCH1 --follow --lines 0 --json` in its own process; the charger sends `--messages`
   Heartbeats, 0.3-0.7 s apart; for each, the time from sending it to the follower printing it.
3. `appliance doctor --json` as a process, `--runs` times, with the server running; then each check
   in-process, timed.
4. The server stopped, `--rows` communication-log rows (~300 bytes each, as OCPP-J MeterValues) added
   to the database; the database check timed with quick_check and with integrity_check (--full).

    .venv/bin/python bench/diagnostics.py [--messages 30] [--runs 5] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR))  # run from anywhere, without installing the appliance

IDENTITY = "BENCH1"


def appliance(data_dir: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env["APPLIANCE_LOCAL_LIST_SYNC"] = "false"
    return subprocess.Popen([sys.executable, "-m", "appliance", "--data-dir", str(data_dir), *args], env=env,
                            cwd=REPO_DIR, **kwargs)


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    subprocess.run([sys.executable, "-m", "appliance", "--data-dir", str(data_dir), "charger", "add", IDENTITY,
                    "--protocol", "ocpp1.6-json"], check=True, capture_output=True, cwd=REPO_DIR)
    server = appliance(data_dir, "serve", "--host", "127.0.0.1", "--port", "0", stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            state = json.loads((data_dir / "server.json").read_text())
            if state["pid"] == server.pid:
                with urllib.request.urlopen(state["url"] + "/healthz", timeout=2):
                    return server, state["url"]
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    server.kill()
    raise SystemExit("the server did not start within 30 s")


async def follow_latency(data_dir: Path, url: str, messages: int) -> list[float]:
    import aiohttp

    follower = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "appliance", "--data-dir", str(data_dir), "logs", IDENTITY, "--follow", "--lines", "0",
        "--json", stdout=asyncio.subprocess.PIPE, cwd=REPO_DIR)
    latencies = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url.replace("http", "ws") + f"/ocpp/{IDENTITY}", protocols=["ocpp1.6"]) as ws:
            async def call(message_id: str, action: str, payload: dict) -> None:
                await ws.send_str(json.dumps([2, message_id, action, payload]))
                await ws.receive()

            await asyncio.sleep(2.0)  # the follower has started and taken the log's last id
            await call("boot", "BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "B1"})
            await _line_with(follower, '\\"boot\\"')
            for i in range(messages):
                await asyncio.sleep(random.uniform(0.3, 0.7))
                sent = time.monotonic()
                await call(f"hb-{i}", "Heartbeat", {})
                await _line_with(follower, f'\\"hb-{i}\\"')
                latencies.append(time.monotonic() - sent)
    follower.send_signal(signal.SIGINT)
    await follower.wait()
    return latencies


async def _line_with(follower, text: str) -> None:
    while text not in (await asyncio.wait_for(follower.stdout.readline(), 10)).decode():
        pass


def doctor_runs(data_dir: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.monotonic()
        appliance(data_dir, "doctor", "--json", stdout=subprocess.DEVNULL).wait()
        times.append(time.monotonic() - started)
    return times


def per_check(data_dir: Path, full: bool = False, only: tuple[str, ...] = ()) -> dict[str, float]:
    from appliance import diagnostics
    from appliance.config import load_settings
    from appliance.diagnostics.verdict import Context

    context = Context(load_settings({"data_dir": data_dir}, environ={}), full=full)
    times = {}
    try:
        for check in diagnostics.CHECKS:
            if only and check.check_name not in only:
                continue
            started = time.monotonic()
            verdict = check(context)
            times[f"{verdict.name} ({verdict.status})"] = time.monotonic() - started
    finally:
        context.close()
    return times


def add_commlog_rows(database: Path, rows: int) -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    sample = ('[2,"{i}","MeterValues",{{"connectorId":1,"transactionId":7,"meterValue":[{{"timestamp":'
              '"2026-11-20T07:00:00Z","sampledValue":[{{"value":"{i}","measurand":"Energy.Active.Import.Register",'
              '"unit":"Wh"}},{{"value":"16.0","measurand":"Current.Import","phase":"L1","unit":"A"}}]}}]}}]')
    with sqlite3.connect(database) as conn:
        conn.executemany("INSERT INTO comm_log (charger_identity, direction, logged_at, message) VALUES (?, ?, ?, ?)",
                         ((f"CP{i % 50}", "in", str(now - dt.timedelta(seconds=rows - i)), sample.format(i=i))
                          for i in range(rows)))
    conn.close()


def summary(values: list[float], unit_scale: float = 1000, unit: str = "ms") -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (f"median {statistics.median(values) * unit_scale:.0f} {unit}, p95 {p95 * unit_scale:.0f} {unit}, "
            f"max {ordered[-1] * unit_scale:.0f} {unit} (n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-diagnostics-") as tmp:
        data_dir = Path(tmp) / "data"
        server, url = start_server(data_dir)
        try:
            latencies = asyncio.run(follow_latency(data_dir, url, args.messages))
            print(f"logs --follow, message sent -> printed: {summary(latencies)}")
            print(f"appliance doctor (a process, server running): {summary(doctor_runs(data_dir, args.runs))}")
            for name, seconds in per_check(data_dir).items():
                print(f"  {name:<24} {seconds * 1000:8.1f} ms")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        database = data_dir / "appliance.sqlite3"
        add_commlog_rows(database, args.rows)
        size_mb = database.stat().st_size / 1e6
        for full in (False, True):
            [(name, seconds)] = per_check(data_dir, full, ("database",)).items()
            print(f"database check, {'integrity_check' if full else 'quick_check'}, {args.rows:,} log rows, "
                  f"{size_mb:.0f} MB: {seconds:.2f} s ({name})")


if __name__ == "__main__":
    main()
