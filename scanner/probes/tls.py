"""TLS probe: the certificate a device presents (subject, issuer) without trusting it.

Default certificates are strong lineage signals (`CN=www.hikvision.com,OU=DVRNVR,…`, issuer
`CN=Dahua Device NVR CA,…`). We complete a handshake with verification off, read the
peer certificate in DER and describe it with `cryptography`; nothing is sent after the
handshake.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes._io import classify, connection, observation
from camaudit.probes.base import HostProbe, ProbeContext

MAX_CERT_BYTES = 64 * 1024  # a larger leaf certificate is not a device default we can use


def describe_certificate(der: bytes) -> dict[str, Any]:
    """subject/issuer as RFC 4514 strings plus the facts useful for matching and reports."""
    # imported at the first certificate, not when the engine loads the probes: cryptography's
    # x509 module costs ~0.1 s, paid before the scan's first packet otherwise
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    out: dict[str, Any] = {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": hashlib.sha256(der).hexdigest(),
        "self_signed": cert.subject == cert.issuer,
    }
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        out["san"] = [str(name.value) for name in san][:32]
    except (x509.ExtensionNotFound, ValueError):
        pass
    return out


class TlsProbe(HostProbe):
    """Certificate subject/issuer on TLS ports."""

    name: ClassVar[str] = "tls"
    default_ports: ClassVar[frozenset[int]] = frozenset({443, 8443})

    async def probe(self, host: Host, port: int, ctx: ProbeContext) -> list[Observation]:
        data: dict[str, Any] = {"port": port}
        try:
            async with connection(ctx, host.ip, port, tls=True) as (_reader, writer):
                ssl_object = writer.get_extra_info("ssl_object")
                der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
                if ssl_object:
                    data["version"] = ssl_object.version()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded status
            status, error = classify(exc)
            return [observation(self.name, host, port, data, status, error)]
        if not der:
            return [observation(self.name, host, port, data, ProbeStatus.PROTOCOL_ERROR, "no certificate presented")]
        if len(der) > MAX_CERT_BYTES:
            return [observation(self.name, host, port, data, ProbeStatus.TOO_LARGE, f"certificate over {MAX_CERT_BYTES} bytes")]
        try:
            data.update(describe_certificate(der))
        except (ValueError, TypeError, UnicodeError) as exc:  # malformed fields fail lazily
            return [observation(self.name, host, port, data, ProbeStatus.PROTOCOL_ERROR, f"unparsable certificate: {exc}")]
        return [observation(self.name, host, port, data, ProbeStatus.OK, None)]
