"""Frames in, observations out: `parse_frame` → every decoder that wants the packet → dedup.

Shared by `camaudit import pcap` (offline) and live listening. Every structure here is bounded:
the per-key decoder choice, the set of observations already written, the MAC→IP table.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from camaudit.observation import Observation, dumps_json
from camaudit.passive.decoders import all_decoders
from camaudit.passive.decoders.base import Decoder
from camaudit.passive.defrag import Defragmenter
from camaudit.passive.packet import LINKTYPE_ETHERNET, Packet, parse_frame

MAX_WANT_KEYS = 1 << 16   # (ethertype, proto, sport, dport) combinations remembered
MAX_SEEN = 1 << 18        # observation hashes remembered for de-duplication (~20 MiB at most)
MAX_HEARD = 1 << 16       # datagram hashes remembered to skip repeats (multicast announcements, retries)
MAX_MACS = 1 << 16        # source MACs whose IPs are counted (and, apart, MACs ARP bound)
ROUTER_IPS = 8            # a MAC seen sending from more IPs than this is a router's
# Initial IPv4 TTLs / IPv6 hop limits of the common stacks (RFC 1700's 64, Windows' 128, network
# gear's 255); a packet arriving with one of these, or with at most LINK_SCOPE_TTL (old stacks'
# 32, link-scope multicast's 1-4), has not been forwarded. Anything else a router decremented.
INITIAL_TTLS = frozenset((64, 128, 255))
LINK_SCOPE_TTL = 32
_PORTS = struct.Struct("!HH")


@dataclass(slots=True)
class DecodeStats:
    """Counts for the import summary: frames read, parsed, dropped (by reason), observations
    written and repeats suppressed, observations per decoder, decoder failures."""

    frames: int = 0
    parsed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    observations: int = 0
    duplicates: int = 0
    repeats: int = 0   # datagrams identical to one already decoded (not decoded again)
    decoders: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


def _at(ts: float) -> str | None:
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):   # a capture's absurd timestamp
        return None


class FrameDecoder:
    """Frames in, observations out: parse_frame → every decoder that wants the packet → dedup.

    A datagram (anything but TCP) identical to one already decoded — same sender, ports and
    payload, as multicast announcements and retries are — is not fed again: decoders of
    datagrams are stateless, so it could only repeat the observations already made.
    """

    def __init__(self, decoders: list[Decoder] | None = None) -> None:
        self.decoders = all_decoders() if decoders is None else decoders
        self.stats = DecodeStats()
        self._wants: dict[tuple[int, int, int | None, int | None], tuple[Decoder, ...]] = {}
        self._seen: set[int] = set()
        self._heard: set[int] = set()
        self._macs: dict[bytes, set[bytes]] = {}   # Ethernet source MAC -> source IPs (raw)
        self._arp: dict[str, set[str]] = {}    # MAC -> IPv4 addresses ARP bound to it
        self._defrag = Defragmenter()

    def feed(self, ts: float, frame: bytes, linktype: int) -> list[Observation]:
        stats = self.stats
        stats.frames += 1
        repeat: int | None = None
        if linktype == LINKTYPE_ETHERNET and len(frame) >= 38:
            ethertype = frame[12:14]
            if ethertype == b"\x08\x00":
                _note(self._macs, frame[6:12], frame[26:30])
                # Fast path for an unfragmented IPv4 TCP/UDP packet (most of a capture): one
                # no decoder wants, or a datagram heard before, is settled from its bytes
                # without building a Packet.
                proto = frame[23]
                if frame[14] == 0x45 and not (frame[20] & 0x3F or frame[21]) and proto in (6, 17):
                    sport, dport = _PORTS.unpack_from(frame, 34)
                    wanted = self._wants.get((0x0800, proto, sport, dport))
                    if wanted == ():
                        stats.parsed += 1
                        return []
                    if proto == 17:   # the same hash whether or not the wanted decoders are known yet
                        repeat = hash((frame[6:12], frame[26:30], frame[34:]))
                        if repeat in self._heard:
                            stats.parsed += 1
                            stats.repeats += 1
                            return []
            elif ethertype == b"\x86\xdd" and len(frame) >= 54:
                _note(self._macs, frame[6:12], frame[22:38])
        pkt = parse_frame(ts, frame, linktype, stats.dropped, self._defrag)
        if pkt is None:
            return []
        stats.parsed += 1
        key = (pkt.ethertype, pkt.proto, pkt.sport, pkt.dport)
        wanted = self._wants.get(key)
        if wanted is None:
            wanted = self._choose(key, pkt)
        if not wanted:
            return []
        if pkt.proto != 6:   # a datagram heard before says nothing new: decode it once
            if repeat is None:
                repeat = hash((pkt.src_mac, pkt.src_ip, key, pkt.payload))
            if repeat in self._heard:
                stats.repeats += 1
                return []
            if len(self._heard) >= MAX_HEARD:
                self._heard.clear()
            self._heard.add(repeat)
        out: list[Observation] = []
        for decoder in wanted:
            try:
                found = list(decoder.feed(pkt))
            except Exception:  # noqa: BLE001 - a decoder bug costs its own packet, not the capture
                stats.errors[decoder.name] += 1
                continue
            for obs in found:
                self._emit(obs, decoder.name, pkt, out)
        return out

    def finish(self) -> list[Observation]:
        out: list[Observation] = []
        for decoder in self.decoders:
            try:
                found = list(decoder.finish())
            except Exception:  # noqa: BLE001 - as in feed
                self.stats.errors[decoder.name] += 1
                continue
            for obs in found:
                self._emit(obs, decoder.name, None, out)
        return out

    def _choose(self, key: tuple[int, int, int | None, int | None], pkt: Packet) -> tuple[Decoder, ...]:
        wanted = []
        for decoder in self.decoders:
            try:
                if decoder.wants(pkt):
                    wanted.append(decoder)
            except Exception:  # noqa: BLE001 - as in feed
                self.stats.errors[decoder.name] += 1
        if len(self._wants) >= MAX_WANT_KEYS:
            self._wants.clear()
        chosen = self._wants[key] = tuple(wanted)
        return chosen

    def _emit(self, obs: Observation, name: str, pkt: Packet | None, out: list[Observation]) -> None:
        if pkt is not None:
            # As in a scan, the MAC the frame came from wins over one a reply claims in its
            # payload (SADP/DHIP), so a device cannot file its answers under another's
            # identity; the claimed MAC stays in `data`. A router's MAC speaks for many IPs.
            # ARP tells a router's MAC too: a MAC that ARP bound to other IPv4 addresses only
            # forwarded this packet. So does a TTL no sender starts with (INITIAL_TTLS), even
            # before the router has been seen speaking for many IPs.
            mac = pkt.src_mac
            if (obs.ip is not None and obs.ip == pkt.src_ip and mac is not None and _unicast(mac)
                    and (pkt.ttl in INITIAL_TTLS or pkt.ttl <= LINK_SCOPE_TTL)
                    and len(self._macs.get(bytes.fromhex(mac.replace(":", "")), ())) <= ROUTER_IPS
                    and (mac not in self._arp or obs.ip in self._arp[mac] or ":" in obs.ip)):
                obs.mac = mac
            if obs.at is None:
                obs.at = _at(pkt.ts)
        if obs.source == "arp" and obs.mac is not None and obs.ip is not None:
            _note(self._arp, obs.mac, obs.ip)
        digest = hash((obs.source, obs.ip, obs.mac, obs.port, str(obs.status), obs.error,
                       dumps_json(obs.data)))
        if digest in self._seen:
            self.stats.duplicates += 1
            return
        if len(self._seen) >= MAX_SEEN:
            self._seen.clear()   # a repeat after this is written again: harmless, and memory stays bounded
        self._seen.add(digest)
        self.stats.observations += 1
        self.stats.decoders[name] += 1
        out.append(obs)


def _unicast(mac: str) -> bool:
    """False for group addresses (I/G bit set): never a device's own source address."""
    return not int(mac[1], 16) & 1


def _note(table: dict[Any, set[Any]], mac: Any, ip: Any) -> None:
    """Add `ip` to the IPs seen for `mac`, bounded: at most MAX_MACS MACs, and no more IPs per
    MAC than it takes to call it a router's (ROUTER_IPS + 1). Used for the source IPs of every
    frame's Ethernet source MAC (raw bytes from the header: cheaper than strings, and done for
    every frame, decoded or not, as a router forwards all kinds) and for ARP bindings."""
    ips = table.get(mac)
    if ips is None:
        if len(table) >= MAX_MACS:
            return
        ips = table[mac] = set()
    if len(ips) <= ROUTER_IPS:
        ips.add(ip)
