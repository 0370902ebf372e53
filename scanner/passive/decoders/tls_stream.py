"""TLS server certificates heard on the TLS ports, as `tls` observations with the probe's `data`.

Up to TLS 1.2 the server's first flight is plaintext handshake records (RFC 5246 §7.4):
ServerHello, then Certificate, whose first entry is the server's own (leaf) certificate. The
leaf is described by the probe's `describe_certificate`, so `subject`, `issuer`, `sha256`…
match what a live scan records; `version` is the negotiated version in the probe's words
(`TLSv1.2`). TLS 1.3 (RFC 8446 §4.1.3: ServerHello `supported_versions` = 0x0304) encrypts
the Certificate: such connections are counted (`counts["tls1.3"]`), nothing is guessed.

Only the start of the server's stream is kept (`server_cap`), records are length-checked
before use, and anything that is not a TLS handshake ends the flow without an observation
(counted as `not-tls`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from camaudit.observation import Observation, ProbeStatus
from camaudit.passive.tcp_decoder import StreamDecoder
from camaudit.passive.tcp_flows import Flow
from camaudit.probes.tls import MAX_CERT_BYTES, TlsProbe, describe_certificate

HANDSHAKE, ALERT, CHANGE_CIPHER_SPEC = 22, 21, 20
SERVER_HELLO, CERTIFICATE, SERVER_HELLO_DONE = 2, 11, 14
MAX_RECORD = (1 << 14) + 2048         # RFC 5246 §6.2.3: a record's length beyond this is an error
SUPPORTED_VERSIONS = 0x002B
TLS13 = 0x0304
VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2"}


class Malformed(ValueError):
    """The server's bytes are not a TLS handshake we can read."""


class TooLarge(Exception):
    """The leaf certificate is longer than the probe accepts (`MAX_CERT_BYTES`)."""

    def __init__(self, version: int) -> None:
        super().__init__(f"certificate over {MAX_CERT_BYTES} bytes")
        self.version = version


def handshake_bytes(data: bytes) -> bytes:
    """The payloads of the handshake records at the start of `data`, joined (the last one
    possibly partial); stops at the first record of another type."""
    out = bytearray()
    pos = 0
    while pos + 5 <= len(data):
        ctype, major, minor, length = data[pos], data[pos + 1], data[pos + 2], int.from_bytes(data[pos + 3:pos + 5], "big")
        if major != 3 or minor > 4 or ctype not in (HANDSHAKE, ALERT, CHANGE_CIPHER_SPEC, 23):
            raise Malformed("not a TLS record")
        if length == 0 or length > MAX_RECORD:
            raise Malformed(f"TLS record length {length}")
        if ctype != HANDSHAKE:
            break
        out += data[pos + 5:pos + 5 + length]
        pos += 5 + length
    if pos == 0 and len(data) >= 1 and data[0] != HANDSHAKE:
        raise Malformed("not a TLS handshake")
    return bytes(out)


def server_hello_version(body: bytes) -> int:
    """The version a ServerHello settles on: `supported_versions` when present (TLS 1.3), else
    its legacy version field."""
    if len(body) < 38:
        raise Malformed("short ServerHello")
    version = int.from_bytes(body[:2], "big")
    pos = 34 + 1 + body[34]                       # version, random, session id
    pos += 3                                      # cipher suite, compression method
    if pos + 2 > len(body):
        return version                            # no extensions (TLS 1.2 and older may omit them)
    end = min(len(body), pos + 2 + int.from_bytes(body[pos:pos + 2], "big"))
    pos += 2
    while pos + 4 <= end:
        ext, length = int.from_bytes(body[pos:pos + 2], "big"), int.from_bytes(body[pos + 2:pos + 4], "big")
        if ext == SUPPORTED_VERSIONS and length == 2 and pos + 6 <= end:
            return int.from_bytes(body[pos + 4:pos + 6], "big")
        pos += 4 + length
    return version


def leaf_certificate(hs: bytes) -> tuple[int | None, bytes | None, bool]:
    """(negotiated version, leaf DER, whether the handshake so far settles it) from handshake bytes.

    Settled: a leaf certificate is whole, TLS 1.3 was chosen, or the server's hello ended
    without a certificate. Raises Malformed on lengths that do not add up.
    """
    version: int | None = None
    pos = 0
    while pos + 4 <= len(hs):
        mtype, length = hs[pos], int.from_bytes(hs[pos + 1:pos + 4], "big")
        body = hs[pos + 4:pos + 4 + length]
        if mtype == SERVER_HELLO:
            if len(body) < length:
                return version, None, False
            version = server_hello_version(body)
            if version == TLS13:
                return version, None, True
        elif mtype == CERTIFICATE:
            if version is None:
                raise Malformed("Certificate before ServerHello")
            if len(body) < 6:
                return version, None, False
            size = int.from_bytes(body[3:6], "big")
            if size > int.from_bytes(body[:3], "big") - 3 or size + 6 > length:
                raise Malformed("certificate longer than its list")
            if size > MAX_CERT_BYTES:
                raise TooLarge(version)
            der = body[6:6 + size]
            return version, der, len(der) == size
        elif mtype == SERVER_HELLO_DONE:
            return version, None, True
        pos += 4 + length
    return version, None, False


class TlsStreamDecoder(StreamDecoder):
    """The leaf certificate of each TLS 1.2-and-older server on the probe's TLS ports."""

    name: ClassVar[str] = "tls-stream"
    ports: ClassVar[frozenset[int]] = TlsProbe.default_ports
    server_cap: ClassVar[int] = MAX_CERT_BYTES + 16384   # the hello and record headers before the leaf

    def read(self, flow: Flow, final: bool) -> tuple[list[Observation], bool]:
        try:
            version, der, settled = leaf_certificate(handshake_bytes(flow.server.prefix()))
        except Malformed:
            self.counts["not-tls"] += 1
            return [], True
        except TooLarge as exc:
            return [self.observation(flow, "tls", self.base_data(flow, exc.version),
                                     ProbeStatus.TOO_LARGE, str(exc))], True
        if version == TLS13:
            self.counts["tls1.3"] += 1
            return [], True
        if not settled:
            if final:
                self.counts["incomplete"] += 1
            return [], False
        if der is None:
            self.counts["no-certificate"] += 1
            return [], True
        return [self.certificate(flow, version, der)], True

    @staticmethod
    def base_data(flow: Flow, version: int | None) -> dict[str, Any]:
        data: dict[str, Any] = {"port": flow.key[1]}
        if version in VERSIONS:
            data["version"] = VERSIONS[version]
        return data

    def certificate(self, flow: Flow, version: int | None, der: bytes) -> Observation:
        """The probe's observation of a leaf certificate (or of why it could not be used)."""
        data = self.base_data(flow, version)
        try:
            data.update(describe_certificate(der))
        except (ValueError, TypeError, UnicodeError) as exc:
            return self.observation(flow, "tls", data, ProbeStatus.PROTOCOL_ERROR, f"unparsable certificate: {exc}")
        return self.observation(flow, "tls", data)
