"""Which interface, source addresses and on-link segments a scan uses, decided by the kernel.

The answer comes from the *calling thread's* network namespace: a UDP `connect()` asks the
kernel for the route without sending anything, and `ip -j addr` (a child of this thread,
so in the same namespace) lists the interfaces' addresses — all of them, secondaries too,
which ioctls cannot see. A scanner started inside a lab namespace therefore sees that
namespace's routes, never the host's. A target without a route is refused with a clear
error instead of being sent towards a guessed interface.

IPv6 addresses are listed too: a link-local one with its zone (`fe80::1%lab0`), its segment
fe80::/64 of that interface only. IPv6 segments are kept apart from IPv4 ones (`segments6`),
so IPv4 discovery (ARP, the multicast sweeps) never sees an IPv6 target as on-link.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
from dataclasses import dataclass

from camaudit.targets import TargetSet

MAX_ROUTE_CHECKS = 256  # route-check the first address of at most this many target intervals


class RouteError(RuntimeError):
    """No usable route or interface for the targets; the message says which and what to do."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Address:
    interface: str
    ip: str               # a link-local IPv6 address carries its zone: fe80::1%lab0
    network: Network      # likewise its segment: fe80::%lab0/64
    mac: str | None


@dataclass(frozen=True, slots=True)
class Route:
    interface: str
    source_ip: str                   # the source towards the first target (multicast goes out here)
    segments: tuple[tuple[ipaddress.IPv4Network, str], ...]  # the interface's subnets + our address in each
    mac: str | None                  # the interface's MAC (None on L3-only links such as lo)
    own_addresses: tuple[str, ...]   # every address of this namespace, both families: never probed
    segments6: tuple[tuple[ipaddress.IPv6Network, str], ...] = ()  # the interface's IPv6 subnets


def addresses() -> list[Address]:
    """Every IPv4 and IPv6 address of every interface in this thread's namespace."""
    try:
        out = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, check=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RouteError(f"cannot list interfaces with `ip -j addr show` ({exc}); is iproute2 installed?") from None
    result = []
    for link in json.loads(out or b"[]"):
        mac = link.get("address") if link.get("link_type") == "ether" else None
        for info in link.get("addr_info", []):
            ip, zone = info.get("local", ""), ""
            if info.get("family") == "inet6" and info.get("scope") == "link":
                zone = f"%{link['ifname']}"
            elif info.get("family") not in ("inet", "inet6"):
                continue
            network = ipaddress.ip_network(f"{ip}/{info['prefixlen']}", strict=False)
            if zone:  # the network keeps the zone too (ip_network drops it), so splits go per link
                network = ipaddress.IPv6Network(f"{network.network_address}{zone}/{network.prefixlen}")
            result.append(Address(link["ifname"], ip + zone, network, mac))
    return result


def source_for(ip: str) -> str:
    """The source address the kernel would use towards `ip`; RouteError when there is no route."""
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((ip, 9))  # UDP connect: a route lookup, no packet is sent
        except OSError as exc:
            raise RouteError(f"no route to target {ip} from this host/namespace ({exc.strerror}); "
                             "check the targets or the routing table, or pass --interface") from None
        return sock.getsockname()[0]


def resolve(targets: TargetSet, interface: str | None = None) -> Route:
    """Pick the interface for the targets: `interface` if given, else the route to them."""
    addrs = addresses()
    own = tuple(sorted({a.ip for a in addrs}))
    firsts = [str(ipaddress.IPv4Address(first)) for first, _ in targets.allowed[:MAX_ROUTE_CHECKS]]
    firsts += [f"{ipaddress.IPv6Address(first)}%{zone}" if zone else str(ipaddress.IPv6Address(first))
               for zone, first, _ in targets.allowed6[:MAX_ROUTE_CHECKS - len(firsts)]]
    sources = [source_for(ip) for ip in firsts]
    if interface is None:
        chosen = next((a for a in addrs if a.ip == sources[0]), None)
        if chosen is None:
            raise RouteError(f"the route to the targets uses source address {sources[0]}, which no "
                             "interface here holds; pass --interface")
        interface = chosen.interface
    mine = [a for a in addrs if a.interface == interface]
    if not mine:
        names = sorted({a.interface for a in addrs})
        raise RouteError(f"interface {interface!r} does not exist or has no IP address here "
                         f"(have: {', '.join(names) or 'none'})")
    source = next((a.ip for a in mine if a.ip == sources[0]), mine[0].ip)
    return Route(interface, source, tuple((a.network, a.ip) for a in mine if a.network.version == 4),
                 mine[0].mac, own, tuple((a.network, a.ip) for a in mine if a.network.version == 6))
