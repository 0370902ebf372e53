"""TCP reassembly for passive decoders: order, retransmission, overlap, wraparound and every bound.

Packets are fed as the frame parser hands them over (`Packet`), through the real decoders;
one test goes the whole way from a scapy-written pcap through `import_captures`.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

from scapy.all import IP, TCP, Ether, wrpcap

from camaudit.observation import Observation, ProbeStatus
from camaudit.passive.decode import FrameDecoder
from camaudit.passive.decoders.http_stream import HttpStreamDecoder
from camaudit.passive.importer import import_captures
from camaudit.passive.messages import STREAM_CAP
from camaudit.passive.packet import Packet
from camaudit.passive.tcp_flows import ACK, FIN, MAX_BYTES, MAX_FLOWS, MAX_HOLES, RST, SYN, FlowTable, Stream

SERVER, CLIENT = "198.18.5.10", "198.18.5.200"
PSH_ACK = 0x18
PAGE = b"<html><head><title>Web Login</title></head><body>login</body></html>"
ANSWER = (b"HTTP/1.1 200 OK\r\nServer: App-webs/\r\nContent-Type: text/html\r\n"
          b"Content-Length: %d\r\n\r\n" % len(PAGE)) + PAGE


class Conn:
    """One TCP connection's packets, numbered as a real stack numbers them."""

    def __init__(self, port: int = 80, *, server_isn: int = 1000, client_isn: int = 5000,
                 cport: int = 40000, server: str = SERVER, client: str = CLIENT, ts: float = 1.0) -> None:
        self.port, self.cport, self.server, self.client = port, cport, server, client
        self.s_next, self.c_next, self.ts = (server_isn + 1) % 2**32, (client_isn + 1) % 2**32, ts
        self.server_isn, self.client_isn = server_isn, client_isn

    def _pkt(self, from_server: bool, seq: int, flags: int, payload: bytes = b"") -> Packet:
        self.ts += 0.001
        src, sport, dst, dport = ((self.server, self.port, self.client, self.cport) if from_server
                                  else (self.client, self.cport, self.server, self.port))
        return Packet(ts=self.ts, src_mac=None, dst_mac=None, ethertype=0x0800, src_ip=src, dst_ip=dst,
                      proto=6, sport=sport, dport=dport, payload=payload, tcp_seq=seq, tcp_flags=flags)

    def handshake(self) -> list[Packet]:
        return [self._pkt(False, self.client_isn, SYN), self._pkt(True, self.server_isn, SYN | ACK),
                self._pkt(False, self.c_next, ACK)]

    def request(self, data: bytes) -> list[Packet]:
        out = self._pkt(False, self.c_next, PSH_ACK, data)
        self.c_next = (self.c_next + len(data)) % 2**32
        return [out]

    def response(self, data: bytes, mss: int = 1460) -> list[Packet]:
        out = []
        for i in range(0, len(data), mss):
            out.append(self._pkt(True, self.s_next, PSH_ACK, data[i:i + mss]))
            self.s_next = (self.s_next + len(data[i:i + mss])) % 2**32
        return out

    def fin(self) -> list[Packet]:
        out = self._pkt(True, self.s_next, FIN | ACK)
        self.s_next = (self.s_next + 1) % 2**32
        return [out]

    def exchange(self, request: bytes, answer: bytes, mss: int = 1460) -> list[Packet]:
        return self.handshake() + self.request(request) + self.response(answer, mss) + self.fin()


def run(decoder: HttpStreamDecoder, packets: list[Packet]) -> list[Observation]:
    out: list[Observation] = []
    for pkt in packets:
        out += decoder.feed(pkt)
    return out + list(decoder.finish())


def essence(found: list[Observation]) -> list[tuple[object, ...]]:
    """What an observation says, without the capture time it was completed at."""
    return [(o.source, o.ip, o.port, o.status, o.error, o.data) for o in found]


def get(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {SERVER}\r\n\r\n".encode()


def reference() -> list[tuple[object, ...]]:
    return essence(run(HttpStreamDecoder(), Conn().exchange(get(), ANSWER, mss=40)))


def test_in_order_answer_is_the_probes_observation_of_the_server() -> None:
    [obs] = run(HttpStreamDecoder(), Conn().exchange(get(), ANSWER, mss=40))
    assert (obs.source, obs.ip, obs.port, obs.status) == ("http", SERVER, 80, ProbeStatus.OK)
    assert obs.data == {"path": "/", "status": 200, "headers": {
        "Server": "App-webs/", "Content-Type": "text/html", "Content-Length": str(len(PAGE))},
        "title": "Web Login", "body": PAGE.decode()}
    assert obs.at is not None and obs.at.startswith("1970-01-01T00:00:01")


def test_out_of_order_retransmitted_and_duplicated_segments_read_the_same() -> None:
    packets = Conn().exchange(get(), ANSWER, mss=7)
    shuffled = packets[:3] + random.Random(7).sample(packets[3:], len(packets) - 3)
    assert essence(run(HttpStreamDecoder(), shuffled)) == reference()
    doubled = [p for pkt in packets for p in (pkt, pkt)]
    assert essence(run(HttpStreamDecoder(), doubled)) == reference()


def test_overlapping_segments_first_copy_wins() -> None:
    stream = Stream(100)
    stream.syn(99)
    assert stream.add(100, b"abcdef")
    assert stream.add(103, b"XYZghi")           # overlaps "def": the bytes already held stay
    assert stream.prefix() == b"abcdefghi"
    assert stream.add(97, b"___ABCDEFGHIjk")     # starts before the stream: only its new tail counts
    assert stream.prefix() == b"abcdefghijk"
    assert not stream.add(101, b"bcd")          # a pure retransmission is no news


def test_sequence_numbers_wrapping_past_zero() -> None:
    packets = Conn(server_isn=2**32 - 50, client_isn=2**32 - 3).exchange(get(), ANSWER, mss=16)
    assert any(p.tcp_seq < 100 for p in packets if p.sport == 80)     # the wrap is really crossed
    assert essence(run(HttpStreamDecoder(), packets)) == reference()


def test_answer_split_at_every_byte_boundary_in_either_order() -> None:
    expected = reference()
    for cut in range(1, len(ANSWER)):
        for order in (1, -1):
            conn = Conn()
            first = conn.handshake() + conn.request(get())
            parts = conn.response(ANSWER[:cut]) + conn.response(ANSWER[cut:])
            assert essence(run(HttpStreamDecoder(), first + parts[::order] + conn.fin())) == expected, (cut, order)


def test_ten_megabyte_answer_is_cut_at_the_probes_cap() -> None:
    body = b"<title>big</title>" + b"x" * (10 * 1024 * 1024)
    conn = Conn()
    decoder = HttpStreamDecoder()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    out: list[Observation] = []
    most = 0
    for pkt in conn.handshake() + conn.request(get()) + conn.response(head) + conn.response(body) + conn.fin():
        out += decoder.feed(pkt)
        most = max(most, decoder.table.held)
    out += decoder.finish()
    [obs] = out
    assert obs.status is ProbeStatus.TOO_LARGE and obs.data["title"] == "big"
    assert len(obs.data["body"]) == 16384
    assert most <= STREAM_CAP + 8192 and decoder.table.held == 0


def test_hundred_thousand_flows_stay_bounded() -> None:
    table = FlowTable(frozenset({80}), STREAM_CAP)
    evicted = 0
    for n in range(100_000):
        conn = Conn(cport=1024 + n % 60000, client=f"198.18.{100 + n // 60000}.{n % 250}", ts=1.0 + n * 1e-4)
        for pkt in conn.handshake()[1:2] + conn.response(b"HTTP/1.1 200 OK\r\n"):
            table.add(pkt)
        evicted += sum(1 for _ in table.expired())
        assert len(table.flows) <= MAX_FLOWS and table.held <= MAX_BYTES
    assert evicted == table.evicted == 100_000 - MAX_FLOWS
    assert sum(1 for _ in table.drain()) == MAX_FLOWS and table.held == 0


def test_evicted_flows_are_still_read() -> None:
    decoder = HttpStreamDecoder(max_flows=100)
    found = []
    cut_short = b"HTTP/1.1 401 Unauthorized\r\nServer: x\r\nContent-Length: 100\r\n\r\nshort"
    for n in range(1000):
        conn = Conn(cport=1024 + n)
        for pkt in conn.handshake()[1:2] + conn.response(cut_short):
            found += decoder.feed(pkt)
        assert len(decoder.table.flows) <= 100
    assert len(found) == 900                     # each answer cut short by eviction, read as it stands
    found += decoder.finish()
    assert len(found) == 1000 and {o.status for o in found} == {ProbeStatus.TIMEOUT}
    assert decoder.table.held == 0


def test_byte_budget_evicts_before_flow_count() -> None:
    table = FlowTable(frozenset({80}), 65536, max_bytes=200_000)
    for n in range(50):
        conn = Conn(cport=2000 + n)
        table.add(conn.handshake()[1])
        table.add(conn._pkt(True, conn.s_next + 60000, PSH_ACK, b"x" * 100))   # a far segment: 60 KB of holes
        assert table.held <= 200_000 + 65536
        list(table.expired())
        assert table.held <= 200_000
    assert len(table.flows) < 50


def test_holes_are_capped() -> None:
    stream = Stream(1 << 20)
    stream.syn(0)
    for i in range(200):
        stream.add(1 + 100 + i * 10, b"abc")      # every segment leaves a gap before it
    assert len(stream.ranges) <= MAX_HOLES
    stream.add(1, b"0123456789")
    assert stream.prefix().startswith(b"0123456789")


def test_idle_flows_are_dropped_and_read() -> None:
    decoder = HttpStreamDecoder()
    quiet = Conn(cport=1111, ts=10.0)
    unframed = b"HTTP/1.0 200 OK\r\nServer: quiet\r\n\r\n<title>q</title>"
    assert not run_partial(decoder, quiet.handshake() + quiet.request(get()) + quiet.response(unframed))
    later = Conn(cport=2222, ts=500.0)
    found = list(decoder.feed(later.handshake()[0]))
    assert [o.data["headers"]["Server"] for o in found] == ["quiet"]
    assert (SERVER, 80, CLIENT, 1111) not in decoder.table.flows


def run_partial(decoder: HttpStreamDecoder, packets: list[Packet]) -> list[Observation]:
    return [o for pkt in packets for o in decoder.feed(pkt)]


def test_reset_ends_an_unframed_answer_and_a_reused_port_is_a_new_connection() -> None:
    decoder = HttpStreamDecoder()
    first = Conn()
    unframed = b"HTTP/1.0 200 OK\r\nServer: one\r\n\r\nbody"
    found = run_partial(decoder, first.handshake() + first.request(get()) + first.response(unframed))
    assert not found
    found = run_partial(decoder, [first._pkt(True, first.s_next, RST)])
    assert [o.data["headers"]["Server"] for o in found] == ["one"]
    again = Conn(server_isn=77777, client_isn=88888)
    found = run(decoder, again.exchange(get("/two"), ANSWER))
    assert [o.data["path"] for o in found] == ["/two"]


def test_capture_without_the_handshake_starts_at_the_first_segment() -> None:
    conn = Conn()
    packets = conn.exchange(get(), ANSWER, mss=20)[3:]
    assert essence(run(HttpStreamDecoder(), packets)) == reference()


def test_pcap_through_the_frame_decoder(tmp_path: Path) -> None:
    mac_s, mac_c = "00:11:22:33:44:55", "00:aa:bb:cc:dd:ee"
    frames = []
    for pkt in Conn().exchange(get("/doc/page/login.asp"), ANSWER, mss=30):
        src_mac, dst_mac = (mac_s, mac_c) if pkt.sport == 80 else (mac_c, mac_s)
        frame = (Ether(src=src_mac, dst=dst_mac) / IP(src=pkt.src_ip, dst=pkt.dst_ip)
                 / TCP(sport=pkt.sport, dport=pkt.dport, seq=pkt.tcp_seq, flags=pkt.tcp_flags) / pkt.payload)
        frame.time = pkt.ts
        frames.append(frame)
    path = tmp_path / "web.pcap"
    wrpcap(str(path), frames)
    out = io.StringIO()
    result = import_captures([path], out, None, FrameDecoder())
    [line] = [json.loads(x) for x in out.getvalue().splitlines()]
    assert result.stats.errors == {}
    assert (line["source"], line["ip"], line["port"], line["mac"]) == ("http", SERVER, 80, mac_s)
    assert line["data"]["path"] == "/doc/page/login.asp" and line["data"]["title"] == "Web Login"


def test_garbage_packets_never_raise_and_stay_bounded() -> None:
    from camaudit.passive.decoders import all_decoders
    rng = random.Random(1)
    decoders = [d for d in all_decoders() if hasattr(d, "table")]
    ports = sorted({p for d in decoders for p in d.ports})    # type: ignore[attr-defined]
    for i in range(20_000):
        sport, dport = rng.choice(ports), rng.randrange(1, 65536)
        if rng.random() < 0.5:
            sport, dport = dport, sport
        payload = rng.randbytes(rng.choice((0, 1, 5, 40, 300, 1500)))
        if rng.random() < 0.3:
            payload = rng.choice((b"HTTP/1.1 200", b"RTSP/1.0 ", b"\x16\x03\x03\xff\xff", b"SSH-2.0-", b"\xff\xfd")) + payload
        pkt = Packet(ts=i * 0.01, src_mac=None, dst_mac=None, ethertype=0x0800, src_ip=f"198.18.9.{rng.randrange(4)}",
                     dst_ip=f"198.18.9.{rng.randrange(4, 8)}", proto=6, sport=sport, dport=dport, payload=payload,
                     tcp_seq=rng.choice((0, 1, 2**32 - 1, rng.randrange(2**32))), tcp_flags=rng.randrange(256))
        for decoder in decoders:
            if decoder.wants(pkt):
                list(decoder.feed(pkt))
    for decoder in decoders:
        list(decoder.finish())
        assert decoder.table.held == 0      # type: ignore[attr-defined]
