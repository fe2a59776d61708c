"""The two ways a notification leaves the appliance: e-mail over SMTP, and a webhook's JSON POST.

E-mail uses the standard library's smtplib in a worker thread (asyncio.to_thread): one message at a
time goes out from one queue worker, so an asynchronous client (aiosmtplib) would add a dependency
and gain nothing; smtplib's plain, STARTTLS and TLS connections and its login are what a depot's
mail relay needs. A failure says whether trying again can help (DeliveryError.permanent).
"""

from __future__ import annotations

import asyncio
import email.utils
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from appliance import __version__

SECURITIES = ("starttls", "tls", "plain")
DEFAULT_PORTS = {"plain": 25, "starttls": 587, "tls": 465}


class DeliveryError(Exception):
    """A notification was not delivered; `permanent` when trying again cannot help (a refused address)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str  # starttls, tls, plain
    user: str
    password: str  # never logged, masked where shown
    sender: str  # the From address

    def describe(self) -> str:
        login = f", login {self.user} (password {'set' if self.password else 'not set'})" if self.user else ""
        return f"smtp://{self.host}:{self.port} ({self.security}{login}), from {self.sender}"


def parse_smtp_url(url: str, security: str) -> tuple[str, int, str]:
    """(host, port, security) of smtp://HOST[:PORT] or smtps://HOST[:PORT] (smtps: TLS from the start);
    ValueError says what to write."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"{url!r} is not an SMTP server: write smtp://HOST:PORT (or smtps://HOST:PORT for TLS)")
    if parts.username or parts.password:
        raise ValueError("the SMTP URL must not carry a login: give it with notify_smtp_user and "
                         "notify_smtp_password (appliance notify set --user NAME asks for the password)")
    if parts.scheme == "smtps":
        security = "tls"
    try:
        port = parts.port or DEFAULT_PORTS[security]
    except ValueError:
        raise ValueError(f"{url!r}: the port must be a number from 1 to 65535") from None
    return parts.hostname, port, security


def email_message(server: SmtpServer, to: str, subject: str, body: str, message_key: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = server.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=False)
    # The same on every attempt: a mail client shows a message delivered twice (its answer lost) once.
    message["Message-ID"] = f"<{message_key}@{server.sender.rpartition('@')[2] or socket.getfqdn()}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a machine
    message.set_content(body)
    return message


async def send_email(server: SmtpServer, to: str, subject: str, body: str, message_key: str,
                     timeout_s: float) -> str:
    """Deliver one e-mail; returns what the server said. Raises DeliveryError."""
    message = email_message(server, to, subject, body, message_key)
    return await asyncio.to_thread(_send_email_sync, server, message, timeout_s)


def _send_email_sync(server: SmtpServer, message: EmailMessage, timeout_s: float) -> str:
    context = ssl.create_default_context()
    step = "connect"
    try:
        if server.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout_s, context=context)
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=timeout_s)
        with client:
            if server.security == "starttls":
                client.starttls(context=context)
            if server.user:
                step = "login"
                client.login(server.user, server.password)
            step = "send"
            refused = client.send_message(message)
    except smtplib.SMTPRecipientsRefused as e:
        codes = [code for code, _ in e.recipients.values()]
        raise DeliveryError(f"the mail server refused the address: {_reply_text(e.recipients)}",
                            permanent=all(500 <= code < 600 for code in codes)) from None
    except smtplib.SMTPAuthenticationError as e:
        raise DeliveryError(f"the mail server refused the login of {server.user} ({e.smtp_code}); check "
                            "notify_smtp_user and the password (appliance notify set --user NAME)") from None
    except smtplib.SMTPNotSupportedError as e:
        raise DeliveryError(f"the mail server does not support what is configured ({e}); check the security "
                            "(--starttls, --tls or --plain)") from None
    except smtplib.SMTPResponseException as e:
        raise DeliveryError(f"the mail server answered {e.smtp_code} {_decode(e.smtp_error)}") from None
    except ssl.SSLError as e:
        raise DeliveryError(f"TLS with the mail server failed ({e.reason or e}); check --starttls/--tls/--plain "
                            "and the server's certificate") from None
    except (smtplib.SMTPException, OSError) as e:
        if step == "login":  # some servers drop or stall a client whose login they refuse
            raise DeliveryError(f"the mail server did not accept the login of {server.user} ({e.__class__.__name__}: "
                                f"{e}); check notify_smtp_user and the password (appliance notify set --user NAME)"
                                ) from None
        raise DeliveryError(f"the mail server {server.host}:{server.port} could not be reached "
                            f"({e.__class__.__name__}: {e})") from None
    if refused:
        raise DeliveryError(f"the mail server refused the address: {_reply_text(refused)}", permanent=True)
    return f"accepted by {server.host}:{server.port}"


def _reply_text(recipients: dict[str, Any]) -> str:
    return "; ".join(f"{address}: {code} {_decode(text)}" for address, (code, text) in recipients.items())


def _decode(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


# A webhook answer that says the request itself is wrong, so the same request will never do: the others
# (a timeout, 5xx, 401 until someone fixes the receiver's token, 429) are tried again.
_PERMANENT_STATUSES = frozenset({400, 404, 405, 410, 413, 422})


async def post_webhook(url: str, payload: dict[str, Any], timeout_s: float) -> str:
    """POST the JSON to the webhook; returns what it answered. Raises DeliveryError."""
    headers = {"User-Agent": f"depot-appliance/{__version__}", "X-Notification-Id": str(payload.get("id", ""))}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http:
            async with http.post(url, json=payload, headers=headers) as response:
                if 200 <= response.status < 300:
                    return f"webhook answered {response.status}"
                text = (await response.text(errors="replace"))[:200]
                raise DeliveryError(f"the webhook answered {response.status} {response.reason}: {text}".rstrip(": "),
                                    permanent=response.status in _PERMANENT_STATUSES)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
        raise DeliveryError(f"the webhook {_host(url)} could not be reached ({e.__class__.__name__}: {e})") from None


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
