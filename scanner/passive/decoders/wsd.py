"""WS-Discovery heard on UDP 3702: Hello announcements and ProbeMatch answers (OASIS
WS-Discovery 1.1 and the 2005/04 dialect ONVIF names).

A Hello carries the same EndpointReference, Types, Scopes and XAddrs as a ProbeMatch, so both
are merged by the active probe's `probes.onvif.Match` (XML through defusedxml, DTDs refused,
lists capped) into an observation with `source` `onvif`. Probes and Byes are not kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from camaudit.observation import Observation, ProbeStatus
from camaudit.passive.decoders.base import UdpPortDecoder
from camaudit.passive.packet import Packet
from camaudit.probes import onvif
from camaudit.probes._io import ProbeFailure

MAX_ANNOUNCEMENTS = 16   # Hello/ProbeMatch elements read per datagram


class WsDiscoveryDecoder(UdpPortDecoder):
    name: ClassVar[str] = "onvif"
    ports: ClassVar[frozenset[int]] = frozenset({onvif.WSD_PORT})

    def feed(self, pkt: Packet) -> Iterable[Observation]:
        if pkt.src_ip is None:
            return ()
        try:
            root = onvif.parse_xml(pkt.payload)
        except ProbeFailure:
            self.unreadable += 1
            return ()
        found = (onvif.find_all(root, "ProbeMatch") + onvif.find_all(root, "Hello"))[:MAX_ANNOUNCEMENTS]
        if not found:
            return ()
        match = onvif.Match(pkt.src_ip)
        for element in found:
            match.merge(element)
        obs = match.observation(self.name, None)
        if obs.status is not ProbeStatus.OK:   # announcements without any field
            self.unreadable += 1
            return ()
        return (obs,)
