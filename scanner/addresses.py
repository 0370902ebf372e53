"""Addresses as people read them and as devices carry them: one spelling per address,
ordering (numerically, IPv4 before IPv6, nonsense last), URL authorities, the family of an
observed address, and the MAC an IPv6 interface identifier was derived from (modified EUI-64)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

# the longest address text (45, IPv4-embedded IPv6) and a zone, an interface name, after it;
# longer text is no address a device has and is neither parsed nor cached
MAX_ADDRESS_CHARS = 64


def canonical(ip: str) -> str | None:
    """The one spelling of an address: compressed IPv6 (RFC 5952) keeping its zone
    (`fe80::1%eth0`), and an IPv4-mapped IPv6 address as the IPv4 host it names
    (`::ffff:198.18.0.10` is 198.18.0.10, RFC 4291 2.5.5.2). None when `ip` is no address.
    """
    if len(ip) > MAX_ADDRESS_CHARS:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def ip_sort_key(ip: str | None) -> tuple[int, int, str]:
    """Sort key of an address: 198.18.0.9 before 198.18.0.10 (text order puts it after),
    IPv4 before IPv6, and one IPv6 address on two interfaces ordered by zone.

    A missing or unparsable address (a stored row from a foreign source) sorts after all.
    """
    text = canonical(ip or "")
    if text is None:
        return (7, 0, "")
    address = ipaddress.ip_address(text)
    zone = address.scope_id or "" if isinstance(address, ipaddress.IPv6Address) else ""
    return (address.version, int(address), zone)


def authority(ip: str, port: int | None = None, *, default: int | None = None, zone: bool = False) -> str:
    """`ip[:port]` as a URL or a Host header spells it, the port left out when it is `default`.

    IPv6 goes in brackets (RFC 3986 3.2.2: `[fdca:a0d1::10]:8080`). A link-local zone names
    an interface of this machine, meaningless to the device, so it is dropped (RFC 6874
    section 4: never in a Host header) unless `zone` asks to keep it for a message to the user.
    """
    text = canonical(ip) or ip
    if ":" in text:
        text = f"[{text if zone else text.partition('%')[0]}]"
    return text if port is None or port == default else f"{text}:{port}"


def same_address(literal: str | None, ip: str) -> bool:
    """Whether the address literal a device wrote (a URL host: LOCATION, Location, XAddr) is `ip`.

    Spellings differ (`FDCA:A0D1:0::10`, `::ffff:198.18.0.10`, an RFC 6874 `%25zone`), so the
    addresses are compared, not the text. A device names itself without our interface names,
    so a zone on one side only is no difference; two different zones are. A host name is
    never the device (it is not looked up).
    """
    if not literal:
        return False
    mine, theirs = canonical(ip), canonical(literal.replace("%25", "%", 1))
    if mine is None or theirs is None:
        return False
    mine_addr, mine_zone = mine.partition("%")[::2]
    their_addr, their_zone = theirs.partition("%")[::2]
    return mine_addr == their_addr and (not mine_zone or not their_zone or mine_zone == their_zone)


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
