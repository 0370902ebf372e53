"""Bounded TCP stream reassembly: the first bytes of each side of a connection, from captured
segments in any order.

Passive decoders only need the start of a connection: an HTTP/RTSP answer's head and a body
prefix, a TLS server's first flight up to its Certificate, an SSH identification line. So a
`Stream` keeps at most `cap` bytes from the start of one direction and drops the rest;
retransmitted and overlapping segments are written once (the first copy of a byte wins, as
the bytes a receiver already acknowledged cannot change), and sequence numbers are compared
modulo 2**32 (RFC 9293 §3.4), so a connection whose numbers wrap past zero reads the same.

A `FlowTable` holds the flows of the ports one decoder reads, keyed server side first, and
bounds them all: at most `max_flows` flows (the least recently active one is evicted first),
at most `max_bytes` buffered across them, at most `MAX_HOLES` out-of-order ranges per stream,
and a flow silent for `idle` seconds of capture time is dropped. Evicted flows are handed
back so their decoder can still read what they hold. Nothing here raises on packet contents.

Without the handshake in the capture a stream starts at the first data segment seen; a
segment from before that point is dropped (a decoder then sees a stream that does not start
with its protocol and gives the flow up).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from camaudit.passive.packet import Packet

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
SEQ_MOD = 1 << 32
HALF = 1 << 31
MAX_HOLES = 32              # separate byte ranges a stream holds; a segment making more is dropped
MAX_FLOWS = 4096            # flows per table; the least recently active is evicted beyond this
MAX_BYTES = 32 << 20        # bytes buffered across one table's flows
IDLE_SECONDS = 120.0        # a flow without a packet this long (capture time) is dropped

FlowKey = tuple[str, int, str, int]   # server ip, server port, client ip, client port


def seq_offset(seq: int, base: int) -> int:
    """`seq` relative to `base` as a signed distance modulo 2**32 (negative: before it)."""
    return (seq - base + HALF) % SEQ_MOD - HALF


class Stream:
    """The first `cap` bytes of one direction of a connection."""

    __slots__ = ("cap", "base", "data", "ranges", "fin_at", "opened", "first_ts")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.base: int | None = None          # sequence number of data[0]
        self.data = bytearray()               # bytes by offset; holes are zero until filled
        self.ranges: list[tuple[int, int]] = []   # filled [start, end) ranges, sorted, disjoint
        self.fin_at: int | None = None        # offset where the sender's FIN sits
        self.opened = False                   # the SYN was seen: offset 0 is the true start
        self.first_ts: float | None = None    # capture time of the first data segment

    def syn(self, seq: int) -> None:
        """The sender's SYN: its data starts at seq + 1 (only before any data is known)."""
        if not self.ranges:
            self.base = (seq + 1) % SEQ_MOD
            self.opened = True

    @property
    def contiguous(self) -> int:
        """Bytes readable from the start without a hole."""
        return self.ranges[0][1] if self.ranges and self.ranges[0][0] == 0 else 0

    @property
    def finished(self) -> bool:
        """Everything the sender will send up to the cap is here: its FIN was reached, or the cap."""
        end = self.contiguous
        return end >= self.cap or (self.fin_at is not None and end >= min(self.fin_at, self.cap))

    def prefix(self) -> bytes:
        return bytes(self.data[:self.contiguous])

    def add(self, seq: int, payload: bytes, fin: bool = False) -> bool:
        """Place one segment; True when the readable prefix grew or the stream just finished."""
        if self.base is None:
            if not payload:
                return False
            self.base = seq
        was = (self.contiguous, self.finished)
        offset = seq_offset(seq, self.base)
        if fin and self.fin_at is None and offset + len(payload) >= 0:
            self.fin_at = offset + len(payload)
        if offset < 0:                        # starts before the stream: keep what overlaps it
            payload, offset = payload[-offset:], 0
        payload = payload[:max(self.cap - offset, 0)]
        if payload:
            self._write(offset, payload)
        return (self.contiguous, self.finished) != was

    def _write(self, start: int, payload: bytes) -> None:
        end = start + len(payload)
        merged: list[tuple[int, int]] = []
        gaps: list[tuple[int, int]] = []
        lo, hi, cursor = start, end, start
        for a, b in self.ranges:
            if b < start or a > end:
                merged.append((a, b))
                continue
            if a > cursor:
                gaps.append((cursor, a))
            cursor = max(cursor, b)
            lo, hi = min(lo, a), max(hi, b)
        if cursor < end:
            gaps.append((cursor, end))
        if not gaps:
            return                            # a pure retransmission
        merged.append((lo, hi))
        merged.sort()
        if len(merged) > MAX_HOLES:
            # Too many holes: the range furthest from the start is forgotten (its bytes come
            # again when the sender retransmits); nearer bytes are what decoders read first.
            if merged.pop() == (lo, hi):
                return
        if len(self.data) < end:
            self.data.extend(bytes(end - len(self.data)))
        for a, b in gaps:                     # first copy wins: only bytes not held yet are written
            self.data[a:b] = payload[a - start:b - start]
        self.ranges = merged

    def release(self) -> None:
        """Drop the bytes (the decoder is done with this stream)."""
        self.data = bytearray()
        self.ranges = []


class Flow:
    """Both directions of one connection, server side first in `key`."""

    __slots__ = ("key", "server", "client", "last_ts", "server_ts", "reset", "done", "state")

    def __init__(self, key: FlowKey, server_cap: int, client_cap: int) -> None:
        self.key = key
        self.server = Stream(server_cap)
        self.client = Stream(client_cap)
        self.last_ts = 0.0                    # capture time of the flow's last packet
        self.server_ts = 0.0                  # capture time of the server's last packet
        self.reset = False
        self.done = False                     # its decoder is through: later packets are ignored
        self.state: object = None             # the decoder's own progress marker

    @property
    def final(self) -> bool:
        """No more server bytes will matter: FIN reached, cap reached or reset."""
        return self.reset or self.server.finished

    def held(self) -> int:
        return len(self.server.data) + len(self.client.data)


class FlowTable:
    """The flows on one decoder's ports, bounded in count, bytes and idle time."""

    def __init__(self, ports: frozenset[int], server_cap: int, client_cap: int = 0, *,
                 max_flows: int = MAX_FLOWS, max_bytes: int = MAX_BYTES,
                 idle: float = IDLE_SECONDS) -> None:
        self.ports, self.server_cap, self.client_cap = ports, server_cap, client_cap
        self.max_flows, self.max_bytes, self.idle = max_flows, max_bytes, idle
        self.flows: OrderedDict[FlowKey, Flow] = OrderedDict()
        self.held = 0                         # bytes buffered across all flows
        self.now = 0.0                        # latest capture time seen
        self.evicted = 0

    def add(self, pkt: Packet) -> tuple[Flow | None, bool]:
        """Place one TCP packet; (its flow, whether the server side has news for the decoder)."""
        if pkt.src_ip is None or pkt.dst_ip is None or pkt.sport is None or pkt.dport is None:
            return None, False
        self.now = max(self.now, pkt.ts)
        flags = pkt.tcp_flags
        from_server = self._from_server(pkt)
        key = ((pkt.src_ip, pkt.sport, pkt.dst_ip, pkt.dport) if from_server
               else (pkt.dst_ip, pkt.dport, pkt.src_ip, pkt.sport))
        flow = self.flows.get(key)
        opening = flags & SYN and not flags & ACK
        if flow is not None and opening and (flow.done or flow.client.ranges):
            self.drop(flow)                   # the client port is reused for a new connection
            flow = None
        if flow is None:
            if not (pkt.payload or flags & SYN):
                return None, False            # a bare ACK/FIN/RST of a flow we never saw
            flow = self.flows[key] = Flow(key, self.server_cap, self.client_cap)
        else:
            self.flows.move_to_end(key)
        flow.last_ts = pkt.ts
        if flow.done:
            return flow, False
        news = False
        stream = flow.server if from_server else flow.client
        if flags & SYN:
            stream.syn(pkt.tcp_seq)
        elif flags & RST:
            flow.reset, news = True, True
        elif pkt.payload:                     # only data changes what the streams hold
            if stream.first_ts is None:
                stream.first_ts = pkt.ts
            before = len(stream.data)
            news = stream.add(pkt.tcp_seq, pkt.payload, bool(flags & FIN)) and from_server
            self.held += len(stream.data) - before
        elif flags & FIN:                     # a bare ACK changes nothing but the times
            news = stream.add(pkt.tcp_seq, b"", bool(flags & FIN)) and from_server
        if from_server:
            flow.server_ts = pkt.ts
        return flow, news

    def _from_server(self, pkt: Packet) -> bool:
        """Which side sent `pkt`: the one on a decoder port; when both ports are, the SYN
        (without ACK) comes from the client, else a flow already known decides, else the lower port."""
        sport, dport = pkt.sport, pkt.dport
        if dport not in self.ports:
            return True
        if sport not in self.ports:
            return False
        if pkt.tcp_flags & SYN:
            return bool(pkt.tcp_flags & ACK)
        if (pkt.src_ip, sport, pkt.dst_ip, dport) in self.flows:
            return True
        if (pkt.dst_ip, dport, pkt.src_ip, sport) in self.flows:
            return False
        return sport <= dport  # type: ignore[operator]

    def done(self, flow: Flow) -> None:
        """The decoder has read this flow: keep a small tombstone so later packets are ignored."""
        if self.flows.get(flow.key) is flow:    # an evicted flow's bytes are no longer counted
            self.held -= flow.held()
        flow.server.release()
        flow.client.release()
        flow.done = True

    def drop(self, flow: Flow) -> None:
        self.held -= flow.held()
        self.flows.pop(flow.key, None)

    def over(self) -> bool:
        """Whether `expired` has anything to evict (checked per packet: cheaper than the generator)."""
        flows = self.flows
        return bool(flows) and (len(flows) > self.max_flows or self.held > self.max_bytes
                                or next(iter(flows.values())).last_ts < self.now - self.idle)

    def expired(self) -> Iterator[Flow]:
        """Flows evicted for idleness, count or bytes, oldest first (removed as they are yielded)."""
        while self.flows:
            oldest = next(iter(self.flows.values()))
            if not (oldest.last_ts < self.now - self.idle or len(self.flows) > self.max_flows
                    or self.held > self.max_bytes):
                return
            self.drop(oldest)
            self.evicted += 1
            if not oldest.done:
                yield oldest

    def drain(self) -> Iterator[Flow]:
        """Every flow still being read (end of capture), removed as yielded."""
        while self.flows:
            _key, flow = self.flows.popitem(last=False)
            self.held -= flow.held()
            if not flow.done:
                yield flow
