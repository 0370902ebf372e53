"""FrameDecoder: dedup, MAC attribution (routers), fragment reassembly, repeats, failing decoders."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from scapy.all import ARP, IP, UDP, Ether, IPv6, fragment, raw
from scapy.layers.inet6 import IPv6ExtHdrFragment

from camaudit.observation import Observation
from camaudit.passive.decode import ROUTER_IPS, FrameDecoder
from camaudit.passive.decoders.base import Decoder
from camaudit.passive.packet import Packet

ROUTER_MAC, CAM_MAC = "5e:4e:58:00:00:fe", "c0:56:e3:00:00:01"
SADP = (b'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><DeviceType>138753</DeviceType>'
        b"<DeviceDescription>DS-2CD2043G2-I</DeviceDescription><MAC>c0-56-e3-99-99-99</MAC>"
        b"<Pad>" + b"x" * 3000 + b"</Pad></ProbeMatch>")


def sadp_from(src_ip: str, mac: str, payload: bytes = SADP) -> bytes:
    return raw(Ether(src=mac) / IP(src=src_ip, dst="198.18.0.1") / UDP(sport=37020, dport=37020) / payload)


def feed(fd: FrameDecoder, *frames: bytes) -> list[Observation]:
    return [obs for frame in frames for obs in fd.feed(1_700_000_000.0, frame, 1)]


def test_identical_observations_are_written_once() -> None:
    fd = FrameDecoder()
    first = feed(fd, sadp_from("198.18.0.10", CAM_MAC))
    again = feed(fd, raw(Ether(src=CAM_MAC) / IP(src="198.18.0.10", dst="239.255.255.250")
                         / UDP(sport=37020, dport=37020) / SADP))   # same answer, multicast this time
    assert len(first) == 1 and again == []
    assert fd.stats.duplicates == 1 and fd.stats.observations == 1


def test_the_frame_mac_wins_over_the_claimed_one() -> None:
    [obs] = feed(FrameDecoder(), sadp_from("198.18.0.10", CAM_MAC))
    assert obs.mac == CAM_MAC and obs.data["fields"]["MAC"] == "c0-56-e3-99-99-99"
    assert obs.at == "2023-11-14T22:13:20+00:00"


def test_a_router_mac_is_not_put_on_routed_devices() -> None:
    fd = FrameDecoder()
    feed(fd, *(raw(Ether(src=ROUTER_MAC) / IP(src=f"198.18.1.{i}", dst="198.18.0.1") / UDP(sport=1, dport=2))
               for i in range(ROUTER_IPS + 1)))
    [obs] = feed(fd, sadp_from("198.18.1.20", ROUTER_MAC))
    assert obs.mac == "c0:56:e3:99:99:99"   # the claimed MAC stays, as in a routed scan


def test_a_forwarded_ttl_tells_a_router_before_it_speaks_for_many_ips() -> None:
    fd = FrameDecoder()
    routed = raw(Ether(src=ROUTER_MAC) / IP(src="198.18.1.20", dst="198.18.0.1", ttl=63)
                 / UDP(sport=37020, dport=37020) / SADP)
    [obs] = feed(fd, routed)   # the first frame the router forwards: no IP count, no ARP yet
    assert obs.mac == "c0:56:e3:99:99:99"
    for ttl in (64, 128, 255, 1):   # a stack's initial TTL, or link-scope multicast, is on-link
        [own] = feed(FrameDecoder(), raw(Ether(src=CAM_MAC) / IP(src="198.18.0.10", dst="198.18.0.1", ttl=ttl)
                                          / UDP(sport=37020, dport=37020) / SADP))
        assert own.mac == CAM_MAC, ttl


def test_arp_tells_a_router_with_few_routed_devices() -> None:
    fd = FrameDecoder()
    arp = raw(Ether(src=ROUTER_MAC) / ARP(op=2, hwsrc=ROUTER_MAC, psrc="198.18.0.254", pdst="198.18.0.1"))
    [binding, obs] = feed(fd, arp, sadp_from("198.18.1.20", ROUTER_MAC))
    assert binding.source == "arp" and obs.mac == "c0:56:e3:99:99:99"
    [own] = feed(fd, sadp_from("198.18.0.254", ROUTER_MAC, SADP.replace(b"138753", b"1")))
    assert own.mac == ROUTER_MAC   # the router's own answer keeps its MAC


def test_fragmented_answers_are_reassembled() -> None:
    whole = Ether(src=CAM_MAC) / IP(src="198.18.0.10", dst="198.18.0.1", id=77) / UDP(sport=37020, dport=37020) / SADP
    pieces = [raw(Ether(src=CAM_MAC) / f) for f in fragment(whole[IP], fragsize=1000)]
    assert len(pieces) == 4
    fd = FrameDecoder()
    found = feed(fd, *reversed(pieces))   # order on the wire is not guaranteed
    assert [o.source for o in found] == ["sadp"] and found[0].data["fields"]["DeviceType"] == "138753"
    assert fd.stats.dropped["fragment-held"] == 3


def test_ipv6_fragments_are_reassembled() -> None:
    payload = raw(UDP(sport=37020, dport=37020) / SADP)
    half = len(payload) // 2 // 8 * 8
    frames = [raw(Ether(src=CAM_MAC) / IPv6(src="fdca:a0d1::10", dst="fdca:a0d1::1")
                  / IPv6ExtHdrFragment(nh=17, id=9, offset=off // 8, m=int(more)) / chunk)
              for off, more, chunk in ((0, True, payload[:half]), (half, False, payload[half:]))]
    [obs] = feed(FrameDecoder(), *frames)
    assert obs.ip == "fdca:a0d1::10" and obs.source == "sadp"


def test_overlapping_fragments_are_refused() -> None:
    whole = IP(src="198.18.0.10", dst="198.18.0.1", id=78) / UDP(sport=37020, dport=37020) / SADP
    pieces = fragment(whole, fragsize=1000)
    overlap = pieces[1].copy()
    overlap.frag -= 10   # starts 80 bytes inside the first piece, rewriting the UDP payload
    del overlap.chksum
    fd = FrameDecoder()
    frames = [raw(Ether(src=CAM_MAC) / p) for p in (pieces[0], overlap, pieces[2], pieces[3])]
    assert feed(fd, *frames) == []
    assert fd.stats.observations == 0


def test_fragment_floods_stay_bounded() -> None:
    from camaudit.passive import defrag
    fd = FrameDecoder()
    for i in range(defrag.MAX_PENDING * 4):   # first fragments that never complete
        frame = raw(Ether(src=CAM_MAC) / IP(src="198.18.0.10", dst="198.18.0.1", id=i, flags="MF")
                    / UDP(sport=37020, dport=37020) / (b"x" * 1400))
        fd.feed(float(i) / 1000, frame, 1)
    assert len(fd._defrag._pending) <= defrag.MAX_PENDING
    assert fd._defrag._bytes <= defrag.MAX_PENDING_BYTES
    assert fd.stats.dropped["fragment-evicted"] > 0


def test_repeated_datagrams_are_decoded_once() -> None:
    class Counting(Decoder):
        name: ClassVar[str] = "counting"
        fed = 0

        def wants(self, pkt: Packet) -> bool:
            return pkt.proto == 17

        def feed(self, pkt: Packet) -> Iterable[Observation]:
            Counting.fed += 1
            return ()

    fd = FrameDecoder([Counting()])
    frame = sadp_from("198.18.0.10", CAM_MAC)
    feed(fd, frame, frame, frame)
    assert Counting.fed == 1 and fd.stats.repeats == 2


def test_a_failing_decoder_costs_only_its_packet() -> None:
    class Broken(Decoder):
        name: ClassVar[str] = "broken"

        def wants(self, pkt: Packet) -> bool:
            return True

        def feed(self, pkt: Packet) -> Iterable[Observation]:
            raise RuntimeError("bug")

    from camaudit.passive.decoders import all_decoders
    fd = FrameDecoder([Broken(), *all_decoders()])
    [obs] = feed(fd, sadp_from("198.18.0.10", CAM_MAC))
    assert obs.source == "sadp" and fd.stats.errors["broken"] == 1


def test_test_decoders_never_join_the_registry() -> None:
    from camaudit.passive.decoders import decoder_classes
    names = {cls.name for cls in decoder_classes()}
    assert {"arp", "dhcp", "mdns", "upnp", "onvif", "sadp", "dhip", "lldp", "cdp", "snmp"} <= names
    assert not names & {"counting", "broken"}
