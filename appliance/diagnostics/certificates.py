"""The certificates check (TLS on): certificate and key there, readable, matching, and in date."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance import tls
from appliance.diagnostics.verdict import AS_SERVICE_USER, FAIL, OK, SKIPPED, WARNING, Context, Verdict, guarded, \
    not_readable_here

NAME = "certificates"
EXPIRES_SOON = dt.timedelta(days=30)
RENEW = ("put a new certificate in place (tls_cert_file/tls_key_file), or delete the appliance's own in {} to "
         "have a new one made at the next start; chargers that pin the fingerprint then need the new one")


@guarded(NAME)
def check_certificates(context: Context) -> Verdict:
    settings = context.settings
    if not settings.tls:
        return Verdict(NAME, SKIPPED, "TLS is off")
    cert_file, key_file = tls.paths(settings)
    if not cert_file.exists():
        if settings.tls_cert_file is None:
            return Verdict(NAME, WARNING, f"no certificate yet ({cert_file}): the next start makes the appliance's own",
                           "after the start, pin its fingerprint in the chargers (appliance tls show)")
        return Verdict(NAME, FAIL, f"the certificate {cert_file} is missing: the server cannot start",
                       "put the certificate there, or correct tls_cert_file")
    elsewhere = not_readable_here(cert_file) or (key_file.exists() and not_readable_here(key_file))
    if elsewhere:
        return Verdict(NAME, WARNING, f"cannot check: {elsewhere}", AS_SERVICE_USER)
    try:
        info = tls.describe(cert_file, key_file)
    except tls.TlsError as e:
        return Verdict(NAME, FAIL, str(e), "replace it with a PEM certificate (chain)")
    problem = _key_problem(cert_file, key_file)
    if problem:
        return Verdict(NAME, FAIL, problem, "put the certificate's own private key (PEM, unencrypted) in tls_key_file")
    left = info.not_after - context.now
    found = f"{info.subject}, valid until {info.not_after:%Y-%m-%d}, SHA-256 {info.sha256_fingerprint[:23]}…"
    if left <= dt.timedelta(0):
        return Verdict(NAME, FAIL, f"expired on {info.not_after:%Y-%m-%d}: chargers refuse it ({found})",
                       RENEW.format(settings.data_dir / "tls"))
    not_before = x509.load_pem_x509_certificate(cert_file.read_bytes()).not_valid_before_utc
    if not_before > context.now:
        return Verdict(NAME, FAIL, f"not valid before {not_before:%Y-%m-%d %H:%M} UTC: the certificate or the clock "
                                   "is wrong", "check the clock (see the clock check), else renew the certificate")
    if left < EXPIRES_SOON:
        return Verdict(NAME, WARNING, f"expires in {left.days} days ({found})", RENEW.format(settings.data_dir / "tls"))
    return Verdict(NAME, OK, found)


def _key_problem(cert_file, key_file) -> str:
    """Why the key cannot serve the certificate, or ''."""
    try:
        data = key_file.read_bytes()
    except OSError as e:
        return f"cannot read the TLS key {key_file}: {e.strerror or e}"
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        return f"the TLS key {key_file} is encrypted: the appliance needs it without a passphrase"
    except ValueError as e:
        return f"the TLS key {key_file} cannot be read: {e}"
    certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
        return f"the TLS key {key_file} does not belong to the certificate {cert_file}"
    return ""
