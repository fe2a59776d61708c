"""The servers notifications go to, real and on loopback: an SMTP server (aiosmtpd) that keeps what it
receives and can be started late (a mail server that was down), and a webhook receiver (aiohttp)
that answers as scripted."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from email.message import EmailMessage

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    """A loopback port nothing listens on (aiosmtpd's controller cannot take port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MailServer:
    """An SMTP server on 127.0.0.1:`port`, started with start(); `logins` are (user, password) tried."""

    def __init__(self, port: int | None = None, users: dict[str, str] | None = None,
                 starttls: ssl.SSLContext | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.port = port or free_port()
        self.users = users
        self.starttls = starttls  # offered (and required) after EHLO
        self.tls = tls  # TLS from the start
        self.received: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[tuple[str, str]] = []
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"{'smtps' if self.tls else 'smtp'}://127.0.0.1:{self.port}"

    def start(self) -> "MailServer":
        extra: dict = {}
        if self.starttls is not None:
            extra.update(tls_context=self.starttls, require_starttls=True)
        if self.tls is not None:
            extra.update(ssl_context=self.tls)
        if self.users is not None:
            # AUTH offered without TLS (loopback); not required, so a client that skips the login is refused
            # by no one: the tests look at `logins` instead.
            extra.update(authenticator=self._authenticate, auth_require_tls=False)
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **extra)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.received.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((user, password))
        return AuthResult(success=self.users.get(user) == password)


class WebhookReceiver:
    """Keeps each JSON POST; `script` lists the statuses of the next answers (then 200)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.headers: list[dict] = []
        self.script: list[int] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        return app

    async def hook(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        self.headers.append(dict(request.headers))
        status = self.script.pop(0) if self.script else 200
        return web.json_response({"status": status}, status=status)
