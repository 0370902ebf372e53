"""SSDP heard on UDP 1900: NOTIFY announcements and M-SEARCH responses (UPnP Device
Architecture 2.0, section 1).

Headers are read by the active probe's parser (`probes.upnp_description.parse_ssdp`) and the
observation is built by `probes.upnp.observation`, so `source` is `upnp` with the keys
`server`, `location`, `st`, `usn`. A NOTIFY's `NT` is its search target and goes to `st`.
The device description behind LOCATION is never fetched: a passive tool sends nothing, so
only the SSDP headers are known (docs/passive.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from camaudit.observation import Observation
from camaudit.passive.decoders.base import UdpPortDecoder
from camaudit.passive.packet import Packet
from camaudit.probes import upnp
from camaudit.probes.upnp_description import parse_ssdp

_NOTIFY = b"NOTIFY * HTTP/1."
_OK_LINE = b"HTTP/1.1 200 OK"


class SsdpDecoder(UdpPortDecoder):
    name: ClassVar[str] = "upnp"
    ports: ClassVar[frozenset[int]] = frozenset({upnp.PORT})

    def feed(self, pkt: Packet) -> Iterable[Observation]:
        if pkt.src_ip is None or pkt.payload.startswith(b"M-SEARCH"):
            return ()   # another host's search: nothing about the sender
        payload = pkt.payload
        if payload.startswith(_NOTIFY):   # same header block as a response: read it as one
            payload = _OK_LINE + payload[payload.find(b"\n"):] if b"\n" in payload else b""
        try:
            reply = parse_ssdp(payload)
        except ValueError:
            self.unreadable += 1
            return ()
        if reply.status != 200:
            self.unreadable += 1
            return ()
        headers = reply.headers
        target, usn = headers.get("ST") or headers.get("NT", ""), headers.get("USN", "")
        device = upnp.Device(pkt.src_ip, server=headers.get("SERVER", ""), location=headers.get("LOCATION", ""),
                             st=[target] if target else [], usn=[usn] if usn else [])
        if not device.answered:
            return ()
        return (upnp.observation(device, None, {}, None),)
