"""E-mail over a secured connection to a real SMTP server on loopback: STARTTLS and TLS from the start
with a certificate the system trusts (here: SSL_CERT_FILE), and clear words when the certificate is
not trusted or the server offers no STARTTLS. The server's certificate is always checked."""

from __future__ import annotations

import ssl

import pytest

from appliance import tls
from appliance.web.keys import NOTIFIER
from tests.conftest import make_settings
from tests.notify_peers import MailServer


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    tls.generate(cert, key, ["127.0.0.1"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


async def send_test(tmp_path, start_appliance, mail: MailServer, security: str):
    appliance = await start_appliance(make_settings(tmp_path / "data", notify_smtp=mail.url,
                                                    notify_smtp_security=security, notify_to="ops@depot.example",
                                                    notify_timeout_s=5.0))
    return await appliance.server.app[NOTIFIER].send_test("the tests")


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_a_trusted_server_gets_the_mail(tmp_path, start_appliance, certificate, monkeypatch, security):
    cert, context = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the system's trust store, as far as the appliance can tell
    mail = MailServer(**{security: context}).start()
    try:
        [result] = await send_test(tmp_path, start_appliance, mail, security)
    finally:
        mail.stop()
    assert result.ok, result.detail
    assert mail.received[0]["Subject"].endswith("test message")


async def test_an_untrusted_certificate_is_refused_with_words(tmp_path, start_appliance, certificate):
    _, context = certificate
    mail = MailServer(starttls=context).start()
    try:
        [result] = await send_test(tmp_path, start_appliance, mail, "starttls")
    finally:
        mail.stop()
    assert not result.ok and "TLS with the mail server failed" in result.detail and not mail.received


async def test_starttls_asked_of_a_server_without_it(tmp_path, start_appliance):
    mail = MailServer().start()
    try:
        [result] = await send_test(tmp_path, start_appliance, mail, "starttls")
    finally:
        mail.stop()
    assert not result.ok and "does not support what is configured" in result.detail
    assert "--starttls, --tls or --plain" in result.detail
