"""TCP connect discovery: which addresses answer on the camera ports, and which ports are open.

Used where ARP cannot see (routed segments, or no raw-socket privilege) and as the port
scan of hosts ARP found. A completed connect means open (also when the device resets it
at once); a refusal (RST to the SYN) still proves the host is alive; silence costs `bounds.connect_timeout`. Attempts go out port-major (every
address on port 80, then on 443, …) so one host never sees a burst, and a fixed pool of
workers pulls from a lazy generator: a /16 never exists as 458k pending tasks.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Iterable, Iterator, Sequence

from camaudit.discovery.base import DiscoveryContext, DiscoverySettings, OnHost
from camaudit.model import Host
from camaudit.targets import TargetSet

MAX_WORKERS = 4096  # concurrent connect attempts (each one a file descriptor)
MIN_WORKERS = 64


def worker_count(rate: float, connect_timeout: float) -> int:
    """Enough workers that silent addresses (each costing a full timeout) don't throttle the
    scan below its rate — about rate × timeout in flight — within the file-descriptor limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = max(MIN_WORKERS, min(MAX_WORKERS, soft - 256))
    return max(MIN_WORKERS, min(ceiling, int(rate * connect_timeout * 1.25) + MIN_WORKERS))


def _attempts(sources: Sequence[Iterable[str]], ports: Iterable[int]) -> Iterator[tuple[str, int]]:
    for port in ports:
        for source in sources:
            for ip in source:
                yield ip, port


async def scan(sources: Sequence[Iterable[str]], ports: Iterable[int], ctx: DiscoveryContext,
               workers: int | None = None) -> dict[str, set[int]]:
    """Connect to every (address, port); ip -> open ports for each address that answered.

    `workers` bounds concurrent attempts (default: sized to the rate, see worker_count).

    `sources` are re-iterable collections of addresses (walked once per port). Every
    attempt goes through `ctx.open_connection`, so excludes, the rate cap and the per-host
    cap apply here exactly as for probes.
    """
    alive: dict[str, set[int]] = {}
    pending = _attempts(sources, tuple(ports))

    async def worker() -> None:
        for ip, port in pending:
            if not ctx.permits(ip):
                continue
            try:
                _, writer = await ctx.open_connection(ip, port)
            except ConnectionRefusedError:
                alive.setdefault(ip, set())
                continue
            except ConnectionResetError:  # handshake done, then RST: open (probes record the reset)
                alive.setdefault(ip, set()).add(port)
                continue
            except (OSError, TimeoutError):
                continue
            alive.setdefault(ip, set()).add(port)
            writer.close()

    if workers is None:
        workers = worker_count(1.0 / ctx.rate.interval, ctx.bounds.connect_timeout)
    await asyncio.gather(*(worker() for _ in range(workers)))
    return alive


class TcpDiscovery:
    """Connect-scan the targets on the plan's ports: discovery where ARP cannot see."""

    arp_used = False

    def __init__(self, settings: DiscoverySettings) -> None:
        self.settings = settings

    async def discover(self, targets: TargetSet, ctx: DiscoveryContext, on_host: OnHost) -> None:
        if not len(targets):
            return
        found = await scan([targets], self.settings.ports, ctx)
        for ip, ports in found.items():
            on_host(Host(ip, None, frozenset(ports)))
