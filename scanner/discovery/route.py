"""Which interface and source address a scan uses, decided by the kernel's routes.

The answer comes from the routing table of the *calling thread's* network namespace (a
UDP `connect()` asks the kernel for the route without sending anything; interface data
comes from ioctls on a socket made here), so a scanner started inside a lab namespace sees
that namespace's routes, never the host's. A target without a route is refused with a
clear error instead of being sent towards a guessed interface.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from dataclasses import dataclass

from scanner.targets import TargetSet

SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFHWADDR = 0x8915, 0x891B, 0x8927
MAX_ROUTE_CHECKS = 256  # route-check the first address of at most this many target intervals


class RouteError(RuntimeError):
    """No usable route or interface for the targets; the message says which and what to do."""


@dataclass(frozen=True, slots=True)
class Route:
    interface: str
    source_ip: str
    network: ipaddress.IPv4Network   # the interface's own subnet: its targets are on-link
    mac: str | None                  # the interface's MAC (None on L3-only links)
    own_addresses: tuple[str, ...]   # every IPv4 address of this namespace: never probed


def _ioctl(sock: socket.socket, request: int, name: str) -> bytes | None:
    try:
        return fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name.encode()[:15]))
    except OSError:
        return None


def interfaces() -> dict[str, tuple[str, str, str | None]]:
    """name -> (address, netmask, mac) for every interface with an IPv4 address, in this namespace."""
    out: dict[str, tuple[str, str, str | None]] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            addr = _ioctl(sock, SIOCGIFADDR, name)
            mask = _ioctl(sock, SIOCGIFNETMASK, name)
            if addr is None or mask is None:
                continue
            hw = _ioctl(sock, SIOCGIFHWADDR, name)
            mac = hw[18:24].hex(":") if hw is not None else None
            if mac == "00:00:00:00:00:00":
                mac = None
            out[name] = (socket.inet_ntoa(addr[20:24]), socket.inet_ntoa(mask[20:24]), mac)
    return out


def source_for(ip: str) -> str:
    """The source address the kernel would use towards `ip`; RouteError when there is no route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((ip, 9))  # UDP connect: a route lookup, no packet is sent
        except OSError as exc:
            raise RouteError(f"no route to target {ip} from this host/namespace ({exc.strerror}); "
                             "check the targets or the routing table, or pass --interface") from None
        return sock.getsockname()[0]


def resolve(targets: TargetSet, interface: str | None = None) -> Route:
    """Pick the interface for the targets: `interface` if given, else the route to them."""
    ifaces = interfaces()
    own = tuple(sorted({addr for addr, _, _ in ifaces.values()}))
    sources = {source_for(str(ipaddress.IPv4Address(first)))
               for first, _ in targets.allowed[:MAX_ROUTE_CHECKS]}
    if interface is None:
        by_addr = {addr: name for name, (addr, _, _) in ifaces.items()}
        chosen = sorted(sources)[0]
        interface = by_addr.get(chosen)
        if interface is None:
            raise RouteError(f"the route to the targets uses source address {chosen}, which no "
                             "interface holds as its primary address; pass --interface")
    elif interface not in ifaces:
        raise RouteError(f"interface {interface!r} does not exist or has no IPv4 address here "
                         f"(have: {', '.join(sorted(ifaces)) or 'none'})")
    addr, mask, mac = ifaces[interface]
    network = ipaddress.IPv4Network(f"{addr}/{mask}", strict=False)
    return Route(interface, addr, network, mac, own)
