"""One captured frame as the fields passive decoders need: L2 addresses, IP, ports, payload.

Hand-written with `struct` rather than scapy: a capture holds millions of frames and only a
few protocols matter, so parsing is a handful of slices and one `unpack_from` per layer
(docs/performance.md has the measurement). Bad bytes never raise: a frame that is too short,
claims impossible lengths or carries a link type this module does not know is `None`, and the
reason is counted in the caller's `drops` when one is given.

Link types (tcpdump.org/linktypes.html): 0 BSD loopback, 1 Ethernet (up to two 802.1Q/802.1ad
tags), 12/101/228/229 raw IP, 113 Linux cooked (SLL), 276 Linux cooked v2 (SLL2).
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from dataclasses import dataclass

from camaudit.passive.defrag import Defragmenter

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_RAW_OLD = 0, 1, 101, 12
LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_SLL, LINKTYPE_SLL2 = 228, 229, 113, 276
ETH_IPV4, ETH_IPV6, ETH_ARP, ETH_LLDP = 0x0800, 0x86DD, 0x0806, 0x88CC
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
MAX_VLAN_TAGS = 2
MAX_IPV6_EXTENSIONS = 4   # extension headers walked before the frame is given up
_IPV6_EXTENSIONS = (0, 43, 60)   # hop-by-hop, routing, destination options (fragment: 44)

_IPV4 = struct.Struct("!BxHHHxB2x4s4s")    # ver/ihl, total length, id, flags/offset, proto, src, dst
_IPV6 = struct.Struct("!4xHBx16s16s")      # payload length, next header, src, dst
_TCP = struct.Struct("!HHI4xBB")           # ports, seq, (ack), data offset (high nibble), flags
_UDP = struct.Struct("!HHH")               # ports, length
_PORTS = struct.Struct("!HH")
_FRAG6 = struct.Struct("!HI")             # offset/M bit, identification
_inet_ntoa = socket.inet_ntoa


def _inet6_ntoa(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, raw)


@dataclass(slots=True)
class Packet:
    """What decoders read of one frame; `payload` is the UDP/TCP payload, or for non-IP frames
    the bytes after the L2 header (for 802.3/LLC frames, `ethertype` 0, the LLC header on)."""

    ts: float
    src_mac: str | None
    dst_mac: str | None
    ethertype: int
    src_ip: str | None
    dst_ip: str | None
    proto: int
    sport: int | None
    dport: int | None
    payload: bytes
    tcp_seq: int = 0
    tcp_flags: int = 0
    ttl: int = 0   # IPv4 TTL / IPv6 hop limit (0 when not IP)


def _drop(drops: Counter[str] | None, reason: str) -> None:
    if drops is not None:
        drops[reason] += 1


def parse_frame(ts: float, frame: bytes, linktype: int, drops: Counter[str] | None = None,
                defrag: Defragmenter | None = None) -> Packet | None:
    """None for anything it cannot or need not parse (never raises on bad bytes); the reason
    goes to `drops` (e.g. "fragment", "truncated", "linktype").

    IP fragments: without `defrag`, a first fragment is parsed as far as it goes and the others
    are dropped; with it, fragments are held until their datagram is whole, which is then
    parsed as one packet (on the frame of its last fragment)."""
    src_mac = dst_mac = None
    n = len(frame)
    if linktype == LINKTYPE_ETHERNET:
        if n < 14:
            return _drop(drops, "truncated")
        ethertype = (frame[12] << 8) | frame[13]
        offset = 14
        tags = 0
        while ethertype in _VLAN_TAGS:
            tags += 1
            if tags > MAX_VLAN_TAGS or n < offset + 4:
                return _drop(drops, "vlan")
            ethertype = (frame[offset + 2] << 8) | frame[offset + 3]
            offset += 4
        dst_mac = frame[0:6].hex(":")
        src_mac = frame[6:12].hex(":")
        if ethertype <= 1500:   # IEEE 802.3 length: an LLC frame (CDP, STP)
            return Packet(ts, src_mac, dst_mac, 0, None, None, 0, None, None,
                          frame[offset:offset + ethertype])
        if ethertype < 0x0600:
            return _drop(drops, "ethertype")
    elif linktype in (LINKTYPE_RAW, LINKTYPE_RAW_OLD, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if not n:
            return _drop(drops, "truncated")
        version = frame[0] >> 4
        ethertype = ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else 0
        offset = 0
    elif linktype == LINKTYPE_SLL:
        if n < 16:
            return _drop(drops, "truncated")
        arphrd, addr_len = (frame[2] << 8) | frame[3], (frame[4] << 8) | frame[5]
        if arphrd == 1 and addr_len == 6:
            src_mac = frame[6:12].hex(":")
        ethertype = (frame[14] << 8) | frame[15]
        offset = 16
        if ethertype == 0x0004:   # 802.2 LLC frame
            return Packet(ts, src_mac, None, 0, None, None, 0, None, None, frame[16:])
    elif linktype == LINKTYPE_SLL2:
        if n < 20:
            return _drop(drops, "truncated")
        ethertype = (frame[0] << 8) | frame[1]
        if ((frame[8] << 8) | frame[9]) == 1 and frame[11] == 6:
            src_mac = frame[12:18].hex(":")
        offset = 20
        if ethertype == 0x0004:
            return Packet(ts, src_mac, None, 0, None, None, 0, None, None, frame[20:])
    elif linktype == LINKTYPE_NULL:
        if n < 4:
            return _drop(drops, "truncated")
        family = int.from_bytes(frame[:4], "little") if frame[0] else int.from_bytes(frame[:4], "big")
        ethertype = ETH_IPV4 if family == 2 else ETH_IPV6 if family in (10, 24, 28, 30) else 0
        offset = 4
    else:
        return _drop(drops, "linktype")
    if ethertype == ETH_IPV4:
        return _ipv4(ts, frame, offset, src_mac, dst_mac, drops, defrag)
    if ethertype == ETH_IPV6:
        return _ipv6(ts, frame, offset, src_mac, dst_mac, drops, defrag)
    if ethertype == 0:
        return _drop(drops, "linktype")
    return Packet(ts, src_mac, dst_mac, ethertype, None, None, 0, None, None, frame[offset:])


def _ipv4(ts: float, frame: bytes, offset: int, src_mac: str | None, dst_mac: str | None,
          drops: Counter[str] | None, defrag: Defragmenter | None) -> Packet | None:
    if len(frame) < offset + 20:
        return _drop(drops, "truncated")
    vihl, total, ident, frag, proto, src, dst = _IPV4.unpack_from(frame, offset)
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20 or total < ihl:
        return _drop(drops, "bad-ip")
    ttl = frame[offset + 8]
    # Ethernet pads short frames: the IP total length, not the frame, ends the datagram
    end = min(len(frame), offset + total)
    start = offset + ihl
    src_ip, dst_ip = _inet_ntoa(src), _inet_ntoa(dst)
    if frag & 0x3FFF:   # more-fragments set or a non-zero offset
        if defrag is None:
            if frag & 0x1FFF:
                return _drop(drops, "fragment")   # only the first fragment carries the port header
        else:
            whole = defrag.add((src_ip, dst_ip, ident, proto), ts, (frag & 0x1FFF) * 8, bool(frag & 0x2000),
                               frame[start:end], drops)
            if whole is None:
                return _drop(drops, "fragment-held")
            frame, start, end = whole, 0, len(whole)
    return _transport(ts, frame, start, end, src_mac, dst_mac, ETH_IPV4, proto, src_ip, dst_ip, ttl, drops)


def _ipv6(ts: float, frame: bytes, offset: int, src_mac: str | None, dst_mac: str | None,
          drops: Counter[str] | None, defrag: Defragmenter | None) -> Packet | None:
    if len(frame) < offset + 40:
        return _drop(drops, "truncated")
    length, proto, src, dst = _IPV6.unpack_from(frame, offset)
    hops = frame[offset + 7]
    end = min(len(frame), offset + 40 + length)
    start = offset + 40
    src_ip, dst_ip = _inet6_ntoa(src), _inet6_ntoa(dst)
    for _ in range(MAX_IPV6_EXTENSIONS):
        if proto == 44:   # fragment header: 8 bytes, offset in the upper 13 bits of bytes 2-3, M bit, id
            if end < start + 8:
                return _drop(drops, "truncated")
            place, ident = _FRAG6.unpack_from(frame, start + 2)
            proto, start = frame[start], start + 8
            if defrag is None:
                if place & 0xFFF8:
                    return _drop(drops, "fragment")
                continue
            whole = defrag.add((src_ip, dst_ip, ident, proto), ts, place & 0xFFF8, bool(place & 1),
                               frame[start:end], drops)
            if whole is None:
                return _drop(drops, "fragment-held")
            frame, start, end = whole, 0, len(whole)
            break
        elif proto in _IPV6_EXTENSIONS:
            if end < start + 8:
                return _drop(drops, "truncated")
            proto, start = frame[start], start + 8 + frame[start + 1] * 8
        else:
            break
    else:
        return _drop(drops, "ipv6-extensions")
    return _transport(ts, frame, start, end, src_mac, dst_mac, ETH_IPV6, proto, src_ip, dst_ip, hops, drops)


def _transport(ts: float, frame: bytes, start: int, end: int, src_mac: str | None, dst_mac: str | None,
               ethertype: int, proto: int, src_ip: str, dst_ip: str, ttl: int,
               drops: Counter[str] | None) -> Packet | None:
    if proto == 17:
        if end < start + 8:
            return _drop(drops, "truncated")
        sport, dport, length = _UDP.unpack_from(frame, start)
        stop = min(end, start + length) if length >= 8 else end   # 0: jumbogram / unchecked
        return Packet(ts, src_mac, dst_mac, ethertype, src_ip, dst_ip, 17, sport, dport,
                      frame[start + 8:stop], 0, 0, ttl)
    if proto == 6:
        if end < start + 20:
            return _drop(drops, "truncated")
        sport, dport, seq, data_offset, flags = _TCP.unpack_from(frame, start)
        header = (data_offset >> 4) * 4
        if header < 20:
            return _drop(drops, "bad-tcp")
        return Packet(ts, src_mac, dst_mac, ethertype, src_ip, dst_ip, 6, sport, dport,
                      frame[start + header:end], seq, flags, ttl)
    return Packet(ts, src_mac, dst_mac, ethertype, src_ip, dst_ip, proto, None, None,
                  frame[start:end], 0, 0, ttl)
