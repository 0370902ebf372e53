"""Finding IPv6 hosts nobody named, on one link, only when the user asks (`--discover-ipv6`,
`--use-neighbour-cache`).

An IPv6 segment (a /64) cannot be swept address by address, so its hosts are learned from
what answers on the link (docs/scanning.md, "IPv6 discovery"):

* `--discover-ipv6`: an ICMPv6 echo request to ff02::1 (all nodes, RFC 4291 section 2.7.1)
  from each of our addresses on the interface (link-local and each unique-local/global one,
  so hosts answer from the matching scope), a WS-Discovery Probe to [ff02::c]:3702, an mDNS
  query for `_services._dns-sd._udp.local` to [ff02::fb]:5353 from an ephemeral port (a
  legacy query, RFC 6762 section 6.7, so answers come back unicast and we join no group) and
  an SSDP M-SEARCH to [ff02::c]:1900, each once, each at the rate cap, with hop limit 1;
* `--use-neighbour-cache`: the host's IPv6 neighbour table for the interface
  (`ip -6 neigh`), read without sending anything.

Every source address of an answer is learned (a link-local one with its zone,
`fe80::1%eth0`). Learned addresses become targets when `--discover-ipv6` was given for the
interface (excludes still win); otherwise only those inside the named targets are scanned,
as they would have been anyway. The multicast answers' contents are not kept: the learned
hosts are solicited, port-scanned and probed like named ones.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import struct
import subprocess
import uuid
from collections import defaultdict
from collections.abc import Iterable

from camaudit.discovery.base import RateToken
from camaudit.targets import V4, TargetSet, address_key, merge

ECHO_REQUEST, ECHO_REPLY = 128, 129
MAX_LEARNED = 4096          # addresses one discovery keeps; a flood beyond that is dropped
MAX_DATAGRAM = 9000         # bytes read per answer (only its source address is used)
MAX_NEIGHBOURS_BYTES = 4 << 20
ALL_NODES = "ff02::1"
WSD = ("ff02::c", 3702)
MDNS = ("ff02::fb", 5353)
SSDP = ("ff02::c", 1900)


def wsd_probe() -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><e:Header>'
            f'<w:MessageID>uuid:{uuid.uuid4()}</w:MessageID><w:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>'
            '<w:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action>'
            '</e:Header><e:Body><d:Probe/></e:Body></e:Envelope>').encode()


MDNS_QUERY = (struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 0) + b"\x09_services\x07_dns-sd\x04_udp\x05local\x00"
              + struct.pack("!HH", 12, 1))
SSDP_SEARCH = (b'M-SEARCH * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\n'
               b"ST: ssdp:all\r\n\r\n")


def _learned(address: str, interface: str, own: set[str]) -> str | None:
    """The address to keep from an answer's source: zoned when link-local, None for our own,
    multicast or unspecified sources."""
    try:
        ip = ipaddress.IPv6Address(address.split("%")[0])
    except ValueError:
        return None
    if ip.is_multicast or ip.is_unspecified or ip.is_loopback:
        return None
    text = f"{ip}%{interface}" if ip.is_link_local else str(ip)
    return None if text in own else text


def _socket(kind: int, proto: int, ifindex: int, source: str | None) -> socket.socket:
    """A socket that sends link-scope multicast on `ifindex` only, hop limit 1, from `source`."""
    sock = socket.socket(socket.AF_INET6, kind, proto)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        if source is not None:
            address = source.split("%")[0]
            sock.bind((address, 0, 0, ifindex if ipaddress.IPv6Address(address).is_link_local else 0))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def learn(interface: str, sources: Iterable[str], own: Iterable[str], rate: RateToken,
                wait: float, warnings: list[str]) -> list[str]:
    """Send the --discover-ipv6 multicast on `interface` (from each of `sources`, our IPv6
    addresses there) and return the addresses that answered within `wait` seconds; a send
    that fails is a warning, not the end of the scan."""
    ifindex = socket.if_nametoindex(interface)
    own_set = set(own)
    ident = os.getpid() & 0xFFFF
    echo = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, 1) + b"camaudit"  # the kernel fills the checksum
    socks: list[socket.socket] = []
    found: dict[str, None] = {}
    loop = asyncio.get_running_loop()
    try:
        for source in sources:
            socks.append(_socket(socket.SOCK_RAW, socket.IPPROTO_ICMPV6, ifindex, source))
        udp = _socket(socket.SOCK_DGRAM, 0, ifindex, None)
        socks.append(udp)

        def readable(sock: socket.socket) -> None:
            for _ in range(64):
                try:
                    data, addr = sock.recvfrom(MAX_DATAGRAM)
                except OSError:
                    return
                if sock.type == socket.SOCK_RAW and (len(data) < 6 or data[0] != ECHO_REPLY
                                                     or struct.unpack_from("!H", data, 4)[0] != ident):
                    continue
                learned = _learned(addr[0], interface, own_set)
                if learned and len(found) < MAX_LEARNED:
                    found.setdefault(learned)

        for sock in socks:
            loop.add_reader(sock.fileno(), readable, sock)
        sends = [(sock, echo, (ALL_NODES, 0, 0, ifindex)) for sock in socks[:-1]]
        sends += [(udp, payload, (group, port, 0, ifindex))
                  for payload, (group, port) in ((wsd_probe(), WSD), (MDNS_QUERY, MDNS), (SSDP_SEARCH, SSDP))]
        try:
            for sock, payload, dest in sends:
                await rate.acquire(urgent=True)
                try:
                    sock.sendto(payload, dest)  # one small datagram on an idle socket: never blocks long
                except OSError as exc:
                    warnings.append(f"--discover-ipv6: sending to [{dest[0]}]:{dest[1]} on {interface} failed "
                                    f"({exc.strerror}); hosts that answer only that may be missing")
            await asyncio.sleep(wait)
        finally:
            for sock in socks:
                loop.remove_reader(sock.fileno())
    finally:
        for sock in socks:
            sock.close()
    return list(found)


def neighbour_cache(interface: str, own: Iterable[str]) -> list[str]:
    """The IPv6 neighbours the host already knows on `interface` (`ip -j -6 neigh`; nothing
    is sent). Failed and incomplete entries are left out."""
    try:
        out = subprocess.run(["ip", "-j", "-6", "neigh", "show", "dev", interface], capture_output=True,
                             check=True, timeout=10).stdout[:MAX_NEIGHBOURS_BYTES]
        entries = json.loads(out or b"[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    own_set = set(own)
    learned = []
    for entry in entries[:MAX_LEARNED] if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not entry.get("lladdr") or \
                {"FAILED", "INCOMPLETE"} & set(entry.get("state") or []):
            continue
        address = _learned(str(entry.get("dst", "")), interface, own_set)
        if address:
            learned.append(address)
    return learned


def extend(targets: TargetSet, learned: Iterable[str]) -> TargetSet:
    """`targets` plus the learned addresses no exclude covers (a zoneless link-local exclude
    covers that address on every interface, as in camaudit.targets)."""
    zones: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for zone, first, last in targets.allowed6:
        zones[zone].append((first, last))
    added = False
    for address in learned:
        key = address_key(address)
        if key is None or key[0] == V4 or any(a <= key[1] <= b and zone in ("", key[0]) for zone, a, b in targets.excluded6):
            continue
        zones[key[0]].append((key[1], key[1]))
        added = True
    if not added:
        return targets
    allowed6 = tuple((zone, a, b) for zone in sorted(zones) for a, b in merge(zones[zone]))
    return TargetSet(targets.allowed, targets.excluded, targets.requested, allowed6, targets.excluded6)
