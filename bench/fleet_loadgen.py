"""Load generator for mixed fleets (OCPP 1.6 JSON, 2.0.1 JSON, 1.6 SOAP), its own process.

Scenarios:
- steady: every charger connects, boots and starts a transaction, then all send meter readings
  (1.6 MeterValues, 2.0.1 TransactionEvent Updated, SOAP MeterValues), open loop at a total
  --rate (latency from the scheduled send time: no coordinated omission) or closed loop (each
  charger's next reading when the previous one is answered: the server's capacity).
- storm: every charger is in a transaction, then the network goes away (the connections go
  silent: the server notices only when the charger comes back), readings and the stop queue up,
  and all chargers reconnect at once, each replaying its transaction (1.6 and SOAP: the
  StartTransaction again, the MeterValues, the StopTransaction; 2.0.1: TransactionEvents with
  offline=true). The time until the last one is through is the figure.
- churn: chargers in start / --cycle-readings readings / stop cycles, closed loop.

It prints one JSON line with the results on stdout and, with --expect-out, writes what the server
acknowledged per charger, for the orchestrator's database check.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import sys
import time
from collections import Counter

import aiohttp

from fleet_chargers import CLASSES, KINDS, CallError, Dropped, Tally, parse_mix
from loadgen import Clock, cpu_seconds, machine_busy_seconds, percentile, raise_nofile


def log(msg):
    print(f"[fleet-loadgen] {msg}", file=sys.stderr, flush=True)


def loop_time():
    return asyncio.get_running_loop().time()


class Run:
    def __init__(self, args):
        self.args = args
        self.go = asyncio.Event()
        self.stopping = False
        self.measure_start = float("inf")
        self.measure_end = float("inf")
        self.latencies = {k: [] for k in KINDS}
        self.acked = dict.fromkeys(KINDS, 0)  # every acknowledged call, any phase
        self.setup_ok = dict.fromkeys(KINDS, 0)
        self.setup_failed = dict.fromkeys(KINDS, 0)
        self.setup_times = []
        self.call_errors = 0
        self.timeouts = 0
        self.dropped = 0
        self.error_samples = []
        self.cycles = 0

    def note_error(self, text):
        if len(self.error_samples) < 8:
            self.error_samples.append(text[:300])

    def record(self, kind, t_from, t_answer):
        self.acked[kind] += 1
        if self.measure_start <= t_answer < self.measure_end:
            self.latencies[kind].append(t_answer - t_from)


class Fleet:
    """The chargers and how they reach the server."""

    def __init__(self, args, run):
        self.args = args
        self.run = run
        self.clock = Clock()
        self.tally = Tally()
        self.mix = parse_mix(args.mix)
        self.chargers = []
        for kind in KINDS:
            self.chargers += [CLASSES[kind](i, args.id_prefix, self.clock, self.tally, args.call_timeout)
                              for i in range(self.mix[kind])]
        # Interleave the kinds so that a ramp brings all of them in together.
        self.chargers.sort(key=lambda c: (c.n / max(1, self.mix[c.kind]), c.kind))
        host_port = args.url.split("//", 1)[1].split("/", 1)[0]
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.ws_base = f"ws://{host_port}/ocpp"
        self.session = None

    async def __aenter__(self):
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self

    async def __aexit__(self, *exc):
        closes = [asyncio.ensure_future(c.close()) for c in self.chargers]
        if closes:
            await asyncio.wait(closes, timeout=15)
        await self.session.close()

    async def connect(self, c):
        if c.kind == "soap16":
            await c.connect(self.host, self.port, give_from=self.args.soap_from)
        else:
            await c.connect(self.session, self.ws_base)

    async def bring_up(self, c, transaction=True):
        """Connect, boot, report status, start a transaction: what a charger does when a car plugs in."""
        await self.connect(c)
        await c.boot()
        await c.status("Charging" if transaction else "Available")
        if transaction:
            await c.start()

    async def ramp(self, transaction=True):
        """Bring every charger up at --ramp-rate per second; count those that fail or take too long."""
        run, args = self.run, self.args

        async def one(c):
            t0 = loop_time()
            try:
                await asyncio.wait_for(self.bring_up(c, transaction), args.setup_timeout)
                run.setup_ok[c.kind] += 1
                run.setup_times.append(loop_time() - t0)
                c.up = True
            except Exception as e:  # noqa: BLE001 - a failed charger is counted, the run goes on
                run.setup_failed[c.kind] += 1
                run.note_error(f"setup {c.identity}: {type(e).__name__}: {e}")
                c.up = False

        t_start = loop_time()
        tasks = []
        batch = max(1, args.ramp_rate // 100)
        for i in range(0, len(self.chargers), batch):
            tasks += [asyncio.create_task(one(c)) for c in self.chargers[i:i + batch]]
            await asyncio.sleep(max(0.0, t_start + (i + batch) / args.ramp_rate - loop_time()))
        await asyncio.gather(*tasks)
        return loop_time() - t_start


def window_figures(run, duration):
    out = {}
    every = []
    for kind in KINDS:
        lat = sorted(run.latencies[kind])
        every += lat
        out[kind] = _figures(lat, duration)
    every.sort()
    out["all"] = _figures(every, duration)
    return out


def _figures(lat, duration):
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    return {"acked": len(lat), "msg_per_s": round(len(lat) / duration, 1) if duration else None,
            "p50_ms": ms(percentile(lat, 0.50)), "p99_ms": ms(percentile(lat, 0.99)),
            "max_ms": ms(lat[-1] if lat else None)}


class Meter:
    """CPU of the server, this process and the machine over a window."""

    def __init__(self, server_pid):
        self.server_pid = server_pid
        self.t0 = time.monotonic()
        self.cpu0, self.srv0, self.busy0 = os.times(), cpu_seconds(server_pid), machine_busy_seconds()

    def result(self, messages):
        elapsed = time.monotonic() - self.t0
        cpu1, srv1, busy1 = os.times(), cpu_seconds(self.server_pid), machine_busy_seconds()
        out = {"loadgen_cpu": round((cpu1.user + cpu1.system - self.cpu0.user - self.cpu0.system) / elapsed, 3)}
        if self.srv0 is not None and srv1 is not None:
            out["server_cpu"] = round((srv1 - self.srv0) / elapsed, 3)
            out["other_cpu"] = round((busy1 - self.busy0) / elapsed - out["server_cpu"] - out["loadgen_cpu"], 3)
            if messages:
                out["server_cpu_us_per_msg"] = round((srv1 - self.srv0) / messages * 1e6, 1)
        return out


# -- steady metering ------------------------------------------------------------------------------

async def steady(args, run, fleet):
    setup_s = await fleet.ramp()
    up = [c for c in fleet.chargers if c.up]
    log(f"{len(up)}/{len(fleet.chargers)} chargers in a transaction after {setup_s:.1f}s")
    gc.collect()
    gc.freeze()
    interval = len(up) / args.rate if args.mode == "open" else 0.0

    async def closed(c):
        while not run.stopping:
            t0 = loop_time()
            if await reading(c):
                run.record(c.kind, t0, loop_time())

    async def open_loop(c, offset):
        t_sched = loop_time() + offset
        while not run.stopping:
            delay = t_sched - loop_time()
            if delay > 0:
                await asyncio.sleep(delay)
                if run.stopping:
                    break
            if await reading(c):
                run.record(c.kind, t_sched, loop_time())
            t_sched += interval

    async def reading(c):
        try:
            await (c.meter() if args.message == "meter" else c.heartbeat())
            return True
        except CallError as e:
            run.call_errors += 1
            run.note_error(f"{c.identity}: {e}")
        except asyncio.TimeoutError:
            run.timeouts += 1
            run.note_error(f"{c.identity}: no answer within {args.call_timeout:g}s")
        return False

    async def charger(c, offset):
        try:
            await (closed(c) if args.mode == "closed" else open_loop(c, offset))
        except Exception as e:  # noqa: BLE001 - the connection is gone
            c.up = False
            if not run.stopping:
                run.dropped += 1
                run.note_error(f"{c.identity}: {type(e).__name__}: {e}")

    t_go = loop_time()
    tasks = [asyncio.create_task(charger(c, i / len(up) * interval)) for i, c in enumerate(up)]
    await asyncio.sleep(args.warmup)
    duration = args.duration
    if args.mode == "closed" and up:
        # At least two rounds of warm-up and --min-rounds rounds measured (see loadgen.py).
        while sum(run.acked.values()) < 2 * len(up) and loop_time() < t_go + args.warmup + args.max_duration:
            await asyncio.sleep(0.05)
        round_s = (loop_time() - t_go) * len(up) / max(1, sum(run.acked.values()))
        duration = min(max(args.duration, args.min_rounds * round_s), max(args.duration, args.max_duration))
    run.measure_start = loop_time()
    run.measure_end = run.measure_start + duration
    meter, acked0 = Meter(args.server_pid), sum(run.acked.values())
    await asyncio.sleep(duration)
    cpu = meter.result(sum(run.acked.values()) - acked0)
    held = {k: sum(1 for c in up if c.kind == k and c.up and c.connected) for k in KINDS}
    run.stopping = True
    pending = (await asyncio.wait(tasks, timeout=args.call_timeout))[1] if tasks else ()
    for t in pending:
        t.cancel()
    return {"setup_seconds": round(setup_s, 2), "duration": round(duration, 2), "held": held,
            "window": window_figures(run, duration), **cpu, "unfinished_at_drain": len(pending)}


# -- connection storm -----------------------------------------------------------------------------

async def storm(args, run, fleet):
    setup_s = await fleet.ramp()
    up = [c for c in fleet.chargers if c.up]
    log(f"{len(up)}/{len(fleet.chargers)} chargers in a transaction after {setup_s:.1f}s")
    # A few readings online first, as a charger in a session sends them.
    for _ in range(args.online_readings):
        await asyncio.gather(*(c.meter() for c in up), return_exceptions=True)
    # The outage: connections go silent (the server keeps them until the chargers come back) or close.
    for c in up:
        if args.outage == "close":
            await c.close()
        c.abandon()
    # What every charger queues while offline: readings a minute apart, then its stop.
    base_ms = int(time.time() * 1000) + 1000
    for c in up:
        c.queue_offline(args.storm_readings, base_ms, 60_000)
    if args.offline_s:
        await asyncio.sleep(args.offline_s)
    gc.collect()
    gc.freeze()
    dup = set(random.Random(7).sample(range(len(up)), int(args.dup_fraction * len(up))))
    done_at = {}
    failed = []

    retries = Counter()
    rng = random.Random(11)

    async def come_back(i, c):
        # As a real charger does: while its queue is not through, reconnect and send it all again
        # (what the server already stored must not count twice), until --storm-timeout.
        while True:
            try:
                await fleet.connect(c)
                await c.replay()
                if i in dup:  # its answers were lost on the way back: everything again
                    await c.replay()
                await c.status("Available")
                done_at[c.identity] = loop_time() - t0
                return
            except Exception as e:  # noqa: BLE001 - timeouts, dropped connections: try again
                retries[type(e).__name__] += 1
                run.note_error(f"storm {c.identity} (will retry): {type(e).__name__}: {e}")
                c.abandon()
                if loop_time() - t0 > args.storm_timeout:
                    failed.append(c.identity)
                    return
                await asyncio.sleep(rng.uniform(1, 5))

    meter = Meter(args.server_pid)
    t0 = loop_time()
    tasks = []
    if args.storm_rate:
        for i, c in enumerate(up):
            tasks.append(asyncio.create_task(come_back(i, c)))
            if i % 50 == 49:
                await asyncio.sleep(max(0.0, t0 + (i + 1) / args.storm_rate - loop_time()))
    else:
        tasks = [asyncio.create_task(come_back(i, c)) for i, c in enumerate(up)]
    if tasks:
        await asyncio.wait(tasks, timeout=args.storm_timeout)
    absorb = loop_time() - t0
    messages = sum(len(c.offline) * (2 if i in dup else 1) + 1 for i, c in enumerate(up))
    cpu = meter.result(messages)
    times = sorted(done_at.values())
    expect = []
    for c in up:
        # tx_readings: those acknowledged before the outage; the queued ones must all be stored too.
        expect.append({"identity": c.identity, "kind": c.kind, "tx": c.tx, "readings": c.tx_readings
                       + args.storm_readings, "meter_stop": c.energy, "done": c.identity in done_at})
    if args.expect_out:
        with open(args.expect_out, "w") as f:
            json.dump(expect, f)
    return {"setup_seconds": round(setup_s, 2), "reconnected": len(up), "replayed_twice": len(dup),
            "through": len(done_at), "failed": len(failed), "start_mismatch": fleet.tally.start_mismatch,
            "retries": dict(retries),
            "absorb_s": round(absorb, 2),
            "last_done_s": round(times[-1], 2) if times else None,
            "done_p50_s": round(percentile(times, 0.5), 2) if times else None,
            "done_p99_s": round(percentile(times, 0.99), 2) if times else None,
            "messages": messages, "msg_per_s": round(messages / absorb, 1), **cpu}


# -- transaction churn ----------------------------------------------------------------------------

async def churn(args, run, fleet):
    setup_s = await fleet.ramp(transaction=False)
    up = [c for c in fleet.chargers if c.up]
    log(f"{len(up)}/{len(fleet.chargers)} chargers up after {setup_s:.1f}s")
    starts = {c.identity: 0 for c in up}
    stops = {c.identity: 0 for c in up}

    async def timed(c, coro):
        t0 = loop_time()
        await coro
        run.record(c.kind, t0, loop_time())

    async def cycles(c):
        try:
            while not run.stopping:
                await timed(c, c.start())
                starts[c.identity] += 1
                for _ in range(args.cycle_readings):
                    await timed(c, c.meter())
                await timed(c, c.stop())
                stops[c.identity] += 1
                if loop_time() >= run.measure_start:
                    run.cycles += 1
        except (CallError, Dropped, asyncio.TimeoutError, ConnectionError) as e:
            run.call_errors += 1
            run.note_error(f"{c.identity}: {type(e).__name__}: {e}")

    tasks = [asyncio.create_task(cycles(c)) for c in up]
    await asyncio.sleep(args.warmup)
    run.measure_start = loop_time()
    run.measure_end = run.measure_start + args.duration
    meter, acked0 = Meter(args.server_pid), sum(run.acked.values())
    await asyncio.sleep(args.duration)
    cpu = meter.result(sum(run.acked.values()) - acked0)
    run.stopping = True  # each charger finishes its cycle: every transaction ends stopped
    pending = (await asyncio.wait(tasks, timeout=args.call_timeout + 5 * args.cycle_readings))[1] if tasks else ()
    if args.expect_out:
        with open(args.expect_out, "w") as f:
            json.dump([{"identity": c.identity, "kind": c.kind, "starts": starts[c.identity],
                        "stops": stops[c.identity]} for c in up], f)
    return {"setup_seconds": round(setup_s, 2), "duration": args.duration, "window": window_figures(run, args.duration),
            "cycles": run.cycles, "cycles_per_s": round(run.cycles / args.duration, 1),
            "transactions_started": sum(starts.values()), "transactions_stopped": sum(stops.values()),
            "unfinished_at_drain": len(pending), **cpu}


SCENARIOS = {"steady": steady, "storm": storm, "churn": churn}


async def amain(args):
    run = Run(args)
    async with Fleet(args, run) as fleet:
        result = await SCENARIOS[args.scenario](args, run, fleet)
    result.update({
        "scenario": args.scenario, "mode": args.mode if args.scenario == "steady" else None, "mix": fleet.mix,
        "setup_ok": run.setup_ok, "setup_failed": run.setup_failed,
        "setup_p50_s": round(percentile(sorted(run.setup_times), 0.5) or 0, 3),
        "setup_p99_s": round(percentile(sorted(run.setup_times), 0.99) or 0, 3),
        "readings_acked": fleet.tally.readings, "call_errors": run.call_errors, "timeouts": run.timeouts,
        "dropped": run.dropped, "errors": run.error_samples})
    return result


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:9000", help="the server's base URL")
    p.add_argument("--mix", default="json16=700,json201=200,soap16=100",
                   help="chargers per kind: json16=N,json201=N,soap16=N")
    p.add_argument("--scenario", choices=tuple(SCENARIOS), default="steady")
    p.add_argument("--mode", choices=("open", "closed"), default="open")
    p.add_argument("--rate", type=float, default=1000.0, help="open loop: readings per second in all")
    p.add_argument("--message", choices=("meter", "heartbeat"), default="meter",
                   help="steady: what each charger sends (meter: MeterValues / TransactionEvent Updated)")
    p.add_argument("--ramp-rate", type=int, default=1000, help="chargers brought up per second")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--min-rounds", type=float, default=10.0)
    p.add_argument("--max-duration", type=float, default=60.0)
    p.add_argument("--setup-timeout", type=float, default=120.0)
    p.add_argument("--call-timeout", type=float, default=30.0)
    p.add_argument("--online-readings", type=int, default=1, help="storm: readings sent before the outage")
    p.add_argument("--storm-readings", type=int, default=3, help="storm: readings queued while offline")
    p.add_argument("--outage", choices=("silent", "close"), default="silent")
    p.add_argument("--offline-s", type=float, default=1.0, help="storm: seconds offline")
    p.add_argument("--storm-rate", type=float, default=0.0,
                   help="storm: chargers coming back per second (0: all at once)")
    p.add_argument("--storm-timeout", type=float, default=300.0,
                   help="storm: a charger not through after this long counts as lost")
    p.add_argument("--dup-fraction", type=float, default=0.1,
                   help="storm: share of chargers that replay everything twice (their answers were lost)")
    p.add_argument("--cycle-readings", type=int, default=3, help="churn: readings per transaction")
    p.add_argument("--soap-from", action="store_true", help="SOAP chargers give a WS-Addressing From address")
    p.add_argument("--id-prefix", default="F")
    p.add_argument("--server-pid", type=int, default=0)
    p.add_argument("--expect-out", help="write what the server acknowledged per charger (storm, churn)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    nofile = raise_nofile()
    total = sum(parse_mix(args.mix).values())
    if 2 * total + 100 > nofile:
        log(f"warning: RLIMIT_NOFILE is {nofile}, low for {total} chargers")
    print(json.dumps(asyncio.run(amain(args))), flush=True)


if __name__ == "__main__":
    main()
