"""The lab's IPv6 plan: a unique local prefix (RFC 4193) only, and quiet IPv6 on lab links.

* fdca:a0d1::/64 — the scanner's segment on `lab0` (scanner fdca:a0d1::1, router ::fffe);
* fdca:a0d1:0:1::/64 — behind the lab router (router fdca:a0d1:0:1::fffe on `br1`); the scanner's
  only IPv6 route is this /64 via the router, never a default;
* fdca:a0d1:0:2::/64 — the IPv6 fleet (`count=N` with IPv6), macvlan hosts on the scanner's link.

A lab interface gets IPv6 only when the lab holds an IPv6 persona. Before it is switched on,
duplicate address detection, router solicitations, router-advertisement processing and
autoconfiguration are switched off, so addresses are usable at once and the kernel sends
no RS or DAD probes. What it does still send: an MLD report for each multicast group an
interface joins (the solicited-node groups of its addresses when they are added, the
responders' groups when the lab server starts), all before a test starts capturing.
"""

from __future__ import annotations

import ipaddress

from camaudit.lab import netns

LAB_NET6 = ipaddress.IPv6Network("fdca:a0d1::/48")
LOCAL_NET6 = ipaddress.IPv6Network("fdca:a0d1::/64")
ROUTED_NET6 = ipaddress.IPv6Network("fdca:a0d1:0:1::/64")
FLEET_NET6 = ipaddress.IPv6Network("fdca:a0d1:0:2::/64")
NETS6 = {"local": LOCAL_NET6, "routed": ROUTED_NET6}
SCANNER_IP6 = "fdca:a0d1::1"
SCANNER_FLEET_IP6 = "fdca:a0d1:0:2::1"
ROUTER_LAN_IP6 = "fdca:a0d1::fffe"
ROUTER_ROUTED_IP6 = "fdca:a0d1:0:1::fffe"
EUI64 = "eui64"   # a persona's `ipv6 = "eui64"`: the segment's /64 plus the MAC's modified EUI-64

# Set per interface in this order; disable_ipv6 last, so the link-local address it creates
# is born without DAD and no router solicitation ever leaves. keep_addr_on_down: Linux drops
# an interface's IPv6 addresses when its link goes down, and `lab unplug`/`plug` must bring a
# device back with the same addresses, as for IPv4.
QUIET = (("accept_dad", "0"), ("dad_transmits", "0"), ("router_solicitations", "0"),
         ("accept_ra", "0"), ("autoconf", "0"), ("keep_addr_on_down", "1"), ("disable_ipv6", "0"))


def eui64(network: ipaddress.IPv6Network, mac: str) -> str:
    """`network`'s /64 plus the modified EUI-64 interface identifier of `mac` (RFC 4291 App. A)."""
    octets = bytes.fromhex(mac.replace(":", ""))
    iid = bytes([octets[0] ^ 0x02]) + octets[1:3] + b"\xff\xfe" + octets[3:6]
    return str(ipaddress.IPv6Address(network.network_address.packed[:8] + iid))


def persona_address(value: str, segment: str) -> str:
    """Check a persona's `ipv6` value: "eui64" or a host of its segment's /64 other than the
    scanner's ::1 and the router's ::fffe; ValueError says why not."""
    if value == EUI64:
        return value
    net = NETS6[segment]
    try:
        addr = ipaddress.IPv6Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither an IPv6 address nor {EUI64!r}") from None
    if addr not in net or int(addr) & 0xFFFF_FFFF_FFFF_FFFF in (0, 1, 0xFFFE):
        raise ValueError(f"{value} must be a host of {net} other than ::1 and ::fffe (segment {segment})")
    return str(addr)


def enable(ns: str, ifnames: list[str], router: bool = False) -> None:
    """Switch IPv6 on, quietly (see QUIET), for exactly these interfaces of lab namespace `ns`;
    a router also forwards (IPv6 forwarding is one switch per namespace)."""
    if router:
        netns.sysctl(ns, "net.ipv6.conf.all.forwarding", "1")
    for ifname in ifnames:
        for key, value in QUIET:
            netns.sysctl(ns, f"net.ipv6.conf.{ifname}.{key}", value)
