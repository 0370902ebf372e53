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
