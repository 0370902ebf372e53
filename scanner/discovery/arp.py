"""ARP discovery of the local segment: who is alive, and with which MAC.

The request frame is built once (from the interface's MAC and address: RFC 826's fixed
42-byte layout, packed here rather than with scapy, whose import cost a tenth of a second
before the first ARP packet of every scan; tests check it equals scapy's frame byte for
byte); the sweep then patches the target address into that template and sends it on an AF_PACKET socket
bound to ARP, read by the scan's event loop. Sending at the scan's rate cap with a
background reader, instead of scapy's `srp`, costs the rate plus one short `wait`, not a
full timeout per batch (`srp` waits its whole timeout even when every answer is in).

Every request goes to an address the context permits (excludes never get an ARP packet),
and only replies from permitted addresses that answer *our* address are kept.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import Callable, Iterable, Iterator

from camaudit.addresses import ip_sort_key
from camaudit.discovery import tcp
from camaudit.discovery.base import DiscoveryContext, DiscoverySettings, OnHost, on_link
from camaudit.model import Host
from camaudit.targets import TargetSet

ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4
TPA_OFFSET = 38        # Ethernet (14) + ARP fields before the target protocol address (24)
PROGRESS_EVERY = 256
SEND_RETRIES = 8


def available() -> bool:
    """True when this process may open raw packet sockets (root or CAP_NET_RAW)."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)).close()
    except PermissionError:
        return False
    return True


def request_template(mac: str, source_ip: str) -> bytes:
    """A broadcast who-has frame from our MAC/address, target 0.0.0.0 (patched per address):
    Ethernet II header, then hardware type 1 (Ethernet), protocol 0x0800 (IPv4), lengths 6
    and 4, opcode 1 (request), sender MAC/IPv4, target MAC zero, target IPv4."""
    hw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(hw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return (b"\xff" * 6 + hw + struct.pack("!H", ETH_P_ARP)
            + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + hw + socket.inet_aton(source_ip)
            + b"\x00" * 6 + b"\x00" * 4)


def parse_reply(frame: bytes, our_ip: bytes) -> tuple[str, str] | None:
    """(sender ip, sender mac) of an ARP reply addressed to `our_ip`, else None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    arp = frame[14:42]
    if arp[0:2] != b"\x00\x01" or arp[2:4] != b"\x08\x00" or arp[4] != 6 or arp[5] != 4:
        return None
    if arp[6:8] != b"\x00\x02" or arp[24:28] != our_ip:
        return None
    return socket.inet_ntoa(arp[14:18]), arp[8:14].hex(":")


async def _send(loop: asyncio.AbstractEventLoop, sock: socket.socket, frame: bytes) -> bool:
    """Send one frame; when the link's queue is full (ENOBUFS: a broadcast fanning out to many
    hosts), back off briefly and retry rather than abort the sweep. False if it never went."""
    for attempt in range(SEND_RETRIES):
        try:
            await loop.sock_sendall(sock, frame)
            return True
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise
            await asyncio.sleep(0.005 * (attempt + 1))
    return False


async def link_sweep(frames: Iterable[bytes], ctx: DiscoveryContext, interface: str, ethertype: int,
                     parse: Callable[[bytes], tuple[str, str] | None], *, wait: float, what: str,
                     progress: Callable[[int], None] | None = None,
                     on_found: Callable[[str, str], None] | None = None,
                     warnings: list[str] | None = None) -> dict[str, str]:
    """Send each of `frames` (built only for permitted addresses) at the rate cap on an
    AF_PACKET socket bound to `ethertype`, and collect what `parse` makes of the frames
    coming back: (ip, MAC) of an answer to us, or None. Answers from addresses the context
    does not permit are dropped. Used by ARP and by IPv6 neighbour discovery (ndp)."""
    found: dict[str, str] = {}
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
    try:
        sock.bind((interface, ethertype))
        sock.setblocking(False)

        def drain() -> None:
            while True:
                try:
                    frame, addr = sock.recvfrom(2048)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    return
                if addr[2] == PACKET_OUTGOING:
                    continue
                reply = parse(frame)
                if reply and reply[0] not in found and ctx.permits(reply[0]):
                    found[reply[0]] = reply[1]
                    if on_found:
                        on_found(*reply)

        loop.add_reader(sock.fileno(), drain)
        try:
            sent = unsent = 0
            for frame in frames:
                await ctx.rate.acquire(urgent=True)
                if not await _send(loop, sock, frame):
                    unsent += 1
                sent += 1
                if progress and sent % PROGRESS_EVERY == 0:
                    progress(sent)
            await asyncio.sleep(wait)
        finally:
            loop.remove_reader(sock.fileno())
    finally:
        sock.close()
    if unsent and warnings is not None:
        warnings.append(f"{unsent} {what} on {interface} could not be sent (the interface's "
                        "queue stayed full); those addresses may be missing: lower --rate")
    return dict(sorted(found.items(), key=lambda kv: ip_sort_key(kv[0])))


async def sweep(targets: TargetSet, ctx: DiscoveryContext, interface: str, mac: str, source_ip: str, *, wait: float,
                progress: Callable[[int], None] | None = None,
                on_found: Callable[[str, str], None] | None = None,
                warnings: list[str] | None = None) -> dict[str, str]:
    """ARP every permitted address of `targets` on `interface`, asking as `source_ip`/`mac`.

    Returns ip -> MAC of each answer; `on_found(ip, mac)` is called as each first answer
    arrives, so the caller can start on that host while the sweep goes on.
    """
    template = bytearray(request_template(mac, source_ip))
    our_ip = socket.inet_aton(source_ip)

    def frames() -> Iterator[bytes]:
        for first, last in targets.allowed:
            for value in range(first, last + 1):
                if ctx.permits(value):  # the one exclude rule, per packet
                    template[TPA_OFFSET:TPA_OFFSET + 4] = value.to_bytes(4, "big")
                    yield bytes(template)

    return await link_sweep(frames(), ctx, interface, ETH_P_ARP, lambda frame: parse_reply(frame, our_ip),
                            wait=wait, what="ARP requests", progress=progress, on_found=on_found,
                            warnings=warnings)


def usable(settings: DiscoverySettings, targets: TargetSet, warnings: list[str]) -> bool:
    """Whether ARP (and IPv6 neighbour solicitation, which needs the same) can run: targets
    on the interface's segments of either family, a MAC, and the privilege (its absence is
    a warning: MACs and OUI vendors will be unknown)."""
    if not (on_link(targets, settings.segments)[0] or on_link(targets, settings.segments6)[0]) or settings.mac is None:
        return False
    if available():
        return True
    warnings.append("no raw-socket privilege (run as root or grant CAP_NET_RAW): ARP and neighbour "
                    "discovery are off, so MAC addresses and OUI vendors are unknown and local "
                    "hosts are found by TCP connect only")
    return False


class ArpDiscovery:
    """ARP the targets on the interface's segments; each answer is port-scanned at once.

    Targets off those segments are not ARP's (the native backend gives them to TCP).
    """

    sweep = staticmethod(sweep)  # the link-layer sweep of one on-link part (ndp: neighbour solicitations)

    def __init__(self, settings: DiscoverySettings) -> None:
        self.settings = settings
        self.arp_used = False

    def on_link(self, targets: TargetSet) -> list[tuple[TargetSet, str]]:
        """The parts of `targets` this sweep reaches, each with our address on that segment."""
        return on_link(targets, self.settings.segments)[0]

    async def discover(self, targets: TargetSet, ctx: DiscoveryContext, on_host: OnHost) -> None:
        settings, interface, mac = self.settings, ctx.interface, self.settings.mac
        parts = self.on_link(targets)
        if not parts or interface is None or mac is None:
            return
        self.arp_used = True
        scans: set[asyncio.Task[None]] = set()

        async def port_scan(ip: str, mac: str) -> None:
            found = await tcp.scan([[ip]], settings.ports, ctx, workers=len(settings.ports))
            on_host(Host(ip, mac, frozenset(found.get(ip, ()))))

        def answered(ip: str, mac: str) -> None:
            if settings.on_neighbour:
                settings.on_neighbour(ip, mac)
            task = asyncio.create_task(port_scan(ip, mac))
            scans.add(task)
            task.add_done_callback(scans.discard)

        swept = 0
        for part, source_ip in parts:
            def report(done: int, base: int = swept) -> None:
                if settings.progress:
                    settings.progress(base + done)
            await self.sweep(part, ctx, interface, mac, source_ip,
                        wait=settings.arp_wait, progress=report, on_found=answered,
                        warnings=ctx.warnings)
            swept += len(part)
        while scans:
            await asyncio.gather(*list(scans))
