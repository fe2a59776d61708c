"""The ports check: the configured port is served by this data directory's server, or free for it."""

from __future__ import annotations

import errno
import json
import os
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appliance.diagnostics.verdict import FAIL, OK, Context, Verdict, guarded

NAME = "ports"
TIMED_OUT = "no answer within the timeout"
SET_PORT = "stop it, or give the appliance another port (port in appliance.toml, or APPLIANCE_PORT)"


@guarded(NAME)
def check_ports(context: Context) -> Verdict:
    settings, timeout_s = context.settings, context.timeout_s
    state, state_problem = _server_state(settings.server_state_path)
    if state is not None and _alive(state.get("pid")):
        answer = healthz(state["url"], state.get("tls_cert_file"), timeout_s)
        if isinstance(answer, dict):
            return Verdict(NAME, OK, f"served by pid {state['pid']} at {state['url']} (version "
                                     f"{answer.get('version')}, {answer.get('chargers_connected', 0)} charger(s) "
                                     "connected)")
        url = urlsplit(state["url"])
        if _bind_problem(url.hostname or "", url.port or 0) is not None:  # else: a stale file, its pid reused
            return Verdict(NAME, FAIL, f"the server (pid {state['pid']}) runs but {state['url']}/healthz does not "
                                       f"answer: {answer}",
                           "read its log (journalctl -u appliance -n 100), then restart it (systemctl restart appliance)")
    problem = _bind_problem(settings.host, settings.port)
    where = f"port {settings.port} on {settings.host}"
    if problem is None:
        gone = " (server.json names a server that is gone)" if state is not None else ""
        return Verdict(NAME, OK, f"{where} is free: no server running{gone}")
    if problem.errno == errno.EADDRINUSE:
        return _in_use(settings, state_problem, timeout_s)
    if problem.errno == errno.EACCES:
        return Verdict(NAME, FAIL, f"this user may not listen on {where}",
                       "use a port above 1023, or give the service CAP_NET_BIND_SERVICE (AmbientCapabilities=)")
    if problem.errno == errno.EADDRNOTAVAIL:
        return Verdict(NAME, FAIL, f"{settings.host} is not an address of this box",
                       "set host to one of the box's addresses (ip -brief address), or to 0.0.0.0")
    return Verdict(NAME, FAIL, f"cannot listen on {where}: {problem.strerror}", "set host and port to usable values")


def _in_use(settings, state_problem: str, timeout_s: float) -> Verdict:
    port = settings.port
    owner = listener_of(port)
    answer = healthz(f"http://127.0.0.1:{port}", None, timeout_s)
    if not isinstance(answer, dict) and answer != TIMED_OUT:  # perhaps TLS; only asking what it is: unverified
        answer = healthz(f"https://127.0.0.1:{port}", None, timeout_s, verify=False)
    if isinstance(answer, dict) and answer.get("status") == "ok":
        if state_problem:  # most likely ours, run by another user
            return Verdict(NAME, OK, f"an appliance server answers on port {port} ({state_problem})")
        return Verdict(NAME, FAIL, f"port {port} is in use by another appliance server, not this data directory's "
                                   f"({settings.data_dir})", SET_PORT)
    return Verdict(NAME, FAIL, f"port {port} is in use by another program{f' ({owner})' if owner else ''}", SET_PORT)


def _server_state(path: Path) -> tuple[dict[str, Any] | None, str]:
    """server.json of a running (or killed) server, and why it could not be read if it could not."""
    try:
        return json.loads(path.read_text()), ""
    except FileNotFoundError:
        return None, ""
    except PermissionError:
        return None, f"{path} is not readable by this user"
    except (OSError, ValueError) as e:
        return None, f"{path} cannot be read: {e}"


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def healthz(url: str, cert_file: str | None, timeout_s: float, verify: bool = True) -> dict | str:
    """The server's /healthz answer, or in words why there is none."""
    context = None
    if url.startswith("https://"):
        context = ssl.create_default_context(cafile=cert_file) if cert_file else ssl.create_default_context()
        context.check_hostname = False  # the server's own certificate, pinned exactly; it names no 127.0.0.1
        if not verify:
            context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(url.rstrip("/") + "/healthz", timeout=timeout_s) as response:
            answer = json.loads(response.read())
            return answer if isinstance(answer, dict) else f"unexpected answer {answer!r}"
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except urllib.error.URLError as e:
        return TIMED_OUT if isinstance(e.reason, TimeoutError) else str(e.reason)
    except TimeoutError:
        return TIMED_OUT
    except (OSError, ValueError) as e:
        return str(e) or type(e).__name__


def _bind_problem(host: str, port: int) -> OSError | None:
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        return OSError(errno.EADDRNOTAVAIL, str(e))
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as e:
            return e
    return None


def listener_of(port: int) -> str:
    """'pid N (name)' of the process listening on the port, when this user may see it; else ''."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir() if inodes else ():
        if proc.name.isdigit() and _holds_any(proc, inodes):
            try:
                return f"pid {proc.name} {(proc / 'comm').read_text().strip()}"
            except OSError:
                return f"pid {proc.name}"
    return ""


def _holds_any(proc: Path, inodes: set[str]) -> bool:
    try:
        return any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir())
    except OSError:  # another user's process, or gone meanwhile
        return False
