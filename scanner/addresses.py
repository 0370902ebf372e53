"""Addresses as people read them and as devices carry them: ordering (numerically, IPv4
before IPv6, nonsense last), the family and canonical text of an observed address, and the
MAC an IPv6 interface identifier was derived from (modified EUI-64)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

# the longest address text (45, IPv4-embedded IPv6) and a zone, an interface name, after it;
# longer text is no address a device has and is neither parsed nor cached
MAX_ADDRESS_CHARS = 64


def ip_sort_key(ip: str | None) -> tuple[int, int]:
    """Sort key of an address: 198.18.0.9 before 198.18.0.10 (text order puts it after).

    A missing or unparsable address (a stored row from a foreign source) sorts after all.
    """
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return (7, 0)
    return (address.version, int(address))


def canonical_ip(ip: str) -> str:
    """One text per address, so one device's observations group however a tool spelt it:
    IPv6 compressed and lower-case (a zone `%eth0` kept as written, RFC 4007 section 11), an
    IPv4-mapped IPv6 address (`::ffff:198.18.0.5`, what a dual-stack socket reports for an
    IPv4 peer, RFC 4291 section 2.5.5.2) as the IPv4 address it is. Text that is not an
    address (or longer than MAX_ADDRESS_CHARS) is returned unchanged."""
    return ip if len(ip) > MAX_ADDRESS_CHARS else _canonical(ip)


@lru_cache(maxsize=1 << 14)
def _canonical(ip: str) -> str:
    """`canonical_ip`, cached: a fleet's observations repeat their addresses."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6 and address.ipv4_mapped is not None and address.scope_id is None:
        return str(address.ipv4_mapped)
    return str(address)


def is_ipv6(ip: str | None) -> bool:
    """Whether `ip` is IPv6 text (an IPv4-mapped one counts as IPv6 here: see `canonical_ip`)."""
    if not ip or ":" not in ip:
        return False
    try:
        ipaddress.IPv6Address(ip)
    except ValueError:
        return False
    return True


def eui64_mac(ip: str) -> str | None:
    """The MAC an IPv6 address's interface identifier was formed from, or None.

    A modified EUI-64 identifier (RFC 4291 appendix A) is the MAC with `ff:fe` inserted in the
    middle and the universal/local bit inverted; the last 64 bits of the address are that
    identifier whatever the prefix, so a routed device's global address still names its own
    MAC (unlike IPv4 behind a router, where a MAC is the router's). Temporary and stable
    random identifiers (RFC 8981, RFC 7217) have no `ff:fe` there and give None, as do
    addresses whose low bits are not an interface identifier (IPv4-mapped or -compatible,
    multicast, unspecified, loopback). A random identifier that happens to hold `ff:fe`
    (one in 65,536) cannot be told apart.
    """
    try:
        address = ipaddress.IPv6Address(ip)
    except ValueError:
        return None
    if (address.ipv4_mapped is not None or address.is_multicast or address.is_unspecified
            or address.is_loopback or int(address) >> 64 == 0):
        return None
    iid = (int(address) & ((1 << 64) - 1)).to_bytes(8, "big")
    if iid[3:5] != b"\xff\xfe":
        return None
    mac = bytes((iid[0] ^ 0x02, iid[1], iid[2], iid[5], iid[6], iid[7]))
    return ":".join(f"{b:02x}" for b in mac)
