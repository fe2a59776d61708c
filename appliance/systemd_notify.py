"""Telling systemd how the service is doing (sd_notify): ready, a status line, watchdog pings, stopping.

The protocol is one datagram per message on the unix socket named by NOTIFY_SOCKET: a path, or a name
in the abstract namespace when it starts with '@'. Run outside systemd (no NOTIFY_SOCKET) every call
does nothing. Standard library only, so the single binary needs nothing extra. See sd_notify(3).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from typing import Callable, Mapping

log = logging.getLogger(__name__)

# How often the status line is refreshed when systemd asks for no watchdog pings.
STATUS_INTERVAL_S = 10.0


class Notifier:
    """Sends sd_notify messages; built once from the environment systemd gave the process."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.name = environ.get("NOTIFY_SOCKET", "")
        self.address = socket_address(self.name)
        self.watchdog_interval_s = watchdog_interval_s(environ) if self.address else None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send `KEY=value` lines as one message; False when not run by systemd or the send failed.

        Non-blocking: the event loop sends these, and a full socket queue must not stall it (a lost
        ping is what the watchdog is for).
        """
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto("\n".join(assignments).encode(), self.address)
        except OSError as error:
            if not self._failed:  # once: a vanished socket would otherwise log at every ping
                log.warning("cannot notify systemd on %s: %s", self.name, error)
                self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str = "stopping") -> bool:
        return self.send("STOPPING=1", f"STATUS={status}")


def socket_address(value: str) -> str | None:
    """NOTIFY_SOCKET as a socket address: '@name' is the abstract namespace (a leading NUL byte)."""
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    log.warning("ignoring NOTIFY_SOCKET=%r: neither an absolute path nor an abstract '@' name", value)
    return None


def watchdog_interval_s(environ: Mapping[str, str]) -> float | None:
    """Seconds between pings (half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises), or None when
    systemd wants no pings from this process."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = environ.get("WATCHDOG_PID")
    if pid and not _is_watched(pid):
        return None
    return usec / 2 / 1_000_000


def _is_watched(pid: str) -> bool:
    """WATCHDOG_PID names the service's main process. A PyInstaller one-file binary is two processes:
    systemd starts the bootloader (the main process), which unpacks and runs Python as its child and
    forwards signals to it; the child inherits WATCHDOG_PID, so for a frozen binary the parent counts."""
    try:
        watched = int(pid)
    except ValueError:
        return False
    return watched == os.getpid() or (bool(getattr(sys, "frozen", False)) and watched == os.getppid())


async def keep_telling(notifier: Notifier, status: Callable[[], str]) -> None:
    """Ping the watchdog and refresh the status line until cancelled.

    Runs as a task on the event loop on purpose: a loop blocked for longer than WatchdogSec sends no
    ping, and systemd then kills and restarts the service. A thread would keep pinging a dead server.
    """
    interval_s = notifier.watchdog_interval_s or STATUS_INTERVAL_S
    last = None
    while True:
        now = status()
        lines = ["WATCHDOG=1"] if notifier.watchdog_interval_s else []
        if now != last:
            lines.append(f"STATUS={now}")
            last = now
        if lines:
            notifier.send(*lines)
        await asyncio.sleep(interval_s)
