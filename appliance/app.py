"""create_app(settings): the one aiohttp application serving chargers, staff and scripts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging

import ocpp.messages
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from appliance import __version__
from appliance.config import Settings
from appliance.core.admission import Admission
from appliance.core.networks import parse_networks
from appliance.core import health
from appliance.core.clock_watch import ClockWatch
from appliance.core.reactions import subscribe_reactions
from appliance.core.services import open_core, supervise_forever
from appliance.dlm.controller import LoadController
from appliance.notify.notifier import Notifier
from appliance.ocpp15_soap.cs_models import OCPP15
from appliance.ocpp15_soap.link import Ocpp15SoapLink
from appliance.ocpp15_soap.links import SoapLinks
from appliance.ocpp15_soap.soap_endpoint import SoapEndpoint
from appliance.ocpp16.json_session import Ocpp16JsonSession
from appliance.ocpp16.soap_central_system import OCPP16
from appliance.ocpp16.soap_link import Ocpp16SoapLink
from appliance.ocpp20.session import Ocpp201Session
from appliance.ocppj.endpoint import OcppJEndpoint
from appliance.reader_service import ReaderService, parse_readers
from appliance.rfid_reader.id_format import parse_form
from appliance.sync.head_office import HeadOfficeSync
from appliance.web import alarms_api, api, billing_api, circuits_api, report_api
from appliance.web.keys import CORE, DLM, READERS, SYNC
from appliance.web.middleware import api_token_auth, client_and_limits, errors
from appliance.web import metrics as metrics_page, notify_api
from appliance.web.keys import NOTIFIER
from appliance.web.ui import setup_ui
from appliance.web.ui.auth import staff_auth
from appliance.web.ui.live import LIVE, LiveHub

log = logging.getLogger(__name__)

OCPPJ = web.AppKey("ocppj", OcppJEndpoint)
CLOCKS = web.AppKey("clocks", ClockWatch)
SOAP = web.AppKey("soap", dict)  # path -> SoapEndpoint
SOAP_VERSIONS = {"/ocpp/soap/1.5": OCPP15, "/ocpp/soap/1.6": OCPP16}

# Request bodies (SECURITY.md): the API's JSON (a local list of thousands of tags included) and the
# chargers' SOAP (read by the endpoint itself, with its own limit) up to MAX_BODY; the web UI's forms
# are small, the login form smaller. OCPP-J frames have their own limit (ocpp_max_frame_bytes).
MAX_BODY = 4 * 1024 * 1024
BODY_LIMITS = (("/ocpp/", MAX_BODY), ("/api/", MAX_BODY), ("/login", 16 * 1024))
UI_BODY_LIMIT = 1024 * 1024

# Libraries that write whole messages or statement parameters at DEBUG (zeep: the SOAP envelopes the
# appliance sends, AuthorizationKey values included; peewee: every statement's parameters, head
# office's token included), or whole refused request bodies at ERROR (spyne: up to the body limit per
# request, a log flood for anyone who can post garbage): never at those levels, whatever log_level
# says. The appliance's own lines say what happened without the content; the communication log
# keeps the messages, secrets masked.
QUIET_LOGGERS = {"zeep.transports": logging.INFO, "peewee": logging.INFO,
                 "spyne.protocol.soap.soap11.invalid": logging.CRITICAL, "spyne.protocol.xml.invalid": logging.CRITICAL}

# The library validates in the default thread pool unless told otherwise; under many connections
# that collapses on GIL contention (FACTS.md). Inline validation is the better server default.
ocpp.messages.ASYNC_VALIDATION = False


def create_app(settings: Settings) -> web.Application:
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    limits = client_and_limits(parse_networks(settings.trusted_proxies), BODY_LIMITS, UI_BODY_LIMIT)
    app = web.Application(middlewares=[errors, limits, api_token_auth, staff_auth], client_max_size=MAX_BODY)
    app.cleanup_ctx.append(_core_ctx(settings))
    app.on_shutdown.append(_close_charger_sockets)
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(metrics_page.routes)
    app.router.add_routes(notify_api.routes)
    app.router.add_get("/ocpp/{charger_id}", _ocppj_handler)
    for path in SOAP_VERSIONS:
        app.router.add_route("POST", path, _soap_handler)
        app.router.add_route("GET", path, _soap_handler)
    app.router.add_routes(api.routes)
    app.router.add_routes(circuits_api.routes)
    app.router.add_routes(billing_api.routes)
    app.router.add_routes(alarms_api.routes)
    app.router.add_routes(report_api.routes)
    setup_ui(app)
    return app


def _core_ctx(settings: Settings):
    async def ctx(app: web.Application):
        core = open_core(settings)
        core.chargers.admission = Admission.from_settings(settings)
        app[CORE] = core
        app[LIVE] = LiveHub(core.bus)
        app[OCPPJ] = OcppJEndpoint(core, {"ocpp2.0.1": Ocpp201Session, "ocpp1.6": Ocpp16JsonSession})
        app[SOAP] = {path: SoapEndpoint(core, version) for path, version in SOAP_VERSIONS.items()}
        subscribe_reactions(core)
        # Before anything can raise an alarm: alarms from here on are queued (the worker, started below,
        # also sends what an earlier run left in the queue).
        app[NOTIFIER] = Notifier(core.db, core.bus, settings)
        app[NOTIFIER].subscribe()
        core.alarm_watch.subscribe()
        core.recovery.subscribe()
        if settings.local_list_sync:
            core.local_lists.subscribe()
        await core.chargers.load()
        await SoapLinks(core, {"ocpp1.5-soap": Ocpp15SoapLink, "ocpp1.6-soap": Ocpp16SoapLink}).start()
        await core.journal.start_tail()
        readers = app[READERS] = ReaderService(parse_readers(settings.rfid_readers), parse_form(settings.rfid_id_form))
        readers.start()
        core.alarm_watch.reader_states = lambda: [(number, device, status.state, status.detail)
                                                  for number, (device, status) in enumerate(readers.statuses.items(), 1)]
        if settings.load_management:
            dlm = app[DLM] = LoadController(core, settings)
            await dlm.start()
        sync = app[SYNC] = HeadOfficeSync(core.db, settings.sync_timeout_s)
        # A drain that outlasts the interval makes APScheduler warn at every tick that it skipped one.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        scheduler = AsyncIOScheduler(timezone=dt.timezone.utc)
        scheduler.add_job(_ends_quietly_at_stop(sync.due), "interval", seconds=settings.sync_interval_s, max_instances=1, coalesce=True,
                          id="head-office-sync", next_run_time=dt.datetime.now(dt.timezone.utc))
        if settings.sync_pull_tokens:
            scheduler.add_job(_ends_quietly_at_stop(_pull_tokens), "interval", args=[sync, core], seconds=settings.sync_pull_interval_s,
                              max_instances=1, coalesce=True, id="head-office-tokens",
                              next_run_time=dt.datetime.now(dt.timezone.utc))
        scheduler.start()
        clocks = app[CLOCKS] = ClockWatch(core.db, core.bus)
        tasks = [asyncio.create_task(supervise_forever(core), name="supervisor"),
                 asyncio.create_task(core.journal.tail_forever(), name="journal-tail"),
                 asyncio.create_task(clocks.watch_forever(), name="clock-watch")]
        tasks.append(asyncio.create_task(app[NOTIFIER].run_forever(), name="notifier"))
        yield
        scheduler.shutdown(wait=False)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await app[OCPPJ].close_all()
        await readers.stop()
        await core.recovery.close()
        if DLM in app:
            await app[DLM].close()
        await core.chargers.flush_contacts(everything=True)
        await core.close()

    return ctx


def _ends_quietly_at_stop(job):
    """APScheduler cancels a job still running when it shuts down and logs the cancellation as a
    crash with a traceback; at stop that is expected (a drain cut short is resent by the next run,
    head office keeps one copy per id), so the job ends with one line instead."""
    @functools.wraps(job)
    async def run(*args):
        try:
            await job(*args)
        except asyncio.CancelledError:
            log.info("%s cut short by the stop; the next run takes it up", job.__name__)
    return run


async def _pull_tokens(sync: HeadOfficeSync, core) -> None:
    try:
        await sync.pull_tokens(core.users)
    except ValueError as e:
        log.warning("tokens from head office: %s", e)


async def _close_charger_sockets(app: web.Application) -> None:
    # aiohttp waits (shutdown_timeout, 60 s) for running handlers before cleanup_ctx runs, and every
    # connected charger's websocket is such a handler: close them here, or SIGTERM takes a minute.
    if OCPPJ in app:
        await app[OCPPJ].close_all()
    if READERS in app:
        app[READERS].end_listeners()
    if LIVE in app:
        app[LIVE].end_listeners()


async def _ocppj_handler(request: web.Request) -> web.StreamResponse:
    return await request.app[OCPPJ].handle(request)


async def _soap_handler(request: web.Request) -> web.StreamResponse:
    return await request.app[SOAP][request.path].handle(request)


async def healthz(request: web.Request) -> web.Response:
    """"ok", or "degraded" with the problems (disk full, database locked); warnings (head office out of
    reach, chargers' clocks off) leave it "ok". Always 200: restarting the appliance would not help."""
    core = request.app[CORE]
    report = await health.check(core.db, request.app[CLOCKS].skewed if CLOCKS in request.app else None)
    return web.json_response({**report.as_json(), "version": __version__,
                              "chargers_connected": len(core.links.connected()),
                              "chargers_being_configured": core.boot_work.as_json()})
