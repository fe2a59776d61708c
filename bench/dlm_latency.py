"""Load management: time from an event to the profiles it causes, measured at the chargers.

Starts the appliance as its own process on loopback with one circuit and N OCPP 1.6 JSON chargers
(every one charging but one), then repeats: a session starts on the idle charger (time until its own
TxProfile arrives, after the cuts it forces on the others), and stops again (time until the last
other charger has its raise). Raises are not rate-limited here (dlm_min_interval_s=0) so the figure
is the controller's reaction, not the rate limit.

    .venv/bin/python bench/dlm_latency.py [--chargers 20] [--cycles 30]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import aiohttp
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Charger(ChargePoint):
    def __init__(self, identity, connection):
        super().__init__(identity, connection)
        self.profile_at: list[tuple[float, str, float]] = []  # (monotonic, purpose, limit)
        self.arrived = asyncio.Event()

    @on(Action.set_charging_profile)
    def on_profile(self, connector_id, cs_charging_profiles, **kw):
        period = cs_charging_profiles["charging_schedule"]["charging_schedule_period"][0]
        self.profile_at.append((time.monotonic(), cs_charging_profiles["charging_profile_purpose"],
                                float(period["limit"])))
        self.arrived.set()
        return call_result.SetChargingProfile(status="Accepted")


class Transport:
    def __init__(self, ws):
        self.ws = ws

    async def recv(self):
        msg = await self.ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(msg.type)
        return msg.data

    async def send(self, text):
        await self.ws.send_str(text)


def now_wire() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cli(data_dir: str, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "appliance", "--data-dir", data_dir, *args], check=True,
                   stdout=subprocess.DEVNULL, cwd=REPO_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_until(predicate, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the chargers did not get their profiles")
        await asyncio.sleep(0.001)


async def run(args) -> dict[str, list[float]]:
    data_dir = tempfile.mkdtemp(prefix="dlm-bench-")
    port = free_port()
    cli(data_dir, "company", "add", "Bench")
    cli(data_dir, "user", "add", "bench", "--company", "Bench")
    cli(data_dir, "circuit", "add", "main", "--max-current", str(args.limit))
    for i in range(args.chargers):
        cli(data_dir, "tag", "add", f"T{i}", "--user", "bench")
        cli(data_dir, "charger", "add", f"B{i}", "--protocol", "ocpp1.6-json")
        cli(data_dir, "circuit", "assign", "main", f"B{i}")
    env = {**os.environ, "APPLIANCE_DLM_MIN_INTERVAL_S": "0", "APPLIANCE_DLM_HYSTERESIS_A": "0.1",
           "APPLIANCE_LOCAL_LIST_SYNC": "false", "APPLIANCE_LOG_LEVEL": "warning"}
    server = subprocess.Popen([sys.executable, "-m", "appliance", "--data-dir", data_dir, "serve", "--host",
                               "127.0.0.1", "--port", str(port)], env=env, cwd=REPO_DIR,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    figures: dict[str, list[float]] = {"start": [], "stop": []}
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        async with aiohttp.ClientSession() as session:
            chargers, tasks = [], []
            for i in range(args.chargers):
                ws = await session.ws_connect(f"ws://127.0.0.1:{port}/ocpp/B{i}", protocols=["ocpp1.6"])
                cp = Charger(f"B{i}", Transport(ws))
                tasks.append(asyncio.create_task(cp.start()))
                await cp.call(call.BootNotification(charge_point_vendor="Bench", charge_point_model="B"))
                chargers.append(cp)
            txs = {}
            for i, cp in enumerate(chargers[1:], start=1):
                txs[i] = (await cp.call(call.StartTransaction(connector_id=1, id_tag=f"T{i}", meter_start=0,
                                                              timestamp=now_wire()))).transaction_id
            await asyncio.sleep(1.0)
            probe = chargers[0]
            for cycle in range(args.cycles):
                mark = len(probe.profile_at)
                sent = time.monotonic()
                tx = (await probe.call(call.StartTransaction(connector_id=1, id_tag="T0", meter_start=0,
                                                             timestamp=now_wire()))).transaction_id
                await wait_until(lambda: any(p[1] == "TxProfile" for p in probe.profile_at[mark:]))
                figures["start"].append(next(t for t, purpose, _ in probe.profile_at[mark:]
                                             if purpose == "TxProfile") - sent)
                await asyncio.sleep(0.2)
                marks = [len(cp.profile_at) for cp in chargers[1:]]
                sent = time.monotonic()
                await probe.call(call.StopTransaction(meter_stop=10, timestamp=now_wire(), transaction_id=tx))
                await wait_until(lambda: all(len(cp.profile_at) > m for cp, m in zip(chargers[1:], marks)))
                figures["stop"].append(max(cp.profile_at[m][0] for cp, m in zip(chargers[1:], marks)) - sent)
                await asyncio.sleep(0.2)
            for task in tasks:
                task.cancel()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--limit", type=float, default=None, help="circuit limit in A (default 8 A per charger)")
    args = parser.parse_args()
    args.limit = args.limit or 8.0 * args.chargers
    figures = asyncio.run(run(args))
    print(f"DLM event-to-profile latency, {args.chargers} OCPP 1.6 JSON chargers on one {args.limit:g} A circuit, "
          f"{args.cycles} cycles (loopback, appliance in its own process)")
    print(f"{'event':<44}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, label in (("start", "session start -> its own TxProfile"),
                        ("stop", "session stop -> last raise at the others")):
        values = sorted(v * 1000 for v in figures[name])
        p99 = values[min(len(values) - 1, int(round(0.99 * (len(values) - 1))))]
        print(f"{label:<44}{statistics.median(values):>10.1f}{p99:>10.1f}{values[-1]:>10.1f}")
    print("reproduce: " + shlex.join([".venv/bin/python", "bench/dlm_latency.py", "--chargers", str(args.chargers),
                                      "--cycles", str(args.cycles)]))


if __name__ == "__main__":
    main()
