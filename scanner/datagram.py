"""The datagram helper behind `ScanContext.ask`: one UDP socket, sends, size-capped replies.

`exchange` is the unicast request/response of a per-host UDP probe (SNMP).

Sweep probes (WS-Discovery, SADP, DHIP) ask a whole segment at once: the socket binds the
protocol's port (devices answer to the group or to the sender's port; binding it hears
both), joins the multicast group on the scan interface and sends with TTL 1. Replies are
kept under three caps so a flooding device costs only its own replies.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from camaudit.model import Datagram

MAX_DATAGRAMS = 20_000       # replies kept per ask(); a flood beyond that is dropped
MAX_DATAGRAMS_PER_SOURCE = 64  # one flooding device cannot crowd out the others' replies
MAX_DATAGRAM_BYTES = 16 << 20  # all replies of one ask() together (20,000 x 16 KiB would be 320 MiB)


async def ask(payload: bytes, *, source_ip: str, group: str, multicast: bool, port: int,
              unicast_to: Iterable[str], wait: float, repeat: int, cap: int,
              token: Callable[[], Awaitable[None]]) -> list[Datagram]:
    """Send `payload` `repeat` times to `group` (when `multicast`) and once to each of
    `unicast_to`, awaiting `token()` (the rate cap) before each send; collect the replies
    that arrive within `wait` seconds, each cut at `cap` bytes, identical ones kept once.

    The caller has already filtered `unicast_to` to permitted targets; replies come back
    unfiltered (the engine's `admit` drops those from addresses outside the targets).
    """
    sock = _datagram_socket(source_ip, group, port)
    loop = asyncio.get_running_loop()
    replies: list[Datagram] = []
    seen: set[tuple[str, int, int]] = set()   # (src, sport, hash of data): no second copy kept
    per_source: Counter[str] = Counter()
    kept_bytes = 0

    async def send(dest: str) -> None:
        await token()
        try:
            await _sendto(loop, sock, payload, (dest, port))
        except OSError:
            pass  # an unreachable host or segment costs nothing more

    async def sender() -> None:
        for attempt in range(repeat if multicast else 0):
            if attempt:
                await asyncio.sleep(min(0.1, wait / 4))
            await send(group)
        for ip in unicast_to:
            await send(ip)

    try:
        send_task = asyncio.create_task(sender())
        deadline = loop.time() + wait
        while True:  # read until the deadline even when full, so a flood only loses its own replies
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    data, (src, sport) = await _recvfrom(loop, sock, cap + 1)
            except TimeoutError:
                break
            except OSError:
                continue  # e.g. ICMP port unreachable surfaced as ECONNREFUSED
            key = (src, sport, hash(data))
            if src == source_ip or key in seen:
                continue
            if (len(replies) >= MAX_DATAGRAMS or per_source[src] >= MAX_DATAGRAMS_PER_SOURCE
                    or kept_bytes + min(len(data), cap) > MAX_DATAGRAM_BYTES):
                continue
            seen.add(key)
            per_source[src] += 1
            kept_bytes += min(len(data), cap)
            replies.append(Datagram(src, sport, data[:cap], len(data) > cap))
        send_task.cancel()
        await asyncio.gather(send_task, return_exceptions=True)
    finally:
        sock.close()
    return replies


async def exchange(ip: str, port: int, payload: bytes, *, wait: float, cap: int) -> Datagram | None:
    """Send `payload` to one host and return its first reply within `wait` seconds, cut at
    `cap` bytes (None when nothing came back).

    The socket is connected, so the kernel drops datagrams from any other address or port
    and an ICMP port-unreachable surfaces as ConnectionRefusedError (the caller's status).
    """
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect((ip, port))
        await _sendto(loop, sock, payload, (ip, port))
        try:
            async with asyncio.timeout(wait):
                data, _ = await _recvfrom(loop, sock, cap + 1)
        except TimeoutError:
            return None
        return Datagram(ip, port, data[:cap], len(data) > cap)
    finally:
        sock.close()


async def _when_ready(loop: asyncio.AbstractEventLoop, fd: int, add: Callable[..., None],
                      remove: Callable[[int], Any]) -> None:
    ready = loop.create_future()
    add(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        remove(fd)


async def _sendto(loop: asyncio.AbstractEventLoop, sock: socket.socket, data: bytes,
                  address: tuple[str, int]) -> None:
    """`sendto` on a non-blocking datagram socket, waiting for room when the buffer is full.

    Not `loop.sock_sendto`/`sock_recvfrom`: uvloop does not implement them, and a datagram
    call rarely has to wait, so the common case costs one system call and no future.
    """
    while True:
        try:
            sock.sendto(data, address)
            return
        except (BlockingIOError, InterruptedError):
            await _when_ready(loop, sock.fileno(), loop.add_writer, loop.remove_writer)


async def _recvfrom(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                    size: int) -> tuple[bytes, Any]:
    """`recvfrom` on a non-blocking datagram socket, waiting until a datagram is there."""
    while True:
        try:
            return sock.recvfrom(size)
        except (BlockingIOError, InterruptedError):
            await _when_ready(loop, sock.fileno(), loop.add_reader, loop.remove_reader)


def _datagram_socket(source_ip: str, group: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # A ProbeMatch flood (hostile-wsd-flood) overflowed the ~200 KiB default receive
        # buffer and other devices' replies were dropped (nstat UdpRcvbufErrors: 5281 in 8 sweeps of the full lab; 0 with 4 MiB). SO_RCVBUFFORCE (33)
        # works as root; otherwise SO_RCVBUF gets what net.core.rmem_max allows.
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

