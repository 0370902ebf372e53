"""HTTP and HTTPS probe: the banner plus a small, fixed table of read-only vendor paths.

Safety first: every request is a GET of a fixed path from `PATHS`, plus at most one
unauthenticated `/RPC2_Login` challenge per host (see `RPC2_CHALLENGE`). No credentials, no
login attempts, no exploit paths (never `/SDK/webLanguage`). Redirects are followed at most
`MAX_REDIRECTS` times and only to the same host and port.

One observation per answered path (`source` "http" or "https"); when the device does not
answer `/` at all, one observation with the non-ok status and no further requests, so a
silent device costs one budget, not one per path.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import mmh3

from camaudit.addresses import authority, same_address
from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes._io import Response, exchange, observation, text
from camaudit.probes.base import HostProbe, ProbeContext

USER_AGENT = "camaudit (asset inventory; read-only)"
BODY_KEEP_CHARS = 16384     # body text kept in the observation (login-page markers sit early)
TITLE_SCAN_BYTES = 65536    # the title regex only looks this far into a body
MAX_REDIRECTS = 2


@dataclass(frozen=True, slots=True)
class PathProbe:
    """One fixed, read-only request and why we make it."""

    path: str
    why: str


# The whole table of what the probe may ask. Adding a path is a reviewed change: it must be
# read-only, unauthenticated and documented in docs/observations.md.
PATHS: tuple[PathProbe, ...] = (
    PathProbe("/", "banner: Server, WWW-Authenticate, title, login-page markers"),
    PathProbe("/doc/page/login.asp", "Hikvision web UI login page"),
    PathProbe("/ISAPI/Security/userCheck", "Hikvision ISAPI surface (401 with realm, or XML)"),
    PathProbe("/cgi-bin/magicBox.cgi?action=getVendor", "Dahua CGI surface: vendor=Dahua or the OEM name"),
)
FAVICON = "/favicon.ico"

# The first step of the Dahua web login: the device answers with a challenge (realm,
# random, encryption) and no session. It is sent without a password, at most once per host,
# and only when another answer already looks like Dahua (`looks_dahua`), because devices log
# it and some count it toward lock-out.
RPC2_PATH = "/RPC2_Login"
# One challenge per device per scan, shared by the HTTP and HTTPS probes and all ports: a
# per-scan budget on the context (a fresh context is a fresh scan).
RPC2_BUDGET = "rpc2-challenge"
RPC2_CHALLENGE = (b'{"method":"global.login","params":{"userName":"","password":"",'
                  b'"clientType":"Web3.0","loginType":"Direct"},"id":1}')
# Markup of the Dahua web UI itself, in real tags: its assets loaded from `jsBase/lib/` or with
# the unexpanded build tag `?version=@WebVersion@`, or the login form's `t_username` input.
# The bare words (RPC2_Login, global.login, magicBox, WEB SERVICE) also appear on pages that
# only talk about Dahua devices, which must not receive a login challenge.
DAHUA_PAGE = re.compile(
    rb"<(?:script|link)\b[^<>]{0,300}?\b(?:src|href)\s*=\s*[\"']?[^\"'<>\s]{0,200}?(?:jsBase/lib/|\?version=@WebVersion@)"
    rb"|<input\b[^<>]{0,200}?\bid\s*=\s*[\"']?t_username\b", re.I)

# Statuses that mean the device stopped talking to us: no further paths on that port.
_MUTE = frozenset({ProbeStatus.TIMEOUT, ProbeStatus.REFUSED, ProbeStatus.RESET,
                   ProbeStatus.TLS_ERROR, ProbeStatus.UNREACHABLE})
_REQUEST_TARGET = re.compile(r"/[!-~]{0,2047}")
_TITLE = re.compile(rb"<title[^>]{0,128}>(.{0,1024}?)</title", re.I | re.S)


def request_bytes(method: str, path: str, host: str, body: bytes = b"",
                  content_type: str | None = None) -> bytes:
    """A minimal HTTP/1.1 request; `Connection: close` so the answer ends with the connection."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"User-Agent: {USER_AGENT}",
             "Accept: */*", "Connection: close"]
    if body or method == "POST":
        lines.append(f"Content-Type: {content_type or 'application/octet-stream'}")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def title_of(body: bytes) -> str:
    """The page title by bounded regex (no HTML parser on untrusted input)."""
    m = _TITLE.search(body[:TITLE_SCAN_BYTES])
    if not m:
        return ""
    return " ".join(html.unescape(text(m.group(1))).split())


def favicon_hashes(icon: bytes) -> dict[str, str | int]:
    """MD5 of the bytes, and mmh3 in the Shodan convention (base64 with a newline every 76 chars)."""
    return {"favicon_md5": hashlib.md5(icon).hexdigest(),  # noqa: S324 - a fingerprint, not security
            "favicon_mmh3": mmh3.hash(base64.encodebytes(icon))}


def looks_dahua(path: str, resp: Response) -> bool:
    """Whether an answer justifies the one RPC2 challenge (markers after Greenbone's
    `gb_dahua_devices_http_detect` and rroller/dahua `client.py`).

    Dahua web UI markup in the body (`DAHUA_PAGE`), the Dahua digest realm `Login to <serial>`
    (Dahua, Lorex, Amcrest), or `magicBox.cgi` answering `vendor=`. A bare 401 is not enough:
    many devices answer every path with 401.
    """
    if DAHUA_PAGE.search(resp.body):
        return True
    if 'realm="login to ' in (resp.header("WWW-Authenticate") or "").lower():
        return True
    return path.startswith("/cgi-bin/magicBox.cgi") and resp.status == 200 and resp.body.startswith(b"vendor=")


def same_host_redirect(resp: Response, ip: str, port: int, scheme: str) -> str | None:
    """The path of a redirect that stays on this host/port/scheme, else None."""
    if resp.status not in (301, 302, 303, 307, 308):
        return None
    location = (resp.header("Location") or "").strip()
    if not location:
        return None
    try:
        parts = urlsplit(location)
        location_port = parts.port
    except ValueError:  # e.g. a port out of range
        return None
    if parts.scheme and parts.scheme.lower() != scheme:
        return None
    if parts.netloc:
        default = 443 if scheme == "https" else 80
        if not same_address(parts.hostname, ip) or (location_port or default) != port:
            return None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # Only a plain printable-ASCII absolute path goes into our request line.
    return target if _REQUEST_TARGET.fullmatch(target) else None


class HttpProbe(HostProbe):
    """HTTP banner and vendor paths on plain-text web ports."""

    name: ClassVar[str] = "http"
    default_ports: ClassVar[frozenset[int]] = frozenset({80, 81, 88, 8080, 8081, 8888})
    tls: ClassVar[bool] = False

    async def probe(self, host: Host, port: int, ctx: ProbeContext) -> list[Observation]:
        run = _Run(self, host, port, ctx)
        await run.go()
        return run.observations


class HttpsProbe(HttpProbe):
    """The same paths over TLS (the certificate itself is the `tls` probe's job)."""

    name: ClassVar[str] = "https"
    default_ports: ClassVar[frozenset[int]] = frozenset({443, 8443})
    tls: ClassVar[bool] = True


class _Run:
    """One host:port worth of requests; stops at the first sign the device went silent."""

    def __init__(self, probe: HttpProbe, host: Host, port: int, ctx: ProbeContext) -> None:
        self.probe, self.host, self.port, self.ctx = probe, host, port, ctx
        self.scheme = probe.name
        self.observations: list[Observation] = []
        self.fetched: set[str] = set()
        self.dahua_hint = False
        self.dead = False
        self.started = time.monotonic()

    async def go(self) -> None:
        for entry in PATHS:
            await self.get(entry.path, follow=MAX_REDIRECTS)
        if not self.dead and self.affordable():
            await self.fetch("GET", FAVICON)
        if self.dahua_hint and not self.dead and self.affordable() and self.ctx.spend(RPC2_BUDGET, self.host.ip):
            await self.fetch("POST", RPC2_PATH, RPC2_CHALLENGE, "application/json")

    def affordable(self) -> bool:
        """Whether one more request (connect + TLS + whole answer) still fits the probe's budget.

        The engine cancels a probe at 4 x (connect + read); stopping at 3.5 x keeps the
        observations already made instead of losing them all to that cancellation.
        """
        b = self.ctx.bounds
        cost = b.connect_timeout * (2 if self.probe.tls else 1) + b.read_timeout
        return time.monotonic() + cost <= self.started + 3.5 * (b.connect_timeout + b.read_timeout)

    async def get(self, path: str, follow: int) -> None:
        while path not in self.fetched and not self.dead and self.affordable():
            resp = await self.fetch("GET", path)
            if resp is None:
                return
            nxt = same_host_redirect(resp, self.host.ip, self.port, self.scheme)
            if nxt is None or follow <= 0:
                return
            path, follow = nxt, follow - 1

    async def fetch(self, method: str, path: str, body: bytes = b"",
                    content_type: str | None = None) -> Response | None:
        """One request, recorded as one observation; None when the device gave no answer."""
        self.fetched.add(path)
        resp, status, error = await self.send(method, path, body, content_type)
        if resp.status == 0:
            # Nothing HTTP came back: recorded; a mute device or a non-HTTP port gets no more.
            self.record({"path": path, **({"method": method} if method != "GET" else {})},
                        status, error)
            self.dead = len(self.observations) == 1 or status in _MUTE
            return None
        self.dahua_hint = self.dahua_hint or looks_dahua(path, resp)
        data: dict[str, Any] = {"path": path, "status": resp.status, "headers": resp.headers}
        if path == FAVICON:
            if resp.status == 200 and resp.body and status is ProbeStatus.OK:
                data.update(favicon_hashes(resp.body))
        else:
            data.update(title=title_of(resp.body), body=text(resp.body)[:BODY_KEEP_CHARS])
        if method != "GET":
            data["method"] = method
        self.record(data, status, error)
        if status is ProbeStatus.TIMEOUT or (status is ProbeStatus.TOO_LARGE and not resp.body):
            # headers came, then the device stalled, or its headers never ended: no more requests
            self.dead = True
        return resp

    async def send(self, method: str, path: str, body: bytes = b"",
                   content_type: str | None = None) -> tuple[Response, ProbeStatus, str | None]:
        req = request_bytes(method, path, self.host_header(), body, content_type)
        return await exchange(self.ctx, self.host.ip, self.port, req, tls=self.probe.tls)

    def host_header(self) -> str:
        default = 443 if self.probe.tls else 80
        return authority(self.host.ip, self.port, default=default)

    def record(self, data: dict[str, Any], status: ProbeStatus, error: str | None) -> None:
        where = f"{self.scheme}://{authority(self.host.ip, self.port, zone=True)}{data.get('path', '')}"
        self.observations.append(observation(self.scheme, self.host, self.port, data, status, error, where))
