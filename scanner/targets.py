"""Targets: the only source of addresses camaudit ever sends a packet to.

The user names every target (CIDRs, ranges, single hosts, files); excludes are subtracted
and `TargetSet.permits` is the one check every layer (ARP, TCP, UDP unicast, reply
filtering) calls before it touches or trusts an address. Addresses are kept as integer
intervals, never materialised per address, so a /16 costs a few bytes until it is walked.

IPv4 and IPv6. IPv6 intervals are kept per zone: a link-local address means nothing
without its interface (RFC 4007 section 11), so `fe80::1%eth0` is a target and a bare
`fe80::1` is refused. IPv4-mapped addresses (`::ffff:198.18.0.10`, RFC 4291 section
2.5.5.2) are the IPv4 host they name, so an IPv4 exclude covers them. An IPv6 subnet
(a /64, 2**64 addresses) cannot be swept address by address: above a /112 needs
--force and above a /96 is refused outright. Host names are refused rather than
resolved: a scan must not depend on (or leak to) DNS.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from camaudit.addresses import canonical, ip_sort_key
from camaudit.boundedio import TooLarge, read_capped

DEFAULT_MAX_TARGETS = 65_536  # a /16; more needs --force (or --max-targets)
MAX_FILE_BYTES = 4 << 20      # a targets file bigger than 4 MiB is a mistake, not a target list
MAX_SPEC_CHARS = 200          # the longest sensible spec is a zoned IPv6 range (~130 characters)
V6_SWEEP = 1 << 16            # IPv6 addresses swept without --force: a /112
V6_SWEEP_FORCED = 1 << 32     # ... and with it: a /96 (24 days at 2,000 connections/s)

Interval = tuple[int, int]  # inclusive [first, last] as integers (32-bit IPv4, 128-bit IPv6)
Interval6 = tuple[str, int, int]  # (zone, first, last); zone "" outside link-local
V4 = "ipv4"  # the address space of IPv4 intervals; an IPv6 space is its zone ("" when global)

# Ranges that hold no host to inventory: a packet "to" them is a broadcast, multicast or
# nonsense. A target list that reaches them is refused (exclude them to go ahead), so a typo
# like 192.0.0.0/2 cannot turn into a multicast or broadcast storm. Loopback stays allowed in
# both families (it reaches only this machine, and tests use it).
OUT_OF_SCOPE: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network' (unspecified)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved, and the limited broadcast 255.255.255.255"),
    ("::/128", "the unspecified IPv6 address"),
    ("ff00::/8", "IPv6 multicast"),
)

_MAPPED = (int(ipaddress.IPv6Address("::ffff:0:0")), int(ipaddress.IPv6Address("::ffff:ffff:ffff")))
_LINK_LOCAL = ipaddress.IPv6Network("fe80::/10")
_ZONE = re.compile(r"[A-Za-z0-9_.@-]{1,15}")  # a Linux interface name (IFNAMSIZ 16) or index
_HINT = ("Write an IPv4 or IPv6 address, a CIDR (198.18.0.0/24, fdca:a0d1::/120) or a range "
         "(198.18.0.10-40, fdca:a0d1::10-fdca:a0d1::20); host names are not resolved.")


class TargetError(ValueError):
    """A target or exclude the user wrote cannot be used; the message says which and why."""


def parse_spec(spec: str, *, exclude: bool = False) -> tuple[str, Interval]:
    """Parse one target into (space, interval): space is `V4`, or for IPv6 the zone ("" if none).

    Forms: `198.18.0.0/24`, `198.18.0.10-40`, `198.18.0.10-198.18.1.5`, `198.18.0.7`,
    `fdca:a0d1::/120`, `fdca:a0d1::10-fdca:a0d1::20`, `fe80::1%eth0`, `fe80::%eth0/120`,
    `::ffff:198.18.0.10` (the IPv4 host). An exclude may name link-local addresses without a
    zone: it then applies on every interface (excluding more is always safe).
    """
    text = spec.strip()
    if not text:
        raise TargetError("empty target")
    if len(text) > MAX_SPEC_CHARS:
        raise TargetError(f"cannot use target {text[:40]!r}...: longer than {MAX_SPEC_CHARS} characters. {_HINT}")
    try:
        if "/" in text:
            space, interval = _parse_network(text)
        else:
            space, interval = _parse_range(text)
    except ValueError as exc:
        raise TargetError(f"cannot use target {spec!r}: {exc}. {_HINT}") from None
    if space != V4:
        _check_zone(spec, space, interval, exclude)
    return _unmap(space, interval)


def _parse_network(text: str) -> tuple[str, Interval]:
    """A CIDR; a zone may sit before the prefix length (RFC 4007 11.7: fe80::%eth0/120) or after it."""
    zone = ""
    if "%" in text:
        head, _, tail = text.partition("%")
        zone, slash, prefix = tail.partition("/")
        text = head + slash + prefix
        if not zone or ("/" in head) == bool(slash):  # fe80::/120%eth0 or fe80::%eth0/120, nothing else
            raise ValueError("write a zoned prefix as fe80::%eth0/120")
    net = ipaddress.ip_network(text, strict=False)
    if isinstance(net, ipaddress.IPv4Network):
        if zone:
            raise ValueError("an IPv4 address has no zone")
        return V4, (int(net.network_address), int(net.broadcast_address))
    return zone, (int(net.network_address), int(net.broadcast_address))


def _parse_range(text: str) -> tuple[str, Interval]:
    """One address, or two joined by '-' (a zone may itself hold '-': fe80::1%lab-0)."""
    try:
        lone: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(text)
    except ValueError:
        if "-" not in text:
            raise
        lone = None
    if lone is not None and "-" not in _space(lone):
        return _space(lone), (int(lone), int(lone))
    for dash in (i for i, c in enumerate(text) if c == "-"):
        try:
            first = ipaddress.ip_address(text[:dash].strip())
        except ValueError:
            continue
        try:
            return _space(first), (int(first), _range_end(first, text[dash + 1:].strip()))
        except _NotAnAddress:
            continue
    if lone is not None:
        return _space(lone), (int(lone), int(lone))
    raise ValueError("neither an address nor a range of two (an IPv6 range names both ends in full)")


class _NotAnAddress(ValueError):
    """One side of a '-' split is no address: try the next '-'."""


def _range_end(first: ipaddress.IPv4Address | ipaddress.IPv6Address, right: str) -> int:
    if isinstance(first, ipaddress.IPv4Address) and right.isdigit():
        octet = int(right)
        if not 0 <= octet <= 255:
            raise ValueError(f"last octet {octet} out of range")
        last = (int(first) & 0xFFFFFF00) | octet
    else:
        zone = _space(first)
        if first.version == 6 and zone and "%" not in right:  # fe80::1%eth0-fe80::9: one zone
            right = f"{right}%{zone}"
        try:
            end = ipaddress.ip_address(right)
        except ValueError as exc:
            raise _NotAnAddress(str(exc)) from None
        if end.version != first.version:
            raise ValueError("a range cannot mix IPv4 and IPv6")
        if _space(end) != _space(first):
            raise ValueError("both ends of a range need the same zone")
        last = int(end)
    if last < int(first):
        raise ValueError("range ends before it starts")
    return last


def _space(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return V4 if addr.version == 4 else (addr.scope_id or "")


def _check_zone(spec: str, zone: str, interval: Interval, exclude: bool) -> None:
    """A zone names an interface, and link-local targets must have one (RFC 4007 section 11)."""
    first, last = interval
    link_local = (int(_LINK_LOCAL.network_address) <= first
                  and last <= int(_LINK_LOCAL.broadcast_address))
    if zone and not _ZONE.fullmatch(zone):
        raise TargetError(f"cannot use target {spec!r}: {zone[:20]!r} is not an interface name")
    if zone and not link_local:
        raise TargetError(f"cannot use target {spec!r}: a zone (%{zone}) only belongs on a "
                          "link-local (fe80::/10) address")
    if not zone and not exclude and link_local:
        raise TargetError(f"cannot use target {spec!r}: a link-local address needs its interface; "
                          f"add %interface (e.g. {spec.strip()}%eth0)")


def _unmap(space: str, interval: Interval) -> tuple[str, Interval]:
    """An interval inside ::ffff:0:0/96 is the IPv4 interval it maps (RFC 4291 2.5.5.2)."""
    first, last = interval
    if space == "" and _MAPPED[0] <= first and last <= _MAPPED[1]:
        return V4, (first - _MAPPED[0], last - _MAPPED[0])
    return space, interval


def address_key(ip: str | int) -> tuple[str, int] | None:
    """(space, integer) of one address as `permits` compares it; None when it is not one.

    An int is an IPv4 address (what the ARP sweep walks). A link-local IPv6 address without
    its zone has no key: which interface it lives on is unknown.
    """
    if isinstance(ip, int):
        return V4, ip
    if len(ip) > MAX_SPEC_CHARS:
        return None
    try:
        if ":" not in ip:  # the common case first: every reply and connection asks
            return V4, int(ipaddress.IPv4Address(ip))
        addr = ipaddress.IPv6Address(ip)
    except ValueError:
        return None
    space, (value, _) = _unmap(_space(addr), (int(addr), int(addr)))
    if space == "" and addr in _LINK_LOCAL:
        return None
    return space, value


def read_spec_file(path: str | Path) -> list[str]:
    """Targets from a file: one or more per line (whitespace/comma separated), `#` comments."""
    p = Path(path)
    try:
        text = read_capped(p, MAX_FILE_BYTES).decode("utf-8")  # counted while reading: FIFOs, /dev/zero
    except TooLarge:
        raise TargetError(f"{p}: larger than {MAX_FILE_BYTES} bytes; split it or use CIDRs") from None
    except OSError as exc:
        raise TargetError(f"cannot read target file {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TargetError(f"{p}: not UTF-8 text") from None
    specs: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].replace(",", " ")
        specs.extend(line.split())
    return specs


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping, non-adjacent intervals covering the same addresses."""
    out: list[Interval] = []
    for first, last in sorted(intervals):
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


def subtract(include: list[Interval], exclude: list[Interval]) -> list[Interval]:
    """`include` minus `exclude`; both merged. Linear in the number of intervals."""
    out: list[Interval] = []
    j = 0
    for first, last in include:
        cur = first
        while j < len(exclude) and exclude[j][1] < cur:
            j += 1
        k = j
        while cur <= last and k < len(exclude) and exclude[k][0] <= last:
            ex_first, ex_last = exclude[k]
            if ex_first > cur:
                out.append((cur, ex_first - 1))
            cur = max(cur, ex_last + 1)
            k += 1
        if cur <= last:
            out.append((cur, last))
    return out


def _contains(intervals: Sequence[Interval], value: int) -> bool:
    lo, hi = 0, len(intervals)
    while lo < hi:
        mid = (lo + hi) // 2
        if intervals[mid][1] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(intervals) and intervals[lo][0] <= value


@dataclass(frozen=True, slots=True)
class TargetSet:
    """What the user asked to scan, minus what they excluded.

    `permits(ip)` is THE exclude/target check: discovery, probes, the datagram helper and
    the reply filter all call it, so no layer can reach or trust an address outside it.
    IPv4 intervals stay in `allowed`/`excluded` (what the ARP sweep walks); IPv6 ones are
    in `allowed6`/`excluded6` as (zone, first, last), sorted, merged per zone.
    """

    allowed: tuple[Interval, ...]   # IPv4 targets minus excludes, merged
    excluded: tuple[Interval, ...]  # IPv4 excludes as given, merged (for reporting and nmap)
    requested: int                  # addresses named before excludes
    allowed6: tuple[Interval6, ...] = ()
    excluded6: tuple[Interval6, ...] = ()  # a zone "" link-local exclude applies on every zone
    _zones: dict[str, list[Interval]] = field(init=False, repr=False, compare=False)  # allowed6 by zone

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zones", _by_space(_unflatten6(self.allowed6)))

    def permits(self, ip: str | int) -> bool:
        """True when `ip` is a named target and not excluded."""
        key = address_key(ip)
        if key is None:
            return False
        space, value = key
        if space == V4:
            return _contains(self.allowed, value)
        return _contains(self._zones.get(space, ()), value)

    def __len__(self) -> int:
        return _count(self.allowed) + _count6(self.allowed6)

    def __iter__(self) -> Iterator[str]:
        """Every permitted address, lazily: IPv4 ascending, then IPv6 by zone, ascending."""
        for first, last in self.allowed:
            for value in range(first, last + 1):
                yield str(ipaddress.IPv4Address(value))
        for zone, first, last in self.allowed6:
            for value in range(first, last + 1):
                yield _v6_text(value, zone)

    def networks(self) -> list[ipaddress.IPv4Network]:
        """The permitted IPv4 addresses as a minimal list of CIDRs (for nmap and reports)."""
        return _as_networks(self.allowed)

    def excluded_networks(self) -> list[ipaddress.IPv4Network]:
        return _as_networks(self.excluded)

    def networks6(self) -> list[ipaddress.IPv6Network]:
        """The permitted IPv6 addresses as CIDRs; link-local ones carry their zone (fe80::%eth0/120)."""
        nets: list[ipaddress.IPv6Network] = []
        for zone, first, last in self.allowed6:
            for net in ipaddress.summarize_address_range(ipaddress.IPv6Address(first),
                                                         ipaddress.IPv6Address(last)):
                nets.append(ipaddress.IPv6Network(f"{_v6_text(int(net.network_address), zone)}"
                                                  f"/{net.prefixlen}") if zone else net)
        return nets

    def split(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[TargetSet, TargetSet]:
        """(the part inside `network`, the part outside) — e.g. on-link vs routed targets.

        An IPv6 network with a zone splits that zone's intervals, one without it the global ones.
        """
        net = [(int(network.network_address), int(network.broadcast_address))]
        if isinstance(network, ipaddress.IPv4Network):
            inside, outside = _cut(list(self.allowed), net)
            return (TargetSet(inside, self.excluded, _count(inside)),
                    TargetSet(outside, self.excluded, _count(outside), self.allowed6, self.excluded6))
        zone = network.network_address.scope_id or ""
        groups = _by_space(_unflatten6(self.allowed6))
        inside6, rest = _cut(groups.get(zone, []), net)
        groups[zone] = list(rest)
        outside6 = _flatten6(groups)
        return (TargetSet((), self.excluded, _count(inside6), _flatten6({zone: list(inside6)}), self.excluded6),
                TargetSet(self.allowed, self.excluded, _count(self.allowed) + _count6(outside6),
                          outside6, self.excluded6))

    def without(self, addresses: Iterable[str]) -> TargetSet:
        """The same set with `addresses` also excluded (e.g. the scanner's own interfaces)."""
        extra = _by_space(parse_spec(a, exclude=True) for a in addresses)
        excluded = _by_space([*((V4, i) for i in self.excluded), *_unflatten6(self.excluded6),
                              *((space, i) for space, ivs in extra.items() for i in ivs)])
        return TargetSet(tuple(subtract(list(self.allowed), extra.get(V4, []))), tuple(excluded.get(V4, [])),
                         self.requested, _subtract6(_by_space(_unflatten6(self.allowed6)), extra),
                         _flatten6(excluded))

    def first(self) -> str | None:
        if self.allowed:
            return str(ipaddress.IPv4Address(self.allowed[0][0]))
        return _v6_text(self.allowed6[0][1], self.allowed6[0][0]) if self.allowed6 else None


SHOWN_DROPPED = 5  # addresses a drop message names before "and N more"


def drop_own_addresses(targets: TargetSet, own: Iterable[str]) -> tuple[TargetSet, list[str]]:
    """`targets` without this host's own addresses, and one message per reason saying so.

    The scanner never probes itself, but a target the user named must not vanish silently:
    the message names what was dropped and why (empty list when nothing was).
    """
    dropped = sorted({canonical(a) or a for a in own if targets.permits(a)}, key=ip_sort_key)
    if not dropped:
        return targets, []
    shown = ", ".join(dropped[:SHOWN_DROPPED])
    if len(dropped) > SHOWN_DROPPED:
        shown += f" and {len(dropped) - SHOWN_DROPPED} more"
    return targets.without(dropped), [
        f"not scanning {shown}: this host's own address{'es' if len(dropped) > 1 else ''} "
        "(camaudit never probes the machine it runs on)"]


def _v6_text(value: int, zone: str) -> str:
    return f"{ipaddress.IPv6Address(value)}%{zone}" if zone else str(ipaddress.IPv6Address(value))


def _count(intervals: Iterable[Interval]) -> int:
    return sum(last - first + 1 for first, last in intervals)


def _count6(intervals6: Iterable[Interval6]) -> int:
    return sum(last - first + 1 for _, first, last in intervals6)


def _cut(intervals: list[Interval], net: list[Interval]) -> tuple[tuple[Interval, ...], tuple[Interval, ...]]:
    """(`intervals` inside `net`, the rest)."""
    return tuple(subtract(intervals, subtract(intervals, net))), tuple(subtract(intervals, net))


def _unflatten6(intervals6: Iterable[Interval6]) -> Iterator[tuple[str, Interval]]:
    return ((zone, (a, b)) for zone, a, b in intervals6)


def _by_space(parsed: Iterable[tuple[str, Interval]]) -> dict[str, list[Interval]]:
    """Parsed specs grouped by space (V4 or an IPv6 zone), each group merged."""
    groups: dict[str, list[Interval]] = defaultdict(list)
    for space, interval in parsed:
        groups[space].append(interval)
    return {space: merge(ivs) for space, ivs in groups.items()}


def _subtract6(include: dict[str, list[Interval]], exclude: dict[str, list[Interval]]) -> tuple[Interval6, ...]:
    """IPv6 `include` minus `exclude`, zone by zone; zoneless excludes apply to every zone."""
    return _flatten6({zone: subtract(ivs, merge([*exclude.get(zone, []), *exclude.get("", [])]))
                      for zone, ivs in include.items() if zone != V4})


def _flatten6(groups: dict[str, list[Interval]]) -> tuple[Interval6, ...]:
    return tuple((zone, a, b) for zone in sorted(groups) if zone != V4 for a, b in groups[zone])


def _as_networks(intervals: Iterable[Interval]) -> list[ipaddress.IPv4Network]:
    nets: list[ipaddress.IPv4Network] = []
    for first, last in intervals:
        nets.extend(ipaddress.summarize_address_range(ipaddress.IPv4Address(first),
                                                      ipaddress.IPv4Address(last)))
    return nets


def build_targets(specs: Iterable[str] = (), *, files: Iterable[str | Path] = (),
                  excludes: Iterable[str] = (), exclude_files: Iterable[str | Path] = (),
                  max_targets: int = DEFAULT_MAX_TARGETS, force: bool = False) -> TargetSet:
    """Parse targets and excludes; refuse an empty set, one that reaches an out-of-scope range,
    an IPv6 sweep above a /112 (unless forced) or a /96 (ever), or more than `max_targets`
    addresses unless forced."""
    target_specs = list(specs)
    for f in files:
        target_specs.extend(read_spec_file(f))
    if not target_specs:
        raise TargetError("no targets: name what to scan (e.g. 198.18.0.0/24) or give --targets-file; "
                          "camaudit never picks targets by itself")
    exclude_specs = list(excludes)
    for f in exclude_files:
        exclude_specs.extend(read_spec_file(f))
    include = _by_space(parse_spec(s) for s in target_specs)
    exclude = _by_space(parse_spec(s, exclude=True) for s in exclude_specs)
    allowed = subtract(include.get(V4, []), exclude.get(V4, []))
    allowed6 = _subtract6(include, exclude)
    result = TargetSet(tuple(allowed), tuple(exclude.get(V4, [])),
                       sum(_count(ivs) for ivs in include.values()), allowed6,
                       _flatten6(exclude))
    size = _count(allowed) + _count6(allowed6)  # not len(): a /64 overflows it
    if size == 0:
        raise TargetError("every target is excluded: nothing to scan")
    _check_v6_size(_count6(allowed6), force)
    for cidr, what in OUT_OF_SCOPE:
        space, (first, last) = parse_spec(cidr)
        reached = allowed if space == V4 else [i for _, i in _unflatten6(allowed6)]
        if any(a <= last and first <= b for a, b in reached):
            raise TargetError(f"the targets reach {cidr} ({what}), which holds no devices to scan; "
                              f"narrow the targets or add --exclude {cidr}")
    if size > max_targets and not force:
        raise TargetError(f"{size} addresses to scan is more than the cap of {max_targets}; "
                          "check the targets, raise --max-targets, or pass --force")
    return result


def _check_v6_size(size6: int, force: bool) -> None:
    """An IPv6 subnet is found by discovery, not by walking it: a /64 holds 2**64 addresses."""
    if size6 > V6_SWEEP_FORCED:
        raise TargetError(f"{size6} IPv6 addresses cannot be swept address by address, even with "
                          "--force (a /64 would take longer than a lifetime; the limit is a /96): "
                          "find the hosts of an IPv6 segment with --discover-ipv6, or name smaller "
                          "prefixes (a /112 or less)")
    if size6 > V6_SWEEP and not force:
        raise TargetError(f"{size6} IPv6 addresses is more than a /112 ({V6_SWEEP}); name smaller "
                          "prefixes, use --discover-ipv6 to find the hosts of an IPv6 segment, "
                          "or pass --force (up to a /96)")
