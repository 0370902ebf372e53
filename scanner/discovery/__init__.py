"""Discovery backends behind one interface (scanner.discovery.base), looked up by name.

Adding a backend: a module with a class taking `DiscoverySettings` and implementing
`Discoverer`, and one row here.
"""

from __future__ import annotations

from collections.abc import Callable

from scanner.discovery.arp import ArpDiscovery
from scanner.discovery.base import Discoverer, DiscoverySettings
from scanner.discovery.native import NativeDiscovery
from scanner.discovery.nmap import NmapDiscovery
from scanner.discovery.tcp import TcpDiscovery

DISCOVERERS: dict[str, Callable[[DiscoverySettings], Discoverer]] = {
    "native": NativeDiscovery,
    "nmap": NmapDiscovery,
    "arp": ArpDiscovery,
    "tcp": TcpDiscovery,
}
