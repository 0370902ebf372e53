"""The `[chatter]` section of a persona: what the device announces unasked, and how often.

Real devices talk without being asked: vendor discovery announcements, WS-Discovery Hello,
SSDP NOTIFY, mDNS announcements, DHCP, LLDP. A passive listener hears only this, so the lab
reproduces it — but only in a lab started with chatter on (`Lab.up(chatter=True)`,
`camaudit lab up --chatter`): active-scan tests see no traffic they did not cause.

```toml
[chatter]
interval = 2.0                     # seconds between rounds, each drawn with ±10 % jitter
kinds = ["sadp", "dhcp"]           # of KINDS; sadp/dhip/wsd/ssdp/mdns reuse the persona's
                                   # [sadp]/[dhip]/[onvif]/[ssdp]/[mdns] content
behaviour = "normal"               # or "flood" (count copies per round) / "raw" (fixed bytes
                                   # instead of each announcement's payload), as responders
[chatter.dhcp]                     # needed for "dhcp": a DISCOVER (RFC 2131/2132)
hostname = "…"                     # option 12
vendor_class = "udhcp 1.20.2"      # option 60
request_list = [1, 3, 6, 12, 15, 28, 42]   # option 55
[chatter.lldp]                     # needed for "lldp" (IEEE 802.1AB)
system_name = "…"
system_description = "…"           # default: the persona's SNMP sysDescr
port_id = "GigabitEthernet0/0/1"   # interface-name port ID
```

Kept apart from `camaudit.lab.persona` (which calls `chatter_section`); it sees the loader's
reader through the same protocol as `persona_snmp`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from camaudit.lab.persona_snmp import SYSTEM, Behaviour, Table

# kind -> the persona section whose content it announces (None: its own sub-table)
KINDS = {"sadp": "sadp", "dhip": "dhip", "wsd": "onvif", "ssdp": "ssdp", "mdns": "mdns",
         "dhcp": None, "lldp": None}
BEHAVIOURS = frozenset({"normal", "flood", "raw"})
MIN_INTERVAL, MAX_INTERVAL = 0.05, 3600.0
MAX_TEXT = 255            # LLDP strings and DHCP options carry at most 255 bytes


@dataclass(frozen=True, slots=True)
class DhcpClient:
    hostname: str
    vendor_class: str
    request_list: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LldpAgent:
    system_name: str
    system_description: str
    port_id: str


@dataclass(frozen=True, slots=True)
class Chatter:
    interval: float
    kinds: tuple[str, ...]
    behaviour: Behaviour
    dhcp: DhcpClient | None = None
    lldp: LldpAgent | None = None


def _text(r: Table, key: str, default: Any = ...) -> str:
    value = r.get(key, str, default)
    if not 0 < len(value.encode()) <= MAX_TEXT:
        raise r.fail(key, f"expected 1-{MAX_TEXT} bytes")
    return value


def chatter_section(r: Table, behaviour: Behaviour, sections: dict[str, Any]) -> Chatter:
    """Validate one `[chatter]` table; `sections` maps persona section names to their parsed
    value (None when absent), so a kind that reuses a section can insist it exists."""
    if behaviour.name not in BEHAVIOURS:
        raise r.fail("behaviour", f"expected one of {sorted(BEHAVIOURS)} for chatter")
    interval = r.get("interval", (int, float), 2.0)
    if isinstance(interval, bool) or not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise r.fail("interval", f"expected {MIN_INTERVAL}-{MAX_INTERVAL} seconds")
    kinds = r.get("kinds", list, required=True)
    if (not kinds or not all(isinstance(k, str) and k in KINDS for k in kinds)
            or len(set(kinds)) != len(kinds)):
        raise r.fail("kinds", f"expected distinct kinds of {', '.join(KINDS)}, got {kinds!r:.80}")
    for kind in kinds:
        needed = KINDS[kind]
        if needed is not None and sections.get(needed) is None:
            raise r.fail("kinds", f"{kind!r} announces the persona's [{needed}] section, which is missing")
    dhcp = _dhcp(_required(r, "dhcp")) if "dhcp" in kinds else None
    lldp = _lldp(_required(r, "lldp"), sections.get("snmp")) if "lldp" in kinds else None
    r.done()
    return Chatter(float(interval), tuple(kinds), behaviour, dhcp, lldp)


def _required(r: Table, key: str) -> Table:
    sub = r.sub(key)
    if sub is None:
        raise r.fail(key, f"missing (required for kind {key!r})")
    return sub


def _dhcp(r: Table) -> DhcpClient:
    request_list = r.get("request_list", list, required=True)
    if not 0 < len(request_list) <= MAX_TEXT or not all(
            isinstance(o, int) and not isinstance(o, bool) and 0 < o < 255 for o in request_list):
        raise r.fail("request_list", "expected DHCP option codes 1-254")
    client = DhcpClient(_text(r, "hostname"), _text(r, "vendor_class"), tuple(request_list))
    r.done()
    return client


def _lldp(r: Table, snmp: Any) -> LldpAgent:
    sys_descr = snmp.objects.get(SYSTEM["sys_descr"]) if snmp is not None else None
    agent = LldpAgent(_text(r, "system_name"), _text(r, "system_description", sys_descr or ...),
                      _text(r, "port_id"))
    r.done()
    return agent
