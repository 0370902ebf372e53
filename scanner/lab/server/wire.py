"""Reading requests and writing canned answers on a TCP stream, bounded in size and time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from collections.abc import Mapping

from camaudit.lab.persona import Answer
from camaudit.lab.server.render import fill

IDLE_TIMEOUT = 30.0   # keep quiet connections open: nmap calls a close within 3 s "tcpwrapped"
SETTLE = 0.3          # answer what arrived if no more bytes come (nmap probes may lack a blank line)
MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024


@dataclass(slots=True)
class Request:
    method: str
    target: str
    headers: dict[str, str]   # lower-case names
    body: bytes

    @property
    def path(self) -> str:
        target = self.target
        if "://" in target:                       # absolute-form: http://host/path
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        return target.partition("?")[0] or "/"


async def read_request(reader: asyncio.StreamReader, idle: float = IDLE_TIMEOUT) -> Request | None:
    """Read one request head (and a body up to MAX_BODY); None when the peer closes or idles.

    Answers on the first bytes received once no more arrive for SETTLE seconds, because
    service probes do not always end with a blank line.
    """
    try:
        buf = await asyncio.wait_for(reader.read(4096), idle)
    except TimeoutError:
        return None
    if not buf:
        return None
    while b"\r\n\r\n" not in buf and len(buf) < MAX_HEAD:
        try:
            more = await asyncio.wait_for(reader.read(4096), SETTLE)
        except TimeoutError:
            break
        if not more:
            break
        buf += more
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    want = headers.get("content-length", "0")
    want_len = min(int(want), MAX_BODY) if want.isdigit() else 0
    while len(body) < want_len:
        try:
            more = await asyncio.wait_for(reader.read(want_len - len(body)), 2.0)
        except TimeoutError:
            break
        if not more:
            break
        body += more
    return Request(parts[0].upper() if parts else "", parts[1] if len(parts) > 1 else "/", headers, body)


def render(answer: Answer, values: Mapping[str, str]) -> bytes:
    """Status line, headers exactly as the persona wrote them, blank line, body."""
    body = fill(answer.body, values)
    values = {**values, "length": str(len(body))}
    lines = [f"{answer.version} {answer.status} {answer.reason}".encode()]
    lines += [name.encode() + b": " + fill(value.encode(), values) for name, value in answer.headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
