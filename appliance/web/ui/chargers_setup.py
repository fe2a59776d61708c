"""What a technician types into a charger so that it reaches this appliance: the central system's
address, the identity, the password (shown once: only its hash is kept), the security profile and,
with TLS, the certificate's fingerprint to pin. Also the password choice of the add and edit forms."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from appliance.config import Settings
from appliance.core.charger_views import generate_password
from appliance.store.chargers import ChargerRecord
from appliance.tls import TlsError, describe, paths
from appliance.web.keys import CORE
from appliance.web.ui.render import FormError

SOAP_PATHS = {"ocpp1.5-soap": "/ocpp/soap/1.5", "ocpp1.6-soap": "/ocpp/soap/1.6"}
PASSWORD_MIN, PASSWORD_MAX = 16, 40  # OCPP 1.6 security whitepaper and 2.0.1 BasicAuthPassword
LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


@dataclass(frozen=True)
class SetupSheet:
    identity: str
    protocol: str
    url: str  # what the charger is configured with
    url_with_identity: str  # OCPP-J: the full address, for chargers that want it whole; "" for SOAP
    password: str | None  # in clear, this once
    has_password: bool
    security_profile: int
    fingerprint: str
    certificate_problem: str
    address_warning: str


async def setup_sheet(request: web.Request, record: ChargerRecord, password: str | None) -> SetupSheet:
    settings = request.app[CORE].settings
    base = settings.public_url or f"{request.scheme}://{request.host}"
    url, full = central_system_url(settings, record.protocol, record.identity, base)
    fingerprint, problem = await certificate_fingerprint(settings)
    has_password = password is not None or bool(record.password_hash)
    profile = (2 if settings.tls else 1) if has_password else 0
    warning = ""
    if not settings.public_url and (urlsplit(base).hostname or "") in LOOPBACK:
        warning = (f"This address ({request.host}) is how your browser reaches the appliance, and a charger cannot "
                   "reach it there. Use the appliance's address on the depot network instead (the setting "
                   "public_url puts it here).")
    return SetupSheet(record.identity, record.protocol, url, full, password, has_password, profile, fingerprint,
                      problem, warning)


def central_system_url(settings: Settings, protocol: str, identity: str, base: str) -> tuple[str, str]:
    """(the address to configure, the OCPP-J address with the identity on it or "" for SOAP)."""
    parts = urlsplit(base)
    secure = settings.tls or parts.scheme == "https"
    where = parts.netloc + parts.path.rstrip("/")  # a public_url may sit under a reverse proxy's path
    if protocol in SOAP_PATHS:
        return f"{'https' if secure else 'http'}://{where}{SOAP_PATHS[protocol]}", ""
    root = f"{'wss' if secure else 'ws'}://{where}/ocpp/"
    return root, root + identity


async def certificate_fingerprint(settings: Settings) -> tuple[str, str]:
    """(SHA-256 fingerprint, problem) of the certificate the appliance serves; nothing without TLS.
    Only read here: the server makes its own certificate at start, the UI never does."""
    if not settings.tls:
        return "", ""
    try:
        info = await asyncio.to_thread(describe, *paths(settings))
    except TlsError as e:
        return "", str(e)
    return info.sha256_fingerprint, ""


def password_choice(form) -> str | None:
    """The password the add or change form asks for: typed (over the ticked-by-default generate box),
    generated, or none at all (None)."""
    typed = str(form.get("password", ""))
    generate, none = form.get("generate") == "yes", form.get("no_password") == "yes"
    if none and (generate or typed):
        raise FormError("Password: tick 'no password' alone, without typing or generating one", "password")
    if none:
        return None
    if typed:  # typed on purpose, while the generate box is ticked by default
        return check_password(typed)
    if generate:
        return generate_password()
    raise FormError(f"Password: type one ({PASSWORD_MIN} to {PASSWORD_MAX} characters) or tick 'generate one'",
                    "password")


def check_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise FormError(f"Password: {PASSWORD_MIN} to {PASSWORD_MAX} characters, as OCPP asks "
                        f"(this one has {len(password)})", "password")
    if any(not 33 <= ord(c) <= 126 for c in password):
        raise FormError("Password: letters, digits and punctuation only (no spaces or accented letters: "
                        "a charger's keypad or web page may not take them)", "password")
    return password
