"""Addresses as people read them: one spelling per address, ordered numerically, IPv4 first."""

from __future__ import annotations

import ipaddress

MAX_ADDRESS_CHARS = 64  # the longest IPv6 text (45) plus a zone (15) and '%'


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
