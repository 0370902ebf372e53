"""Telnet (TCP 23): the banner and login prompt a device shows, read for a short window.

Devices name themselves before the login (`Welcome to ZXAN product C320 of ZTE
Corporation`, Huawei VRP's `Warning: Telnet is not a secure protocol…`). Telnet servers
open with option negotiation (RFC 854/855: `IAC DO|WILL <option>`) and some wait for
answers before they print anything, so we answer — and only ever refuse: `DO x` gets
`WONT x`, `WILL x` gets `DONT x` (RFC 854: either side may refuse any option; refusing
keeps the connection in the plain NVT mode). Each request is refused once at most (a
server that repeats itself cannot make us loop, RFC 1143) and at most MAX_REFUSALS
in all. We never send a user name, a password or any other byte.

IAC sequences (commands, negotiation, subnegotiation) and NUL are stripped from the
recorded text. Reading stops at a login prompt, LINGER after the last text, EOF,
MAX_BYTES or the whole-answer deadline `bounds.read_timeout`, whichever comes first.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar

from camaudit.model import Host
from camaudit.observation import Observation, ProbeStatus
from camaudit.probes._io import classify, connection, observation, text
from camaudit.probes.base import HostProbe, ProbeContext

MAX_BYTES = 4096            # bytes read from the device in all
MAX_TEXT = 2048             # characters of banner kept
MAX_REFUSALS = 64           # refusals sent in all (each a distinct option request)
MAX_RECORDED = 32           # negotiation requests named in the observation
LINGER = 0.3                # after text, wait this long for more before ending
IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
VERBS = {DO: "DO", DONT: "DONT", WILL: "WILL", WONT: "WONT"}
REFUSAL = {DO: WONT, WILL: DONT}   # RFC 854: the negative answer to each request
OPTIONS = {0: "BINARY", 1: "ECHO", 3: "SGA", 5: "STATUS", 24: "TTYPE", 31: "NAWS",
           32: "TSPEED", 33: "LFLOW", 34: "LINEMODE", 35: "XDISPLOC", 36: "OLD-ENVIRON",
           39: "NEW-ENVIRON"}
PROMPT = re.compile(rb"(?i)(?:login|user ?name|password|passwd)\s*:\s*$")


class TelnetStream:
    """Splits what a Telnet server sends into text and option requests, and words the
    refusals. Pure and incremental: `feed` takes any chunk, a sequence may span chunks."""

    def __init__(self) -> None:
        self.text = bytearray()
        self.requests: list[str] = []
        self._asked: set[tuple[int, int]] = set()
        self._state = "data"
        self._verb = 0

    def feed(self, chunk: bytes) -> bytes:
        """Consume `chunk`; return the refusals to send for the requests in it."""
        out = bytearray()
        for byte in chunk:
            state = self._state
            if state == "data":
                if byte == IAC:
                    self._state = "iac"
                elif byte and len(self.text) < MAX_TEXT:
                    self.text.append(byte)        # NUL is padding in the NVT (RFC 854)
            elif state == "iac":
                if byte == IAC:                   # escaped 0xff data byte
                    self._state = "data"
                    if len(self.text) < MAX_TEXT:
                        self.text.append(byte)
                elif byte in VERBS:
                    self._verb, self._state = byte, "option"
                else:
                    self._state = "sb" if byte == SB else "data"   # other commands carry no option
            elif state == "option":
                self._state = "data"
                out += self._answer(self._verb, byte)
            elif state == "sb":
                self._state = "sb-iac" if byte == IAC else "sb"
            else:  # "sb-iac": IAC SE ends the subnegotiation, IAC IAC is data inside it
                self._state = "data" if byte == SE else "sb"
        return bytes(out)

    def _answer(self, verb: int, option: int) -> bytes:
        if len(self.requests) < MAX_RECORDED:
            self.requests.append(f"{VERBS[verb]} {OPTIONS.get(option, option)}")
        refusal = REFUSAL.get(verb)
        if refusal is None or (verb, option) in self._asked or len(self._asked) >= MAX_REFUSALS:
            return b""
        self._asked.add((verb, option))
        return bytes((IAC, refusal, option))

    @property
    def refused(self) -> int:
        return len(self._asked)


async def read_telnet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, budget: float,
                      stream: TelnetStream) -> tuple[int, bool]:
    """Read within `budget`, refusing every option request as it comes; (bytes read, cap hit)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    taken = 0
    while taken < MAX_BYTES and not PROMPT.search(stream.text):
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            async with asyncio.timeout(min(remaining, LINGER) if stream.text.strip() else remaining):
                chunk = await reader.read(MAX_BYTES - taken)
        except TimeoutError:
            break
        if not chunk:
            break
        taken += len(chunk)
        refusals = stream.feed(chunk)
        if refusals:
            writer.write(refusals)
            async with asyncio.timeout(max(deadline - loop.time(), 0.01)):
                await writer.drain()
    return taken, taken >= MAX_BYTES and not PROMPT.search(stream.text)


class TelnetProbe(HostProbe):
    """The banner and login prompt of a Telnet server; options refused, no login."""

    name: ClassVar[str] = "telnet"
    default_ports: ClassVar[frozenset[int]] = frozenset({23})

    async def probe(self, host: Host, port: int, ctx: ProbeContext) -> list[Observation]:
        budget = ctx.bounds.read_timeout
        stream = TelnetStream()
        data: dict[str, Any] = {}
        try:
            async with connection(ctx, host.ip, port) as (reader, writer):
                taken, capped = await read_telnet(reader, writer, budget, stream)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded status
            status, error = classify(exc)
            return [observation(self.name, host, port, self._data(stream, data), status, error)]
        data["length"] = taken
        self._data(stream, data)
        if capped:
            return [observation(self.name, host, port, data, ProbeStatus.TOO_LARGE,
                                f"more than {MAX_BYTES} bytes without a login prompt")]
        if not taken:
            return [observation(self.name, host, port, data, ProbeStatus.TIMEOUT,
                                f"connected, but no bytes within {budget:g} s")]
        return [observation(self.name, host, port, data)]

    @staticmethod
    def _data(stream: TelnetStream, data: dict[str, Any]) -> dict[str, Any]:
        data.update(banner=text(bytes(stream.text)), negotiation=list(stream.requests),
                    refused=stream.refused)
        return data
