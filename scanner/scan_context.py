"""The scan context: what probes and discovery use to touch the network, under the scan's bounds.

`ScanContext` implements the protocols probes and discovery are written against
(`camaudit.probes.base.ProbeContext`, `camaudit.discovery.base.DiscoveryContext`) and owns
the three safety bounds of a scan:

* the **target/exclude check** (`TargetSet.permits`, called by `ScanContext.require` before
  any ARP request, TCP connect or UDP unicast, and by `admit` on every observation, so a
  multicast reply from a device outside the targets is dropped in exactly one place);
* the **global rate cap** (`RateLimiter`) on discovery: every ARP request, UDP datagram and
  TCP connection attempt to a port not yet known open takes one token, so `--rate N` bounds
  the traffic that fans out over the address space (single packets are served before
  connection attempts waiting at the same time: see `RateLimiter`). Probes of a port the
  scan already found open take no token: like nmap's `--max-rate` ("only affects port
  scans and host discovery scans"), follow-up work on a live device is bounded by the
  per-host cap below and the engine's `MAX_IN_FLIGHT`. Counting it too made the rate, not the devices, the floor of a
  /24 audit (≈ 2,100 probe connections for 250 devices: +0.8 s at 2,000/s);
* the **per-host concurrency cap** (`HostSlots`, default 2 connections per host), held from
  connect until the connection is closed.

It also holds the scan's per-host budgets (`spend`: e.g. one Dahua RPC2 challenge per
device whichever probe asks) and its warnings. One context is one scan.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
import socket
import ssl as ssl_module
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from camaudit import datagram
from camaudit.addresses import canonical
from camaudit.sweep_ports import SweepPorts
from camaudit.model import DEFAULT_PER_HOST, DEFAULT_RATE, DEFAULT_SWEEP_WAIT, Bounds, Datagram
from camaudit.observation import Observation
from camaudit.targets import TargetSet

if TYPE_CHECKING:
    from camaudit.probes.snmp_usm import SnmpUser

CATCH_UP = 4   # slots a late rate timer may release back to back (RateLimiter)
URGENT_STREAK = 3   # packets served in a row before a waiting connect gets one slot (RateLimiter)
MAX_VERDICTS = 1 << 18  # addresses whose permits() answer is remembered (a /16 of targets, and then some)


class ExcludedAddress(PermissionError):
    """A layer tried to reach an address that is not a permitted target (excluded or never named)."""


class RateLimiter:
    """Spaces events at most `rate` per second over the whole scan (no burst beyond
    `CATCH_UP`). Among callers waiting at the same moment, single packets (`urgent`: ARP
    requests and neighbour solicitations, UDP requests) go first, then connection attempts
    by `rank` (lowest first; the scan context ranks hosts in the order first contacted).

    Why the order: at the default rate the tokens, not the CPUs, bound a dense segment. A /24
    of 250 devices takes ≈ 3,000 (255 ARP requests, 2,250 port-scan connects, ≈ 500 SNMP
    requests and resends): 1.5 s at 2,000/s. Served first come, the ARP requests queued
    behind the connects of hosts already heard, so the last host was heard ≈ 1.5 s in and its
    SNMP wait (1.25 s when nothing answers on UDP 161) came after that. With packets first,
    every host is heard and asked within ≈ 0.4 s and those waits overlap the connects; with
    connects by host, a host's port scan ends early and its probes (which take no token)
    overlap the other hosts' scans instead of all starting at the end. Packets never starve
    connects: every `URGENT_STREAK + 1`th slot goes to a waiting connect, so on a /16 (a
    33 s ARP sweep at the default rate) the hosts heard early are scanned and probed while
    the sweep goes on. The total, and so the rate on the wire, is unchanged.

    A waiter is woken by a timer at its slot; one cancelled meanwhile gives its slot to the
    next. A timer that fires late (the loop was busy) catches up by at most `CATCH_UP`
    slots, released back to back: without catching up, every late wake-up lowered the rate
    (by ≈ 12 % on a busy /24 audit); without the bound, a loop stalled for a second would
    release a second's worth of packets at once. So in any window of T seconds at most
    rate × T + CATCH_UP + 1 events pass.
    """

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._next = 0.0   # monotonic time of the next free slot
        self.taken = 0  # tokens handed out (scan statistics, tests)
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ranked: list[tuple[int, int, asyncio.Future[None]]] = []   # heap of (rank, arrival, waiter)
        self._arrivals = 0
        self._streak = 0   # urgent tokens handed out since the last connect
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self, urgent: bool = False, rank: int = 0) -> None:
        self.taken += 1
        now = time.monotonic()
        if self._timer is None and now >= self._next:   # nobody waiting and the slot is free
            # a caller just late for its slot (a sweep sending one packet per token) catches
            # up; one after an idle spell starts a fresh schedule, with no burst
            idle = now - self._next > CATCH_UP * self.interval
            self._next = now + self.interval if idle else self._after(now)
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if urgent:
            self._urgent.append(waiter)
        else:
            self._arrivals += 1
            heapq.heappush(self._ranked, (rank, self._arrivals, waiter))
        if self._timer is None:
            self._timer = loop.call_later(self._next - now, self._release, loop)
        await waiter

    def _after(self, now: float) -> float:
        """The slot after the one just taken: one interval on, unless that is more than
        CATCH_UP slots behind `now` (a caller or timer came late), whose lost slots are not
        all made up at once."""
        return max(self._next + self.interval, now - (CATCH_UP - 1) * self.interval)

    def _release(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        while self._urgent or self._ranked:
            if self._urgent and (self._streak < URGENT_STREAK or not self._ranked):
                waiter = self._urgent.popleft()
                self._streak += 1
            else:
                waiter = heapq.heappop(self._ranked)[2]
                self._streak = 0
            if waiter.done():   # cancelled while waiting
                continue
            waiter.set_result(None)
            now = time.monotonic()
            self._next = self._after(now)
            if self._urgent or self._ranked:
                self._timer = loop.call_later(self._next - now, self._release, loop)
            return


class HostSlots:
    """At most `per_host` concurrent connections per address; state only for busy hosts.

    A semaphore per address would be 65k objects on a /16, so a counter and a waiter queue
    exist only while a host has connections open.
    """

    def __init__(self, per_host: int) -> None:
        if per_host < 1:
            raise ValueError("per-host concurrency must be at least 1")
        self.per_host = per_host
        self._busy: dict[str, list[Any]] = {}  # ip -> [count, deque of futures]

    async def acquire(self, ip: str) -> Callable[[], None]:
        """Wait for a slot on `ip`; returns an idempotent release function."""
        entry = self._busy.get(ip)
        if entry is None:
            entry = self._busy[ip] = [0, []]
        while entry[0] >= self.per_host:
            fut = asyncio.get_running_loop().create_future()
            entry[1].append(fut)
            try:
                await fut
            except BaseException:
                if fut in entry[1]:
                    entry[1].remove(fut)
                raise
        entry[0] += 1
        done = False

        def release() -> None:
            nonlocal done
            if done:
                return
            done = True
            entry[0] -= 1
            while entry[1]:
                waiter = entry[1].pop(0)
                if not waiter.done():
                    waiter.set_result(None)
                    return
            if entry[0] == 0 and self._busy.get(ip) is entry:
                del self._busy[ip]
        return release

    def busy(self, ip: str) -> int:
        entry = self._busy.get(ip)
        return entry[0] if entry else 0


class _SlotProtocol(asyncio.StreamReaderProtocol):
    """A stream protocol that gives the host slot back when the connection ends."""

    def __init__(self, reader: asyncio.StreamReader, release: Callable[[], None]) -> None:
        super().__init__(reader)
        self._release = release

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            self._release()


class ScanContext:
    """What probes and discovery may use to touch the network: implements the `ProbeContext`
    and `DiscoveryContext` protocols under the bounds of the module docstring."""

    def __init__(self, targets: TargetSet, *, bounds: Bounds | None = None,
                 rate: float = DEFAULT_RATE, per_host: int = DEFAULT_PER_HOST,
                 source_ip: str | None = None, interface: str | None = None,
                 on_link: bool = False, warnings: list[str] | None = None,
                 snmp_communities: tuple[str, ...] = (), snmp_users: tuple[SnmpUser, ...] = ()) -> None:
        self.targets = targets
        self.bounds = bounds or Bounds()
        self.rate = RateLimiter(rate)
        self.hosts = HostSlots(per_host)
        self.source_ip = source_ip
        self.interface = interface
        self.on_link = on_link
        self.snmp_communities = snmp_communities  # configured by the user; empty: SNMP sends nothing
        self.snmp_users = snmp_users              # SNMPv3 users, likewise
        self.dropped = 0  # observations refused by `admit`
        self.open_ports: set[tuple[str, int]] = set()  # found open by discovery: probes skip the rate
        self.warnings = [] if warnings is None else warnings  # the scan's, in words for the user
        self._spent: Counter[tuple[str, str]] = Counter()  # (budget, ip) -> units taken
        self.sweep_ports = SweepPorts()  # shared with unicast_only copies; closed by close()
        # permits() answers by address text: every connection, datagram and observation asks,
        # and parsing the text each time was a tenth of a /24 audit's CPU. Shared by copies.
        self._verdicts: dict[str | int, bool] = {}
        self._ranks: dict[str, int] = {}   # connection order of hosts (RateLimiter rank); shared by copies
        # Set by the engine when the link-layer sweep heard no target: a multicast window still
        # open then can only hear targets that ignored ARP, so it ends with what it has.
        self.segment_quiet: asyncio.Event | None = None

    def close(self) -> None:
        """End the scan's network use: the sweep sockets, kept bound until now (sweep_ports)."""
        self.sweep_ports.close()

    def mark_open(self, ip: str, ports: Iterable[int]) -> None:
        """Record ports discovery found open; connections to them are probes, not discovery."""
        self.open_ports.update((ip, port) for port in ports)

    # -- the one target/exclude rule ---------------------------------------------------
    def permits(self, ip: str | int) -> bool:
        verdict = self._verdicts.get(ip)
        if verdict is None:
            verdict = self.targets.permits(ip)
            if len(self._verdicts) < MAX_VERDICTS:  # stray senders cannot grow it without end
                self._verdicts[ip] = verdict
        return verdict

    def require(self, ip: str) -> None:
        """Raise ExcludedAddress unless `ip` is a permitted target. Every sender calls this."""
        if not self.permits(ip):
            raise ExcludedAddress(f"{ip} is excluded or not among the scan's targets")

    def admit(self, obs: Observation) -> bool:
        """Keep an observation only if it is about a permitted target (drops stray replies)."""
        if obs.ip is not None and self.permits(obs.ip):
            return True
        self.dropped += 1
        return False

    # -- TCP --------------------------------------------------------------------------
    async def open_connection(self, ip: str, port: int, *, ssl: ssl_module.SSLContext | None = None,
                              server_hostname: str | None = None
                              ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to a permitted target under the per-host cap, and under the rate cap unless
        discovery already found the port open (see module docstring).

        The address is spelled one way first (`canonical`), so `FDCA::10` and `fdca::10` share
        one host's slots; the socket family follows the address, a link-local zone picks the
        interface, and no name is ever resolved (AI_NUMERICHOST)."""
        ip = canonical(ip) or ip
        self.require(ip)
        release = await self.hosts.acquire(ip)
        try:
            if (ip, port) not in self.open_ports:
                await self.rate.acquire(rank=self._rank(ip))
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader(limit=self.bounds.max_header_bytes + self.bounds.max_bytes)
            protocol = _SlotProtocol(reader, release)
            kwargs: dict[str, Any] = {}
            if ssl is not None:
                kwargs = {"ssl": ssl, "server_hostname": server_hostname or "",
                          "ssl_handshake_timeout": self.bounds.connect_timeout}
            async with asyncio.timeout(self.bounds.connect_timeout * (2 if ssl else 1)):
                transport, _ = await loop.create_connection(lambda: protocol, ip, port,
                                                            flags=socket.AI_NUMERICHOST, **kwargs)
            return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
        except BaseException:
            release()
            raise

    def _rank(self, ip: str) -> int:
        """Hosts in the order they were first connected to, remembered for as many addresses
        as the verdict cache (MAX_VERDICTS); hosts beyond that share the last rank."""
        rank = self._ranks.get(ip)
        if rank is None:
            rank = len(self._ranks)
            if rank < MAX_VERDICTS:
                self._ranks[ip] = rank
        return rank

    async def _urgent_token(self) -> None:
        await self.rate.acquire(urgent=True)

    def unicast_only(self) -> ScanContext:
        """The same context (same targets, rate and host slots) with multicast off, for a
        second sweep that only unicasts to routed hosts after multicast already ran."""
        clone = copy.copy(self)
        clone.on_link = False
        clone.segment_quiet = None   # unicast answers of routed hosts get their full window
        return clone

    # -- UDP ----------------------------------------------------------------------------
    async def ask(self, payload: bytes, *, group: str, port: int, unicast_to: Iterable[str] = (),
                  wait: float | None = None, repeat: int = 2) -> list[Datagram]:
        """Multicast `payload` on the scan's segment (`repeat` times: lost datagrams are normal
        on busy LANs) and unicast it to permitted hosts; collect replies (camaudit.datagram).

        The sweep sockets are IPv4 (camaudit.sweep_ports): IPv6 hosts are left out here rather
        than each costing a rate token for a send that cannot happen."""
        if self.source_ip is None:
            raise RuntimeError("ask() needs the scan's source address")
        ipv4 = [c for c in map(canonical, unicast_to) if c is not None and ":" not in c and self.permits(c)]
        return await datagram.ask(payload, ports=self.sweep_ports, source_ip=self.source_ip, group=group,
                                  multicast=self.on_link, port=port, unicast_to=ipv4,
                                  wait=DEFAULT_SWEEP_WAIT if wait is None else wait,
                                  repeat=repeat, cap=self.bounds.max_datagram_bytes,
                                  token=self._urgent_token, until=self.segment_quiet)

    async def exchange(self, ip: str, port: int, payload: bytes, *, wait: float,
                       resend_after: float | None = None) -> Datagram | None:
        """One UDP request to a permitted target and its first reply (None: no answer within
        `wait`), size-capped; with `resend_after`, sent once more if unanswered by then
        (`datagram.exchange`). Each send takes a rate token (discovery found no UDP port
        open); the request holds one of the host's slots, so UDP and TCP probes share the
        per-host cap."""
        ip = canonical(ip) or ip
        self.require(ip)
        release = await self.hosts.acquire(ip)
        try:
            await self.rate.acquire(urgent=True)
            return await datagram.exchange(ip, port, payload, wait=wait, cap=self.bounds.max_datagram_bytes,
                                           resend_after=resend_after, before_resend=self._urgent_token)
        finally:
            release()

    # -- per-scan budgets ------------------------------------------------------------------
    def spend(self, budget: str, ip: str, allowance: int = 1) -> bool:
        """Take one unit of `budget` for `ip` in this scan; False once `allowance` are spent.

        Shared by every probe and port (an RPC2 challenge asked over HTTP counts for HTTPS
        too), and by `unicast_only` copies of this context: the budget is the scan's.
        """
        key = (budget, ip)
        if self._spent[key] >= allowance:
            return False
        self._spent[key] += 1
        return True
