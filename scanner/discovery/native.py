"""The native discovery backend (`--engine native`, the default): ARP and IPv6 neighbour
solicitation where it can see, TCP connect elsewhere, all at once.

ARP covers the IPv4 targets on the scan interface's own segments and neighbour
solicitation (camaudit.discovery.ndp) the IPv6 ones, when the process may open raw
sockets; every other target (routed, or all of them without the privilege or with
`use_arp` off) is connect-scanned port-major.
"""

from __future__ import annotations

import asyncio

from camaudit.discovery import arp, ndp
from camaudit.discovery.base import DiscoveryContext, DiscoverySettings, OnHost, on_link
from camaudit.discovery.tcp import TcpDiscovery
from camaudit.targets import TargetSet


class NativeDiscovery:
    """ARP/solicit the local segments and connect-scan the rest, concurrently."""

    def __init__(self, settings: DiscoverySettings) -> None:
        self.settings = settings
        self.arp = arp.ArpDiscovery(settings)
        self.ndp = ndp.NdpDiscovery(settings)
        self.tcp = TcpDiscovery(settings)
        self.arp_used = False

    async def discover(self, targets: TargetSet, ctx: DiscoveryContext, on_host: OnHost) -> None:
        use_arp = self.settings.use_arp
        if use_arp is None:
            use_arp = arp.usable(self.settings, targets, ctx.warnings)
        if not use_arp:
            await self.tcp.discover(targets, ctx, on_host)
            return
        routed = on_link(on_link(targets, self.settings.segments)[1], self.settings.segments6)[1]
        await asyncio.gather(self.arp.discover(targets, ctx, on_host), self.ndp.discover(targets, ctx, on_host),
                             self.tcp.discover(routed, ctx, on_host))
        self.arp_used = self.arp.arp_used or self.ndp.arp_used
