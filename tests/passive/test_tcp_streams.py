"""Passive TCP decoding: reassembly (order, retransmission, overlap, wraparound, every bound)
and the HTTP, RTSP, TLS, SSH, banner and Telnet decoders on top of it.

Packets are fed as the frame parser hands them over (`Packet`), through the real decoders;
one test goes the whole way from a scapy-written pcap through `import_captures`. TLS flights
come from a real OpenSSL handshake run in memory (`ssl.MemoryBIO`), certificates from
`cryptography`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scapy.all import IP, TCP, Ether, wrpcap

from camaudit.observation import Observation, ProbeStatus
from camaudit.passive.decode import FrameDecoder
from camaudit.passive.decoders.banner_stream import BannerStreamDecoder, TelnetStreamDecoder
from camaudit.passive.decoders.http_stream import HttpStreamDecoder
from camaudit.passive.decoders.rtsp_stream import RtspStreamDecoder
from camaudit.passive.decoders.ssh_stream import SshStreamDecoder
from camaudit.passive.decoders.tls_stream import TlsStreamDecoder
from camaudit.passive.importer import import_captures
from camaudit.passive.messages import STREAM_CAP
from camaudit.passive.packet import Packet
from camaudit.passive.tcp_decoder import StreamDecoder
from camaudit.passive.tcp_flows import ACK, FIN, MAX_BYTES, MAX_FLOWS, MAX_HOLES, RST, SYN, FlowTable, Stream
from camaudit.probes._io import text
from camaudit.probes.banner import DVRIP_QUERY
from camaudit.probes.tls import describe_certificate

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


def run(decoder: StreamDecoder, packets: list[Packet]) -> list[Observation]:
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


def run_partial(decoder: StreamDecoder, packets: list[Packet]) -> list[Observation]:
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


# --- HTTP ---------------------------------------------------------------------------------

def test_keep_alive_answers_pair_with_their_requests_and_favicon_is_hashed() -> None:
    icon = bytes(range(256)) * 4
    favicon = b"HTTP/1.1 200 OK\r\nContent-Type: image/x-icon\r\nContent-Length: %d\r\n\r\n" % len(icon) + icon
    conn = Conn()
    packets = (conn.handshake() + conn.request(get() + get("/favicon.ico"))
               + conn.response(ANSWER + favicon, mss=100) + conn.fin())
    first, second = run(HttpStreamDecoder(), packets)
    assert first.data["path"] == "/" and first.data["title"] == "Web Login"
    assert second.data["path"] == "/favicon.ico" and "title" not in second.data
    assert second.data["favicon_md5"] and isinstance(second.data["favicon_mmh3"], int)


def test_unseen_request_leaves_out_the_path_dependent_keys() -> None:
    conn = Conn()
    packets = conn.handshake() + conn.response(ANSWER) + conn.fin()    # the request was not captured
    [obs] = run(HttpStreamDecoder(), packets)
    assert "path" not in obs.data and obs.data["title"] == "Web Login" and obs.data["status"] == 200


def test_credentials_in_a_captured_query_are_masked() -> None:
    [obs] = run(HttpStreamDecoder(), Conn().exchange(get("/cgi-bin/snap.cgi?user=admin&pwd=s3cret"), ANSWER))
    assert obs.data["path"] == "/cgi-bin/snap.cgi?user=admin&pwd=***"


def test_chunked_and_close_delimited_bodies() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"7\r\n<title>\r\n4\r\nCams\r\n8\r\n</title>\r\n0\r\n\r\n")
    [obs] = run(HttpStreamDecoder(), Conn().exchange(get(), chunked, mss=9))
    assert obs.data["title"] == "Cams" and obs.status is ProbeStatus.OK
    closed = b"HTTP/1.0 200 OK\r\nServer: Boa/0.94\r\n\r\n<title>Old</title>"
    decoder = HttpStreamDecoder()
    conn = Conn()
    assert not run_partial(decoder, conn.handshake() + conn.request(get()) + conn.response(closed))
    [obs] = run(decoder, conn.fin())         # the close ends it
    assert obs.data["title"] == "Old" and obs.data["headers"]["Server"] == "Boa/0.94"


def test_not_http_on_a_web_port_is_counted_not_recorded() -> None:
    decoder = HttpStreamDecoder()
    assert not run(decoder, Conn().exchange(get(), b"\x00\x01garbage that is no answer\r\n\r\n"))
    assert decoder.counts["not-http"] == 1


def test_answer_cut_by_the_end_of_the_capture_is_a_timeout_with_what_came() -> None:
    conn = Conn()
    packets = conn.handshake() + conn.request(get()) + conn.response(ANSWER[:-10])
    [obs] = run(HttpStreamDecoder(), packets)
    assert obs.status is ProbeStatus.TIMEOUT and obs.data["headers"]["Server"] == "App-webs/"


def test_endless_headers_are_cut_at_the_probes_header_cap() -> None:
    endless = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" * 5000
    decoder = HttpStreamDecoder()
    [obs] = run(decoder, Conn().exchange(get(), endless))
    assert obs.status is ProbeStatus.TOO_LARGE and obs.data["status"] == 200
    assert decoder.table.held == 0


def test_interim_answer_does_not_take_the_requests_place() -> None:
    answers = b"HTTP/1.1 100 Continue\r\n\r\n" + ANSWER
    [obs] = run(HttpStreamDecoder(), Conn().exchange(get("/upload"), answers))
    assert (obs.data["path"], obs.data["status"]) == ("/upload", 200)


# --- RTSP ---------------------------------------------------------------------------------

def rtsp_request(method: str, cseq: int) -> bytes:
    return f"{method} rtsp://{SERVER}:554/ RTSP/1.0\r\nCSeq: {cseq}\r\n\r\n".encode()


def test_rtsp_options_then_describe_realm() -> None:
    options = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY\r\nServer: Dahua Rtsp Server\r\n\r\n"
    describe = b'RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm="Hikvision", nonce="ab"\r\n\r\n'
    conn = Conn(554)
    packets = (conn.handshake() + conn.request(rtsp_request("OPTIONS", 1)) + conn.response(options)
               + conn.request(rtsp_request("DESCRIBE", 2)) + conn.response(describe)
               + conn.response(b"$\x00\x00\x10" + bytes(16)) + conn.fin())    # interleaved RTP after
    first, second = run(RtspStreamDecoder(), packets)
    assert (first.source, first.port, first.data["method"], first.data["public"]) == (
        "rtsp", 554, "OPTIONS", ["OPTIONS", "DESCRIBE", "SETUP", "PLAY"])
    assert second.data["method"] == "DESCRIBE" and second.data["status"] == 401
    assert 'realm="Hikvision"' in second.data["headers"]["WWW-Authenticate"]
    assert second.status is ProbeStatus.OK


def test_http_answer_on_the_rtsp_port_is_a_protocol_error_as_the_probe_records() -> None:
    [obs] = run(RtspStreamDecoder(), Conn(554).exchange(rtsp_request("OPTIONS", 1),
                                                          b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n"))
    assert obs.status is ProbeStatus.PROTOCOL_ERROR and obs.data["status"] == 405


# --- TLS ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.hikvision.com"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "DVRNVR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HIKVISION")])
    now = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(0x1A2B).not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("cam.example")]), critical=False)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem", cert.public_bytes(serialization.Encoding.DER)


def server_flight(cert: tuple[Path, Path, bytes], version: ssl.TLSVersion) -> bytes:
    """Everything an OpenSSL server sends during a handshake, run in memory."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert[0], cert[1])
    server.maximum_version = version
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    bios = [ssl.MemoryBIO() for _ in range(4)]
    c, s = client.wrap_bio(bios[0], bios[1]), server.wrap_bio(bios[2], bios[3], server_side=True)
    sent = b""
    for _ in range(10):
        for end in (c, s):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                pass
        bios[2].write(bios[1].read())
        out = bios[3].read()
        sent += out
        bios[0].write(out)
    return sent


def test_tls12_leaf_certificate_is_the_probes_tls_observation(certificate: tuple[Path, Path, bytes]) -> None:
    flight = server_flight(certificate, ssl.TLSVersion.TLSv1_2)
    [obs] = run(TlsStreamDecoder(), Conn(443).exchange(b"\x16\x03\x01\x00\x05hello", flight, mss=50))
    assert (obs.source, obs.ip, obs.port, obs.status) == ("tls", SERVER, 443, ProbeStatus.OK)
    assert obs.data == {"port": 443, "version": "TLSv1.2", **describe_certificate(certificate[2])}
    assert obs.data["subject"] == "O=HIKVISION,OU=DVRNVR,CN=www.hikvision.com"


def test_tls13_certificate_is_counted_not_guessed(certificate: tuple[Path, Path, bytes]) -> None:
    flight = server_flight(certificate, ssl.TLSVersion.TLSv1_3)
    decoder = TlsStreamDecoder()
    assert not run(decoder, Conn(443).exchange(b"\x16\x03\x01\x00\x05hello", flight))
    assert decoder.counts == {"tls1.3": 1}


def records(*handshakes: bytes, record_size: int = 1 << 14) -> bytes:
    body = b"".join(handshakes)
    return b"".join(b"\x16\x03\x03" + len(body[i:i + record_size]).to_bytes(2, "big") + body[i:i + record_size]
                    for i in range(0, len(body), record_size))


def handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


HELLO12 = handshake(2, b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x2f" + b"\x00")


def certificate_message(der: bytes, claimed: int | None = None) -> bytes:
    entry = (len(der) if claimed is None else claimed).to_bytes(3, "big") + der
    return handshake(11, (len(entry)).to_bytes(3, "big") + entry)


def test_certificate_split_over_small_records(certificate: tuple[Path, Path, bytes]) -> None:
    flight = records(HELLO12, certificate_message(certificate[2]), handshake(14, b""), record_size=37)
    [obs] = run(TlsStreamDecoder(), Conn(8443).exchange(b"", flight, mss=100))
    assert obs.data["sha256"] == describe_certificate(certificate[2])["sha256"] and obs.port == 8443


@pytest.mark.parametrize("flight", [
    b"\x16\x03\x03\x00\x00" + HELLO12,                                # zero-length record
    b"\x16\x03\x03\xff\xff" + HELLO12,                                # longer than 2^14 + 2048
    b"\x17\x03\x03\x00\x05hello",                                     # application data first
    b"HTTP/1.1 400 Bad Request\r\n\r\n",                              # not TLS at all
    records(handshake(11, b"\x00\x00\x03\x00\x00\x00")),              # Certificate before ServerHello
    records(HELLO12, certificate_message(b"\x30\x82", claimed=5000)),  # entry longer than its list
], ids=["empty-record", "huge-record", "appdata", "http", "cert-first", "entry-overrun"])
def test_malformed_tls_gives_no_observation(flight: bytes) -> None:
    decoder = TlsStreamDecoder()
    assert not run(decoder, Conn(443).exchange(b"", flight))
    assert decoder.counts == {"not-tls": 1}


def test_unparsable_and_oversized_certificates_are_recorded_as_the_probe_does() -> None:
    [bad] = run(TlsStreamDecoder(), Conn(443).exchange(b"", records(HELLO12, certificate_message(b"\x30\x03abc"))))
    assert bad.status is ProbeStatus.PROTOCOL_ERROR and bad.data == {"port": 443, "version": "TLSv1.2"}
    decoder = TlsStreamDecoder()
    huge = records(HELLO12, certificate_message(bytes(70_000)))
    [big] = run(decoder, Conn(443).exchange(b"", huge))
    assert big.status is ProbeStatus.TOO_LARGE


def test_truncated_handshake_message_waits_then_counts() -> None:
    decoder = TlsStreamDecoder()
    conn = Conn(443)
    flight = records(HELLO12)[:-3]
    assert not run(decoder, conn.handshake() + conn.response(flight))
    assert decoder.counts == {"incomplete": 1}


# --- SSH, banner, Telnet -------------------------------------------------------------------

def test_ssh_identification_after_pre_lines_in_pieces() -> None:
    server = b"Welcome\r\nSSH-2.0-HUAWEI-1.5 note\r\n" + bytes(64)
    [obs] = run(SshStreamDecoder(), Conn(22).exchange(b"SSH-2.0-OpenSSH_9.6\r\n", server, mss=3))
    assert obs.data == {"pre_lines": ["Welcome"], "identification": "SSH-2.0-HUAWEI-1.5 note",
                        "protoversion": "2.0", "softwareversion": "HUAWEI-1.5", "comments": "note", "length": 34}


def test_ssh_mid_session_and_overlong_lines() -> None:
    decoder = SshStreamDecoder()
    conn = Conn(22)
    assert not run(decoder, conn.response(b"SSH-2.0-late\r\n"))      # no handshake: not a banner
    assert decoder.counts == {"no-start": 1}
    [obs] = run(SshStreamDecoder(), Conn(22).exchange(b"", b"SSH-2.0-" + b"x" * 300 + b"\r\n"))
    assert obs.status is ProbeStatus.PROTOCOL_ERROR and len(obs.data["identification"]) == 255


def test_hikvision_sdk_greeting_and_dahua_dvrip_reply() -> None:
    greeting = bytes.fromhex("000000100000001e0000001e00000000")
    conn = Conn(8000)
    packets = conn.handshake() + conn.response(greeting) + conn.request(b"\x00" * 40) + conn.response(b"more") + conn.fin()
    [hik] = run(BannerStreamDecoder(), packets)
    assert hik.data == {"probe": "null", "hex": greeting.hex(), "text": text(greeting), "length": 16}
    reply = b"\xb1\x00\x00\x58" + bytes(28) + b"x" * 8
    reply = reply[:4] + (8).to_bytes(4, "little") + reply[8:]
    [dahua] = run(BannerStreamDecoder(), Conn(37777).exchange(DVRIP_QUERY, reply + b"trailing"))
    assert dahua.data["probe"] == "dvrip" and dahua.data["hex"] == reply.hex() and dahua.data["length"] == 40


def test_banner_after_another_client_request_is_not_a_banner() -> None:
    decoder = BannerStreamDecoder()
    assert not run(decoder, Conn(37777).exchange(b"\xa0" + bytes(31), b"\xb0\x00\x00\x00" + bytes(28)))
    assert decoder.counts == {"client-first": 1}


def test_telnet_banner_stops_at_the_prompt() -> None:
    server = (b"\xff\xfd\x18\xff\xfb\x01Welcome to ZXAN product C320 of ZTE Corporation\r\nLogin: "
              b"admin\r\nPassword: ")
    conn = Conn(23)
    packets = conn.handshake() + conn.response(server, mss=11) + conn.request(b"admin\r\n") + conn.fin()
    [obs] = run(TelnetStreamDecoder(), packets)
    assert obs.data["banner"] == "Welcome to ZXAN product C320 of ZTE Corporation\r\nLogin: "
    assert obs.data["negotiation"] == ["DO TTYPE", "WILL ECHO"] and "admin" not in obs.data["banner"]


def test_telnet_without_prompt_is_capped() -> None:
    [obs] = run(TelnetStreamDecoder(), Conn(23).exchange(b"", b"no prompt here " * 400))
    assert obs.status is ProbeStatus.TOO_LARGE and len(obs.data["banner"]) == 2048


def test_every_tcp_decoder_names_the_server_side(certificate: tuple[Path, Path, bytes]) -> None:
    """Whichever packet completes a flow, the observation is about the responder."""
    cases: list[tuple[StreamDecoder, int, bytes, bytes]] = [
        (HttpStreamDecoder(), 8080, get(), ANSWER),
        (RtspStreamDecoder(), 554, rtsp_request("OPTIONS", 1), b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"),
        (TlsStreamDecoder(), 443, b"", server_flight(certificate, ssl.TLSVersion.TLSv1_2)),
        (SshStreamDecoder(), 22, b"", b"SSH-2.0-x\r\n"),
        (BannerStreamDecoder(), 8000, b"", bytes.fromhex("000000100000001e0000001e00000000")),
        (TelnetStreamDecoder(), 23, b"", b"login: "),
    ]
    for decoder, port, request, answer in cases:
        found: list[Any] = run(decoder, Conn(port).exchange(request, answer))
        assert [(o.ip, o.port) for o in found] == [(SERVER, port)], decoder.name
