"""Dahua DHIP discovery (UDP 37810, group 239.255.255.251): `DHDiscover.search`.

Dahua devices and OEMs (Amcrest, Lorex…) answer with `client.notifyDevInfo` whose
`params.deviceInfo` names DeviceType, SerialNo, Vendor, MachineName, Version… (after
julienblitte/UniversalScanner `Dahua2.cs` and rroller/dahua `discovery.py`). Wire format: a
32-byte header — u32le 32, `DHIP`, 8 zero bytes, u64le body length twice — then JSON.
`data.fields` is the deviceInfo object with scalar values kept (capped), nested objects
(IPv4Address…) kept one level deep.
"""

from __future__ import annotations

import json
import struct
from typing import Any, ClassVar

from camaudit.model import Datagram, Host
from camaudit.observation import Observation, ProbeStatus, normalize_mac
from camaudit.probes._io import unreadable_datagram
from camaudit.probes.base import ProbeContext, SweepProbe

GROUP, PORT = "239.255.255.251", 37810
HEADER = struct.Struct("<I4s8xQQ")
MAX_FIELDS = 64
MAX_FIELD_CHARS = 512
SEARCH = b'{"method":"DHDiscover.search","params":{"mac":"","uni":1}}'


def frame(body: bytes) -> bytes:
    return HEADER.pack(HEADER.size, b"DHIP", len(body), len(body)) + body


def parse_reply(data: bytes) -> dict[str, Any]:
    """The decoded JSON body of a DHIP datagram; ValueError when it is not one."""
    if len(data) < HEADER.size:
        raise ValueError(f"shorter than the {HEADER.size}-byte DHIP header")
    _, magic, length, _ = HEADER.unpack_from(data)
    if magic != b"DHIP":
        raise ValueError(f"no DHIP magic (got {magic!r})")
    body = data[HEADER.size:HEADER.size + min(length, len(data))]
    try:
        message = json.loads(body.rstrip(b"\x00").decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise ValueError(f"DHIP body is not JSON: {exc}") from None
    except RecursionError:  # a hostile body nests deeper than the decoder's recursion limit
        raise ValueError("DHIP body nests too deeply to be device information") from None
    if not isinstance(message, dict):
        raise ValueError("DHIP body is not a JSON object")
    return message


def _bounded(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return value[:MAX_FIELD_CHARS]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, dict) and depth == 0:
        return {str(k)[:64]: _bounded(v, 1) for k, v in list(value.items())[:MAX_FIELDS]}
    return str(value)[:MAX_FIELD_CHARS]


def observation(reply: Datagram) -> Observation:
    """One DHIP reply as an observation (protocol-error when it cannot be read)."""
    try:
        message = parse_reply(reply.data)
    except ValueError as exc:
        return unreadable_datagram("dhip", reply, PORT, str(exc))
    params = message.get("params")
    info = params.get("deviceInfo") if isinstance(params, dict) else None
    if not isinstance(info, dict):
        return Observation(source="dhip", ip=reply.ip, port=PORT, status=ProbeStatus.PROTOCOL_ERROR,
                           error=f"DHIP message without params.deviceInfo (method {str(message.get('method'))[:64]!r})")
    fields = {str(k)[:64]: _bounded(v) for k, v in list(info.items())[:MAX_FIELDS]}
    mac = None
    for candidate in (info.get("Mac"), info.get("MAC"), message.get("mac")):
        if isinstance(candidate, str) and candidate:
            try:
                mac = normalize_mac(candidate)
                break
            except ValueError:
                continue
    status = ProbeStatus.TOO_LARGE if reply.truncated else ProbeStatus.OK
    return Observation(source="dhip", ip=reply.ip, mac=mac, port=PORT, data={"fields": fields},
                       status=status)


class DhipProbe(SweepProbe):
    name: ClassVar[str] = "dhip"

    async def sweep(self, hosts: list[Host], ctx: ProbeContext) -> list[Observation]:
        replies = await ctx.ask(frame(SEARCH), group=GROUP, port=PORT, unicast_to=[h.ip for h in hosts])
        return [observation(r) for r in replies]
