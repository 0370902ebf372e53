"""SSDP search replies (UPnP Device Architecture 1.1/2.0, section 1.3.3) for lab devices.

A device answers an `M-SEARCH` whose `MAN` is `"ssdp:discover"` and whose `ST` is
`ssdp:all`, `upnp:rootdevice` or the `ST` it announces, with an HTTP/1.1 200 response in one
datagram: the persona's `[ssdp.headers]` in the order written (`SERVER`, `LOCATION`, `ST`,
`USN`, …, placeholders such as `{ip}` filled). Anything else, including other devices'
replies and NOTIFY announcements, gets no answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from camaudit.lab.server.render import fill_str

PORT, GROUP, GROUP6 = 1900, "239.255.255.250", "ff02::c"   # UDA 1.1 §1.1.2: FF02::C on a link
_FIELD = re.compile(rb"^([A-Za-z-]+)[ \t]*:[ \t]*(.*?)[ \t]*\r?$", re.M)


def reply(datagram: bytes, headers: Mapping[str, Any], values: Mapping[str, str]) -> bytes | None:
    """The search response for an M-SEARCH this device matches; None for anything else."""
    head = datagram[:4096]
    if not head.startswith(b"M-SEARCH * HTTP/1.1"):
        return None
    fields = {m.group(1).upper(): m.group(2) for m in _FIELD.finditer(head)}
    own_st = str(next((v for k, v in headers.items() if k.upper() == "ST"), "")).encode()
    if fields.get(b"MAN") != b'"ssdp:discover"' or fields.get(b"ST") not in (b"ssdp:all", b"upnp:rootdevice", own_st):
        return None
    lines = ["HTTP/1.1 200 OK"] + [f"{name}: {fill_str(str(value), values)}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# The header lines of a search response that a NOTIFY does not carry (UDA 1.1 §1.2.2)
_NOT_IN_NOTIFY = frozenset({"ST", "EXT", "DATE", "CACHE-CONTROL"})


def notify(headers: Mapping[str, Any], values: Mapping[str, str], max_age: int = 1800) -> bytes:
    """The `ssdp:alive` NOTIFY a device multicasts unasked (UDA 1.1 §1.2.2): HOST,
    CACHE-CONTROL, then the persona's own lines in its order with `ST` written as `NT` (the
    notification type is the search target it answers), then NTS."""
    lines = ["NOTIFY * HTTP/1.1", f"HOST: {GROUP}:{PORT}", f"CACHE-CONTROL: max-age={max_age}"]
    for name, value in headers.items():
        if name.upper() == "ST":
            lines.append(f"NT: {fill_str(str(value), values)}")
        elif name.upper() not in _NOT_IN_NOTIFY:
            lines.append(f"{name}: {fill_str(str(value), values)}")
    lines.append("NTS: ssdp:alive")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
