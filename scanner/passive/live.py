"""Live capture for `camaudit listen`: a receive-only raw socket on one named interface.

An AF_PACKET socket bound to the interface the user names (never a default, never picked),
protocol ETH_P_ALL, that camaudit never writes to: no frame is sent, no multicast group is
joined (so the kernel sends no IGMP report on its behalf) and promiscuous mode is off unless
asked. `promiscuous=True` adds a PACKET_MR_PROMISC membership, a setting of the local NIC
that emits nothing either. docs/passive.md "Listening" says what the host may still send.

Bounded while reading: the socket's receive buffer (the kernel drops and counts the excess,
read back with PACKET_STATISTICS), each frame (64 KiB) and each wake-up's batch, so a flood
neither grows memory nor keeps the stop and deadline checks from running.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP, PACKET_STATISTICS = 1, 6
PACKET_MR_PROMISC = 1
PACKET_OUTGOING = 4                 # sll_pkttype of frames this host sends
RECEIVE_BUFFER = 4 << 20            # asked of the kernel (capped by net.core.rmem_max)
MAX_FRAME = 65536
BATCH = 512                         # frames read per wake-up before the stop checks run
TICK = 0.25                         # seconds between stop/deadline checks while idle
# ARPHRD_* of the interface -> pcap link type of its frames
LINKTYPES = {1: 1, 772: 1, 0xFFFE: 101}   # Ethernet, loopback (Ethernet header), raw IP (tun)


class ListenError(Exception):
    """The capture cannot start (no such interface, no permission); the message says what to do."""


@dataclass(slots=True)
class CaptureCounts:
    frames: int = 0
    outgoing: int = 0                # this host's own frames: seen, not decoded
    unsupported: Counter[str] = field(default_factory=Counter)   # frames of other link types
    kernel_drops: int = 0            # frames the receive buffer had no room for


def open_socket(interface: str, *, promiscuous: bool = False) -> socket.socket:
    """The receive-only capture socket on `interface`; ListenError with advice when it cannot be."""
    try:
        ifindex = socket.if_nametoindex(interface)
    except OSError:
        raise ListenError(f"no network interface named {interface!r} here; list them with `ip link`") from None
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        raise ListenError("listening needs root or the CAP_NET_RAW capability (raw packet socket); run it "
                          "as root or grant the capability (setcap cap_net_raw+ep on the Python binary)") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((interface, ETH_P_ALL))
        if promiscuous:
            mreq = struct.pack("iHH8s", ifindex, PACKET_MR_PROMISC, 0, b"")
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot capture on {interface}: {exc.strerror or exc}") from None
    return sock


def frames(sock: socket.socket, counts: CaptureCounts, deadline: float | None,
           stop: threading.Event, idle: Callable[[], None] | None = None) -> Iterator[tuple[float, bytes, int]]:
    """(time, frame, pcap link type) of each frame received until the monotonic `deadline` or
    `stop`; `idle` runs when a tick passes without a frame (progress display)."""
    while not stop.is_set():
        wait = TICK
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if wait <= 0:
                return
        if not select.select([sock], [], [], wait)[0]:
            if idle is not None:
                idle()
            continue
        for _ in range(BATCH):
            try:
                frame, addr = sock.recvfrom(MAX_FRAME)
            except (BlockingIOError, InterruptedError):
                break
            counts.frames += 1
            if addr[2] == PACKET_OUTGOING:
                counts.outgoing += 1     # this host's own traffic is not a device heard
                continue
            linktype = LINKTYPES.get(addr[3])
            if linktype is None:
                counts.unsupported[f"ARPHRD {addr[3]}"] += 1
                continue
            yield time.time(), frame, linktype


def kernel_drops(sock: socket.socket) -> int:
    """Frames the kernel dropped for want of buffer room since the last call (tpacket_stats)."""
    try:
        _, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    except OSError:
        return 0
    return drops
