"""A persona's `[net]` table: segment, IPv4 address, MAC or OUI, IPv6 address, validated.

Kept apart from the loader (camaudit.lab.persona), which imports it; it sees the loader's
reader through the `Table` protocol, as the other section modules do.
"""

from __future__ import annotations

import ipaddress
import re

from camaudit.lab import net6
from camaudit.lab.persona_snmp import Table

SEGMENTS = frozenset({"local", "routed"})
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_OUI_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){2}$")


def net_section(r: Table) -> tuple[str, str | None, str | None, str | None, str | None]:
    """(segment, ip, mac, oui, ipv6) of a `[net]` table; errors name the file and key.

    A full `mac` also gives the OUI; an `oui` alone lets the lab make the rest. `ipv6` is an
    address of the segment's /64 or "eui64" (camaudit.lab.net6), which needs a full `mac`.
    """
    segment = r.get("segment", str, "local")
    if segment not in SEGMENTS:
        raise r.fail("segment", f"expected one of {sorted(SEGMENTS)}")
    ip = r.get("ip", str, None)
    if ip is not None:
        try:
            addr = ipaddress.IPv4Address(ip)
        except ValueError:
            raise r.fail("ip", f"{ip!r} is not an IPv4 address") from None
        subnet = ipaddress.IPv4Network("198.18.0.0/24" if segment == "local" else "198.18.1.0/24")
        if addr not in subnet or int(addr) & 0xFF in (0, 1, 254, 255):
            raise r.fail("ip", f"{ip} must be a host of {subnet} other than .1 and .254 (segment {segment})")
    mac = r.get("mac", str, None)
    oui = r.get("oui", str, None)
    if mac is not None:
        mac = mac.lower()
        if not _MAC_RE.match(mac):
            raise r.fail("mac", f"{mac!r}: expected aa:bb:cc:dd:ee:ff")
        if int(mac[:2], 16) & 1:
            raise r.fail("mac", f"{mac} is a multicast MAC")
        if oui is not None:
            raise r.fail("oui", "give mac or oui, not both")
        oui = mac[:8]
    elif oui is not None:
        oui = oui.lower()
        if not _OUI_RE.match(oui) or int(oui[:2], 16) & 1:
            raise r.fail("oui", f"{oui!r}: expected a unicast prefix aa:bb:cc")
    else:
        raise r.fail("mac", "give mac or oui")
    ipv6 = r.get("ipv6", str, None)
    if ipv6 is not None:
        try:
            ipv6 = net6.persona_address(ipv6, segment)
        except ValueError as exc:
            raise r.fail("ipv6", str(exc)) from None
        if ipv6 == net6.EUI64 and mac is None:
            raise r.fail("ipv6", "an EUI-64 address needs a full `mac`")
    r.done()
    return segment, ip, mac, oui, ipv6
