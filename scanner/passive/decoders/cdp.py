"""CDP (Cisco Discovery Protocol, 802.2 SNAP OUI 00:00:0c type 0x2000) heard on the segment.

Cisco gear and devices that imitate it (some Huawei and H3C switches can send CDP) announce a
device ID, platform and software version. TLV layout after Wireshark's packet-cdp.c
dissector: a 4-byte header (version, TTL, checksum), then type/length pairs whose length
counts the 4-byte TLV header.

`data`: `device_id`, `platform`, `software_version`, `port_id`, `addresses` (IPv4). `mac`
is the frame's source, `ip` the first address.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any, ClassVar

from camaudit.observation import Observation
from camaudit.passive.decoders.base import Decoder
from camaudit.passive.packet import Packet

SNAP = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00"
MAX_TLVS = 64
MAX_CHARS = 512
MAX_ADDRESSES = 8
_TEXT = {1: "device_id", 3: "port_id", 5: "software_version", 6: "platform"}


def _addresses(raw: bytes) -> list[str]:
    """IPv4 entries of an Addresses TLV: count, then (protocol type, length, protocol, length, address)."""
    out: list[str] = []
    if len(raw) < 4:
        return out
    count, pos = int.from_bytes(raw[:4], "big"), 4
    for _ in range(min(count, MAX_ADDRESSES)):
        if pos + 2 > len(raw):
            break
        proto_len = raw[pos + 1]
        proto = raw[pos + 2:pos + 2 + proto_len]
        pos += 2 + proto_len
        if pos + 2 > len(raw):
            break
        addr_len = int.from_bytes(raw[pos:pos + 2], "big")
        addr = raw[pos + 2:pos + 2 + addr_len]
        pos += 2 + addr_len
        if proto == b"\xcc" and len(addr) == 4:   # NLPID 0xcc: IPv4
            out.append(socket.inet_ntoa(addr))
    return out


def parse_cdp(payload: bytes) -> dict[str, Any] | None:
    """The fields of a CDP frame (LLC/SNAP header included); None when it is not CDP."""
    if not payload.startswith(SNAP) or len(payload) < len(SNAP) + 4:
        return None
    data: dict[str, Any] = {}
    pos = len(SNAP) + 4
    for _ in range(MAX_TLVS):
        if pos + 4 > len(payload):
            break
        kind = int.from_bytes(payload[pos:pos + 2], "big")
        length = int.from_bytes(payload[pos + 2:pos + 4], "big")
        if length < 4 or pos + length > len(payload):
            break            # a cut or impossible TLV ends the frame; what came before stays
        value = payload[pos + 4:pos + length]
        pos += length
        if kind in _TEXT:
            data[_TEXT[kind]] = value.decode("utf-8", "replace").strip("\x00").strip()[:MAX_CHARS]
        elif kind == 2:
            data["addresses"] = _addresses(value)
    return data


class CdpDecoder(Decoder):
    name: ClassVar[str] = "cdp"

    def wants(self, pkt: Packet) -> bool:
        return pkt.ethertype == 0   # 802.3/LLC frames; the SNAP header is checked in feed

    def feed(self, pkt: Packet) -> Iterable[Observation]:
        if not pkt.payload.startswith(SNAP):
            return ()   # another LLC protocol (STP…)
        data = parse_cdp(pkt.payload)
        if not data:
            self.unreadable += 1
            return ()
        mac = pkt.src_mac if pkt.src_mac and not int(pkt.src_mac[1], 16) & 1 else None
        ip = next(iter(data.get("addresses", ())), None)
        if mac is None and ip is None:
            return ()
        return (Observation(source="cdp", ip=ip, mac=mac, port=None, data=data),)
