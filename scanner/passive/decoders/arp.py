"""ARP (RFC 826) heard on the segment: every request and reply names its sender's IP and MAC.

The observation is the one ARP discovery makes (`source` `arp`, no `data`). ARP probes
(sender address 0.0.0.0, RFC 5227) and senders with a group MAC are not bindings; a reply's
target is the asker, already heard in its own request.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import ClassVar

from camaudit.observation import Observation
from camaudit.passive.decoders.base import Decoder
from camaudit.passive.packet import ETH_ARP, Packet

_ETHERNET_IPV4 = b"\x00\x01\x08\x00\x06\x04"   # hardware Ethernet, protocol IPv4, lengths 6 and 4


class ArpDecoder(Decoder):
    name: ClassVar[str] = "arp"

    def wants(self, pkt: Packet) -> bool:
        return pkt.ethertype == ETH_ARP

    def feed(self, pkt: Packet) -> Iterable[Observation]:
        body = pkt.payload
        if len(body) < 28 or body[:6] != _ETHERNET_IPV4:
            self.unreadable += 1
            return ()
        mac, ip = body[8:14], body[14:18]
        if ip == b"\x00\x00\x00\x00" or mac[0] & 1 or mac == b"\x00" * 6:
            return ()
        return (Observation(source="arp", ip=socket.inet_ntoa(ip), mac=mac.hex(":"), port=None, data={}),)
