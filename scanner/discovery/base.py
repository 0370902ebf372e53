"""The one interface every discovery backend implements (ARP, TCP connect, nmap, native).

`await discoverer.discover(targets, ctx, on_host)` finds the live addresses among
`targets` and calls `on_host(Host)` once per live host, with the open ports it found, as
soon as it knows them (so the engine probes a host while discovery goes on). It returns
when discovery is done. Every packet goes through `ctx` (the scan context: excludes, rate
cap, per-host cap), and problems the user should know about go to `ctx.warnings`.

A backend is constructed once per scan from `DiscoverySettings` (what the route and the
plan decided) and looked up by name in `camaudit.discovery.DISCOVERERS`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from camaudit.model import Host
from camaudit.probes.base import ProbeContext
from camaudit.targets import TargetSet

OnHost = Callable[[Host], None]
Segment = tuple[ipaddress.IPv4Network, str]  # an on-link subnet of the interface and our address in it
Segment6 = tuple[ipaddress.IPv6Network, str]  # likewise for IPv6 (link-local: zoned, fe80::%lab0/64)


class RateToken(Protocol):
    """The scan's global rate cap: discovery takes one token per packet it sends itself."""

    interval: float  # seconds between tokens (1 / rate)

    async def acquire(self, urgent: bool = False) -> None:
        """Wait for the next token; `urgent` (a single packet) goes before connection attempts."""


class DiscoveryContext(ProbeContext, Protocol):
    """What discovery may use beyond the probe context: the rate cap itself and the warnings."""

    rate: RateToken
    warnings: list[str]


@dataclass(slots=True, frozen=True)
class DiscoverySettings:
    """One scan's discovery options, from the plan and the route."""

    ports: tuple[int, ...]
    rate: float                          # packets per second (nmap's --max-rate)
    segments: tuple[Segment, ...] = ()   # the scan interface's subnets (ARP reaches only these)
    mac: str | None = None               # the interface's MAC (source of ARP requests)
    use_arp: bool | None = None          # None: when privileged and targets are on-link
    arp_wait: float = 0.5                # seconds to wait for ARP replies after the last request
    progress: Callable[[int], None] | None = None  # addresses swept so far (ARP)
    segments6: tuple[Segment6, ...] = ()  # the interface's IPv6 subnets (neighbour solicitation reaches these)
    # called with (ip, MAC) as ARP/NDP hears a neighbour, before its port scan: what needs no
    # open port (UDP services) can start at once
    on_neighbour: Callable[[str, str], None] | None = None


class Discoverer(Protocol):
    """A discovery backend; `arp_used` says afterwards whether MACs came from ARP."""

    arp_used: bool

    async def discover(self, targets: TargetSet, ctx: DiscoveryContext, on_host: OnHost) -> None:
        """Call `on_host` for every live host among `targets`; return when done."""


def on_link(targets: TargetSet, segments: tuple[Segment, ...] | tuple[Segment6, ...]) -> tuple[list[tuple[TargetSet, str]], TargetSet]:
    """Split `targets` into the parts on each segment (with our address there) and the routed rest."""
    parts, routed = [], targets
    for network, source_ip in segments:
        inside, routed = routed.split(network)
        if len(inside):
            parts.append((inside, source_ip))
    return parts, routed
