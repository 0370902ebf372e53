"""The `[mdns]` section of a persona: the DNS-SD services a device publishes (docs/lab.md).

```toml
[mdns]
hostname = "DS-2CD2722FWD-IZS20170321BBWR733050075"   # answered as <hostname>.local (A record)
[[mdns.service]]
instance = "HIKVISION DS-2CD2722FWD-IZS - 733050075"  # one DNS label (RFC 6763 §4.1.1)
type = "_CGI._tcp"
port = 80
txt = ["path=/"]                                        # key=value strings, in order
```

Kept apart from `persona.py` (which reads the section and its behaviour) so the persona
loader stays one screenful per protocol; values are checked against the DNS limits the
responder must respect (labels 1-63 bytes, TXT strings up to 255).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TYPE = re.compile(r"^_[A-Za-z0-9-]{1,15}\._(?:tcp|udp)$")
MAX_SERVICES = 16


@dataclass(frozen=True, slots=True)
class MdnsService:
    instance: str
    type: str            # "_CGI._tcp"
    port: int
    txt: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Mdns:
    hostname: str        # without ".local"
    services: tuple[MdnsService, ...]
    behaviour: Any       # camaudit.lab.persona.Behaviour (that module reads this one)


def _label(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value.encode()) < 64:
        raise ValueError(f"{what}: expected a text of 1-63 bytes (one DNS label), got {value!r:.60}")
    return value


def parse_hostname(value: Any) -> str:
    return _label(value, "hostname")


def parse_services(items: list[Any]) -> tuple[MdnsService, ...]:
    """`[[mdns.service]]` tables → services; ValueError naming the entry and key."""
    if len(items) > MAX_SERVICES:
        raise ValueError(f"at most {MAX_SERVICES} services")
    services = []
    for i, item in enumerate(items):
        where = f"service[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a table")
        unknown = set(item) - {"instance", "type", "port", "txt"}
        if unknown:
            raise ValueError(f"{where}.{sorted(unknown)[0]}: unknown key (known: instance, port, txt, type)")
        stype = item.get("type")
        if not isinstance(stype, str) or not _TYPE.match(stype):
            raise ValueError(f"{where}.type: expected a service type like _http._tcp, got {stype!r:.60}")
        port = item.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ValueError(f"{where}.port: expected a port 0-65535, got {port!r:.60}")
        txt = item.get("txt", [])
        if not isinstance(txt, list) or not all(isinstance(t, str) and len(t.encode()) < 256 for t in txt):
            raise ValueError(f"{where}.txt: expected a list of key=value strings under 256 bytes")
        services.append(MdnsService(_label(item.get("instance"), f"{where}.instance"), stype, port, tuple(txt)))
    return tuple(services)
