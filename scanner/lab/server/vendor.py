"""Vendor discovery replies: Hikvision SADP (UDP 37020) and Dahua DHIP (UDP 37810).

Formats follow public implementations (julienblitte/UniversalScanner `Hikvision.cs` and
`Dahua2.cs`, cameronnewman/hikvision-tooling `internal/sadp`, rroller/dahua `discovery.py`): SADP is XML
(`<Probe>` with `<Types>inquiry</Types>` in, `<ProbeMatch>` out); DHIP is a 32-byte header
(`20 00 00 00 "DHIP"`, 8 zero bytes, body length as u64le twice) before a JSON body.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from camaudit.lab.server.render import fill_str

SADP_PORT, SADP_GROUP = 37020, "239.255.255.250"
DHIP_PORT, DHIP_GROUP = 37810, "239.255.255.251"
DHIP_MAGIC = b"DHIP"

_SADP_UUID = re.compile(rb"<Uuid>([^<]{1,64})</Uuid>", re.I)
_SADP_INQUIRY = re.compile(rb"<Probe>.*<Types>\s*inquiry\s*</Types>", re.I | re.S)


def sadp_reply(datagram: bytes, fields: Mapping[str, Any], values: Mapping[str, str]) -> bytes | None:
    """A `<ProbeMatch>` for an SADP inquiry; None for anything else (incl. other devices' replies)."""
    if not _SADP_INQUIRY.search(datagram[:8192]):
        return None
    m = _SADP_UUID.search(datagram[:8192])
    return sadp_match(m.group(1).decode("ascii", "replace") if m else "", fields, values)


def sadp_match(probe_uuid: str, fields: Mapping[str, Any], values: Mapping[str, str]) -> bytes:
    """The `<ProbeMatch>` document: the reply to the inquiry `probe_uuid`, or — with a fresh
    Uuid — the same document a device multicasts unasked (lab chatter)."""
    parts = [f"<Uuid>{escape(probe_uuid)}</Uuid>", "<Types>inquiry</Types>"]
    parts += [f"<{k}>{escape(fill_str(str(v), values))}</{k}>" for k, v in fields.items()]
    return ('<?xml version="1.0" encoding="UTF-8"?><ProbeMatch>' + "".join(parts) + "</ProbeMatch>").encode()


def dhip_frame(body: bytes) -> bytes:
    return struct.pack("<I4s8sQQ", 0x20, DHIP_MAGIC, b"\0" * 8, len(body), len(body)) + body


def _filled(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return fill_str(value, values)
    if isinstance(value, dict):
        return {k: _filled(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, values) for v in value]
    return value


def dhip_reply(datagram: bytes, device_info: Mapping[str, Any], values: Mapping[str, str]) -> bytes | None:
    """A `client.notifyDevInfo` frame for a `DHDiscover.search`; None for anything else."""
    if len(datagram) < 32 or datagram[4:8] != DHIP_MAGIC:
        return None
    (length,) = struct.unpack_from("<Q", datagram, 16)
    try:
        request = json.loads(datagram[32:32 + min(length, 8192)])
    except ValueError:
        return None
    if not isinstance(request, dict) or request.get("method") != "DHDiscover.search":
        return None
    return dhip_notify(device_info, values, request.get("id"))


def dhip_notify(device_info: Mapping[str, Any], values: Mapping[str, str], request_id: Any = None) -> bytes:
    """A `client.notifyDevInfo` frame: the answer to search `request_id`, or (None) the
    announcement a device multicasts unasked (lab chatter)."""
    body = {"mac": values["mac"], "method": "client.notifyDevInfo",
            "params": {"deviceInfo": _filled(dict(device_info), values)}}
    if request_id is not None:
        body["id"] = request_id
    return dhip_frame(json.dumps(body, separators=(",", ":")).encode())
