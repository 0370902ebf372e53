"""DHCP client requests heard on UDP 67/68 (RFC 2131, options RFC 2132): what a device says
about itself when it asks for an address.

Kept from BOOTREQUEST messages only (a server's answer describes the server's choices, not
the client): the client hardware address, option 12 host name, 60 vendor class identifier,
55 parameter request list (its order is typical of a DHCP client implementation), 61 client
identifier, 50 requested address, 53 message type. `ip` is the client's `ciaddr` when it
already has one, else none: a requested address is not yet the device's.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any, ClassVar

from camaudit.observation import Observation
from camaudit.passive.decoders.base import UdpPortDecoder
from camaudit.passive.packet import Packet

COOKIE = b"\x63\x82\x53\x63"
OPTIONS_AT = 240            # fixed BOOTP header (236 bytes) + magic cookie
MAX_OPTIONS = 128           # options walked per message
MAX_CHARS = 255             # an option holds at most 255 bytes
MESSAGE_TYPES = {1: "DISCOVER", 3: "REQUEST", 4: "DECLINE", 7: "RELEASE", 8: "INFORM"}
_TEXT = {12: "host_name", 60: "vendor_class"}


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("utf-8", "replace")[:MAX_CHARS]


def parse_request(payload: bytes) -> dict[str, Any] | None:
    """The fields of a client request (with `mac` and `ciaddr`), None when it is not one."""
    if len(payload) < OPTIONS_AT or payload[0] != 1 or payload[236:240] != COOKIE:
        return None
    htype, hlen = payload[1], payload[2]
    out: dict[str, Any] = {}
    if htype == 1 and hlen == 6 and payload[28:34] != b"\x00" * 6:
        out["mac"] = payload[28:34].hex(":")
    ciaddr = payload[12:16]
    if ciaddr != b"\x00\x00\x00\x00":
        out["ciaddr"] = socket.inet_ntoa(ciaddr)
    pos = OPTIONS_AT
    for _ in range(MAX_OPTIONS):
        if pos >= len(payload):
            break
        code = payload[pos]
        if code == 0:        # pad
            pos += 1
            continue
        if code == 255 or pos + 1 >= len(payload):
            break
        length = payload[pos + 1]
        value = payload[pos + 2:pos + 2 + length]
        if len(value) < length:
            break            # cut option: keep what came before
        pos += 2 + length
        if code in _TEXT:
            out[_TEXT[code]] = _text(value)
        elif code == 55:
            out["parameter_list"] = ",".join(str(b) for b in value)
        elif code == 61:
            out["client_id"] = value.hex()
        elif code == 50 and length == 4:
            out["requested_ip"] = socket.inet_ntoa(value)
        elif code == 53 and length == 1:
            out["message_type"] = MESSAGE_TYPES.get(value[0], str(value[0]))
    return out


class DhcpDecoder(UdpPortDecoder):
    name: ClassVar[str] = "dhcp"
    ports: ClassVar[frozenset[int]] = frozenset({67})

    def feed(self, pkt: Packet) -> Iterable[Observation]:
        if pkt.dport != 67:
            return ()
        fields = parse_request(pkt.payload)
        if fields is None:
            self.unreadable += 1
            return ()
        mac, ip = fields.pop("mac", None), fields.pop("ciaddr", None)
        if mac is None and ip is None:
            return ()
        return (Observation(source="dhcp", ip=ip, mac=mac, port=67, data=fields),)
