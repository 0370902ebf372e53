"""mDNS / DNS-SD answers heard on UDP 5353 (RFC 6762 announcements and responses).

Each response datagram is read by the active probe's merge (`probes.mdns.Device`, over the
bounded reader of `probes._dnswire`: compression loops and runaway names are refused there)
and becomes one observation with the probe's `data` keys. Queries say nothing about their
sender; an unreadable datagram is counted, not kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from camaudit.observation import Observation
from camaudit.passive.decoders.base import UdpPortDecoder
from camaudit.passive.packet import Packet
from camaudit.probes import mdns
from camaudit.probes._dnswire import DnsError


class MdnsDecoder(UdpPortDecoder):
    name: ClassVar[str] = "mdns"
    ports: ClassVar[frozenset[int]] = frozenset({mdns.PORT})

    def feed(self, pkt: Packet) -> Iterable[Observation]:
        if pkt.src_ip is None:
            return ()
        device = mdns.Device(pkt.src_ip)
        try:
            device.merge(pkt.payload)
        except DnsError:
            self.unreadable += 1
            return ()
        obs = device.observation(None) if device.records else None
        return (obs,) if obs is not None else ()
