"""Bounded network I/O shared by the TCP probes (HTTP, HTTPS, RTSP, ONVIF SOAP, banners).

Why a small raw HTTP/1.x reader instead of aiohttp: cameras answer with upper-case header
names (`CONTENT-LENGTH`), missing reason phrases, bare LF line ends, bodies without framing
and sometimes garbage; hostile devices send endless headers or drip one byte a second.
aiohttp's strict llhttp parser rejects some real device answers, makes its own connections
(bypassing `ProbeContext`, which must see every connection for rate, per-host concurrency
and excludes) and its limits are per read, not per answer. RTSP and SOAP-over-HTTP share
the same message framing, so one bounded reader serves HTTP, RTSP and ONVIF.

Every exchange here has a *whole-answer* deadline (`Bounds.read_timeout`), byte caps on
headers and body, decodes text with errors='replace', and turns every failure into a
`ProbeStatus` instead of an exception.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import re
import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from camaudit.addresses import authority
from camaudit.model import Bounds, Datagram, Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes.base import ProbeContext

MAX_HEADER_LINES = 128          # more header lines than this is not a device we should trust
MAX_CHUNK_LINE = 256            # a chunk-size line longer than this is garbage
CLOSE_TIMEOUT = 0.5             # waiting for a polite close must not eat a probe's budget


class ProbeFailure(Exception):
    """A probe step failed in a way the observation should record as `status`."""

    def __init__(self, status: ProbeStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def classify(exc: BaseException) -> tuple[ProbeStatus, str]:
    """Map a network exception to the one status vocabulary plus a readable reason."""
    if isinstance(exc, ProbeFailure):
        return exc.status, str(exc)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return ProbeStatus.TIMEOUT, "no complete answer within the time budget"
    if isinstance(exc, ConnectionAbortedError) and "handshake" in str(exc):
        return ProbeStatus.TIMEOUT, "TLS handshake did not complete within the connect budget"
    if isinstance(exc, ConnectionRefusedError):
        return ProbeStatus.REFUSED, "connection refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return ProbeStatus.RESET, "connection reset by the device"
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return ProbeStatus.TLS_ERROR, f"TLS handshake failed: {exc}"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH,
                                                   errno.EHOSTDOWN, errno.ENETDOWN):
        return ProbeStatus.UNREACHABLE, f"unreachable: {exc.strerror}"
    if isinstance(exc, PermissionError):
        return ProbeStatus.ERROR, f"not allowed: {exc}"
    return ProbeStatus.ERROR, f"{type(exc).__name__}: {exc}"


@functools.cache
def client_tls_context() -> ssl.SSLContext:
    """A TLS client that talks to old camera firmware and reads, never trusts, certificates.

    One context serves the whole process (building one per connection costs milliseconds).
    We only read the certificate subject/issuer and banners, so verification is off; the
    security level is lowered because 1024-bit keys and SHA-1 certificates are normal on
    devices we must still be able to inventory.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.options |= getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0)
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:  # an OpenSSL build without security levels
        ctx.set_ciphers("ALL")
    return ctx


@asynccontextmanager
async def connection(ctx: ProbeContext, ip: str, port: int, *, tls: bool = False
                     ) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """Open one connection through the context (rate, per-host cap, excludes) and always close it.

    The TLS handshake counts against the connect budget, so a handshake that never completes
    costs `connect_timeout`, not forever.
    """
    reader, writer = await ctx.open_connection(ip, port, ssl=client_tls_context() if tls else None)
    try:
        yield reader, writer
    finally:
        writer.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await writer.wait_closed()
        except (OSError, TimeoutError, ssl.SSLError):
            pass


def observation(source: str, host: Host, port: int | None, data: dict[str, Any],
                status: ProbeStatus = ProbeStatus.OK, error: str | None = None,
                where: str | None = None) -> Observation:
    """An observation about `host`; a non-ok `error` is prefixed with where it happened."""
    place = where or f"{source} {authority(host.ip, port, zone=True)}"
    return Observation(source=source, ip=host.ip, mac=host.mac, port=port, data=data,
                       status=status, error=error and f"{place}: {error}")


def unreadable_datagram(source: str, reply: Datagram, port: int, reason: str) -> Observation:
    """The observation for a discovery reply that could not be parsed.

    A reply cut at the datagram cap fails for its size, not its syntax, so it is recorded as
    too-large; anything else is a protocol error carrying the parser's reason.
    """
    if reply.truncated:
        return Observation(source=source, ip=reply.ip, port=port, status=ProbeStatus.TOO_LARGE,
                           error=f"{source.upper()} reply longer than the {len(reply.data)}-byte datagram cap")
    return Observation(source=source, ip=reply.ip, port=port, status=ProbeStatus.PROTOCOL_ERROR,
                       error=reason)


def by_sender(replies: Iterable[Datagram], max_senders: int, max_per_sender: int) -> dict[str, list[Datagram]]:
    """Discovery replies grouped per sender in arrival order, bounded: a sender beyond the
    first `max_senders`, and a sender's datagrams beyond `max_per_sender`, are dropped, so a
    flooding device costs only its own share."""
    grouped: dict[str, list[Datagram]] = {}
    for reply in replies:
        mine = grouped.get(reply.ip)
        if mine is None:
            if len(grouped) >= max_senders:
                continue
            mine = grouped[reply.ip] = []
        if len(mine) < max_per_sender:
            mine.append(reply)
    return grouped


def text(data: bytes) -> str:
    """Untrusted bytes to text: UTF-8 with replacement, never an exception. NUL, valid UTF-8
    but not storable as text (PostgreSQL), is replaced too: binary SDK banners are full of it,
    and their bytes stay exact in the `hex` field."""
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


class ByteStream:
    """A byte-capped buffer over a StreamReader: read lines and blocks without trusting the peer."""

    def __init__(self, reader: asyncio.StreamReader, cap: int) -> None:
        self._reader = reader
        self._buf = bytearray()
        self.cap = cap          # total bytes we are willing to take from this peer
        self.taken = 0
        self.eof = False

    async def _fill(self) -> bool:
        if self.eof or self.taken >= self.cap:
            return False
        chunk = await self._reader.read(min(65536, self.cap - self.taken))
        if not chunk:
            self.eof = True
            return False
        self.taken += len(chunk)
        self._buf += chunk
        return True

    async def read_until(self, marks: tuple[bytes, ...], limit: int) -> tuple[bytes, bool]:
        """Bytes up to and including the earliest mark; (data, found). Gives up past `limit`."""
        while True:
            hits = [(i, m) for m in marks if (i := self._buf.find(m, 0, limit + len(m))) >= 0]
            if hits:
                i, m = min(hits)
                end = i + len(m)
                out = bytes(self._buf[:end])
                del self._buf[:end]
                return out, True
            if len(self._buf) > limit or not await self._fill():
                out = bytes(self._buf[:limit])
                del self._buf[:limit]
                return out, False

    async def peek(self, n: int) -> bytes:
        """The first `n` buffered bytes (fewer at EOF), without consuming them."""
        while len(self._buf) < n and await self._fill():
            pass
        return bytes(self._buf[:n])

    async def read_exact(self, n: int) -> bytes:
        """Up to `n` bytes (fewer when the peer closes or the cap is reached)."""
        while len(self._buf) < n and await self._fill():
            pass
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


_STATUS_LINE = re.compile(rb"^\s*(HTTP|RTSP)/(\d+(?:\.\d+)?)\s+(\d{3})(?:[ \t]+([^\r\n]*))?", re.I)


@dataclass(slots=True)
class Response:
    """An HTTP or RTSP answer as the device sent it (names kept, bodies capped)."""

    protocol: str = ""
    status: int = 0
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    complete: bool = False       # framing was satisfied (or the peer closed cleanly)
    truncated: bool = False      # a byte cap cut the answer

    def header(self, name: str) -> str | None:
        """Header value by case-insensitive name (devices send `CONTENT-LENGTH`, `content-length`)."""
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return None


def parse_head(head: bytes, resp: Response) -> None:
    """Fill status and headers from a header block; raises ProbeFailure if it is not HTTP/RTSP."""
    m = _STATUS_LINE.match(head)
    if not m:
        raise ProbeFailure(ProbeStatus.PROTOCOL_ERROR,
                           f"not an HTTP/RTSP answer (first bytes {head[:24].hex()})")
    resp.protocol = f"{m.group(1).decode().upper()}/{m.group(2).decode()}"
    resp.status = int(m.group(3))
    resp.reason = text(m.group(4) or b"").strip()
    lines = re.split(rb"\r?\n", head[m.end():])
    last: str | None = None
    for raw in lines[:MAX_HEADER_LINES]:
        if not raw.strip():
            continue
        if raw[:1] in (b" ", b"\t") and last is not None:  # obsolete line folding
            resp.headers[last] += " " + text(raw.strip())
            continue
        name, sep, value = raw.partition(b":")
        if not sep or not name.strip():
            continue
        key, val = text(name.strip()), text(value.strip())
        existing = next((k for k in resp.headers if k.lower() == key.lower()), None)
        if existing is None:
            resp.headers[key] = val
            last = key
        else:
            resp.headers[existing] += ", " + val
            last = existing


async def read_response(reader: asyncio.StreamReader, bounds: Bounds, resp: Response, *,
                        body_without_length: bool = True, head_request: bool = False) -> None:
    """Read one answer into `resp` (filled progressively, so a timeout keeps what came).

    `body_without_length`: HTTP reads to EOF when neither Content-Length nor chunked is
    given; RTSP (RFC 2326) means "no body" in that case.
    """
    stream = ByteStream(reader, bounds.max_header_bytes + bounds.max_bytes + 1)
    # Garbage that never sends a blank line would otherwise hold us to the deadline: decide
    # from the first bytes whether this is HTTP/RTSP at all.
    start = (await stream.peek(8)).lstrip()
    if start and not any(start[:5].upper() == proto[:len(start[:5])] for proto in (b"HTTP/", b"RTSP/")):
        raise ProbeFailure(ProbeStatus.PROTOCOL_ERROR, f"not an HTTP/RTSP answer (first bytes {start.hex()})")
    head, found = await stream.read_until((b"\r\n\r\n", b"\n\n"), bounds.max_header_bytes)
    if not head:
        raise ProbeFailure(ProbeStatus.PROTOCOL_ERROR, "connection closed without an answer")
    parse_head(head, resp)
    if not found:
        if len(head) >= bounds.max_header_bytes:
            resp.truncated = True
            raise ProbeFailure(ProbeStatus.TOO_LARGE,
                               f"headers longer than {bounds.max_header_bytes} bytes")
        resp.complete = True   # the device closed after its headers
        return
    if head_request or resp.status in (204, 304) or 100 <= resp.status < 200:
        resp.complete = True
        return
    te = (resp.header("Transfer-Encoding") or "").lower()
    length = resp.header("Content-Length")
    if "chunked" in te:
        await _read_chunked(stream, bounds.max_bytes, resp)
    elif length is not None and length.strip().isdigit():
        want = int(length.strip())
        resp.body = await stream.read_exact(min(want, bounds.max_bytes))
        resp.truncated = want > bounds.max_bytes
        resp.complete = len(resp.body) == min(want, bounds.max_bytes)
    elif body_without_length:
        body = await stream.read_exact(bounds.max_bytes + 1)  # one more byte tells "too large"
        resp.body, resp.truncated = body[:bounds.max_bytes], len(body) > bounds.max_bytes
        resp.complete = not resp.truncated
    else:
        resp.complete = True
    if resp.truncated:
        raise ProbeFailure(ProbeStatus.TOO_LARGE, f"answer longer than {bounds.max_bytes} bytes; kept the first part")


async def _read_chunked(stream: ByteStream, cap: int, resp: Response) -> None:
    body = bytearray()
    while True:
        line, found = await stream.read_until((b"\n",), MAX_CHUNK_LINE)
        if not found:
            break
        size_txt = line.split(b";", 1)[0].strip()
        try:
            size = int(size_txt, 16)
        except ValueError:
            raise ProbeFailure(ProbeStatus.PROTOCOL_ERROR, "malformed chunked body") from None
        if size == 0:
            resp.complete = True
            break
        room = cap - len(body)
        chunk = await stream.read_exact(min(size, room))
        body += chunk
        resp.body = bytes(body)
        if size > room:
            resp.truncated = True
            return
        if len(chunk) < size:
            break
        await stream.read_until((b"\n",), 2)  # the CRLF after the chunk
    resp.body = bytes(body)


async def exchange(ctx: ProbeContext, ip: str, port: int, request: bytes, *, tls: bool = False,
                   body_without_length: bool = True, head_request: bool = False,
                   bounds: Bounds | None = None) -> tuple[Response, ProbeStatus, str | None]:
    """Send one request on a fresh connection and read one answer, all within the budget.

    Returns (response, status, error). The response keeps whatever arrived before a failure
    (e.g. headers before a dripping body), so the observation can still carry it. `bounds`
    replaces the context's for one exchange whose answer has its own cap (a UPnP description).
    """
    bounds = bounds or ctx.bounds
    resp = Response()
    try:
        async with connection(ctx, ip, port, tls=tls) as (reader, writer):
            async with asyncio.timeout(bounds.read_timeout):
                writer.write(request)
                await writer.drain()
                await read_response(reader, bounds, resp, body_without_length=body_without_length,
                                    head_request=head_request)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded status
        status, error = classify(exc)
        return resp, status, error
    return resp, ProbeStatus.OK, None
