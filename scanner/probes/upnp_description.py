"""Readers for what UPnP devices send: SSDP search replies and device description XML.

Both are untrusted. An SSDP reply (UPnP Device Architecture 1.1/2.0, section 1.3.3) is an
HTTP response carried in one UDP datagram; only its status line and a bounded number of
header lines are read. A device description (UDA section 2.3) is XML fetched over HTTP; it
is parsed with defusedxml (a DTD, and so every entity, is refused) as a stream, and the
parse stops as soon as the document nests deeper or holds more elements than any real
description, so a hostile document costs at most its capped bytes.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from camaudit.addresses import same_address

MAX_HEADERS = 32            # SSDP replies carry about ten header lines
MAX_VALUE_CHARS = 512       # per header value and per description field
MAX_DEPTH = 16              # root/device/deviceList/device/… : real descriptions nest < 10
MAX_ELEMENTS = 4096         # a description with every service listed has a few hundred
MAX_DEVICE_TYPES = 16       # root + embedded device types kept
MAX_PATH_CHARS = 512        # LOCATION path we are willing to put in a request line

# UDA 2.3 device fields recorded, by element name (the names stay as UDA spells them)
DEVICE_FIELDS = ("manufacturer", "manufacturerURL", "modelName", "modelNumber", "modelDescription",
                 "serialNumber", "friendlyName", "UDN")
_STATUS = re.compile(rb"^HTTP/1\.[01] +(\d{3})\b")
_PATH = re.compile(r"/[\x21-\x7e]*")


@dataclass(slots=True)
class SsdpReply:
    """One search reply: its headers by upper-cased name (repeats keep the first)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)


def parse_ssdp(data: bytes) -> SsdpReply:
    """The status and headers of an M-SEARCH reply; ValueError when it is not one."""
    m = _STATUS.match(data)
    if not m:
        raise ValueError(f"not an SSDP reply (first bytes {data[:16].hex()})")
    reply = SsdpReply(int(m.group(1)))
    for raw in re.split(rb"\r?\n", data)[1:MAX_HEADERS + 1]:
        name, sep, value = raw.partition(b":")
        if not sep or not name.strip():
            continue
        key = name.strip().decode("ascii", "replace").upper()[:64]
        reply.headers.setdefault(key, value.strip().decode("utf-8", "replace")[:MAX_VALUE_CHARS])
    return reply


def description_target(location: str, device_ip: str) -> tuple[int, str]:
    """(port, request path) of a LOCATION worth fetching from `device_ip`; ValueError saying why not.

    Only plain HTTP, only a literal address equal to the device that answered (never a name:
    no lookup is made, and a device cannot send the scanner to another host), a port in
    1-65535, and a printable-ASCII path.
    """
    try:
        parts = urlsplit(location)
        port = 80 if parts.port is None else parts.port
    except ValueError as exc:
        raise ValueError(f"LOCATION is not a URL ({exc})") from None
    if parts.scheme.lower() != "http":
        raise ValueError(f"LOCATION scheme {parts.scheme or 'none'!r} is not http")
    if parts.username is not None or parts.password is not None:
        raise ValueError("LOCATION carries credentials")
    if not same_address(parts.hostname, device_ip):
        raise ValueError(f"LOCATION host {str(parts.hostname)[:64]!r} is not the answering device {device_ip}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not 1 <= port <= 65535 or len(path) > MAX_PATH_CHARS or not _PATH.fullmatch(path):
        raise ValueError("LOCATION port or path is not usable in a request")
    return port, path


def parse_description(body: bytes) -> dict[str, object]:
    """The root device's fields and every device type of a description; ValueError when refused."""
    out: dict[str, object] = {}
    types: list[str] = []
    stack: list[str] = []
    count = 0
    try:
        for event, el in SafeET.iterparse(io.BytesIO(body), events=("start", "end"), forbid_dtd=True):
            name = str(el.tag).rsplit("}", 1)[-1]
            if event == "start":
                stack.append(name)
                count += 1
                if len(stack) > MAX_DEPTH or count > MAX_ELEMENTS:
                    raise ValueError(f"description nests deeper than {MAX_DEPTH} or holds more than "
                                     f"{MAX_ELEMENTS} elements")
                continue
            stack.pop()
            if len(stack) >= 2 and stack[-1] == "device":
                text = (el.text or "").strip()[:MAX_VALUE_CHARS]
                if name == "deviceType" and text and len(types) < MAX_DEVICE_TYPES:
                    types.append(text)
                elif name in DEVICE_FIELDS and stack == ["root", "device"] and text:
                    out.setdefault(name, text)
            el.clear()  # keep memory flat: the tree is never needed whole
    except (ParseError, DefusedXmlException) as exc:
        raise ValueError(f"rejected XML: {type(exc).__name__}: {exc}") from None
    except (LookupError, UnicodeError) as exc:  # an encoding Python does not know
        raise ValueError(f"rejected XML: {exc}") from None
    if not out and not types:
        raise ValueError("no UPnP <root><device> in the description")
    out["deviceTypes"] = types
    return out
