"""Ordering addresses as people read them: numerically, IPv4 before IPv6, nonsense last."""

from __future__ import annotations

import ipaddress


def ip_sort_key(ip: str | None) -> tuple[int, int]:
    """Sort key of an address: 198.18.0.9 before 198.18.0.10 (text order puts it after).

    A missing or unparsable address (a stored row from a foreign source) sorts after all.
    """
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return (7, 0)
    return (address.version, int(address))
