"""ScanContext bounds with real sockets on loopback: excludes, per-host cap, rate cap, connect scan."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from camaudit import datagram, engine
from camaudit.discovery import tcp
from camaudit.model import Bounds
from camaudit.scan_context import ExcludedAddress, HostSlots, RateLimiter, ScanContext
from camaudit.targets import build_targets


async def _server(host: str, hold: float, stats: dict) -> asyncio.base_events.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats["now"] += 1
        stats["peak"] = max(stats["peak"], stats["now"])
        stats["total"] += 1
        await asyncio.sleep(hold)
        stats["now"] -= 1
        writer.close()
    return await asyncio.start_server(handle, host, 0)


class Responder(asyncio.DatagramProtocol):
    """Answers every datagram with `copies` numbered 1 KB replies."""

    def __init__(self, copies: int) -> None:
        self.copies = copies

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        for i in range(self.copies):
            self.transport.sendto(b"%06d" % i + b"x" * 1000, addr)


def _free_udp_port(host: str) -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((host, 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_excluded_address_gets_no_connection() -> None:
    async def main() -> None:
        stats = {"now": 0, "peak": 0, "total": 0}
        server = await _server("127.0.0.1", 0, stats)
        port = server.sockets[0].getsockname()[1]
        ctx = ScanContext(build_targets(["127.0.0.0/30"], excludes=["127.0.0.1"]))
        with pytest.raises(ExcludedAddress):
            await ctx.open_connection("127.0.0.1", port)
        with pytest.raises(ExcludedAddress):
            await ctx.open_connection("127.0.0.9", port)  # never named
        await asyncio.sleep(0.05)
        assert stats["total"] == 0
        server.close()
    asyncio.run(main())


def test_per_host_cap_holds_while_connections_are_open() -> None:
    async def main() -> None:
        stats = {"now": 0, "peak": 0, "total": 0}
        server = await _server("127.0.0.1", 0.0, stats)
        port = server.sockets[0].getsockname()[1]
        ctx = ScanContext(build_targets(["127.0.0.1"]), per_host=2, rate=10_000)

        async def use() -> None:
            reader, writer = await ctx.open_connection("127.0.0.1", port)
            assert ctx.hosts.busy("127.0.0.1") <= 2
            await asyncio.sleep(0.05)
            writer.close()
            await writer.wait_closed()

        await asyncio.gather(*(use() for _ in range(8)))
        assert stats["total"] == 8
        assert stats["peak"] <= 2
        assert ctx.hosts.busy("127.0.0.1") == 0
        server.close()
    asyncio.run(main())


def test_host_slot_is_released_when_connect_fails() -> None:
    async def main() -> None:
        with socket.socket() as s:   # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        ctx = ScanContext(build_targets(["127.0.0.1"]), per_host=1)
        for _ in range(3):
            with pytest.raises(ConnectionRefusedError):
                await ctx.open_connection("127.0.0.1", closed)
        assert ctx.hosts.busy("127.0.0.1") == 0
    asyncio.run(main())


def test_rate_limiter_spaces_events() -> None:
    async def main() -> float:
        limiter = RateLimiter(200)
        start = time.monotonic()
        await asyncio.gather(*(limiter.acquire() for _ in range(41)))
        return time.monotonic() - start
    # 41 events at 200/s need at least 40 intervals of 5 ms (a lower bound, never flaky)
    assert asyncio.run(main()) >= 0.195


def test_rate_limiter_serves_packets_first_then_connections_by_rank() -> None:
    """Waiters queued at the same moment: urgent ones (single packets) in arrival order, then
    the rest lowest rank first (hosts in the order they were first contacted); a waiter
    cancelled meanwhile gives its slot to the next."""
    async def main() -> list[str]:
        limiter = RateLimiter(1000)
        order: list[str] = []

        async def take(name: str, **kw: int | bool) -> None:
            await limiter.acquire(**kw)
            order.append(name)
        await limiter.acquire()   # the slot now is taken: everyone below waits
        tasks = [asyncio.create_task(take(name, **kw)) for name, kw in (
            ("connect-host2", {"rank": 2}), ("arp-1", {"urgent": True}), ("connect-host1", {"rank": 1}),
            ("cancelled", {"rank": 0}), ("arp-2", {"urgent": True}), ("connect-host1-again", {"rank": 1}))]
        await asyncio.sleep(0)
        tasks[3].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return order
    assert asyncio.run(main()) == ["arp-1", "arp-2", "connect-host1", "connect-host1-again", "connect-host2"]


def test_packets_never_starve_a_waiting_connect() -> None:
    """A long ARP sweep queued ahead: every URGENT_STREAK + 1th slot goes to the connect."""
    from camaudit.scan_context import URGENT_STREAK

    async def main() -> list[str]:
        limiter = RateLimiter(1000)
        order: list[str] = []

        async def take(name: str, urgent: bool) -> None:
            await limiter.acquire(urgent=urgent)
            order.append(name)
        await limiter.acquire()
        tasks = [asyncio.create_task(take(f"arp-{i}", True)) for i in range(2 * URGENT_STREAK)]
        tasks.append(asyncio.create_task(take("connect", False)))
        await asyncio.gather(*tasks)
        return order
    assert asyncio.run(main()).index("connect") == URGENT_STREAK


def test_a_stalled_loop_releases_at_most_the_catch_up_at_once() -> None:
    """A loop busy for 20 intervals: the late timer catches up a few slots back to back,
    never the 20 it missed (the wire would see a burst)."""
    from camaudit.scan_context import CATCH_UP

    async def main() -> list[float]:
        limiter = RateLimiter(100)
        times: list[float] = []

        async def take() -> None:
            await limiter.acquire()
            times.append(time.monotonic())
        await limiter.acquire()
        tasks = [asyncio.create_task(take()) for _ in range(30)]
        await asyncio.sleep(0)
        time.sleep(0.2)   # the loop stalls: no timer can fire
        await asyncio.gather(*tasks)
        return times
    times = asyncio.run(main())
    first = times[0]
    assert sum(1 for t in times if t - first < 0.005) <= CATCH_UP + 1


def test_only_connections_to_ports_not_known_open_take_rate_tokens() -> None:
    async def main() -> tuple[int, int]:
        stats = {"now": 0, "peak": 0, "total": 0}
        server = await _server("127.0.0.1", 0, stats)
        port = server.sockets[0].getsockname()[1]
        ctx = ScanContext(build_targets(["127.0.0.1"]), rate=10_000)
        for _ in range(3):  # discovery: the port is not known open yet
            _, writer = await ctx.open_connection("127.0.0.1", port)
            writer.close()
        before = ctx.rate.taken
        ctx.mark_open("127.0.0.1", [port])
        for _ in range(5):  # probes of an open port
            _, writer = await ctx.open_connection("127.0.0.1", port)
            writer.close()
        server.close()
        return before, ctx.rate.taken
    assert asyncio.run(main()) == (3, 3)


def test_host_slots_reject_zero() -> None:
    with pytest.raises(ValueError):
        HostSlots(0)


def test_connect_scan_finds_open_and_refusing_hosts() -> None:
    async def main() -> dict[str, set[int]]:
        stats = {"now": 0, "peak": 0, "total": 0}
        server = await _server("127.0.0.2", 0, stats)
        port = server.sockets[0].getsockname()[1]
        ctx = ScanContext(build_targets(["127.0.0.2-3"], excludes=["127.0.0.3"]),
                           bounds=Bounds(connect_timeout=0.5))
        found = await tcp.scan([ctx.targets], [port, port + 1 if port < 65535 else port - 1], ctx)
        server.close()
        return found | {"port": {port}}
    found = asyncio.run(main())
    port = found.pop("port").pop()
    assert found == {"127.0.0.2": {port}}


def test_reply_flood_keeps_its_own_share_and_others_replies() -> None:
    """A device flooding discovery replies is capped per sender; the honest device is still heard."""
    from camaudit.datagram import MAX_DATAGRAMS_PER_SOURCE

    async def main() -> None:
        loop = asyncio.get_running_loop()
        port = _free_udp_port("127.0.0.2")
        flood, _ = await loop.create_datagram_endpoint(lambda: Responder(500), local_addr=("127.0.0.2", port))
        honest, _ = await loop.create_datagram_endpoint(lambda: Responder(1), local_addr=("127.0.0.3", port))
        ctx = ScanContext(build_targets(["127.0.0.2", "127.0.0.3"]), source_ip="127.0.0.1")
        replies = await ctx.ask(b"probe", group="239.255.255.250", port=port,
                                unicast_to=["127.0.0.2", "127.0.0.3"], wait=0.5)
        flood.close()
        honest.close()
        by_source = {src: sum(1 for r in replies if r.ip == src) for src in ("127.0.0.2", "127.0.0.3")}
        assert by_source == {"127.0.0.2": MAX_DATAGRAMS_PER_SOURCE, "127.0.0.3": 1}
    asyncio.run(main())


def test_a_quiet_segment_ends_the_multicast_window_with_the_replies_so_far() -> None:
    """The engine sets `segment_quiet` when ARP heard no target: an open window then returns
    what it has at once instead of waiting out `wait`; the routed hosts' unicast copy keeps
    its full window."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        port = _free_udp_port("127.0.0.2")
        echo, _ = await loop.create_datagram_endpoint(lambda: Responder(1), local_addr=("127.0.0.2", port))
        ctx = ScanContext(build_targets(["127.0.0.2"]), source_ip="127.0.0.1")
        ctx.segment_quiet = asyncio.Event()
        assert ctx.unicast_only().segment_quiet is None
        loop.call_later(0.3, ctx.segment_quiet.set)
        try:
            replies = await asyncio.wait_for(ctx.ask(b"probe", group="239.255.255.250", port=port,
                                                     unicast_to=["127.0.0.2"], wait=120), 20)
        finally:
            echo.close()
        assert [(r.ip, r.data[:6]) for r in replies] == [("127.0.0.2", b"000000")]
    asyncio.run(main())


def test_a_failed_sweep_becomes_a_scan_warning() -> None:
    async def broken() -> list:
        raise NotImplementedError("sock_recvfrom")  # what uvloop raised before _recvfrom

    warnings: list[str] = []
    assert asyncio.run(engine._guarded("sadp", None, None, 1.0, broken(), warnings)) == []
    assert len(warnings) == 1 and "sadp" in warnings[0] and "NotImplementedError" in warnings[0]


def test_datagram_helpers_work_on_uvloop() -> None:

    import uvloop

    async def main() -> tuple[bytes, int]:
        loop = asyncio.get_running_loop()
        rx, tx = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
        with rx, tx:
            rx.bind(("127.0.0.1", 0))
            rx.setblocking(False)
            tx.setblocking(False)
            await datagram._sendto(loop, tx, b"ping", rx.getsockname())
            data, (_, sport) = await asyncio.wait_for(datagram._recvfrom(loop, rx, 64), 5)
            return data, sport == tx.getsockname()[1]
    assert uvloop.run(main()) == (b"ping", True)


def test_budgets_are_per_scan_per_host_and_shared_by_the_unicast_copy() -> None:
    """`spend` is what keeps a device at one RPC2 challenge per scan: a second ask for the same
    host is refused (also through the unicast-only copy), another host or a new scan starts fresh."""
    targets = build_targets(["127.0.0.1-2"])
    ctx = ScanContext(targets)
    assert ctx.spend("rpc2-challenge", "127.0.0.1")
    assert not ctx.spend("rpc2-challenge", "127.0.0.1")
    assert not ctx.unicast_only().spend("rpc2-challenge", "127.0.0.1")
    assert ctx.spend("rpc2-challenge", "127.0.0.2") and ctx.spend("other", "127.0.0.1")
    assert ScanContext(targets).spend("rpc2-challenge", "127.0.0.1")
    assert ctx.spend("twice", "127.0.0.1", allowance=2) and ctx.spend("twice", "127.0.0.1", allowance=2)
    assert not ctx.spend("twice", "127.0.0.1", allowance=2)
