"""The one interface every probe implements, and the context every probe may use.

Three kinds, after zgrab2's one-module-per-protocol design:

* `HostProbe` talks to one (host, port) that discovery found open (HTTP, TLS, RTSP,
  ONVIF SOAP, raw banners).
* `UnicastProbe` asks every live host over UDP, whatever its TCP ports (SNMP: a device
  may answer nothing but UDP 161).
* `SweepProbe` sends discovery datagrams on the scan's segment and collects replies from
  many devices (ONVIF WS-Discovery, Hikvision SADP, Dahua DHIP).

Probes never pick targets: they receive hosts that came from the user's target list, and
every connection and datagram goes through the `ProbeContext` protocol, whose
implementation (camaudit.scan_context) enforces the global rate cap, the per-host
concurrency cap and the exclude list. A probe never raises for network trouble: it returns
an Observation whose `status` says what happened.
"""

from __future__ import annotations

import asyncio
import ssl
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar, Protocol

from camaudit.model import Bounds, Datagram, Host
from camaudit.observation import Observation


class ProbeContext(Protocol):
    """Everything a probe may use to touch the network; the engine's scan context implements it.

    Probes depend on this protocol only, never on the engine, so a probe module imports
    `camaudit.probes.base` and `camaudit.model` and nothing above them.
    """

    bounds: Bounds          # timeouts and byte caps every probe obeys
    source_ip: str | None   # the scan's address on its interface (sweeps send from it)
    interface: str | None
    on_link: bool           # the scan has targets on the interface's own segment (multicast reaches them)
    snmp_communities: tuple[str, ...]  # SNMPv2c communities the user configured (secrets; never guessed)
    # SNMPv3 users the user configured (secrets; never guessed): camaudit.probes.snmp_usm.SnmpUser,
    # not named here because that module builds on this one
    snmp_users: tuple[Any, ...]

    def permits(self, ip: str | int) -> bool:
        """True when `ip` is a target of the scan and not excluded."""

    async def open_connection(self, ip: str, port: int, *, ssl: ssl.SSLContext | None = None,
                              server_hostname: str | None = None
                              ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to a permitted target (`ExcludedAddress`, a PermissionError, otherwise) under
        the per-host slot and, unless discovery found the port open, a rate token; within
        `bounds.connect_timeout`. Network errors propagate as the standard exceptions; the
        slot is released when the writer is closed."""

    async def ask(self, payload: bytes, *, group: str, port: int, unicast_to: Iterable[str] = (),
                  wait: float | None = None, repeat: int = 2) -> list[Datagram]:
        """Multicast `payload` on the scan's segment and unicast it to the permitted
        `unicast_to`, each send taking a rate token; the replies of `wait` seconds, size-capped."""

    async def exchange(self, ip: str, port: int, payload: bytes, *, wait: float,
                       resend_after: float | None = None) -> Datagram | None:
        """Send one UDP datagram to a permitted target (a rate token, a host slot) and return
        its first reply within `wait` seconds, size-capped; None when none came. With
        `resend_after`, the datagram is sent again once if unanswered by then."""

    def spend(self, budget: str, ip: str, allowance: int = 1) -> bool:
        """Take one unit of this scan's `budget` for `ip` (e.g. one RPC2 login challenge per
        device, whichever probe or port asks); False once `allowance` units are spent."""


class HostProbe(ABC):
    """A probe of one open TCP port of one host."""

    name: ClassVar[str]                 # the observation `source` it emits
    default_ports: ClassVar[frozenset[int]]  # ports it applies to when open

    def applies_to(self, host: Host, port: int) -> bool:
        return port in self.default_ports

    @abstractmethod
    async def probe(self, host: Host, port: int, ctx: ProbeContext) -> list[Observation]:
        """Return observations (at least one, with a status) for this host and port."""


class UnicastProbe(ABC):
    """A UDP protocol asked of every live host discovery reports, open TCP ports or not (SNMP)."""

    name: ClassVar[str]

    @abstractmethod
    async def probe(self, host: Host, ctx: ProbeContext) -> list[Observation]:
        """Return observations about `host` (none when the probe has nothing to ask)."""


class SweepProbe(ABC):
    """A discovery protocol that asks a whole segment (multicast/broadcast) and/or routed hosts."""

    name: ClassVar[str]

    @abstractmethod
    async def sweep(self, hosts: list[Host], ctx: ProbeContext) -> list[Observation]:
        """Ask the segment (and unicast to `hosts` where the protocol allows); return replies.

        Replies from addresses outside the scan's targets or inside its excludes are dropped
        by the caller, not here, so the rule lives in one place.
        """
