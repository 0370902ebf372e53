"""UDP responders (WS-Discovery, SADP, DHIP, mDNS, SNMP), one socket per device and protocol.

Each socket is bound to the wildcard address but tied to its device's interface
(SO_BINDTODEVICE) and joined to the protocol's multicast group there, so it hears unicast,
broadcast and multicast for exactly one device — also in the macvlan fleet, where many
devices share a namespace. Replies leave with the device's address as source (IP_PKTINFO),
which is what the fleet's policy routes key on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable

from camaudit.lab.persona import Behaviour
from camaudit.lab.server.vendor import dhip_frame

log = logging.getLogger("camaudit.lab.server")

IP_MULTICAST_ALL = 49  # Linux values, not exported by Python's socket module
IPV6_MULTICAST_ALL = 29
IP_PKTINFO = 8
MAX_DATAGRAM = 65535
Reply = tuple[bytes, tuple[str, int]]
Handler = Callable[[bytes, tuple[str, int]], list[Reply]]


MAX_FLOOD = 2000        # replies per request of a `flood` responder
MAX_DELAY = 10.0        # seconds a `late` responder holds its replies


class Delayed:
    """A handler whose replies the responder sends `delay` seconds after the request."""

    def __init__(self, handler: Handler, delay: float) -> None:
        self.handler, self.delay = handler, delay

    def __call__(self, data: bytes, sender: tuple[str, int]) -> list[Reply]:
        return self.handler(data, sender)


def misbehaving(behaviour: Behaviour, handler: Handler) -> Handler:
    """A responder's hostile behaviour around its normal handler (docs/lab.md).

    It answers exactly the requests the device would answer, to the same destinations, so a
    hostile responder never replies to other devices' replies (no multicast storms):

    * `raw` — the reply is replaced by fixed bytes (`reply` text or `reply_hex`), where a
      `{pad}` in `reply` becomes `pad` times `pad_text` (default "A": oversized datagrams,
      deep nesting), and `pad_hex` bytes repeated `pad` times follow `reply_hex` (binary
      records in bulk); `frame = "dhip"` puts the DHIP header in front;
    * `flood` — each reply is sent `count` times;
    * `late` — the replies leave `delay` seconds later (default 2, at most 10): after the
      scanner's sweep window, as from a slow or busy device.
    """
    opts = behaviour.options
    if behaviour.name == "late":
        return Delayed(handler, max(0.0, min(float(opts.get("delay", 2.0)), MAX_DELAY)))
    if behaviour.name == "raw":
        if "reply_hex" in opts:
            pad_bytes = bytes.fromhex(str(opts.get("pad_hex", ""))) * int(opts.get("pad", 0))
            payload = bytes.fromhex(str(opts["reply_hex"])) + pad_bytes
        else:
            pad = str(opts.get("pad_text", "A")) * int(opts.get("pad", 0))
            payload = str(opts.get("reply", "")).replace("{pad}", pad).encode()
        if opts.get("frame") == "dhip":
            payload = dhip_frame(payload)

        def raw(data: bytes, sender: tuple[str, int]) -> list[Reply]:
            return [(payload, dest) for _, dest in handler(data, sender)]
        return raw
    if behaviour.name == "flood":
        count = max(1, min(int(opts.get("count", 100)), MAX_FLOOD))

        def flood(data: bytes, sender: tuple[str, int]) -> list[Reply]:
            return [reply for reply in handler(data, sender) for _ in range(count)]
        return flood
    return handler


def open_socket(ifname: str, ip: str, port: int, group: str | None) -> tuple[socket.socket, int]:
    """Create the responder socket (joined to `group` unless None, e.g. SNMP's unicast port)
    of the address family of `ip`; must run inside the device's namespace."""
    ifindex = socket.if_nametoindex(ifname)
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        if sock.family == socket.AF_INET6:
            _setup6(sock, ifindex, port, group)
            return sock, ifindex
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip))
        sock.bind(("0.0.0.0", port))
        if group is not None:
            mreqn = struct.pack("4s4si", socket.inet_aton(group), socket.inet_aton(ip), ifindex)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock, ifindex


def _setup6(sock: socket.socket, ifindex: int, port: int, group: str | None) -> None:
    """The IPv6 twin of the IPv4 set-up: own interface for multicast, only joined groups heard."""
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    sock.bind(("::", port))
    if group is not None:
        mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    sock.setblocking(False)


class Responder:
    """Reads datagrams when the loop says the socket is readable and sends the handler's replies."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, ifindex: int, ip: str,
                 handler: Handler) -> None:
        self.sock, self.handler, self.loop = sock, handler, loop
        self.delay = handler.delay if isinstance(handler, Delayed) else 0.0
        if ":" in ip:   # in6_pktinfo: the reply's source address and interface
            self.pktinfo = (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO,
                            socket.inet_pton(socket.AF_INET6, ip) + struct.pack("@I", ifindex))
        else:
            self.pktinfo = (socket.IPPROTO_IP, IP_PKTINFO,
                            struct.pack("i4s4s", ifindex, socket.inet_aton(ip), b"\0\0\0\0"))
        loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(64):  # bounded batch per wake-up, so one flood cannot starve the loop
            try:
                data, addr = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("recv failed: %s", exc)
                return
            try:
                replies = self.handler(data, addr)
            except Exception:  # a bad datagram must never stop the fleet
                log.exception("responder failed on a datagram from %s", addr)
                continue
            if self.delay:
                self.loop.call_later(self.delay, self._send, replies)
            else:
                self._send(replies)

    def _send(self, replies: list[Reply]) -> None:
        for payload, dest in replies:
            if self.sock.fileno() < 0:
                return  # the lab stopped while a late reply was pending
            try:
                self.sock.sendmsg([payload], [self.pktinfo], 0, dest)
            except OSError as exc:
                log.warning("reply to %s failed: %s", dest, exc)
