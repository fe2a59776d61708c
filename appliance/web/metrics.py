"""GET /metrics: the Prometheus text format for the depot's own monitoring.

Off unless the setting `metrics` is on (404, as if there were no such page); then only with the
metrics token (`Authorization: Bearer TOKEN`; the setting metrics_token, or the one `appliance
metrics token` made and stored hashed), else 401. The token is not an API token: a monitoring
server that holds it can read figures and do nothing else.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from appliance.core import metrics
from appliance.core.secrets import hash_token
from appliance.core.services import Core
from appliance.store.notifications import stored_settings
from appliance.web.keys import CORE

routes = web.RouteTableDef()

TOKEN_SETTING = "metrics_token_hash"  # where `appliance metrics token` keeps the token's SHA-256
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@routes.get("/metrics")
async def get_metrics(request: web.Request) -> web.Response:
    core: Core = request.app[CORE]
    if not core.settings.metrics:
        raise web.HTTPNotFound(text="/metrics is off: turn it on with the setting metrics (APPLIANCE_METRICS=true)")
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not token or not await token_ok(core, token):
        return web.Response(status=401, text="the metrics token is needed: Authorization: Bearer TOKEN "
                                             "(the setting metrics_token, or 'appliance metrics token')",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    live_states = {identity: live.state for identity, live in list(core.chargers.live.items())}
    families = await metrics.collect(core.db, core.commlog.stats, live_states, len(core.links.connected()))
    return web.Response(body=metrics.render(families).encode(), headers={"Content-Type": CONTENT_TYPE})


async def token_ok(core: Core, token: str) -> bool:
    if core.settings.metrics_token and hmac.compare_digest(token.encode(), core.settings.metrics_token.encode()):
        return True
    stored = (await core.db.read(stored_settings)).get(TOKEN_SETTING)
    return bool(stored) and hmac.compare_digest(hash_token(token), stored)
