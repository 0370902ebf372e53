"""IPv6 discovery without a network: the neighbour solicitation frame, the advertisement
reader (hostile frames included), what --discover-ipv6 keeps from answers, and how learned
addresses join the targets without getting past an exclude."""

from __future__ import annotations

import ipaddress

import pytest

from camaudit.discovery import multicast6, ndp
from camaudit.targets import build_targets

MAC = "02:00:00:00:00:01"
OURS = "fdca:a0d1::1"
TARGET = ipaddress.IPv6Address("fdca:a0d1::12:3456")


def advertisement(target: str = str(TARGET), dst: str = OURS, hlim: int = 255, code: int = 0,
                  tll: str | None = "c0:56:e3:10:01:10", src_mac: str = "c0:56:e3:ff:ff:ff") -> bytes:
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
    from scapy.layers.l2 import Ether

    pkt = Ether(src=src_mac, dst=MAC) / IPv6(src=target.split("%")[0], dst=dst, hlim=hlim) / ICMPv6ND_NA(
        tgt=target.split("%")[0], code=code, R=0, S=1, O=1)
    if tll:
        pkt = pkt / ICMPv6NDOptDstLLAddr(lladdr=tll)
    return bytes(pkt)


def test_solicitation_goes_to_the_solicited_node_group_with_a_valid_checksum() -> None:
    from scapy.layers.inet6 import ICMPv6ND_NS, IPv6
    from scapy.layers.l2 import Ether

    frame = ndp.patch(bytearray(ndp.solicitation_template(MAC, OURS)), TARGET)
    pkt = Ether(frame)
    assert pkt[Ether].dst == "33:33:ff:12:34:56"
    assert (pkt[IPv6].dst, pkt[IPv6].hlim, pkt[ICMPv6ND_NS].tgt) == ("ff02::1:ff12:3456", 255, str(TARGET))
    checksum = pkt[ICMPv6ND_NS].cksum
    del pkt[ICMPv6ND_NS].cksum
    assert Ether(bytes(pkt))[ICMPv6ND_NS].cksum == checksum   # scapy computes the same


def test_advertisement_to_us_gives_target_and_its_link_layer_option() -> None:
    our = ipaddress.IPv6Address(OURS).packed
    assert ndp.parse_advertisement(advertisement(), our, "lab0") == (str(TARGET), "c0:56:e3:10:01:10")
    # without the option: the frame's source MAC
    assert ndp.parse_advertisement(advertisement(tll=None), our, "lab0") == (str(TARGET), "c0:56:e3:ff:ff:ff")
    # link-local targets keep the interface as zone
    assert ndp.parse_advertisement(advertisement("fe80::1", dst=OURS), our, "lab0") == ("fe80::1%lab0", "c0:56:e3:10:01:10")


@pytest.mark.parametrize("frame", [
    advertisement(hlim=64),                      # forwarded: not from the link (RFC 4861 7.1.2)
    advertisement(code=1),
    advertisement(dst="fdca:a0d1::99"),          # for someone else
    advertisement()[:70],                        # truncated
    b"\x00" * 200,
    advertisement()[:-8] + b"\x02\x00" + b"\xff" * 6,   # zero-length option: must not loop
])
def test_invalid_or_foreign_advertisements_are_ignored_or_read_safely(frame: bytes) -> None:
    got = ndp.parse_advertisement(frame, ipaddress.IPv6Address(OURS).packed, "lab0")
    assert got is None or got == (str(TARGET), "c0:56:e3:ff:ff:ff")


def test_an_option_length_past_the_frame_end_is_not_read() -> None:
    frame = advertisement(tll=None) + b"\x01\xff" + b"\x00" * 6   # source LL option claiming 2040 bytes
    assert ndp.parse_advertisement(frame, ipaddress.IPv6Address(OURS).packed, "lab0") == (str(TARGET), "c0:56:e3:ff:ff:ff")


def test_answer_sources_kept_zoned_and_never_multicast_unspecified_or_our_own() -> None:
    own = {"fdca:a0d1::1", "fe80::1%lab0"}
    assert multicast6._learned("fe80::99", "lab0", own) == "fe80::99%lab0"
    assert multicast6._learned("fe80::99%lab0", "lab0", own) == "fe80::99%lab0"
    assert multicast6._learned("FDCA:A0D1::0010", "lab0", own) == "fdca:a0d1::10"
    for source in ("ff02::1", "::", "::1", "fdca:a0d1::1", "fe80::1", "198.18.0.1", "not an address"):
        assert multicast6._learned(source, "lab0", own) is None, source


def test_learned_addresses_join_the_targets_but_never_past_an_exclude() -> None:
    targets = build_targets(["198.18.0.10", "fdca:a0d1::ff00/120"], excludes=["fe80::5", "fdca:a0d1::83"])
    extended = multicast6.extend(targets, ["fe80::5%lab0", "fe80::6%lab0", "fdca:a0d1::83", "fdca:a0d1::10",
                                           "198.18.0.99", "fe80::7"])
    assert [a for a in ("fe80::6%lab0", "fdca:a0d1::10", "fdca:a0d1::ff01", "198.18.0.10") if extended.permits(a)] == \
        ["fe80::6%lab0", "fdca:a0d1::10", "fdca:a0d1::ff01", "198.18.0.10"]
    # a zoneless link-local exclude holds on every interface; an IPv4 or zoneless learned address adds nothing
    assert not [a for a in ("fe80::5%lab0", "fdca:a0d1::83", "198.18.0.99", "fe80::6%eth1") if extended.permits(a)]
    assert multicast6.extend(targets, []) is targets
