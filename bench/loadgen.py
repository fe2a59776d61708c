"""Load generator for the OCPP 1.6 benchmark: N chargers, each in a transaction sending MeterValues.

It speaks OCPP-J 1.6 by hand over aiohttp's websocket client with pre-built JSON frames (no `ocpp`
library here) so that it stays cheap per message and the server is the bottleneck. It runs as its
own process and prints one JSON line with the results on stdout (progress goes to stderr).
"""

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time

import aiohttp

SUBPROTOCOL = "ocpp1.6"
CLK_TCK = os.sysconf("SC_CLK_TCK")

BOOT = ('[2,"b","BootNotification",'
        '{"chargePointVendor":"Bench","chargePointModel":"LoadGen","chargePointSerialNumber":"%s"}]')
STATUS = ('[2,"s","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
          '"status":"Charging","timestamp":"%s"}]')
START = ('[2,"t","StartTransaction",{"connectorId":1,"idTag":"%s","meterStart":0,'
         '"timestamp":"%s"}]')
# Three sampledValues per MeterValues: the appliance stores one meter_sample row for each.
METER = ('[2,"%s","MeterValues",{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":"%s",'
         '"sampledValue":[{"value":"%d","context":"Sample.Periodic",'
         '"measurand":"Energy.Active.Import.Register","unit":"Wh"},'
         '{"value":"7400","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"},'
         '{"value":"32.0","context":"Sample.Periodic","measurand":"Current.Import","unit":"A"}]}]}]')


class CallError(Exception):
    """The server answered a CALL with a CALLERROR."""


class Dropped(Exception):
    """The websocket closed or failed under us."""


class Clock:
    """ISO-8601 UTC timestamps without formatting a date per message: the date-and-seconds part is
    cached per second and only the milliseconds are added."""

    def __init__(self):
        self._sec = None
        self._prefix = ""

    @property
    def now(self):
        return self.at_ms(int(time.time() * 1000))

    def at_ms(self, ms):
        sec = ms // 1000
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return "%s.%03dZ" % (self._prefix, ms % 1000)


class Run:
    """Shared state of one run: phase timing and the counters every charger adds to."""

    def __init__(self, args):
        self.args = args
        self.go = asyncio.Event()
        self.stopping = False
        self.measure_start = float("inf")
        self.measure_end = float("inf")
        self.latencies = []  # seconds, for answers that arrive inside the measurement window
        self.acked_total = 0  # every MeterValues answered with a CALLRESULT, warm-up and drain too
        self.setup_ok = 0
        self.setup_failed = 0
        self.setup_times = []  # seconds from a charger's first attempt to its transaction
        self.dropped_in_window = 0
        self.call_errors = 0
        self.timeouts = 0
        self.server_calls = 0
        self.error_samples = []

    def note_error(self, text):
        if len(self.error_samples) < 5:
            self.error_samples.append(text[:300])


class Charger:
    """One simulated charger: its websocket, transaction and MeterValues loop."""

    def __init__(self, run, n, clock):
        self.run = run
        self.n = n
        self.clock = clock
        self.ws = None
        self.transaction_id = None
        self.energy = 0
        self.seq = 0
        self.last_ms = 0
        self.alive = False

    async def call(self, frame, uid, timeout):
        """Send one CALL and return its CALLRESULT frame as text; answer CALLs from the server."""
        ws = self.ws
        await ws.send_str(frame)
        # Fast path: our own answer in the compact form servers usually emit, no JSON parse.
        prefix = '[3,"%s",' % uid
        while True:
            msg = await ws.receive(timeout)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise Dropped(f"websocket {msg.type.name}: {msg.data!r} {msg.extra!r}")
            data = msg.data
            if data.startswith(prefix):
                return data
            try:
                m = json.loads(data)
            except ValueError:
                raise CallError(f"unparseable frame {data[:200]!r}")
            if m[0] == 3 and m[1] == uid:
                return data
            if m[0] == 4 and m[1] == uid:
                raise CallError(data)
            if m[0] == 2:
                # A CSMS may ask things after boot; refuse politely and keep waiting for our answer.
                self.run.server_calls += 1
                await ws.send_str(json.dumps([4, m[1], "NotImplemented", "load generator", {}]))

    async def setup(self, session, url):
        args = self.run.args
        cp_id = f"{args.id_prefix}{self.n}"
        self.ws = await session.ws_connect(
            f"{url}/{cp_id}", protocols=(SUBPROTOCOL,), heartbeat=None, autoping=True,
            compress=0, timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5))
        if self.ws.protocol != SUBPROTOCOL:
            raise Dropped(f"server did not agree on {SUBPROTOCOL} (got {self.ws.protocol!r})")
        # The whole setup is bounded by --setup-timeout (in main), not each of its calls.
        now, wait = self.clock.now, args.setup_timeout
        await self.call(BOOT % cp_id, "b", wait)
        await self.call(STATUS % now, "s", wait)
        answer = json.loads(await self.call(START % (f"BENCH{self.n}", now), "t", wait))
        self.transaction_id = int(answer[2]["transactionId"])
        self.alive = True

    async def meter_values(self):
        """Send one MeterValues and wait for its answer: the loop time of the acknowledgement, or
        None when the server answered with a CALLERROR or not in time (the charger goes on, as a
        real one would; only a closed connection ends it)."""
        self.seq += 1
        self.energy += 10
        uid = "m%d" % self.seq
        # Strictly increasing sample times per charger: a CSMS may treat a MeterValues with a
        # timestamp it already stored as a replay and store nothing.
        ms = max(int(time.time() * 1000), self.last_ms + 1)
        self.last_ms = ms
        frame = METER % (uid, self.transaction_id, self.clock.at_ms(ms), self.energy)
        try:
            await self.call(frame, uid, self.run.args.call_timeout)
        except CallError as e:
            self.run.call_errors += 1
            self.run.note_error(f"charger {self.n}: CALLERROR {e}")
            return None
        except asyncio.TimeoutError:
            self.run.timeouts += 1
            self.run.note_error(f"charger {self.n}: no answer within {self.run.args.call_timeout:g}s")
            return None
        self.run.acked_total += 1
        return loop_time()

    def record(self, t_sent, t_answer):
        run = self.run
        if t_answer is not None and run.measure_start <= t_answer < run.measure_end:
            run.latencies.append(t_answer - t_sent)

    async def closed_loop(self):
        while not self.run.stopping:
            t0 = loop_time()
            self.record(t0, await self.meter_values())

    async def open_loop(self, offset, interval):
        # Latency is counted from the scheduled send time, so a slow server is not hidden by
        # this charger waiting for its previous answer (coordinated omission).
        t_sched = loop_time() + offset
        while not self.run.stopping:
            delay = t_sched - loop_time()
            if delay > 0:
                await asyncio.sleep(delay)
                if self.run.stopping:
                    break
            self.record(t_sched, await self.meter_values())
            t_sched += interval

    async def main(self, session, url, offset, interval):
        run = self.run
        t0 = loop_time()
        try:
            await asyncio.wait_for(self.setup(session, url), run.args.setup_timeout)
            run.setup_ok += 1
            run.setup_times.append(loop_time() - t0)
        except asyncio.TimeoutError:
            run.setup_failed += 1
            run.note_error(f"setup {self.n}: not in a transaction after {run.args.setup_timeout:g}s")
            return
        except Exception as e:  # noqa: BLE001 - any failure counts as a failed connection
            run.setup_failed += 1
            run.note_error(f"setup {self.n}: {type(e).__name__}: {e}")
            return
        await run.go.wait()
        try:
            if run.args.mode == "closed":
                await self.closed_loop()
            else:
                await self.open_loop(offset, interval)
        except Exception as e:  # noqa: BLE001 - the connection is gone (Dropped, reset, ...)
            run.note_error(f"charger {self.n}: {type(e).__name__}: {e}")
        if run.stopping:
            return
        # Ended before the stop: the connection is lost for the rest of the run.
        self.alive = False
        if loop_time() < run.measure_end:
            run.dropped_in_window += 1


async def closed_loop_window(run, n, t_go):
    """Extend the warm-up to two rounds (every charger answered twice) and return a measurement
    window of at least --min-rounds rounds.

    In a closed loop with many connections a server may answer in waves (a batch of N answers,
    then the next batch of N requests): a window of a few rounds would count whole waves and
    quantise the rate in steps of N per window. A round lasts N / throughput (Little's law).
    """
    args = run.args
    limit = t_go + args.warmup + args.max_duration
    while n and run.acked_total < 2 * n and loop_time() < limit:
        await asyncio.sleep(0.05)
    if not run.acked_total:
        return args.duration
    round_s = (loop_time() - t_go) * n / run.acked_total
    return min(max(args.duration, args.min_rounds * round_s), max(args.duration, args.max_duration))


def loop_time():
    return asyncio.get_running_loop().time()


def cpu_seconds(pid):
    """User+system CPU seconds of a process, from /proc (None if it is not readable)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def machine_busy_seconds():
    """CPU seconds all processes on the machine have used, from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / CLK_TCK


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def log(msg):
    print(f"[loadgen] {msg}", file=sys.stderr, flush=True)


async def amain(args):
    run = Run(args)
    clock = Clock()
    # One connector per source address: loopback connections can be spread over 127.0.0.x so a
    # single source address never runs short of ephemeral ports.
    sources = [None] if args.source_ips <= 1 else [
        (f"127.0.0.{10 + k}", 0) for k in range(args.source_ips)]
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(
        limit=0, local_addr=src)) for src in sources]
    n = args.connections
    interval = n / args.rate if args.mode == "open" else 0.0
    chargers = [Charger(run, i, clock) for i in range(n)]
    tasks = []
    t_setup = loop_time()
    try:
        # Bounded ramp: start connections in small batches at --ramp-rate per second.
        batch = max(1, args.ramp_rate // 100)
        for i in range(0, n, batch):
            for c in chargers[i:i + batch]:
                offset = (c.n / n) * interval  # spread the open-loop schedule evenly
                tasks.append(asyncio.create_task(
                    c.main(sessions[c.n % len(sessions)], args.url, offset, interval)))
            await asyncio.sleep(max(0.0, t_setup + (i + batch) / args.ramp_rate - loop_time()))
        while run.setup_ok + run.setup_failed < n:
            await asyncio.sleep(0.05)
        setup_seconds = loop_time() - t_setup
        log(f"{run.setup_ok}/{n} chargers in a transaction after {setup_seconds:.1f}s "
            f"({run.setup_failed} failed)")

        # Long-lived objects of 10,000 connections make every GC pass slow; keep them out of it.
        gc.collect()
        gc.freeze()

        t_go = loop_time()
        run.go.set()
        await asyncio.sleep(args.warmup)
        duration = args.duration
        if args.mode == "closed":
            duration = await closed_loop_window(run, run.setup_ok, t_go)
        run.measure_start = loop_time()
        run.measure_end = run.measure_start + duration
        cpu0, srv0, acked0 = os.times(), cpu_seconds(args.server_pid), run.acked_total
        busy0 = machine_busy_seconds()
        await asyncio.sleep(duration)
        cpu1, srv1, acked1 = os.times(), cpu_seconds(args.server_pid), run.acked_total
        busy1 = machine_busy_seconds()
        held = sum(1 for c in chargers if c.alive and not c.ws.closed)
        run.stopping = True

        # Drain: let in-flight calls finish so acked_total counts every answer the server sent.
        _, pending = await asyncio.wait(tasks, timeout=args.call_timeout)
        for t in pending:
            t.cancel()
        lat = sorted(run.latencies)
        setup = sorted(run.setup_times)
        ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
        sec = lambda v: None if v is None else round(v, 3)  # noqa: E731
        measured = len(lat)
        result = {
            "mode": args.mode,
            "url": args.url,
            "connections": n,
            "target_rate": args.rate if args.mode == "open" else None,
            "connected": run.setup_ok,
            "setup_failed": run.setup_failed,
            "held": held,
            "dropped": run.dropped_in_window,
            "setup_seconds": round(setup_seconds, 2),
            "setup_p50_s": sec(percentile(setup, 0.50)),
            "setup_p99_s": sec(percentile(setup, 0.99)),
            "warmup": round(run.measure_start - t_go, 2),
            "duration": round(duration, 2),
            "acked": measured,
            "msg_per_s": round(measured / duration, 1),
            "p50_ms": ms(percentile(lat, 0.50)),
            "p90_ms": ms(percentile(lat, 0.90)),
            "p99_ms": ms(percentile(lat, 0.99)),
            "max_ms": ms(lat[-1] if lat else None),
            "acked_total": run.acked_total,
            "call_errors": run.call_errors,
            "timeouts": run.timeouts,
            "server_calls": run.server_calls,
            "unfinished_at_drain": len(pending),
            # CPU used by this process in the window: near 1.0 would mean the load generator,
            # not the server, is the limit.
            "loadgen_cpu": round((cpu1.user + cpu1.system - cpu0.user - cpu0.system)
                                 / duration, 3),
            "errors": run.error_samples,
        }
        if srv0 is not None and srv1 is not None:
            result["server_cpu"] = round((srv1 - srv0) / duration, 3)
            # Anything else busy on the machine during the window disturbs the figures.
            result["other_cpu"] = round((busy1 - busy0) / duration - result["server_cpu"]
                                        - result["loadgen_cpu"], 3)
            if acked1 > acked0:
                result["server_cpu_us_per_msg"] = round((srv1 - srv0) / (acked1 - acked0) * 1e6, 1)
        return result
    finally:
        run.stopping = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Close concurrently and bounded: 10,000 close handshakes one by one would take long.
        closes = [c.ws.close() for c in chargers if c.ws is not None and not c.ws.closed]
        if closes:
            await asyncio.wait([asyncio.ensure_future(x) for x in closes], timeout=10)
        for s in sessions:
            await s.close()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", default="ws://127.0.0.1:9000/ocpp",
                   help="base URL; the charger id is appended as /{id}")
    p.add_argument("--connections", "-n", type=int, default=1000)
    p.add_argument("--mode", choices=("closed", "open"), default="closed",
                   help="closed: next MeterValues when the previous is answered; "
                        "open: a fixed total --rate spread over the connections")
    p.add_argument("--rate", type=float, default=1000.0, help="open loop: total MeterValues/s")
    p.add_argument("--ramp-rate", type=int, default=1000, help="new connections per second")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    p.add_argument("--duration", type=float, default=10.0,
                   help="seconds measured (closed loop: at least --min-rounds rounds)")
    p.add_argument("--min-rounds", type=float, default=10.0,
                   help="closed loop: measure at least this many round trips of every charger")
    p.add_argument("--max-duration", type=float, default=60.0,
                   help="closed loop: cap on the measurement window and on the warm-up extension")
    p.add_argument("--setup-timeout", type=float, default=120.0,
                   help="seconds a charger may take to connect and start its transaction")
    p.add_argument("--call-timeout", type=float, default=30.0,
                   help="seconds to wait for any answer before counting a timeout")
    p.add_argument("--source-ips", type=int, default=1,
                   help="spread connections over this many source addresses 127.0.0.10+k")
    p.add_argument("--id-prefix", default="CP", help="charger ids are {prefix}{n}")
    p.add_argument("--server-pid", type=int, default=0,
                   help="if given, report the server's CPU use during the measurement window")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    nofile = raise_nofile()
    if args.connections + 100 > nofile:
        log(f"warning: RLIMIT_NOFILE is {nofile}, too low for {args.connections} connections")
    result = asyncio.run(amain(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
