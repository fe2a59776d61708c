"""A charger's admission over HTTP, for the OCPP-J handshake and each SOAP request alike: who it says
it is (the id in the URL, or SOAP's chargeBoxIdentity), its Basic auth password (OCPP security
profile 1; 2 over TLS), the address it comes from, and the registry's answer as an HTTP refusal.

The id the charger connects as is the identity for everything after: Basic auth counts only when
its user name is that id, so one charger's password never opens another's.
"""

from __future__ import annotations

import base64
import binascii
import math

from aiohttp import web

from appliance.core.admission import AdmissionRefused
from appliance.core.chargers import LiveCharger
from appliance.core.services import Core


async def admit_request(request: web.Request, core: Core, identity: str, protocol: str) -> LiveCharger:
    """The charger's live record, or an HTTP refusal: 401 (wrong or missing password), 403 (a rule:
    network, TLS, too many unknown chargers), 429 with Retry-After (a rate limit)."""
    try:
        live = await core.chargers.admit(identity, protocol, basic_password(request, identity), request.remote,
                                         request.secure)
    except AdmissionRefused as e:
        if e.retry_after_s is not None:
            raise web.HTTPTooManyRequests(headers={"Retry-After": str(max(1, math.ceil(e.retry_after_s)))},
                                          text=e.reason) from None
        raise web.HTTPForbidden(text=e.reason) from None
    if live is None:
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="OCPP"'}, text="wrong credentials")
    return live


def basic_password(request: web.Request, identity: str) -> str | None:
    """The HTTP Basic auth password, if its user is the charger (OCPP-J and SOAP chargers alike)."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    # OCPP 1.6 security profile 1: the user name is the charge point identity.
    return password if user == identity else None
