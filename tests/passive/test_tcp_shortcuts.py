"""The TCP path's shortcuts settle, without a decoder's `read`, only what `read` would have
given nothing for: a connection whose server sent no byte (refused, unanswered, silent to its
end). Every stream decoder's own `read` is run on the same flows to prove it, and the byte
accounting that skips bare ACKs is checked against the flows' real contents."""

from __future__ import annotations

import random

import pytest

from camaudit.passive.decoders import decoder_classes
from camaudit.passive.packet import Packet
from camaudit.passive.tcp_decoder import StreamDecoder
from camaudit.passive.tcp_flows import ACK, FIN, RST, SYN, FlowTable

SERVER, CLIENT = "198.18.5.10", "198.18.5.200"
STREAM_DECODERS = [cls for cls in decoder_classes() if issubclass(cls, StreamDecoder)]


def pkt(port: int, from_server: bool, seq: int, flags: int, payload: bytes = b"", ts: float = 1.0) -> Packet:
    src, sport, dst, dport = ((SERVER, port, CLIENT, 40000) if from_server else (CLIENT, 40000, SERVER, port))
    return Packet(ts=ts, src_mac=None, dst_mac=None, ethertype=0x0800, src_ip=src, dst_ip=dst, proto=6,
                  sport=sport, dport=dport, payload=payload, tcp_seq=seq, tcp_flags=flags)


def silent_server(port: int) -> dict[str, list[Packet]]:
    """Connections in which the server never sends a byte, as a scan's mostly are."""
    syn, syn_ack, ack = pkt(port, False, 5000, SYN), pkt(port, True, 1000, SYN | ACK), pkt(port, False, 5001, ACK)
    request = pkt(port, False, 5001, 0x18, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    return {
        "refused": [syn, pkt(port, True, 0, RST | ACK)],
        "unanswered": [syn],
        "reset after the request": [syn, syn_ack, ack, request, pkt(port, True, 1001, RST)],
        "closed without a word": [syn, syn_ack, ack, pkt(port, True, 1001, FIN | ACK), pkt(port, False, 5001, FIN | ACK)],
    }


@pytest.mark.parametrize("cls", STREAM_DECODERS, ids=lambda c: c.name)
@pytest.mark.parametrize("case", list(silent_server(0)))
def test_a_flow_without_server_bytes_is_settled_without_losing_anything(cls: type[StreamDecoder], case: str) -> None:
    port = min(cls.ports)
    packets = silent_server(port)[case]
    decoder = cls()
    found = [obs for p in packets for obs in decoder.feed(p)] + list(decoder.finish())
    assert found == []
    settled = "no-start" if cls.needs_start and case in ("refused", "unanswered") else "no-data"
    assert decoder.counts[settled] == 1
    # the decoder's own reading of the same flow, as the slow path ran it, gives nothing either
    table = FlowTable(cls.ports, cls.server_cap, cls.client_cap)
    for p in packets:
        flow, _news = table.add(p)
    assert flow is not None and not flow.server.ranges
    assert cls().read(flow, True)[0] == []


def test_held_bytes_match_the_flows_after_bare_acks_fins_and_data() -> None:
    rng = random.Random(7)
    table = FlowTable(frozenset({80}), server_cap=300, client_cap=100)
    for _ in range(3000):
        from_server = rng.random() < 0.5
        flags = rng.choice([ACK, ACK, FIN | ACK, 0x18, SYN, RST])
        payload = bytes(rng.randrange(0, 120)) if flags == 0x18 else b""
        p = pkt(80, from_server, rng.randrange(0, 600), flags, payload)
        p.dport, p.sport = (40000 + rng.randrange(4), 80) if from_server else (80, 40000 + rng.randrange(4))
        if from_server:
            p.dst_ip = CLIENT
        table.add(p)
        assert table.held == sum(f.held() for f in table.flows.values() if not f.done)
