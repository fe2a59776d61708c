"""Running the app: listen, tell the CLI how to reach us, stop cleanly on SIGTERM/SIGINT; under systemd,
say when we are ready, how we are doing and when we stop, and ping its watchdog from the event loop."""

from __future__ import annotations

import asyncio
import faulthandler
import json
import logging
import os
import signal
from typing import Callable

from aiohttp import web

from appliance import systemd_notify, tls
from appliance.gc_policy import HeapGrowthCollector
from appliance.app import create_app
from appliance.config import Settings
from appliance.core.tokens import CLI_TOKEN_NAME
from appliance.web.keys import CORE

log = logging.getLogger(__name__)


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    notifier = systemd_notify.Notifier()
    if notifier.enabled:  # the watchdog kills a stuck server with SIGABRT: leave its stack in the journal
        # The event loop's thread only (the kernel hands a process's signal to its main thread first):
        # reading the stacks of threads still running (a reader's query) crashed the dump now and then,
        # leaving a segfault and no stack at all in the journal.
        faulthandler.enable(all_threads=False)
    # Until READY=1 systemd counts against TimeoutStartSec; an upgrade's backup and migration happen here.
    notifier.status("starting: opening the database")
    # Signals are caught from the start: a SIGTERM while the server starts up then stops it cleanly
    # once it is up, instead of killing it half-way (server.json left behind).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    certificate = tls.ensure_certificate(settings) if settings.tls else None
    ssl_context = tls.server_context(certificate) if certificate else None
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=4096, reuse_address=True,
                       ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else settings.port
    token = await app[CORE].tokens.create(CLI_TOKEN_NAME, replace=True)
    write_server_state(settings, port, token, certificate)
    log.info("listening on %s:%s (data in %s; database %s; event loop %s)", settings.host, port, settings.data_dir,
             app[CORE].db.shown, type(loop).__module__.split(".")[0])  # a PostgreSQL URL's password masked
    if certificate:
        log.info("TLS certificate %s, SHA-256 fingerprint %s", certificate.cert_file, certificate.sha256_fingerprint)
    collector = HeapGrowthCollector()
    collector.install()  # after start-up: what it built is frozen, not walked by every full collection
    if ready is not None:
        ready.set()
    status = _status_line(app, settings.host, port)
    notifier.ready(status())  # only now: the port answers and server.json names us
    heartbeat = asyncio.create_task(systemd_notify.keep_telling(notifier, status), name="systemd-notify") \
        if notifier.enabled else None
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        collector.uninstall()
        notifier.stopping()
        if heartbeat is not None:
            heartbeat.cancel()
        settings.server_state_path.unlink(missing_ok=True)
        await runner.cleanup()


def _status_line(app: web.Application, host: str, port: int) -> Callable[[], str]:
    """The line `systemctl status appliance` shows: where we listen and how many chargers are connected."""
    def status() -> str:
        connected = len(app[CORE].links.connected())
        return f"listening on {host}:{port}, {connected} charger{'' if connected == 1 else 's'} connected"

    return status


def write_server_state(settings: Settings, port: int, token: str,
                       certificate: tls.CertificateInfo | None = None) -> None:
    """server.json: where the running server listens and the CLI's token, readable by the owner only."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    scheme = "https" if certificate else "http"
    state = {"url": f"{scheme}://{host}:{port}", "pid": os.getpid(), "token": token,
             "tls_cert_file": str(certificate.cert_file) if certificate else None}
    path = settings.server_state_path
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)
