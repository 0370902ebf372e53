"""Fill the placeholders persona answers may contain (`{ip}`, `{date}`, `{nonce}`…).

Only the names below are replaced; other braces (JSON bodies, JavaScript) stay as written,
so a persona can carry real page content without escaping.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from email.utils import formatdate

_TOKEN = re.compile(rb"\{(ip|host|mac|mac_dash|mac_upper_dash|mac_hex|date|nonce|cseq|length|uuid)\}")


def device_vars(ip: str, mac: str) -> dict[str, str]:
    """Per-device values, computed once when the server binds an address of the device;
    `host` is the address as a URL writes it (IPv6 in brackets, RFC 3986)."""
    return {"ip": ip, "host": f"[{ip}]" if ":" in ip else ip, "mac": mac, "mac_dash": mac.replace(":", "-"),
            "mac_upper_dash": mac.replace(":", "-").upper(), "mac_hex": mac.replace(":", "").upper(),
            "uuid": f"{mac.replace(':', '')[:8]}-{mac.replace(':', '')[8:]}00-4000-8000-{mac.replace(':', '')}"}


_DYNAMIC: dict[str, Callable[[], str]] = {
    "date": lambda: formatdate(usegmt=True),
    "nonce": lambda: secrets.token_hex(16),
}


def fill(data: bytes, values: Mapping[str, str]) -> bytes:
    """Replace known `{name}` tokens in `data`; `{length}` is left for the caller."""
    def sub(m: re.Match[bytes]) -> bytes:
        name = m.group(1).decode()
        if name in values:
            return values[name].encode()
        if name in _DYNAMIC:
            return _DYNAMIC[name]().encode()
        return m.group(0)
    return _TOKEN.sub(sub, data)


def fill_str(text: str, values: Mapping[str, str]) -> str:
    return fill(text.encode(), values).decode("utf-8", "replace")
