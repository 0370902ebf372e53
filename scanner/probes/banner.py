"""Raw TCP banners on the vendor SDK ports: Hikvision 8000 and Dahua 37777.

Hikvision's SDK port speaks first (16 bytes, `00 00 00 10 00 00 00 1e …`, nmap's NULL
probe). Dahua's DVRIP port waits for a request; when it stays silent for SPEAK_FIRST_WAIT
we send the one read-only DVRIP query (`a1` + 31 zero bytes, answered by
`b1 00 00 58 …`; the exchange of rapid7/metasploit-framework's
`dahua_dvr_auth_bypass.rb` scanner, whose later requests we never send). A reply whose framing says it is complete ends the read at once.
We never send anything else on these ports (no login, nothing from exploit modules).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes._io import classify, connection, observation, text
from camaudit.probes.base import HostProbe, ProbeContext

BANNER_KEEP_BYTES = 256     # recorded in the observation
BANNER_READ_BYTES = 4096    # read at most this much
LINGER = 0.2                # after the first bytes, wait this long for the rest of the banner
SPEAK_FIRST_WAIT = 0.3      # a queryable port that says nothing this long gets its query
DVRIP_QUERY = b"\xa1" + b"\x00" * 31
DVRIP_HEADER = 32
QUERIES: dict[int, tuple[str, bytes]] = {37777: ("dvrip", DVRIP_QUERY)}


def message_lengths(data: bytes | bytearray) -> tuple[int, ...]:
    """The lengths `data` would have as one whole message of a framing we know:

    * Hikvision SDK greeting: a big-endian total length first (`00 00 00 10` = 16 bytes);
    * DVRIP reply (`b1`…): a 32-byte header whose bytes 4-7 are the little-endian length
      of what follows it.
    """
    out: tuple[int, ...] = ()
    if len(data) >= 4:
        out += (int.from_bytes(data[:4], "big"),)
    if len(data) >= DVRIP_HEADER and data[0] == 0xB1:
        out += (DVRIP_HEADER + int.from_bytes(data[4:8], "little"),)
    return out


def complete_message(data: bytes | bytearray) -> bool:
    """True when `data` is one whole message of a framing we know (`message_lengths`), so
    waiting for more (the LINGER pause) would only add latency to every device. Anything
    else, or a length that does not add up, falls back to the pause."""
    return len(data) in message_lengths(data)


async def read_banner(reader: asyncio.StreamReader, budget: float) -> bytes:
    """Bytes the peer sends within `budget`, returning once a known message is complete or
    soon after the peer pauses; capped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    data = bytearray()
    while len(data) < BANNER_READ_BYTES and not complete_message(data):
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        wait = remaining if not data else min(remaining, LINGER)
        try:
            async with asyncio.timeout(wait):
                chunk = await reader.read(BANNER_READ_BYTES - len(data))
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


class BannerProbe(HostProbe):
    """What a vendor SDK port says on connect, or to its single read-only query."""

    name: ClassVar[str] = "banner"
    default_ports: ClassVar[frozenset[int]] = frozenset({8000, 37777})

    def __init__(self, queries: dict[int, tuple[str, bytes]] | None = None) -> None:
        self.queries = QUERIES if queries is None else queries

    async def probe(self, host: Host, port: int, ctx: ProbeContext) -> list[Observation]:
        budget = ctx.bounds.read_timeout
        query = self.queries.get(port)
        data: dict[str, Any] = {"probe": "null"}
        try:
            async with connection(ctx, host.ip, port) as (reader, writer):
                # A port we can query waits only briefly for a greeting: DVRIP never speaks
                # first, and a second per device of silence was the scan's longest tail.
                got = await read_banner(reader, min(SPEAK_FIRST_WAIT, budget / 2) if query else budget)
                if not got and query:
                    data["probe"] = query[0]
                    writer.write(query[1])
                    await writer.drain()
                    got = await read_banner(reader, budget)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded status
            status, error = classify(exc)
            return [observation(self.name, host, port, data, status, error)]
        if not got:
            return [observation(self.name, host, port, data, ProbeStatus.TIMEOUT,
                              f"connected, but no bytes within {budget:g} s")]
        kept = got[:BANNER_KEEP_BYTES]
        data.update(hex=kept.hex(), text=text(kept), length=len(got))
        status = ProbeStatus.TOO_LARGE if len(got) >= BANNER_READ_BYTES else ProbeStatus.OK
        return [observation(self.name, host, port, data, status,
                          "banner longer than the read cap" if status is ProbeStatus.TOO_LARGE else None)]
