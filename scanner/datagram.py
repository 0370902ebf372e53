"""The datagram helper behind `ScanContext.ask`: one UDP socket, sends, size-capped replies.

`exchange` is the unicast request/response of a per-host UDP probe (SNMP).

Sweep probes (WS-Discovery, SADP, DHIP, SSDP, mDNS) ask a whole segment at once from the
scan's socket for the protocol's group and port (camaudit.sweep_ports: bound to the port,
joined to the group, TTL 1, open until the scan ends). Replies are kept under three caps so
a flooding device costs only its own replies.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from camaudit.model import Datagram
from camaudit.sweep_ports import SweepPorts

MAX_DATAGRAMS = 20_000       # replies kept per ask(); a flood beyond that is dropped
MAX_DATAGRAMS_PER_SOURCE = 64  # one flooding device cannot crowd out the others' replies
MAX_DATAGRAM_BYTES = 16 << 20  # all replies of one ask() together (20,000 x 16 KiB would be 320 MiB)


async def ask(payload: bytes, *, ports: SweepPorts, source_ip: str, group: str, multicast: bool,
              port: int, unicast_to: Iterable[str], wait: float, repeat: int, cap: int,
              token: Callable[[], Awaitable[None]], until: asyncio.Event | None = None) -> list[Datagram]:
    """Send `payload` `repeat` times to `group` (when `multicast`) and once to each of
    `unicast_to`, awaiting `token()` (the rate cap) before each send; collect the replies
    that arrive within `wait` seconds, each cut at `cap` bytes, identical ones kept once.
    Setting `until` ends the window early, keeping the replies collected so far.

    The socket is the scan's for this group and port (`ports`), so a late answer finds it
    still bound. The caller has already filtered `unicast_to` to permitted targets; replies
    come back unfiltered (the engine's `admit` drops those from addresses outside the targets).
    """
    loop = asyncio.get_running_loop()
    replies: list[Datagram] = []
    seen: set[tuple[str, int, int]] = set()   # (src, sport, hash of data): no second copy kept
    per_source: Counter[str] = Counter()
    kept_bytes = 0

    with ports.listen(source_ip, group, port) as (sock, inbox):
        first_sent: float | None = None   # when the first and the latest datagram left
        last_sent = 0.0

        async def send(dest: str) -> None:
            nonlocal first_sent, last_sent
            await token()
            try:
                await _sendto(loop, sock, payload, (dest, port))
            except OSError:
                pass  # an unreachable host or segment costs nothing more
            last_sent = loop.time()
            first_sent = last_sent if first_sent is None else first_sent

        async def sender() -> None:
            for attempt in range(repeat if multicast else 0):
                if attempt:
                    await asyncio.sleep(min(0.1, wait / 4))
                await send(group)
            for ip in unicast_to:
                await send(ip)

        send_task = asyncio.create_task(sender())
        stop = asyncio.ensure_future(until.wait()) if until is not None else None
        try:
            start = loop.time()
            while True:  # read until the deadline even when full, so a flood only loses its own replies
                # The window is timed from the first datagram sent, not from the call: a send
                # that waited for the rate cap or a busy loop still gets its full `wait`, and
                # the latest send at least half of it.
                deadline = (max(first_sent + wait, last_sent + wait / 2) if first_sent is not None
                            else start + wait if send_task.done() else loop.time() + wait)
                remaining = deadline - loop.time()
                if remaining <= 0 or (stop is not None and stop.done()):
                    break
                get = asyncio.ensure_future(inbox.get())
                await asyncio.wait((get,) if stop is None else (get, stop), timeout=remaining,
                                   return_when=asyncio.FIRST_COMPLETED)
                if not get.done():   # the window may have moved with a send meanwhile, or ended
                    get.cancel()     # (a cancelled Queue.get takes no item)
                    continue
                data, (src, sport) = get.result()
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
        finally:
            send_task.cancel()
            if stop is not None:
                stop.cancel()
            await asyncio.gather(send_task, return_exceptions=True)
    return replies


async def exchange(ip: str, port: int, payload: bytes, *, wait: float, cap: int,
                   resend_after: float | None = None,
                   before_resend: Callable[[], Awaitable[None]] | None = None) -> Datagram | None:
    """Send `payload` to one host and return its first reply, cut at `cap` bytes (None when
    nothing came back).

    Without `resend_after` the reply is awaited `wait` seconds. With it, a request not answered
    within `resend_after` seconds is sent once more (after `before_resend`, the caller's rate
    token) and the socket is read until `wait` seconds after that resend. Both sends are the
    same datagram on the same socket, so a late answer to the first one still counts: every
    request gets the full `wait` to be answered, and a lost datagram costs `resend_after`
    rather than a whole second wait.

    The socket is connected, so the kernel drops datagrams from any other address or port
    and an ICMP port-unreachable surfaces as ConnectionRefusedError (the caller's status).
    IPv4 or IPv6, as `ip` is.
    """
    loop = asyncio.get_running_loop()
    # numeric only (no name lookup); the family follows the address, a link-local zone
    # becomes the socket address's scope id
    family, _, _, _, address = socket.getaddrinfo(ip, port, type=socket.SOCK_DGRAM,
                                                  flags=socket.AI_NUMERICHOST)[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(address)
        await _sendto(loop, sock, payload, address)
        deadline = loop.time() + wait
        try:
            if resend_after is not None:
                try:
                    async with asyncio.timeout(resend_after):
                        data, _ = await _recvfrom(loop, sock, cap + 1)
                    return Datagram(ip, port, data[:cap], len(data) > cap)
                except TimeoutError:
                    pass
                if before_resend is not None:
                    await before_resend()
                await _sendto(loop, sock, payload, address)
                deadline = loop.time() + wait
            async with asyncio.timeout_at(deadline):
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
