"""The one interface every probe implements, and the bounds every probe obeys.

Two kinds, after zgrab2's one-module-per-protocol design:

* `HostProbe` talks to one (host, port) that discovery found open (HTTP, TLS, RTSP,
  ONVIF SOAP, raw banners).
* `SweepProbe` sends discovery datagrams on the scan's segment and collects replies from
  many devices (ONVIF WS-Discovery, Hikvision SADP, Dahua DHIP).

Probes never pick targets: they receive hosts that came from the user's target list, and
every connection and datagram goes through `ProbeContext`, which enforces the global rate
cap, the per-host concurrency cap and the exclude list. A probe never raises for network
trouble: it returns an Observation whose `status` says what happened.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from scanner.observation import Observation


@dataclass(slots=True)
class Host:
    """A live address that discovery found, with what it learnt about it."""

    ip: str
    mac: str | None = None
    open_ports: frozenset[int] = field(default_factory=frozenset)


@dataclass(slots=True, frozen=True)
class Bounds:
    """Per-probe budgets: a misbehaving device costs at most this much."""

    connect_timeout: float = 1.0
    read_timeout: float = 2.0       # whole-answer budget, not per read
    max_bytes: int = 64 * 1024      # answers are truncated here and marked too-large
    max_header_bytes: int = 16 * 1024
    max_datagram_bytes: int = 16 * 1024


class HostProbe(ABC):
    """A probe of one open TCP port of one host."""

    name: ClassVar[str]                 # the observation `source` it emits
    default_ports: ClassVar[frozenset[int]]  # ports it applies to when open

    def applies_to(self, host: Host, port: int) -> bool:
        return port in self.default_ports

    @abstractmethod
    async def probe(self, host: Host, port: int, ctx: "ProbeContext") -> list[Observation]:
        """Return observations (at least one, with a status) for this host and port."""


class SweepProbe(ABC):
    """A discovery protocol that asks a whole segment (multicast/broadcast) and/or routed hosts."""

    name: ClassVar[str]

    @abstractmethod
    async def sweep(self, hosts: list[Host], ctx: "ProbeContext") -> list[Observation]:
        """Ask the segment (and unicast to `hosts` where the protocol allows); return replies.

        Replies from addresses outside the scan's targets or inside its excludes are dropped
        by the caller, not here, so the rule lives in one place.
        """


# ProbeContext lives in scanner.engine (it owns the rate limiter and the excludes); probes
# only depend on its methods, documented there.
