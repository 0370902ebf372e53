"""The base of passive decoders that read TCP streams, and the bridge to the probes' readers.

A `StreamDecoder` owns one `FlowTable` over its ports and asks its subclass to `read` a
flow whenever the server side has new contiguous bytes, finishes (FIN, reset, byte cap) or
is evicted; `read` returns the observations it could make and whether the flow is through.
Observations name the server (the side on the decoder's port) as `ip`/`port`.

The probes' HTTP/RTSP/SSH readers are coroutines over an `asyncio.StreamReader`.
`BytesReader` hands them captured bytes instead, and `run_now` runs such a coroutine to its
end in one step (it never waits: all its input is already there), so a captured answer is
parsed by the very code that parses a live one.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from collections.abc import Coroutine, Iterable
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar, cast

from camaudit.observation import Observation, ProbeStatus
from camaudit.passive.decoders.base import Decoder
from camaudit.passive.packet import Packet
from camaudit.passive.tcp_flows import Flow, FlowTable
from camaudit.probes._io import ByteStream

T = TypeVar("T")
TCP = 6


class BytesReader:
    """The one `StreamReader` method `ByteStream` uses, over bytes already captured: the end
    of the bytes reads as end of stream."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    async def read(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += len(chunk)
        return chunk


def byte_stream(data: bytes, cap: int) -> ByteStream:
    """A probes `ByteStream` over captured bytes."""
    return ByteStream(cast(Any, BytesReader(data)), cap)


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that reads only a `BytesReader` (so never waits) to its end."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return cast(T, stop.value)
    coro.close()
    raise RuntimeError("a reader over captured bytes waited for more")


def iso_time(ts: float) -> str | None:
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


class StreamDecoder(Decoder):
    """A decoder of the server side of TCP connections on `ports`."""

    ports: ClassVar[frozenset[int]]
    server_cap: ClassVar[int]                 # server bytes kept per flow
    client_cap: ClassVar[int] = 0             # client bytes kept per flow (requests, when needed)
    # Banners are only banners at the start of a connection: without the server's SYN in the
    # capture, its bytes are the middle of a session (encrypted, or a shell's output).
    needs_start: ClassVar[bool] = False

    def __init__(self, **table: Any) -> None:
        self.table = FlowTable(self.ports, self.server_cap, self.client_cap, **table)
        self.counts: Counter[str] = Counter()  # why flows gave nothing, for tests and summaries

    def wants(self, pkt: Packet) -> bool:
        return pkt.proto == TCP and (pkt.sport in self.ports or pkt.dport in self.ports)

    def feed(self, pkt: Packet) -> Iterable[Observation]:
        flow, news = self.table.add(pkt)
        out = self._read(flow, flow.final) if flow is not None and news else []
        if self.table.over():
            for old in self.table.expired():
                out += self._read(old, True)
        return out

    def finish(self) -> Iterable[Observation]:
        out: list[Observation] = []
        for flow in self.table.drain():
            out += self._read(flow, True)
        return out

    def _read(self, flow: Flow, final: bool) -> list[Observation]:
        if flow.done:
            return []
        if self.needs_start and not flow.server.opened:
            self.counts["no-start"] += 1
            self.table.done(flow)
            return []
        if final and not flow.server.ranges:
            # Every decoder reads the server's bytes: a connection refused (RST), never
            # answered or silent to its end gives nothing, and most of a scan's are such.
            self.counts["no-data"] += 1
            self.table.done(flow)
            return []
        found, through = self.read(flow, final)
        if through or final:
            self.table.done(flow)
        return found

    @abstractmethod
    def read(self, flow: Flow, final: bool) -> tuple[list[Observation], bool]:
        """The observations the flow's bytes now give, and whether the flow is through.
        `final`: no more server bytes will come (read what is there)."""

    def observation(self, flow: Flow, source: str, data: dict[str, Any],
                    status: ProbeStatus = ProbeStatus.OK, error: str | None = None) -> Observation:
        """An observation about the flow's server, at the time of its last packet."""
        ip, port = flow.key[0], flow.key[1]
        return Observation(source=source, ip=ip, port=port, data=data, status=status,
                           error=error and f"{source} {ip}:{port} (captured): {error}",
                           at=iso_time(flow.server_ts))
