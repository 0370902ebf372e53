"""SSH (TCP 22): the server's identification line, and nothing after it.

RFC 4253 §4.2: the server sends `SSH-protoversion-softwareversion SP comments CR LF`
(at most 255 bytes with the CR LF) and MAY send other lines before it. Network gear names
itself there (`SSH-2.0-HUAWEI-1.5`, `SSH-2.0-ZTE_SSH.2.0`, `SSH-2.0-Cisco-1.25`).

We only listen. Almost every server speaks first; one that stays silent for
SPEAK_FIRST_WAIT gets our own identification line, which RFC 4253 lets either side send
first, and nothing more. We never send a key exchange (KEXINIT) or anything of
authentication: the connection is closed as soon as the server's line has arrived.
Every read is bounded: MAX_LINE bytes per line, MAX_TOTAL bytes and the whole-answer
deadline `bounds.read_timeout` for the exchange.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes._io import ByteStream, ProbeFailure, classify, connection, observation, text
from camaudit.probes.base import HostProbe, ProbeContext

IDENT_MAX = 255             # RFC 4253 §4.2: the identification line, CR LF included
MAX_LINE = 1024             # a line before the identification longer than this is not SSH
MAX_TOTAL = 8192            # bytes read from the server in all
MAX_PRE_LINES = 8           # lines before the identification kept in the observation
SPEAK_FIRST_WAIT = 0.5      # a server silent this long gets our identification
OUR_IDENTIFICATION = b"SSH-2.0-camaudit\r\n"


def parse_identification(line: str) -> dict[str, str]:
    """`SSH-2.0-HUAWEI-1.5 comments` → protoversion, softwareversion, comments (RFC 4253 §4.2)."""
    proto, _, rest = line[4:].partition("-")
    software, _, comments = rest.partition(" ")
    return {"protoversion": proto, "softwareversion": software, "comments": comments}


async def read_identification(stream: ByteStream, data: dict[str, Any]) -> str:
    """Lines until the one starting with `SSH-`; lines before it are kept (a few) in
    `data["pre_lines"]`. Raises ProbeFailure when the server closes, a line is too long or
    MAX_TOTAL bytes pass without an identification."""
    pre: list[str] = []
    while True:
        raw, found = await stream.read_until((b"\n",), MAX_LINE)
        if raw.startswith(b"SSH-"):
            line = text(raw.rstrip(b"\r\n"))
            if not found or len(raw) > IDENT_MAX:
                data["identification"] = line[:IDENT_MAX]
                raise ProbeFailure(ProbeStatus.PROTOCOL_ERROR,
                                   f"identification line longer than {IDENT_MAX} bytes")
            return line
        if raw and len(pre) < MAX_PRE_LINES:
            pre.append(text(raw.rstrip(b"\r\n"))[:IDENT_MAX])
            data["pre_lines"] = pre
        if not found:
            if stream.taken >= stream.cap:
                raise ProbeFailure(ProbeStatus.TOO_LARGE, f"no identification line within {MAX_TOTAL} bytes")
            if len(raw) >= MAX_LINE:
                raise ProbeFailure(ProbeStatus.PROTOCOL_ERROR, f"a line longer than {MAX_LINE} bytes, not SSH")
            raise ProbeFailure(ProbeStatus.PROTOCOL_ERROR, "closed without an SSH identification line")


class SshProbe(HostProbe):
    """The identification line an SSH server sends (no key exchange, no login)."""

    name: ClassVar[str] = "ssh"
    default_ports: ClassVar[frozenset[int]] = frozenset({22})

    async def probe(self, host: Host, port: int, ctx: ProbeContext) -> list[Observation]:
        budget = ctx.bounds.read_timeout
        data: dict[str, Any] = {"sent_identification": False}
        stream: ByteStream | None = None
        status, error = ProbeStatus.OK, None
        try:
            async with connection(ctx, host.ip, port) as (reader, writer):
                stream = ByteStream(reader, MAX_TOTAL)
                async with asyncio.timeout(budget):
                    try:
                        async with asyncio.timeout(min(SPEAK_FIRST_WAIT, budget / 2)):
                            await stream.peek(1)
                    except TimeoutError:
                        data["sent_identification"] = True
                        writer.write(OUR_IDENTIFICATION)
                        await writer.drain()
                    line = await read_identification(stream, data)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded status
            status, error = classify(exc)
        else:
            data["identification"] = line
            data.update(parse_identification(line))
        data["length"] = stream.taken if stream else 0
        return [observation(self.name, host, port, data, status, error)]
