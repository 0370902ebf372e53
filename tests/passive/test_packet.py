"""parse_frame on real frames (built with scapy, the reference codec) and on hostile bytes."""

from __future__ import annotations

from collections import Counter

import pytest
from scapy.all import ARP, IP, TCP, UDP, Dot1Q, Ether, IPv6, IPv6ExtHdrFragment, raw
from scapy.layers.l2 import CookedLinux

from camaudit.passive.packet import parse_frame

MAC = "00:11:22:33:44:55"


def test_ethernet_vlan_ipv4_udp() -> None:
    frame = raw(Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=3)
                / IP(src="198.18.0.9", dst="239.255.255.250") / UDP(sport=1900, dport=1900) / b"NOTIFY")
    pkt = parse_frame(5.0, frame, 1)
    assert pkt is not None
    assert (pkt.src_mac, pkt.dst_mac, pkt.ethertype) == (MAC, "ff:ff:ff:ff:ff:ff", 0x0800)
    assert (pkt.src_ip, pkt.dst_ip, pkt.proto, pkt.sport, pkt.dport) == ("198.18.0.9", "239.255.255.250", 17, 1900, 1900)
    assert pkt.payload == b"NOTIFY"


def test_ethernet_padding_is_not_payload() -> None:
    frame = raw(Ether(src=MAC) / IP(src="198.18.0.9", dst="198.18.0.1") / UDP(sport=161, dport=5000) / b"ab")
    pkt = parse_frame(0.0, frame + b"\x00" * 20, 1)
    assert pkt is not None and pkt.payload == b"ab"


def test_tcp_fields_for_stream_decoders() -> None:
    frame = raw(Ether(src=MAC) / IPv6(src="fdca:a0d1::5", dst="fdca:a0d1::1")
                / TCP(sport=80, dport=40000, seq=123456, flags="PA") / b"HTTP/1.1 200 OK\r\n")
    pkt = parse_frame(0.0, frame, 1)
    assert pkt is not None
    assert (pkt.src_ip, pkt.proto, pkt.sport, pkt.dport) == ("fdca:a0d1::5", 6, 80, 40000)
    assert (pkt.tcp_seq, pkt.tcp_flags, pkt.payload) == (123456, 0x18, b"HTTP/1.1 200 OK\r\n")


def test_arp_and_llc_payloads() -> None:
    arp = parse_frame(0.0, raw(Ether(src=MAC) / ARP(hwsrc=MAC, psrc="198.18.0.7")), 1)
    assert arp is not None and arp.ethertype == 0x0806 and arp.src_ip is None and len(arp.payload) == 28
    llc = parse_frame(0.0, bytes(12) + (8).to_bytes(2, "big") + b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + b"pad", 1)
    assert llc is not None and llc.ethertype == 0 and llc.payload == b"\xaa\xaa\x03\x00\x00\x0c\x20\x00"


def test_linux_cooked_and_raw_ip() -> None:
    inner = IP(src="198.18.0.9", dst="198.18.0.1") / UDP(sport=37020, dport=37020) / b"x"
    sll = parse_frame(0.0, raw(CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=bytes.fromhex("001122334455") + b"\0\0",
                                           proto=0x0800) / inner), 113)
    assert sll is not None and sll.src_mac == MAC and sll.sport == 37020
    rawip = parse_frame(0.0, raw(inner), 101)
    assert rawip is not None and rawip.src_mac is None and rawip.payload == b"x"


def test_non_first_fragments_are_dropped_and_counted() -> None:
    drops: Counter[str] = Counter()
    v4 = raw(Ether() / IP(src="198.18.0.9", dst="198.18.0.1", frag=185, proto=17) / (b"\x00" * 30))
    v6 = raw(Ether() / IPv6() / IPv6ExtHdrFragment(offset=100, nh=17) / (b"\x00" * 30))
    assert parse_frame(0.0, v4, 1, drops) is None
    assert parse_frame(0.0, v6, 1, drops) is None
    assert drops["fragment"] == 2
    first = raw(Ether() / IP(src="198.18.0.9", dst="198.18.0.1", flags="MF") / UDP(sport=5353, dport=5353) / b"q")
    assert parse_frame(0.0, first, 1, drops) is not None


@pytest.mark.parametrize("frame, linktype", [
    (b"", 1), (b"\x00" * 13, 1), (b"\x00" * 12 + b"\x81\x00" * 8, 1),    # empty, short, tag flood
    (bytes(12) + b"\x08\x00" + b"\x4f" + bytes(30), 1),                    # IHL beyond the frame
    (bytes(12) + b"\x08\x00" + b"\x42" + bytes(30), 1),                    # IHL below 5
    (bytes(12) + b"\x86\xdd" + b"\x60" + bytes(5) + b"\x00" + bytes(33) + b"\x00\xff" * 20, 1),  # ext-header chain
    (b"\x45" + bytes(8) + b"\x06" + bytes(10) + b"\x00" * 12 + b"\x10", 101),  # TCP data offset 1
    (b"\x00" * 40, 9999), (b"\x99", 101), (b"\x00" * 15, 113), (b"\x00" * 19, 276),
])
def test_garbage_is_none_never_an_exception(frame: bytes, linktype: int) -> None:
    assert parse_frame(0.0, frame, linktype, Counter()) is None
