"""Hikvision SADP discovery (UDP 37020, group 239.255.255.250): the device tells who made it.

Hikvision devices and their OEM rebrands answer an `inquiry` with a `<ProbeMatch>` carrying
DeviceType, DeviceDescription, DeviceSN, MAC, SoftwareVersion, OEMInfo… (after
julienblitte/UniversalScanner `Hikvision.cs` and cameronnewman/hikvision-tooling
`internal/sadp/scanner.go`). Every child
element of the ProbeMatch becomes `data.fields[name] = text`; the reply is untrusted XML and
goes through defusedxml with caps on the number and length of fields.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from defusedxml import ElementTree as SafeET

from camaudit.model import Datagram, Host
from camaudit.observation import Observation, ProbeStatus, normalize_mac
from camaudit.probes._io import unreadable_datagram
from camaudit.probes.base import ProbeContext, SweepProbe

GROUP, PORT = "239.255.255.250", 37020
MAX_FIELDS = 64
MAX_FIELD_CHARS = 512


def inquiry(probe_id: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>{probe_id}</Uuid>'
            "<Types>inquiry</Types></Probe>").encode()


def parse_fields(data: bytes) -> dict[str, str]:
    """ProbeMatch children as name -> text; ValueError when it is not a ProbeMatch.

    Replies echo `<Types>inquiry</Types>` (UniversalScanner's captures), so the root element,
    not Types, tells a reply from another client's `<Probe>`.
    """
    try:
        root = SafeET.fromstring(data)
    except Exception as exc:  # ParseError, or defusedxml refusing a DTD/entity
        raise ValueError(f"not SADP XML: {type(exc).__name__}: {exc}") from None
    if _local(root.tag) != "ProbeMatch":
        raise ValueError(f"not a SADP ProbeMatch (root <{_local(root.tag)}>)")
    fields: dict[str, str] = {}
    for child in list(root)[:MAX_FIELDS]:
        fields[_local(child.tag)[:64]] = (child.text or "").strip()[:MAX_FIELD_CHARS]
    return fields


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


def observation(reply: Datagram) -> Observation:
    """One SADP reply as an observation (protocol-error when it cannot be read)."""
    try:
        fields = parse_fields(reply.data)
    except ValueError as exc:
        return unreadable_datagram("sadp", reply, PORT, str(exc))
    try:
        mac = normalize_mac(fields["MAC"]) if fields.get("MAC") else None
    except ValueError:
        mac = None
    status = ProbeStatus.TOO_LARGE if reply.truncated else ProbeStatus.OK
    return Observation(source="sadp", ip=reply.ip, mac=mac, port=PORT, data={"fields": fields},
                       status=status)


class SadpProbe(SweepProbe):
    name: ClassVar[str] = "sadp"

    async def sweep(self, hosts: list[Host], ctx: ProbeContext) -> list[Observation]:
        replies = await ctx.ask(inquiry(str(uuid.uuid4()).upper()), group=GROUP, port=PORT,
                                unicast_to=[h.ip for h in hosts])
        return [observation(r) for r in replies]
