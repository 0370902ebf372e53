"""Self-signed certificates whose subject and issuer the persona chooses.

A real device's default certificate (e.g. `CN=www.hikvision.com,O=HIKVISION`) is evidence
the scanner reads, so the lab must present the same names. One EC key signs every
certificate of a server run: cheap enough for a 1,000-host fleet.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


class CertFactory:
    """Makes (and caches) server SSL contexts for (subject, issuer) pairs."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.key_path = workdir / "lab-key.pem"
        self.key_path.write_bytes(self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.key_path.chmod(0o600)
        self._cache: dict[tuple[str, str], ssl.SSLContext] = {}

    def context(self, subject: str, issuer: str) -> ssl.SSLContext:
        key = (subject, issuer)
        if key not in self._cache:
            cert_path = self.workdir / f"cert-{len(self._cache)}.pem"
            cert_path.write_bytes(self._certificate(subject, issuer).public_bytes(serialization.Encoding.PEM))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(cert_path, self.key_path)
            self._cache[key] = ctx
        return self._cache[key]

    def _certificate(self, subject: str, issuer: str) -> x509.Certificate:
        now = dt.datetime.now(dt.timezone.utc)
        return (x509.CertificateBuilder()
                .subject_name(x509.Name.from_rfc4514_string(subject))
                .issuer_name(x509.Name.from_rfc4514_string(issuer))
                .public_key(self.key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .sign(self.key, hashes.SHA256()))
