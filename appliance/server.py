"""Running the app: listen, tell the CLI how to reach us, stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal

from aiohttp import web

from appliance import tls
from appliance.app import create_app
from appliance.config import Settings
from appliance.core.tokens import CLI_TOKEN_NAME
from appliance.web.keys import CORE

log = logging.getLogger(__name__)


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
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
    log.info("listening on %s:%s (data in %s)", settings.host, port, settings.data_dir)
    if certificate:
        log.info("TLS certificate %s, SHA-256 fingerprint %s", certificate.cert_file, certificate.sha256_fingerprint)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        settings.server_state_path.unlink(missing_ok=True)
        await runner.cleanup()


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
