"""Start-up to listening: the time from exec to the first 200 from /healthz, of the single binary and
of `python -m appliance serve`, over several runs; then SIGTERM and the time to exit.

    .venv/bin/python bench/startup.py [--binary dist/appliance]... [--runs 10] [--no-source]

Each command first starts once on its own data directory without being counted (that start creates
the database, as a box's first start does); the counted runs restart on it, as a service restart or
a reboot does. Runs of the different commands alternate, so that load from elsewhere on the machine
spreads over all of them. Prints median, min and max per command and the command line reproducing
the figures; exits 1 if a start failed, or if --limit S is given and a median is over it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 30.0
POLL_S = 0.005
SETTLE_S = 0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz_ok(port: int) -> bool:
    """One GET /healthz on a raw socket: cheaper than urllib, so polling does not slow the server."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def start_once(command: list[str], data_dir: Path, log: Path) -> tuple[float, float, int]:
    """(seconds from exec to /healthz 200, seconds from SIGTERM to exit, exit code)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    argv = [*command, "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1", "--port", str(port)]
    state_file = data_dir / "server.json"
    state_file.unlink(missing_ok=True)
    with open(log, "ab") as out:
        started = time.perf_counter()
        # cwd away from the work tree, so that `-m appliance` imports the interpreter's installed package.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=data_dir.parent)
        try:
            while not healthz_ok(port):
                if proc.poll() is not None:
                    raise RuntimeError(f"{argv[0]} exited with {proc.returncode} before listening; see {log}")
                if time.perf_counter() - started > TIMEOUT_S:
                    raise RuntimeError(f"{argv[0]} not listening after {TIMEOUT_S} s; see {log}")
                time.sleep(POLL_S)
            up = time.perf_counter() - started
            # The server takes SIGTERM as "stop cleanly" only once its handler is in place, just after it
            # writes server.json; /healthz answers a moment before. Before then SIGTERM kills it (exit -15).
            while not state_file.exists():
                if time.perf_counter() - started > TIMEOUT_S:
                    raise RuntimeError(f"{argv[0]} wrote no {state_file} within {TIMEOUT_S} s; see {log}")
                time.sleep(POLL_S)
            time.sleep(SETTLE_S)
            stopping = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(TIMEOUT_S)
            return up, time.perf_counter() - stopping, code
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", action="append", default=[],
                        help="an executable to measure (default dist/appliance); repeat it to compare builds, "
                             "e.g. the one-folder build's DIST/appliance-onedir/appliance (packaging/build --onedir)")
    parser.add_argument("--no-source", action="store_true", help="skip `python -m appliance serve`")
    parser.add_argument("--python", default=sys.executable, help="the interpreter for the source run")
    parser.add_argument("--runs", type=int, default=10, help="counted starts per command (default 10)")
    parser.add_argument("--limit", type=float, default=None, help="exit 1 if a median is over this (s)")
    args = parser.parse_args()

    commands: dict[str, list[str]] = {}
    for binary in args.binary or [str(ROOT / "dist" / "appliance")]:
        commands[os.path.relpath(binary)] = [str(Path(binary).resolve())]
    if not args.no_source:
        commands["python -m appliance"] = [args.python, "-m", "appliance"]
    for name, command in commands.items():
        if not os.access(command[0], os.X_OK):
            parser.error(f"{name}: {command[0]} is not an executable (build it: packaging/build)")

    figures: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="appliance-startup-") as tmp:
        data = {name: Path(tmp) / f"data{i}" for i, name in enumerate(commands)}
        log = Path(tmp) / "servers.log"
        try:
            first = {name: start_once(command, data[name], log)[0]  # creates the database; not counted
                     for name, command in commands.items()}
            for _ in range(args.runs):
                for name, command in commands.items():
                    figures[name].append(start_once(command, data[name], log))
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"startup: {e}\n{log.read_text(errors='replace')[-3000:]}", file=sys.stderr)
            return 1

    print(f"start-up to listening (exec to /healthz 200), {args.runs} runs each, after one uncounted first start")
    width = max(len(name) for name in commands) + 1
    print(f"{'command':{width}} {'median':>8} {'min':>8} {'max':>8}   {'SIGTERM to exit (median, max)':>30}  "
          f"exit codes  first start")
    failed = False
    for name, runs in figures.items():
        ups = [r[0] for r in runs]
        stops = [r[1] for r in runs]
        codes = sorted({r[2] for r in runs})
        median = statistics.median(ups)
        failed |= codes != [0] or (args.limit is not None and median > args.limit)
        print(f"{name:{width}} {median:7.2f}s {min(ups):7.2f}s {max(ups):7.2f}s   "
              f"{statistics.median(stops):13.2f}s, {max(stops):.2f}s{'':10}  {str(codes):10}  {first[name]:.2f}s")
    print("reproduce: " + shlex.join([os.path.relpath(sys.executable), os.path.relpath(__file__), *sys.argv[1:]]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
