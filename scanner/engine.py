"""The scan engine: one asyncio loop that runs discovery and probes under the scan's bounds.

`run_scan(plan)` walks targets → discovery → probes → observations (`scan(plan)` runs it to
completion on uvloop: what the CLI and the lab tests call). Everything that touches
the network goes through `ProbeContext`, which owns the three safety bounds of a scan:

* the **target/exclude check** (`TargetSet.permits`, called by `ProbeContext.require` before
  any ARP request, TCP connect or UDP unicast, and by `admit` on every observation, so a
  multicast reply from a device outside the targets is dropped in exactly one place);
* the **global rate cap** (`RateLimiter`) on discovery: every ARP request, UDP datagram and
  TCP connection attempt to a port not yet known open takes one token, so `--rate N` bounds
  the traffic that fans out over the address space. Probes of a port the scan already found
  open take no token: like nmap's `--max-rate` ("only affects port scans and host discovery
  scans"), follow-up work on a live device is bounded by the per-host cap below and
  `MAX_IN_FLIGHT`. Counting it too made the rate, not the devices, the floor of a /24 audit
  (≈ 2,100 probe connections for 250 devices: +0.8 s at 2,000/s);
* the **per-host concurrency cap** (`HostSlots`, default 2 connections per host), held from
  connect until the connection is closed.

Why one loop and no threads: the scanner may run inside a network namespace entered by the
*calling thread* (the lab does that); a worker thread would sit in another namespace and
send packets elsewhere. Every socket and subprocess is created in the loop's thread.

ProbeContext API for probes (see also scanner/probes/base.py):

* ``ctx.bounds`` — `Bounds` (connect/read timeouts, byte caps).
* ``await ctx.open_connection(ip, port, ssl=None, server_hostname=None) -> (reader, writer)``
  — checks the address is a permitted target (raises `ExcludedAddress`, a PermissionError,
  otherwise), waits for a per-host slot and (unless the port is known open) a rate token,
  connects within
  ``bounds.connect_timeout`` (TLS handshake included). Network errors propagate as the
  standard exceptions (TimeoutError, ConnectionRefusedError, OSError, ssl.SSLError);
  `scanner.probes._io.classify` maps them to a ProbeStatus. The per-host slot is released
  when the connection is closed (``writer.close()``).
* ``await ctx.ask(payload, group=, port=, unicast_to=(), wait=None) -> list[Datagram]`` — the
  datagram helper for sweep probes: sends `payload` to the multicast `group` on the scan's
  interface (when targets are on that segment) and unicast to the permitted `unicast_to`
  addresses, all rate-limited, then collects replies (size-capped) for `wait` seconds.
* ``ctx.source_ip``, ``ctx.interface``, ``ctx.on_link`` (the scan has targets on the
  interface's own segment), ``ctx.permits(ip)``.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import ipaddress
import pkgutil
import socket
import ssl as ssl_module
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from scanner.observation import Observation, ProbeStatus
from scanner.probes.base import Bounds, Host, HostProbe, SweepProbe
from scanner.targets import TargetSet, drop_own_addresses

DEFAULT_PORTS: tuple[int, ...] = (80, 443, 554, 8000, 8080, 8443, 37777)
DEFAULT_RATE = 2000.0        # discovery packets/connection attempts per second, whole scan
DEFAULT_PER_HOST = 2         # concurrent connections per device (gentle on embedded stacks)
DEFAULT_SWEEP_WAIT = 1.0     # seconds to collect multicast discovery replies
DEFAULT_ARP_WAIT = 0.5       # seconds to wait for ARP replies after the last request
MAX_IN_FLIGHT = 512          # concurrent connect attempts / probes (file descriptors, memory)
MAX_DATAGRAMS = 20_000       # replies kept per ask(); a flood beyond that is dropped
MAX_DATAGRAMS_PER_SOURCE = 64  # one flooding device cannot crowd out the others' replies
MAX_DATAGRAM_BYTES = 16 << 20  # all replies of one ask() together (20,000 x 16 KiB would be 320 MiB)

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total); stages: "discover", "probe"


class ExcludedAddress(PermissionError):
    """A layer tried to reach an address that is not a permitted target (excluded or never named)."""


class RateLimiter:
    """Spaces events at most `rate` per second over the whole scan (no bursts).

    Each caller reserves the next free slot and sleeps until it, so in any window of T
    seconds at most rate*T + 1 events pass, however many tasks ask concurrently.
    """

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._next = 0.0
        self.taken = 0  # tokens handed out (scan statistics, tests)

    async def acquire(self) -> None:
        self.taken += 1
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


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


@dataclass(slots=True, frozen=True)
class Datagram:
    """One UDP reply collected by `ProbeContext.ask`."""

    ip: str
    port: int
    data: bytes
    truncated: bool = False  # longer than bounds.max_datagram_bytes; `data` is the first part


class ProbeContext:
    """What probes and discovery may use to touch the network; see the module docstring."""

    def __init__(self, targets: TargetSet, *, bounds: Bounds | None = None,
                 rate: float = DEFAULT_RATE, per_host: int = DEFAULT_PER_HOST,
                 source_ip: str | None = None, interface: str | None = None,
                 on_link: bool = False) -> None:
        self.targets = targets
        self.bounds = bounds or Bounds()
        self.rate = RateLimiter(rate)
        self.hosts = HostSlots(per_host)
        self.source_ip = source_ip
        self.interface = interface
        self.on_link = on_link
        self.dropped = 0  # observations refused by `admit`
        self.open_ports: set[tuple[str, int]] = set()  # found open by discovery: probes skip the rate

    def mark_open(self, ip: str, ports: Iterable[int]) -> None:
        """Record ports discovery found open; connections to them are probes, not discovery."""
        self.open_ports.update((ip, port) for port in ports)

    # -- the one target/exclude rule ---------------------------------------------------
    def permits(self, ip: str | int) -> bool:
        return self.targets.permits(ip)

    def require(self, ip: str) -> None:
        """Raise ExcludedAddress unless `ip` is a permitted target. Every sender calls this."""
        if not self.targets.permits(ip):
            raise ExcludedAddress(f"{ip} is excluded or not among the scan's targets")

    def admit(self, obs: Observation) -> bool:
        """Keep an observation only if it is about a permitted target (drops stray replies)."""
        if obs.ip is not None and self.targets.permits(obs.ip):
            return True
        self.dropped += 1
        return False

    # -- TCP --------------------------------------------------------------------------
    async def open_connection(self, ip: str, port: int, *, ssl: ssl_module.SSLContext | None = None,
                              server_hostname: str | None = None
                              ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to a permitted target under the per-host cap, and under the rate cap unless
        discovery already found the port open (see module docstring)."""
        self.require(ip)
        release = await self.hosts.acquire(ip)
        try:
            if (ip, port) not in self.open_ports:
                await self.rate.acquire()
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader(limit=self.bounds.max_header_bytes + self.bounds.max_bytes)
            protocol = _SlotProtocol(reader, release)
            kwargs: dict[str, Any] = {}
            if ssl is not None:
                kwargs = {"ssl": ssl, "server_hostname": server_hostname or "",
                          "ssl_handshake_timeout": self.bounds.connect_timeout}
            async with asyncio.timeout(self.bounds.connect_timeout * (2 if ssl else 1)):
                transport, _ = await loop.create_connection(lambda: protocol, ip, port, **kwargs)
            return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
        except BaseException:
            release()
            raise

    def unicast_only(self) -> ProbeContext:
        """The same context (same targets, rate and host slots) with multicast off, for a
        second sweep that only unicasts to routed hosts after multicast already ran."""
        clone = copy.copy(self)
        clone.on_link = False
        return clone

    # -- UDP ----------------------------------------------------------------------------
    async def ask(self, payload: bytes, *, group: str, port: int, unicast_to: Iterable[str] = (),
                  wait: float | None = None, repeat: int = 2) -> list[Datagram]:
        """Multicast `payload` on the scan's segment and unicast it to permitted hosts; collect replies.

        The socket binds the protocol's port (devices answer to the group or to the
        sender's port; binding it hears both), joins `group` on the scan interface and sends
        with TTL 1. Multicast is sent `repeat` times (lost datagrams are normal on busy
        LANs); identical replies are kept once. Replies are returned unfiltered: the engine's
        `admit` drops those from addresses outside the targets.
        """
        if self.source_ip is None:
            raise RuntimeError("ask() needs the scan's source address")
        wait = DEFAULT_SWEEP_WAIT if wait is None else wait
        sock = _datagram_socket(self.source_ip, group, port)
        loop = asyncio.get_running_loop()
        replies: list[Datagram] = []
        seen: set[tuple[str, int, int]] = set()   # (src, sport, hash of data): no second copy kept
        per_source: Counter[str] = Counter()
        kept_bytes = 0

        async def send(dest: str) -> None:
            await self.rate.acquire()
            try:
                await _sendto(loop, sock, payload, (dest, port))
            except OSError:
                pass  # an unreachable host or segment costs nothing more

        async def sender() -> None:
            for attempt in range(repeat if self.on_link else 0):
                if attempt:
                    await asyncio.sleep(min(0.1, wait / 4))
                await send(group)
            for ip in unicast_to:
                if self.permits(ip):
                    await send(ip)

        cap = self.bounds.max_datagram_bytes
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
                if src == self.source_ip or key in seen:
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
        # (added by the probes engineer) A ProbeMatch flood (hostile-wsd-flood) overflowed the
        # ~200 KiB default receive buffer and other devices' replies were dropped (nstat
        # UdpRcvbufErrors: 5281 in 8 sweeps of the full lab; 0 with 4 MiB). SO_RCVBUFFORCE (33)
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


# ---------------------------------------------------------------------------------------
# Scan orchestration


@dataclass(slots=True)
class ScanPlan:
    """Everything one scan needs; built by the CLI (or a test) from options and config."""

    targets: TargetSet
    ports: tuple[int, ...] = DEFAULT_PORTS
    rate: float = DEFAULT_RATE
    per_host: int = DEFAULT_PER_HOST
    interface: str | None = None
    engine: str = "native"                 # "native" | "nmap"
    probes: tuple[str, ...] | None = None  # probe names to run; None = every available probe
    bounds: Bounds = field(default_factory=Bounds)
    sweep_wait: float = DEFAULT_SWEEP_WAIT
    arp_wait: float = DEFAULT_ARP_WAIT
    use_arp: bool | None = None            # None = when privileged and targets are on-link
    progress: ProgressFn | None = None
    on_observation: Callable[[Observation], None] | None = None


@dataclass(slots=True)
class ScanOutcome:
    """What a scan produced, and what it could not do (warnings say so in words)."""

    observations: list[Observation]
    hosts: list[Host]
    interface: str
    source_ip: str
    arp_used: bool
    targets: int
    warnings: list[str] = field(default_factory=list)
    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    dropped: int = 0
    started: float = 0.0
    finished: float = 0.0


def available_probes() -> tuple[list[HostProbe], list[SweepProbe], list[str]]:
    """Instances of every concrete probe in `scanner.probes`, plus import problems as warnings.

    Discovering probes by their base class keeps the engine free of a hand-kept list that
    the probe modules would have to edit.
    """
    import scanner.probes as pkg

    problems: list[str] = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        try:
            importlib.import_module(f"scanner.probes.{info.name}")
        except Exception as exc:  # noqa: BLE001 - one broken probe must not stop the scan
            problems.append(f"probe module scanner.probes.{info.name} failed to load: {exc}")
    host = [cls() for cls in _concrete(HostProbe)]
    sweep = [cls() for cls in _concrete(SweepProbe)]
    return host, sweep, problems


def _concrete(base: type) -> list[type]:
    out, todo = [], list(base.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        # only shipped probes: a test's stand-in subclass must never join a real scan
        if (cls.__module__.startswith("scanner.probes.") and getattr(cls, "name", None)
                and not getattr(cls, "__abstractmethods__", None)):
            out.append(cls)
    return sorted(set(out), key=lambda c: c.name)


def scan(plan: ScanPlan) -> ScanOutcome:
    """Run a whole scan to completion on a uvloop event loop (what the CLI and tests call).

    Why uvloop: the scan is one loop doing thousands of short connections; libuv's loop cut
    the in-process time of a 250-device /24 from ≈ 2.15 s to ≈ 1.75 s (same machine, A B A B).
    Everything else (namespaces, one thread, the bounds) is unchanged.
    """
    import uvloop

    return uvloop.run(run_scan(plan))


async def run_scan(plan: ScanPlan) -> ScanOutcome:
    """Discover live hosts among the plan's targets, probe them, return every observation.

    Stages overlap: a host found by ARP is port-scanned at once and probed as soon as its
    ports are known, while the sweep goes on; multicast discovery runs alongside. The scan
    is then bounded by the rate cap and the slowest device's budget, not by stage barriers.
    """
    from scanner.discovery import route

    started = time.time()
    path = route.resolve(plan.targets, plan.interface)
    # The scanner never probes its own interfaces, even inside a CIDR (the CLI drops and
    # reports them before the scan; this keeps library callers just as safe).
    targets, dropped = drop_own_addresses(plan.targets, path.own_addresses)
    segments, routed = [], targets
    for network, source_ip in path.segments:
        inside, routed = routed.split(network)
        if len(inside):
            segments.append((inside, source_ip))
    ctx = ProbeContext(targets, bounds=plan.bounds, rate=plan.rate, per_host=plan.per_host,
                       source_ip=path.source_ip, interface=path.interface, on_link=bool(segments))
    outcome = ScanOutcome([], [], path.interface, path.source_ip, False, len(targets), started=started)
    outcome.warnings.extend(dropped)
    host_probes, sweep_probes, problems = available_probes()
    outcome.warnings.extend(problems)
    if plan.probes is not None:
        wanted = set(plan.probes)
        host_probes = [p for p in host_probes if p.name in wanted]
        sweep_probes = [p for p in sweep_probes if p.name in wanted]
    scan = _Scan(plan, ctx, outcome, host_probes)
    multicast_done = False

    if plan.engine == "nmap":
        from scanner.discovery import nmap

        hosts, nmap_warnings = nmap.discover(targets, plan.ports, rate=plan.rate, interface=path.interface)
        outcome.warnings.extend(nmap_warnings)
        for host in hosts:
            scan.host_ready(host)
        outcome.arp_used = any(h.mac for h in hosts)
        routed_hosts = [h for h in hosts if not h.mac]
    else:
        use_arp = plan.use_arp
        if use_arp is None:
            use_arp = _arp_possible(segments, path, outcome.warnings)
        if not use_arp:
            segments, routed = [], targets
        outcome.arp_used = bool(segments)
        if ctx.on_link:  # multicast needs no host list: it runs alongside discovery
            for probe in sweep_probes:
                scan.spawn(scan.run_sweep(probe, [], ctx))
            multicast_done = True
        routed_hosts = await scan.discover(path, segments, routed)
    scan.progress("discover", len(targets), len(targets))
    if routed_hosts or (ctx.on_link and not multicast_done):
        # routed hosts found by TCP get the same discovery probes by unicast
        sweep_ctx = ctx.unicast_only() if multicast_done else ctx
        for probe in sweep_probes:
            scan.spawn(scan.run_sweep(probe, routed_hosts, sweep_ctx))
    await scan.drain()
    outcome.hosts = sorted(scan.hosts.values(), key=lambda h: _ip_key(h.ip))
    outcome.dropped = ctx.dropped
    outcome.finished = time.time()
    return outcome


def _arp_possible(segments: list[tuple[TargetSet, str]], path: Any, warnings: list[str]) -> bool:
    from scanner.discovery import arp

    if not segments or path.mac is None:
        return False
    if arp.available():
        return True
    warnings.append("no raw-socket privilege (run as root or grant CAP_NET_RAW): ARP discovery is "
                    "off, so MAC addresses and OUI vendors are unknown and local hosts are found "
                    "by TCP connect only")
    return False


class _Scan:
    """One scan's pipeline state: hosts flow from discovery into probing as soon as known."""

    def __init__(self, plan: ScanPlan, ctx: ProbeContext, outcome: ScanOutcome,
                 host_probes: list[HostProbe]) -> None:
        self.plan, self.ctx, self.outcome, self.host_probes = plan, ctx, outcome, host_probes
        self.progress: ProgressFn = plan.progress or (lambda stage, done, total: None)
        self.hosts: dict[str, Host] = {}
        self.macs: dict[str, str] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.limit = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.budget = 4 * (plan.bounds.connect_timeout + plan.bounds.read_timeout)
        self.done = self.total = 0

    def spawn(self, work: Any) -> None:
        self.total += 1
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))

    def emit(self, obs: Observation) -> None:
        # The MAC that answered ARP for this address wins over one a reply claims in its payload
        # (SADP/DHIP): a device must not file its answers under another device's identity. The
        # claimed MAC stays in the observation's data as evidence.
        if obs.ip in self.macs:
            obs.mac = self.macs[obs.ip]
        if not self.ctx.admit(obs):
            return
        if obs.text_replaced and obs.text_warning() not in self.outcome.warnings:  # once per device
            self.outcome.warnings.append(obs.text_warning())
        self.outcome.observations.append(obs)
        self.outcome.statuses[(obs.source, str(obs.status))] += 1
        if self.plan.on_observation:
            self.plan.on_observation(obs)

    def host_ready(self, host: Host) -> None:
        """A live host with its open ports: record it and start every probe that applies."""
        self.hosts[host.ip] = host
        self.ctx.mark_open(host.ip, host.open_ports)
        if host.mac:
            self.macs[host.ip] = host.mac
            self.emit(Observation(source="arp", ip=host.ip, mac=host.mac))
        for port in sorted(host.open_ports):
            for probe in self.host_probes:
                if probe.applies_to(host, port):
                    self.spawn(self.run_host(probe, host, port))

    def _finished(self, observations: list[Observation]) -> None:
        for obs in observations:
            self.emit(obs)
        self.done += 1
        self.progress("probe", self.done, self.total)

    async def run_host(self, probe: HostProbe, host: Host, port: int) -> None:
        async with self.limit:
            self._finished(await _guarded(probe.name, host.ip, port, self.budget,
                                          probe.probe(host, port, self.ctx)))

    async def run_sweep(self, probe: SweepProbe, hosts: list[Host], ctx: ProbeContext) -> None:
        self._finished(await _guarded(probe.name, None, None, self.budget + self.plan.sweep_wait,
                                      probe.sweep(hosts, ctx), self.outcome.warnings))

    async def discover(self, path: Any, segments: list[tuple[TargetSet, str]],
                       routed: TargetSet) -> list[Host]:
        """ARP the local segments and connect-scan the rest, concurrently; returns routed hosts.

        Each ARP answer starts that host's port scan (and then its probes) at once; where
        ARP cannot see, the port-major connect scan is discovery too.
        """
        from scanner.discovery import arp, tcp

        async def port_scan(ip: str, mac: str) -> None:
            found = await tcp.scan([[ip]], self.plan.ports, self.ctx, workers=len(self.plan.ports))
            self.host_ready(Host(ip, mac, frozenset(found.get(ip, ()))))

        def answered(ip: str, mac: str) -> None:
            self.spawn(port_scan(ip, mac))

        async def local() -> None:
            swept = 0
            for on_link, source_ip in segments:
                def report(done: int, base: int = swept) -> None:
                    self.progress("discover", base + done, len(self.ctx.targets))
                await arp.sweep(on_link, self.ctx, path.interface, path.mac, source_ip,
                                wait=self.plan.arp_wait, progress=report, on_found=answered,
                                warnings=self.outcome.warnings)
                swept += len(on_link)

        async def remote() -> list[Host]:
            if not len(routed):
                return []
            found = await tcp.scan([routed], self.plan.ports, self.ctx)
            hosts = [Host(ip, None, frozenset(ports)) for ip, ports in found.items()]
            for host in hosts:
                self.host_ready(host)
            return hosts

        _, routed_hosts = await asyncio.gather(local(), remote())
        return routed_hosts


async def _guarded(name: str, ip: str | None, port: int | None, budget: float,
                   work: Any, warnings: list[str] | None = None) -> list[Observation]:
    """Run one probe under a hard budget; a probe bug or overrun becomes an observation, not a
    crash. A failed sweep has no device to attach that to, so it becomes a scan warning."""
    try:
        async with asyncio.timeout(budget):
            return list(await work)
    except TimeoutError:
        status, error = ProbeStatus.TIMEOUT, f"probe exceeded its {budget:.0f} s budget"
    except Exception as exc:  # noqa: BLE001 - never let one device stop the scan
        status, error = ProbeStatus.ERROR, f"{name} probe failed: {type(exc).__name__}: {exc}"
    if ip is None:
        if warnings is not None:
            warnings.append(f"{error}: devices that answer only to the {name} sweep may be missing")
        return []
    return [Observation(source=name, ip=ip, port=port, status=status, error=error)]


def _ip_key(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))
