"""TLS (OCPP security profile 2): the appliance's own certificate, WSS chargers, the CLI over HTTPS."""

from __future__ import annotations

import asyncio
import hashlib
import ssl

import aiohttp
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance import tls
from appliance.app import create_app
from appliance.cli import cli
from appliance.web.keys import CORE
from tests.conftest import make_settings
from tests.test_cli_live import ServerProcess
from tests.virtual_charger import connect16


def trusting(info: tls.CertificateInfo) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(info.cert_file))
    context.check_hostname = False
    return context


@pytest.fixture
async def tls_appliance(aiohttp_server, tmp_path):
    settings = make_settings(tmp_path / "data", tls=True)
    info = tls.ensure_certificate(settings)
    app = create_app(settings)
    server = await aiohttp_server(app, ssl=tls.server_context(info))
    return str(server.make_url("/")).rstrip("/"), app[CORE], info


def test_the_appliance_makes_its_own_certificate_once(tmp_path):
    settings = make_settings(tmp_path / "data", tls=True)
    first = tls.ensure_certificate(settings)
    assert tls.ensure_certificate(settings) == first  # not remade at the next start
    assert {"localhost", "127.0.0.1"} <= set(first.names)
    assert (first.key_file.stat().st_mode & 0o777) == 0o600
    der = x509.load_pem_x509_certificate(first.cert_file.read_bytes()).public_bytes(serialization.Encoding.DER)
    assert first.sha256_fingerprint.replace(":", "") == hashlib.sha256(der).hexdigest().upper()


async def test_a_charger_with_a_password_boots_over_wss(tls_appliance):
    url, core, info = tls_appliance
    assert url.startswith("https://")
    await core.chargers.add("SEC2", "ocpp1.6-json", password="profile-two-password")
    async with connect16(url, "SEC2", password="profile-two-password", boot=False, ssl=trusting(info)) as cp:
        assert (await cp.boot()).status == "Accepted"


async def test_a_charger_that_does_not_trust_the_certificate_cannot_connect(tls_appliance):
    url, core, _ = tls_appliance
    await core.chargers.add("SEC3", "ocpp1.6-json")
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        async with connect16(url, "SEC3", ssl=ssl.create_default_context()):
            pass


def test_tls_show_prints_the_fingerprint(tmp_path):
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "d"), "tls", "show"])
    assert result.exit_code == 0, result.output
    info = tls.describe(tmp_path / "d" / "tls" / "cert.pem", tmp_path / "d" / "tls" / "key.pem")
    assert f"sha256_fingerprint: {info.sha256_fingerprint}" in result.output


def test_a_broken_configured_certificate_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "d"), "tls", "show"],
                                env={"APPLIANCE_TLS_CERT_FILE": str(bad)})
    assert result.exit_code == 1 and result.output.startswith("Error: cannot read the TLS certificate")


async def test_live_cli_commands_reach_a_tls_server(tmp_path):
    data_dir = tmp_path / "data"
    added = await asyncio.to_thread(CliRunner().invoke, cli, ["--data-dir", str(data_dir), "charger", "add", "TLS1",
                                                             "--protocol", "ocpp1.6-json"])
    assert added.exit_code == 0, added.output
    server = ServerProcess(data_dir, env={"APPLIANCE_TLS": "true"}).start()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        info = tls.ensure_certificate(make_settings(data_dir))
        async with connect16(server.url, "TLS1", ssl=trusting(info)) as cp:
            result = await asyncio.to_thread(CliRunner().invoke, cli,
                                             ["--data-dir", str(data_dir), "charger", "reset", "TLS1"])
            assert result.exit_code == 0 and "status: Accepted" in result.output, result.output
            assert cp.last("Reset")["type"] == "Soft"
    finally:
        assert server.terminate() == 0
