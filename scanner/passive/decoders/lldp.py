"""LLDP (IEEE 802.1AB) heard on the segment: switches, routers, phones and many cameras say
their name, system description and management address every 30 s.

`data`: `chassis_id` (a MAC as aa:bb:…, else the text or hex the device sent), `port_id`,
`port_description`, `sys_name`, `sys_descr` (the same text as SNMP sysDescr on the same
device, e.g. "Huawei Versatile Routing Platform Software …"), `capabilities` (names of the
enabled system capabilities), `mgmt_addresses`. `mac` is the chassis MAC when the chassis ID
is one, else the frame's source; `ip` the first IPv4 management address.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any, ClassVar

from camaudit.observation import Observation
from camaudit.passive.decoders.base import Decoder
from camaudit.passive.packet import ETH_LLDP, Packet

MAX_TLVS = 64
MAX_CHARS = 512          # a TLV holds at most 511 bytes
MAX_ADDRESSES = 8
_TEXT = {4: "port_description", 5: "sys_name", 6: "sys_descr"}
CAPABILITIES = ("other", "repeater", "bridge", "wlan-ap", "router", "telephone", "docsis", "station",
                "c-vlan", "s-vlan", "tpmr")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").strip("\x00").strip()[:MAX_CHARS]


def _id(raw: bytes) -> tuple[str, bool]:
    """A chassis/port ID (subtype byte first) as text, and whether it is a MAC address."""
    if len(raw) == 7 and raw[0] in (3, 4):   # MAC address subtypes (port ID 3, chassis ID 4)
        return raw[1:].hex(":"), True
    if len(raw) == 6 and raw[0] == 5 and raw[1] == 1:   # network address subtype, IPv4 family
        return socket.inet_ntoa(raw[2:6]), False
    body = raw[1:]
    printable = all(32 <= b < 127 for b in body)
    return (_text(body) if printable else body[:64].hex()), False


def _mgmt(raw: bytes) -> str | None:
    """The address of a Management Address TLV (IPv4 or IPv6), None for other families."""
    if len(raw) < 2:
        return None
    length, family = raw[0], raw[1]
    addr = raw[2:1 + length]
    if family == 1 and len(addr) == 4:
        return socket.inet_ntoa(addr)
    if family == 2 and len(addr) == 16:
        return socket.inet_ntop(socket.AF_INET6, addr)
    return None


def parse_lldpdu(payload: bytes) -> dict[str, Any] | None:
    """The fields of an LLDPDU; None when it does not start with a chassis ID TLV."""
    data: dict[str, Any] = {}
    pos = 0
    for index in range(MAX_TLVS):
        if pos + 2 > len(payload):
            break
        head = (payload[pos] << 8) | payload[pos + 1]
        kind, length = head >> 9, head & 0x1FF
        value = payload[pos + 2:pos + 2 + length]
        if index == 0 and kind != 1:
            return None
        if len(value) < length:
            break            # cut TLV: keep what came before
        pos += 2 + length
        if kind == 0:
            break
        if kind == 1:
            data["chassis_id"], data["_chassis_mac"] = _id(value)
        elif kind == 2:
            data["port_id"] = _id(value)[0]
        elif kind in _TEXT:
            data[_TEXT[kind]] = _text(value)
        elif kind == 7 and length == 4:
            enabled = (value[2] << 8) | value[3]
            data["capabilities"] = [n for i, n in enumerate(CAPABILITIES) if enabled >> i & 1]
        elif kind == 8:
            addresses: list[str] = data.setdefault("mgmt_addresses", [])
            address = _mgmt(value)
            if address and address not in addresses and len(addresses) < MAX_ADDRESSES:
                addresses.append(address)
    return data if "chassis_id" in data else None


class LldpDecoder(Decoder):
    name: ClassVar[str] = "lldp"

    def wants(self, pkt: Packet) -> bool:
        return pkt.ethertype == ETH_LLDP

    def feed(self, pkt: Packet) -> Iterable[Observation]:
        data = parse_lldpdu(pkt.payload)
        if data is None:
            self.unreadable += 1
            return ()
        chassis_is_mac = data.pop("_chassis_mac", False)
        mac = data["chassis_id"] if chassis_is_mac else pkt.src_mac
        if mac is not None and int(mac[1], 16) & 1:
            mac = None   # a group address is nobody's
        ip = next((a for a in data.get("mgmt_addresses", ()) if "." in a), None)
        if mac is None and ip is None:
            return ()
        return (Observation(source="lldp", ip=ip, mac=mac, port=None, data=data),)
