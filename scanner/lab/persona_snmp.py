"""The `[snmp]` section of a persona: an SNMPv2c agent's community and the objects it answers.

Kept apart from `camaudit.lab.persona` (which calls `snmp_section` while loading a file) so
the persona loader stays one readable module; it imports nothing from the loader (which
imports it), and sees the loader's reader and behaviours through protocols. The schema is
in docs/lab.md:

    [snmp]
    community = "…"            # the only community the agent answers (others: no reply, as real agents)
    sys_descr = "…"            # SNMPv2-MIB sysDescr.0 (RFC 3418)
    sys_object_id = "1.3.6.1.4.1.…"
    sys_name = "…"
    behaviour = "normal"       # or silent / raw / flood (UDP behaviours) / oversize
    [snmp.entity]              # ENTITY-MIB entPhysicalTable row 1, the chassis (RFC 6933)
    mfg_name = "…"; model_name = "…"; serial_num = "…"; software_rev = "…"

`oversize` pads sysDescr with `pad` (behaviour option) copies of "A": a well-formed reply
whose OCTET STRING is larger than any real sysDescr.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

EXTRA_BEHAVIOURS = frozenset({"oversize"})   # on top of the UDP responders' behaviours
MAX_PAD = 65_000   # a UDP datagram carries at most 65,507 bytes
SYSTEM = {"sys_descr": "1.3.6.1.2.1.1.1.0", "sys_object_id": "1.3.6.1.2.1.1.2.0",
          "sys_name": "1.3.6.1.2.1.1.5.0"}
ENTITY = {"software_rev": "1.3.6.1.2.1.47.1.1.1.1.10.1", "serial_num": "1.3.6.1.2.1.47.1.1.1.1.11.1",
          "mfg_name": "1.3.6.1.2.1.47.1.1.1.1.12.1", "model_name": "1.3.6.1.2.1.47.1.1.1.1.13.1"}
OID_VALUED = frozenset({SYSTEM["sys_object_id"]})
_OID_RE = re.compile(r"^1\.3(\.\d{1,10}){1,60}$")


class Table(Protocol):
    """The persona loader's typed reader of one TOML table (`camaudit.lab.persona._Reader`)."""

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, required: bool = False) -> Any: ...
    def sub(self, key: str) -> Table | None: ...
    def fail(self, key: str, msg: str) -> Exception: ...
    def done(self) -> None: ...


class Behaviour(Protocol):
    """A parsed `behaviour` / `behaviour_options` pair (`camaudit.lab.persona.Behaviour`)."""

    name: str
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Snmp:
    """An SNMPv2c agent: its community and OID -> value (text, or a dotted OID in OID_VALUED)."""

    community: str
    objects: dict[str, str]
    behaviour: Behaviour


def snmp_section(r: Table, behaviour: Behaviour) -> Snmp:
    """Validate one `[snmp]` table (errors name file and key); `behaviour` is its parsed
    `behaviour` key, read by the loader like every responder's."""
    objects = {}
    for key, oid in SYSTEM.items():
        value = r.get(key, str, None)
        if value is not None:
            objects[oid] = value
    object_id = objects.get(SYSTEM["sys_object_id"])
    if object_id is not None and not _OID_RE.match(object_id):
        raise r.fail("sys_object_id", f"{object_id!r}: expected a dotted OID such as 1.3.6.1.4.1.2011.2.23.96")
    entity = r.sub("entity")
    if entity is not None:
        for key, oid in ENTITY.items():
            value = entity.get(key, str, None)
            if value is not None:
                objects[oid] = value
        entity.done()
    if behaviour.name == "oversize":
        pad = behaviour.options.get("pad")
        if not isinstance(pad, int) or not 0 < pad <= MAX_PAD:
            raise r.fail("behaviour_options.pad", f"oversize needs pad = 1..{MAX_PAD} (bytes added to sysDescr)")
        objects[SYSTEM["sys_descr"]] = objects.get(SYSTEM["sys_descr"], "") + "A" * pad
    community = r.get("community", str, required=True)
    if not community:
        raise r.fail("community", "must not be empty")
    r.done()
    return Snmp(community, objects, behaviour)
