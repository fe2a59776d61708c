"""What floods cost the appliance: made-up charger ids, guessed charger passwords, guessed staff logins.

A real server (`python -m appliance serve`, its own data directory, pinned to CPU 0) is flooded from
this process (pinned to CPU 1) over loopback, from many source addresses in 127.0.0.0/8, while one
honest charger keeps sending Heartbeats. Per scenario it prints the answers by HTTP status and their
rate, the honest charger's Heartbeat latency (p50/p99/max), the server's resident memory before and
after (and its peak), and what reached the database.

    .venv/bin/python bench/admission_flood.py [--duration 10] [--concurrency 64] [--addresses 200]

Scenarios: `unknown` (handshakes as random ids: the limits on unknown chargers), `passwords` (Basic
auth guesses for one charger: the wrong-password limit, each guess that gets through costs a scrypt),
`logins` (web UI logins with wrong passwords: the per-address limit, each attempt through costs an
argon2 hash of 64 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter

import aiohttp

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_CPU, CLIENT_CPU = 0, 1
UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(), "Sec-WebSocket-Protocol": "ocpp1.6"}
STAFF_PASSWORD = "bench-staff-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith(field + ":"))


class Server:
    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
        env.update(APPLIANCE_LOCAL_LIST_SYNC="false", APPLIANCE_LOG_LEVEL="warning")
        self.log = open(os.path.join(data_dir, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appliance", "--data-dir", data_dir, "serve", "--host", "127.0.0.1",
             "--port", str(self.port)], cwd=REPO_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.sched_setaffinity(0, {SERVER_CPU}))

    def cli(self, *args: str, stdin: str = "") -> None:
        subprocess.run([sys.executable, "-m", "appliance", "--data-dir", self.data_dir, *args], cwd=REPO_DIR,
                       check=True, capture_output=True, input=stdin.encode(),
                       env={k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")})

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


async def honest_heartbeats(url: str, stop: asyncio.Event, latencies: list[float]) -> None:
    """CP-HONEST (known, no password) sends a Heartbeat every 50 ms; its round trips are recorded."""
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url.replace("http", "ws") + "/ocpp/CP-HONEST", protocols=["ocpp1.6"]) as ws:
            await ws.send_str(json.dumps([2, "boot", "BootNotification", {"chargePointVendor": "V",
                                                                           "chargePointModel": "M"}]))
            await ws.receive()
            n = 0
            while not stop.is_set():
                n += 1
                started = time.perf_counter()
                await ws.send_str(json.dumps([2, f"hb{n}", "Heartbeat", {}]))
                await ws.receive()
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)


async def flood(url: str, kind: str, duration: float, concurrency: int, addresses: int) -> Counter:
    statuses: Counter = Counter()
    deadline = time.monotonic() + duration
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(f"127.0.{1 + i // 250}.{1 + i % 250}", 0),
                                                                     force_close=True))
                for i in range(addresses)]

    async def one(worker: int) -> None:
        while time.monotonic() < deadline:
            http = sessions[random.randrange(addresses)]
            try:
                statuses[await attempt(http, url, kind)] += 1
            except aiohttp.ClientError as e:
                statuses[type(e).__name__] += 1

    try:
        await asyncio.gather(*(one(i) for i in range(concurrency)))
    finally:
        for http in sessions:
            await http.close()
    return statuses


async def attempt(http: aiohttp.ClientSession, url: str, kind: str) -> int:
    if kind == "unknown":
        identity = "RND-" + os.urandom(6).hex()
        async with http.get(f"{url}/ocpp/{identity}", headers=UPGRADE) as r:
            return r.status
    if kind == "passwords":
        guess = base64.b64encode(b"CP-LOCKED:" + os.urandom(8).hex().encode()).decode()
        async with http.get(f"{url}/ocpp/CP-LOCKED", headers={**UPGRADE, "Authorization": "Basic " + guess}) as r:
            return r.status
    async with http.get(url + "/login") as page:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text()).group(1)
        cookie = page.cookies.get("appliance_login_csrf")
    async with http.post(url + "/login", data={"name": "anna", "password": "wrong-" + os.urandom(4).hex(),
                                               "csrf_token": token},
                         cookies={"appliance_login_csrf": cookie.value}, allow_redirects=False) as r:
        return r.status


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def run(kind: str, args) -> None:
    with tempfile.TemporaryDirectory(prefix="admission-flood-") as data_dir:
        server = Server(data_dir)
        try:
            await server.wait_ready()
            server.cli("charger", "add", "CP-HONEST", "--protocol", "ocpp1.6-json")
            server.cli("charger", "add", "CP-LOCKED", "--protocol", "ocpp1.6-json", "--password", "the-real-one-123")
            server.cli("admin", "add", "anna", "--role", "admin", stdin=STAFF_PASSWORD + "\n")
            rss_before = memory_mb(server.proc.pid, "VmRSS")
            stop, latencies = asyncio.Event(), []
            honest = asyncio.create_task(honest_heartbeats(server.url, stop, latencies))
            started = time.monotonic()
            statuses = await flood(server.url, kind, args.duration, args.concurrency, args.addresses)
            elapsed = time.monotonic() - started
            stop.set()
            await honest
            rss_after, rss_peak = memory_mb(server.proc.pid, "VmRSS"), memory_mb(server.proc.pid, "VmHWM")
        finally:
            server.stop()
        with sqlite3.connect(os.path.join(data_dir, "appliance.sqlite3")) as db:
            chargers = db.execute("SELECT registration, count(*) FROM charger GROUP BY registration").fetchall()
        total = sum(statuses.values())
        print(f"\n== {kind}: {args.duration:.0f} s, {args.concurrency} concurrent, {args.addresses} source addresses")
        print(f"answers: {total} ({total / elapsed:.0f}/s): " + ", ".join(f"{s}: {n}" for s, n in statuses.most_common()))
        print(f"honest charger Heartbeat round trip: p50 {percentile(latencies, .5) * 1000:.1f} ms, "
              f"p99 {percentile(latencies, .99) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms ({len(latencies)})")
        print(f"server memory: {rss_before:.0f} MB before, {rss_after:.0f} MB after, peak {rss_peak:.0f} MB")
        print("chargers in the database: " + ", ".join(f"{r}: {n}" for r, n in chargers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of flood per scenario")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--addresses", type=int, default=200, help="source addresses in 127.0.0.0/8")
    parser.add_argument("--scenarios", default="unknown,passwords,logins")
    args = parser.parse_args()
    os.sched_setaffinity(0, {CLIENT_CPU})
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores shared with other work)")
    for kind in args.scenarios.split(","):
        asyncio.run(run(kind, args))


if __name__ == "__main__":
    main()
