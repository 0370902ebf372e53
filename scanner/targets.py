"""Targets: the only source of addresses camaudit ever sends a packet to.

The user names every target (CIDRs, ranges, single hosts, files); excludes are subtracted
and `TargetSet.permits` is the one check every layer (ARP, TCP, UDP unicast, reply
filtering) calls before it touches or trusts an address. Addresses are kept as integer
intervals, never materialised per address, so a /16 costs a few bytes until it is walked.

IPv4 only: the lab, the design and the discovery layers are IPv4. Host names are refused
rather than resolved: a scan must not depend on (or leak to) DNS.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from camaudit.boundedio import TooLarge, read_capped

DEFAULT_MAX_TARGETS = 65_536  # a /16; more needs --force (or --max-targets)
MAX_FILE_BYTES = 4 << 20      # a targets file bigger than 4 MiB is a mistake, not a target list

Interval = tuple[int, int]  # inclusive [first, last] as 32-bit integers

# Ranges that hold no host to inventory: a packet "to" them is a broadcast, multicast or
# nonsense. A target list that reaches them is refused (exclude them to go ahead), so a typo
# like 192.0.0.0/2 cannot turn into a multicast or broadcast storm.
OUT_OF_SCOPE: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network' (unspecified)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved, and the limited broadcast 255.255.255.255"),
)


class TargetError(ValueError):
    """A target or exclude the user wrote cannot be used; the message says which and why."""


def parse_spec(spec: str) -> Interval:
    """Parse one target: `198.18.0.0/24`, `198.18.0.10-40`, `198.18.0.10-198.18.1.5`, `198.18.0.7`."""
    text = spec.strip()
    if not text:
        raise TargetError("empty target")
    try:
        if "/" in text:
            net = ipaddress.IPv4Network(text, strict=False)
            return int(net.network_address), int(net.broadcast_address)
        if "-" in text:
            left, right = (part.strip() for part in text.split("-", 1))
            first = ipaddress.IPv4Address(left)
            if "." in right:
                last = ipaddress.IPv4Address(right)
            else:
                octet = int(right)
                if not 0 <= octet <= 255:
                    raise ValueError(f"last octet {octet} out of range")
                last = ipaddress.IPv4Address((int(first) & 0xFFFFFF00) | octet)
            if int(last) < int(first):
                raise ValueError("range ends before it starts")
            return int(first), int(last)
        addr = ipaddress.IPv4Address(text)
        return int(addr), int(addr)
    except ValueError as exc:
        raise TargetError(
            f"cannot use target {spec!r}: {exc}. Write an IPv4 address, a CIDR "
            "(198.18.0.0/24) or a range (198.18.0.10-40); host names are not resolved."
        ) from None


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
    """

    allowed: tuple[Interval, ...]   # targets minus excludes, merged
    excluded: tuple[Interval, ...]  # excludes as given, merged (for reporting and nmap)
    requested: int                  # addresses named before excludes

    def permits(self, ip: str | int) -> bool:
        """True when `ip` is a named target and not excluded."""
        try:
            value = ip if isinstance(ip, int) else int(ipaddress.IPv4Address(ip))
        except ValueError:
            return False
        return _contains(self.allowed, value)

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self.allowed)

    def __iter__(self) -> Iterator[str]:
        """Every permitted address, lazily, in ascending order."""
        for first, last in self.allowed:
            for value in range(first, last + 1):
                yield str(ipaddress.IPv4Address(value))

    def networks(self) -> list[ipaddress.IPv4Network]:
        """The permitted addresses as a minimal list of CIDRs (for nmap and reports)."""
        return _as_networks(self.allowed)

    def excluded_networks(self) -> list[ipaddress.IPv4Network]:
        return _as_networks(self.excluded)

    def split(self, network: ipaddress.IPv4Network) -> tuple[TargetSet, TargetSet]:
        """(the part inside `network`, the part outside) — e.g. on-link vs routed targets."""
        net = [(int(network.network_address), int(network.broadcast_address))]
        inside = tuple(subtract(list(self.allowed), subtract(list(self.allowed), net)))
        outside = tuple(subtract(list(self.allowed), net))
        return (TargetSet(inside, self.excluded, _count(inside)),
                TargetSet(outside, self.excluded, _count(outside)))

    def without(self, addresses: Iterable[str]) -> TargetSet:
        """The same set with `addresses` also excluded (e.g. the scanner's own interfaces)."""
        extra = merge(parse_spec(a) for a in addresses)
        return TargetSet(tuple(subtract(list(self.allowed), extra)),
                         tuple(merge([*self.excluded, *extra])), self.requested)

    def first(self) -> str | None:
        return str(ipaddress.IPv4Address(self.allowed[0][0])) if self.allowed else None


SHOWN_DROPPED = 5  # addresses a drop message names before "and N more"


def drop_own_addresses(targets: TargetSet, own: Iterable[str]) -> tuple[TargetSet, list[str]]:
    """`targets` without this host's own addresses, and one message per reason saying so.

    The scanner never probes itself, but a target the user named must not vanish silently:
    the message names what was dropped and why (empty list when nothing was).
    """
    dropped = sorted({a for a in own if targets.permits(a)}, key=lambda a: int(ipaddress.IPv4Address(a)))
    if not dropped:
        return targets, []
    shown = ", ".join(dropped[:SHOWN_DROPPED])
    if len(dropped) > SHOWN_DROPPED:
        shown += f" and {len(dropped) - SHOWN_DROPPED} more"
    return targets.without(dropped), [
        f"not scanning {shown}: this host's own address{'es' if len(dropped) > 1 else ''} "
        "(camaudit never probes the machine it runs on)"]


def _count(intervals: Iterable[Interval]) -> int:
    return sum(last - first + 1 for first, last in intervals)


def _as_networks(intervals: Iterable[Interval]) -> list[ipaddress.IPv4Network]:
    nets: list[ipaddress.IPv4Network] = []
    for first, last in intervals:
        nets.extend(ipaddress.summarize_address_range(ipaddress.IPv4Address(first),
                                                      ipaddress.IPv4Address(last)))
    return nets


def build_targets(specs: Iterable[str] = (), *, files: Iterable[str | Path] = (),
                  excludes: Iterable[str] = (), exclude_files: Iterable[str | Path] = (),
                  max_targets: int = DEFAULT_MAX_TARGETS, force: bool = False) -> TargetSet:
    """Parse targets and excludes; refuse an empty set or one above `max_targets` unless forced."""
    target_specs = list(specs)
    for f in files:
        target_specs.extend(read_spec_file(f))
    if not target_specs:
        raise TargetError("no targets: name what to scan (e.g. 198.18.0.0/24) or give --targets-file; "
                          "camaudit never picks targets by itself")
    exclude_specs = list(excludes)
    for f in exclude_files:
        exclude_specs.extend(read_spec_file(f))
    include = merge(parse_spec(s) for s in target_specs)
    exclude = merge(parse_spec(s) for s in exclude_specs)
    allowed = subtract(include, exclude)
    result = TargetSet(tuple(allowed), tuple(exclude), _count(include))
    size = len(result)
    if size == 0:
        raise TargetError("every target is excluded: nothing to scan")
    for cidr, what in OUT_OF_SCOPE:
        first, last = parse_spec(cidr)
        if any(a <= last and first <= b for a, b in allowed):
            raise TargetError(f"the targets reach {cidr} ({what}), which holds no devices to scan; "
                              f"narrow the targets or add --exclude {cidr}")
    if size > max_targets and not force:
        raise TargetError(f"{size} addresses to scan is more than the cap of {max_targets}; "
                          "check the targets, raise --max-targets, or pass --force")
    return result
