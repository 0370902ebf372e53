"""The bound UDP ports of a scan's sweeps: one socket per (group, port), open until the scan ends.

A device that hears a sweep's multicast answers to the port the sweep was sent from. When
that answer arrives after the sweep stopped listening (a slow or busy device, the tail of a
flood) and nothing is bound to the port any more, the kernel answers it with an ICMP
port-unreachable: a packet to that device, which may be one the user excluded (excluded
devices hear multicast too). So a sweep socket is not closed when its sweep ends: it stays
bound, reading and dropping, until the scan closes `SweepPorts`, long after any answer.

Sweeps of the same protocol (a multicast sweep and the later unicast sweep of routed hosts,
or the two WS-Discovery dialects asked at once) share the one socket: every datagram goes
to every sweep listening on it, each keeping its own caps. Two sockets bound to the same
port would otherwise split the answers between them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

READ_BYTES = 65535          # a whole datagram; each sweep cuts it to its own cap
READS_PER_WAKEUP = 64       # a flood cannot hold the event loop in one callback
INBOX_DATAGRAMS = 4096      # per listening sweep; beyond it (a flood) datagrams are dropped

Received = tuple[bytes, tuple[str, int]]


class _Port:
    """One bound socket and the inboxes of the sweeps listening on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop, self.sock = loop, sock
        self.inboxes: list[asyncio.Queue[Received]] = []
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(READS_PER_WAKEUP):
            try:
                data, addr = self.sock.recvfrom(READ_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # e.g. an ICMP error surfaced as ECONNREFUSED: nothing to read
            for inbox in self.inboxes:
                if inbox.qsize() < INBOX_DATAGRAMS:
                    inbox.put_nowait((data, addr))

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class SweepPorts:
    """The sweep sockets of one scan; `close()` when the scan ends."""

    def __init__(self) -> None:
        self._ports: dict[tuple[str, str, int], _Port] = {}

    @contextmanager
    def listen(self, source_ip: str, group: str, port: int
               ) -> Iterator[tuple[socket.socket, asyncio.Queue[Received]]]:
        """The socket to send from and an inbox of every datagram it receives while the
        caller listens. The socket outlives the `with`; `close()` ends it."""
        key = (source_ip, group, port)
        shared = self._ports.get(key)
        if shared is None:
            shared = self._ports[key] = _Port(asyncio.get_running_loop(), sweep_socket(source_ip, group, port))
        inbox: asyncio.Queue[Received] = asyncio.Queue()
        shared.inboxes.append(inbox)
        try:
            yield shared.sock, inbox
        finally:
            shared.inboxes.remove(inbox)

    def close(self) -> None:
        for shared in self._ports.values():
            shared.close()
        self._ports.clear()

    def __enter__(self) -> SweepPorts:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def sweep_socket(source_ip: str, group: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to the protocol's port (devices answer to the group
    or to the sender's port; binding it hears both), joined to `group` on the scan's
    interface, multicasting with TTL 1 and without loopback."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # A ProbeMatch flood (hostile-wsd-flood) overflowed the ~200 KiB default receive
        # buffer and other devices' replies were dropped (nstat UdpRcvbufErrors: 5281 in 8
        # sweeps of the full lab; 0 with 4 MiB). SO_RCVBUFFORCE (33) works as root;
        # otherwise SO_RCVBUF gets what net.core.rmem_max allows.
        try:
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 4 << 20)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:  # the port is taken (another tool listens): replies to the group are lost
            sock.bind((source_ip, 0))
        src = socket.inet_aton(source_ip)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, src)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        try:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + src)
        except OSError:
            pass  # no multicast on this interface: unicast replies still arrive
        sock.setblocking(False)
        return sock
    except BaseException:
        sock.close()
        raise
