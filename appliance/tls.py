"""TLS for OCPP security profile 2: the server's certificate, made on first start if none is given.

A depot box rarely has a certificate from a public authority. So the appliance makes its own
(self-signed, valid for its host names and addresses) and shows its SHA-256 fingerprint, which a
technician pins in each charger (or installs the certificate as the charger's CSMS root).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.config import Settings

VALIDITY = dt.timedelta(days=10 * 365)  # an appliance runs for years; chargers pin the fingerprint


class TlsError(RuntimeError):
    """The configured certificate or key cannot be used; the message says which and why."""


@dataclass(frozen=True)
class CertificateInfo:
    cert_file: Path
    key_file: Path
    subject: str
    not_after: dt.datetime
    sha256_fingerprint: str
    names: list[str]


def paths(settings: Settings) -> tuple[Path, Path]:
    tls_dir = settings.data_dir / "tls"
    return (settings.tls_cert_file or tls_dir / "cert.pem", settings.tls_key_file or tls_dir / "key.pem")


def ensure_certificate(settings: Settings) -> CertificateInfo:
    """The configured certificate, or the appliance's own, made now if there is none yet."""
    cert_file, key_file = paths(settings)
    if not cert_file.exists() and settings.tls_cert_file is None:
        generate(cert_file, key_file, _own_names())
    return describe(cert_file, key_file)


def generate(cert_file: Path, key_file: Path, names: list[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Depot charging appliance")])
    alt_names = [x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the key is for the owner only
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def describe(cert_file: Path, key_file: Path) -> CertificateInfo:
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except (OSError, ValueError) as e:
        raise TlsError(f"cannot read the TLS certificate {cert_file}: {e}") from None
    try:
        names = [str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]
    except x509.ExtensionNotFound:
        names = []
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return CertificateInfo(cert_file, key_file, cert.subject.rfc4514_string(), cert.not_valid_after_utc,
                           ":".join(digest[i:i + 2] for i in range(0, len(digest), 2)), names)


def server_context(info: CertificateInfo) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # OCPP 1.6 security whitepaper: TLS 1.2 at least
    try:
        context.load_cert_chain(info.cert_file, info.key_file)
    except (OSError, ssl.SSLError) as e:
        raise TlsError(f"cannot use the TLS certificate {info.cert_file} with key {info.key_file}: {e}") from None
    return context


def client_context(info: CertificateInfo) -> ssl.SSLContext:
    """What the CLI uses to reach its own server: trust exactly this certificate."""
    context = ssl.create_default_context(cafile=str(info.cert_file))
    context.check_hostname = False  # pinned by the exact certificate; the CLI dials 127.0.0.1
    return context


def _own_names() -> list[str]:
    host = socket.gethostname() or "appliance"
    names = [host, "localhost", "127.0.0.1", "::1"]
    try:
        names += sorted({info[4][0] for info in socket.getaddrinfo(host, None)} - set(names))
    except OSError:
        pass
    return [n.split("%")[0] for n in names]


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
