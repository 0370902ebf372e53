"""IPv6 neighbour discovery of named on-link targets: who is alive, and with which MAC.

The IPv6 counterpart of ARP (RFC 4861 section 7.2): one Neighbor Solicitation per permitted
target address, sent to that address's solicited-node multicast group (ff02::1:ffXX:XXXX,
RFC 4291 section 2.7.1, which only the owner of the address joins) at the scan's rate cap;
the Neighbor Advertisement that answers carries the target's MAC. This is the only IPv6
multicast a scan sends unless `--discover-ipv6` asks for more (docs/scanning.md).

scapy builds the solicitation once; the sweep patches the target, its group and the
ICMPv6 checksum into that template per address and sends it through `arp.link_sweep`
(same socket handling, rate cap, exclude check and reply filter as ARP).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterator

from camaudit.discovery import arp
from camaudit.discovery.base import DiscoveryContext, on_link
from camaudit.targets import TargetSet

ETH_P_IPV6 = 0x86DD
ICMPV6 = 58
NS, NA = 135, 136
OPT_SOURCE_LL, OPT_TARGET_LL = 1, 2
IP6 = 14                   # the IPv6 header follows the Ethernet header
ICMP = IP6 + 40            # the ICMPv6 message follows the (extension-free) IPv6 header
NS_LENGTH = 32             # type..reserved (8) + target (16) + source link-layer option (8)


def solicited_node(address: ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    """ff02::1:ff00:0/104 plus the low 24 bits of `address` (RFC 4291 section 2.7.1)."""
    return ipaddress.IPv6Address(int(ipaddress.IPv6Address("ff02::1:ff00:0")) | (int(address) & 0xFFFFFF))


def solicitation_template(mac: str, source_ip: str) -> bytes:
    """A Neighbor Solicitation from our MAC/address for target :: (patched per address)."""
    from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6
    from scapy.layers.l2 import Ether

    return bytes(Ether(src=mac, dst="33:33:ff:00:00:00") / IPv6(src=source_ip.split("%")[0], dst="ff02::1:ff00:0", hlim=255)
                 / ICMPv6ND_NS(tgt="::") / ICMPv6NDOptSrcLLAddr(lladdr=mac))


def checksum(source: bytes, destination: bytes, message: bytes) -> int:
    """The ICMPv6 checksum of `message` (its checksum field zero) over the pseudo-header (RFC 4443 2.3)."""
    data = source + destination + struct.pack("!I3xB", len(message), ICMPV6) + message
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def patch(template: bytearray, target: ipaddress.IPv6Address) -> bytes:
    """The solicitation for `target`: its group as destination (MAC 33:33 + the group's low
    32 bits, RFC 2464 section 7), the target field, the checksum."""
    group = solicited_node(target).packed
    template[0:6] = b"\x33\x33" + group[12:]
    template[IP6 + 24:IP6 + 40] = group
    template[ICMP + 8:ICMP + 24] = target.packed
    template[ICMP + 2:ICMP + 4] = b"\0\0"
    message = bytes(template[ICMP:ICMP + NS_LENGTH])
    template[ICMP + 2:ICMP + 4] = struct.pack("!H", checksum(bytes(template[IP6 + 8:IP6 + 24]), group, message))
    return bytes(template)


def parse_advertisement(frame: bytes, our_ip: bytes, zone: str) -> tuple[str, str] | None:
    """(target, MAC) of a Neighbor Advertisement sent to `our_ip`, else None.

    Only a valid one counts (RFC 4861 section 7.1.2: hop limit 255, code 0); the MAC is the
    target link-layer option, else the frame's source. A link-local target gets `zone`.
    """
    if len(frame) < ICMP + 24 or frame[12:14] != b"\x86\xdd" or frame[IP6 + 6] != ICMPV6:
        return None
    if frame[IP6 + 7] != 255 or frame[IP6 + 24:IP6 + 40] != our_ip or frame[ICMP] != NA or frame[ICMP + 1] != 0:
        return None
    target = ipaddress.IPv6Address(frame[ICMP + 8:ICMP + 24])
    mac = frame[6:12]
    offset = ICMP + 24
    while offset + 8 <= len(frame) and frame[offset + 1]:
        if frame[offset] == OPT_TARGET_LL:
            mac = frame[offset + 2:offset + 8]
            break
        offset += frame[offset + 1] * 8
    text = f"{target}%{zone}" if target.is_link_local and zone else str(target)
    return text, mac.hex(":")


async def sweep(targets: TargetSet, ctx: DiscoveryContext, interface: str, mac: str, source_ip: str, *, wait: float,
                progress: Callable[[int], None] | None = None,
                on_found: Callable[[str, str], None] | None = None,
                warnings: list[str] | None = None) -> dict[str, str]:
    """Solicit every permitted IPv6 address of `targets` on `interface` from `source_ip`/`mac`;
    ip -> MAC of each advertisement, `on_found(ip, mac)` as each first one arrives."""
    address = source_ip.split("%")[0]
    template = bytearray(solicitation_template(mac, address))
    our_ip = ipaddress.IPv6Address(address).packed

    def frames() -> Iterator[bytes]:
        for zone, first, last in targets.allowed6:
            for value in range(first, last + 1):
                target = ipaddress.IPv6Address(value)
                if ctx.permits(f"{target}%{zone}" if zone else str(target)):  # the one exclude rule, per packet
                    yield patch(template, target)

    return await arp.link_sweep(frames(), ctx, interface, ETH_P_IPV6,
                                lambda frame: parse_advertisement(frame, our_ip, interface),
                                wait=wait, what="neighbour solicitations", progress=progress,
                                on_found=on_found, warnings=warnings)


class NdpDiscovery(arp.ArpDiscovery):
    """Solicit the IPv6 targets on the interface's IPv6 segments; each answer is port-scanned
    at once. Routed IPv6 targets are not its own (the native backend connect-scans them)."""

    sweep = staticmethod(sweep)

    def on_link(self, targets: TargetSet) -> list[tuple[TargetSet, str]]:
        return on_link(targets, self.settings.segments6)[0]
