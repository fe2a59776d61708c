"""The web UI's live view: domain events turned into short lines people read, sent to every open
page as server-sent events (/ui/events). Pages refresh the parts an event concerns (app.js)."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
from dataclasses import asdict, dataclass

from aiohttp import web

from appliance.core import events as ev
from appliance.web.keys import CORE

routes = web.RouteTableDef()
KEEP = 50  # lines the dashboard's feed starts with
QUEUE_LIMIT = 500  # a browser that stops reading loses its oldest lines, never the server's memory


@dataclass(frozen=True)
class LiveLine:
    kind: str  # connection, status, session, charger, tag, people, load, report, firmware, diagnostics, alarm
    identity: str  # the charger it is about, or ""
    text: str
    at: dt.datetime
    severity: str = "info"  # info, ok, warning, fault

    def as_json(self, zone) -> str:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        data["time"] = self.at.astimezone(zone).strftime("%H:%M:%S")
        return json.dumps(data)


def describe(event: ev.Event) -> LiveLine | None:
    now = ev.utcnow()
    match event:
        case ev.ChargerConnected(identity=i, protocol=p):
            return LiveLine("connection", i, f"{i} connected ({p})", now, "ok")
        case ev.ChargerDisconnected(identity=i):
            return LiveLine("connection", i, f"{i} disconnected", now, "warning")
        case ev.ConnectionStateChanged(identity=i, state=s):
            text = {"online": "is online", "temporarily_unavailable": "is temporarily unreachable",
                    "unavailable": "is unreachable (long-term)"}.get(s, f"is {s}")
            return LiveLine("connection", i, f"{i} {text}", now, "ok" if s == "online" else "warning")
        case ev.ChargerBooted(identity=i, registration=r, reason=why):
            return LiveLine("charger", i, f"{i} booted{f' ({why})' if why else ''}: {r}", now)
        case ev.StatusChanged(identity=i, connector_number=c, status=s, error_code=e):
            where = f"connector {c}" if c else "charger"
            fault = s == "Faulted" or (e and e != "NoError")
            return LiveLine("status", i, f"{i} {where}: {s}{f' ({e})' if e and e != 'NoError' else ''}", now,
                            "fault" if fault else "info")
        case ev.SessionStarted(transaction_id=t, identity=i, connector_number=c, id_tag=tag):
            return LiveLine("session", i, f"session {t} started on {i} connector {c} by {tag}", now, "ok")
        case ev.SessionStopped(transaction_id=t, identity=i, energy_wh=wh, reason=why):
            return LiveLine("session", i, f"session {t} on {i} stopped ({why or 'Local'}), {wh / 1000:.2f} kWh",
                            now)
        case ev.SessionUpdated(identity=i):
            return LiveLine("meter", i, "", now)  # refreshes figures; not a line in the feed
        case ev.ChargerChanged(identity=i, change=c):
            return LiveLine("charger", i, f"{i} {c}", now)
        case ev.TagChanged(id_tag=t, change=c):
            return LiveLine("tag", "", f"tag {t} {c}", now)
        case ev.UserGroupChanged(kind=k, name=n, change=c):
            return LiveLine("people", "", f"{k} {n} {c}", now)
        case ev.LoadPlanChanged(subject=s, name=n, change=c):
            return LiveLine("load", "", f"load plan: {s} {n} {c}", now)
        case ev.ChargerReported(identity=i, kind=k, summary=s):
            return LiveLine("report", i, f"{i} reported {k}{f': {s}' if s else ''}", now,
                            "warning" if k in ("load_limit_ignores", "load_limit_rejects") else "info")
        case ev.FirmwareStatus(identity=i, status=s):
            return LiveLine("firmware", i, f"{i} firmware: {s}", now)
        case ev.DiagnosticsStatus(identity=i, status=s):
            return LiveLine("diagnostics", i, f"{i} diagnostics: {s}", now)
        case ev.AlarmChanged(alarm_id=n, severity=sev, identity=i, title=t, change=c):
            return LiveLine("alarm", i or "", f"alarm {n} {c}: {t}", now,
                            "ok" if c == "cleared" else "fault" if sev == "critical" else "warning")
    return None


class LiveHub:
    def __init__(self, bus: ev.EventBus) -> None:
        self.recent: collections.deque[LiveLine] = collections.deque(maxlen=KEEP)
        self._listeners: set[asyncio.Queue] = set()
        bus.subscribe(ev.Event, self._on_event)

    def _on_event(self, event: ev.Event) -> None:
        if type(event) is ev.SessionUpdated and not self._listeners:
            return  # one per meter value; its line has no text and only refreshes open pages
        line = describe(event)
        if line is None:
            return
        if line.text:
            self.recent.appendleft(line)
        for queue in self._listeners:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(line)

    def listen(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(QUEUE_LIMIT)
        self._listeners.add(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue) -> None:
        self._listeners.discard(queue)

    def end_listeners(self) -> None:
        """At shutdown: every open page's stream ends, so the server does not wait for browsers."""
        for queue in self._listeners:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)


LIVE = web.AppKey("live", LiveHub)


@routes.get("/ui/events")
async def live_events(request: web.Request) -> web.StreamResponse:
    hub, zone = request.app[LIVE], request.app[CORE].settings.zone
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    queue = hub.listen()
    try:
        await response.write(b"retry: 2000\n\n")
        while True:
            try:
                line = await asyncio.wait_for(queue.get(), 15)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if line is None:
                break
            await response.write(f"data: {line.as_json(zone)}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unlisten(queue)
    return response


def recent_lines(request: web.Request) -> list[LiveLine]:
    return list(request.app[LIVE].recent)


