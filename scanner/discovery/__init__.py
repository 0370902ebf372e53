"""Discovery backends behind one interface (camaudit.discovery.base), looked up by name.

Adding a backend: a module with a class taking `DiscoverySettings` and implementing
`Discoverer`, and one row here.
"""

from __future__ import annotations

from collections.abc import Callable

from camaudit.discovery.arp import ArpDiscovery
from camaudit.discovery.base import Discoverer, DiscoverySettings
from camaudit.discovery.native import NativeDiscovery
from camaudit.discovery.nmap import NmapDiscovery
from camaudit.discovery.tcp import TcpDiscovery

DISCOVERERS: dict[str, Callable[[DiscoverySettings], Discoverer]] = {
    "native": NativeDiscovery,
    "nmap": NmapDiscovery,
    "arp": ArpDiscovery,
    "tcp": TcpDiscovery,
}
