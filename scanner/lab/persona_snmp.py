"""The `[snmp]` section of a persona: an SNMP agent's community, v3 users and the objects it answers.

Kept apart from `camaudit.lab.persona` (which calls `snmp_section` while loading a file) so
the persona loader stays one readable module; it imports nothing from the loader (which
imports it), and sees the loader's reader and behaviours through protocols. The schema is
in docs/lab.md:

    [snmp]
    community = "…"            # the only community the agent answers (others: no reply, as real agents);
                               # may be left out when users are set (a v3-only agent)
    sys_descr = "…"            # SNMPv2-MIB sysDescr.0 (RFC 3418)
    sys_object_id = "1.3.6.1.4.1.…"
    sys_name = "…"
    behaviour = "normal"       # or silent / raw / flood (UDP behaviours) / oversize
    [snmp.entity]              # ENTITY-MIB entPhysicalTable row 1, the chassis (RFC 6933)
    mfg_name = "…"; model_name = "…"; serial_num = "…"; software_rev = "…"
    [[snmp.users]]             # an SNMPv3 user (RFC 3414 USM); protocols and level as the scanner's
    user = "…"; auth_protocol = "sha"; auth_key = "…"; priv_protocol = "aes"; priv_key = "…"

`engine_churn` gives every v3 message a new engine (a new engine ID). `oversize` pads sysDescr with `pad` (behaviour option) copies of "A": a well-formed reply
whose OCTET STRING is larger than any real sysDescr.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

EXTRA_BEHAVIOURS = frozenset({"oversize", "engine_churn"})   # on top of the UDP responders' behaviours
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
    def subs(self, key: str) -> list[Table]: ...
    def fail(self, key: str, msg: str) -> Exception: ...
    def done(self) -> None: ...


class Behaviour(Protocol):
    """A parsed `behaviour` / `behaviour_options` pair (`camaudit.lab.persona.Behaviour`)."""

    name: str
    options: dict[str, Any]


AUTH_PROTOCOLS = ("md5", "sha", "sha224", "sha256", "sha384", "sha512")
PRIV_PROTOCOLS = ("aes",)


@dataclass(frozen=True, slots=True)
class SnmpUserSpec:
    """An SNMPv3 user the agent knows (protocols None: that part of the level is off)."""

    user: str
    auth_protocol: str | None = None
    auth_key: str | None = None
    priv_protocol: str | None = None
    priv_key: str | None = None


@dataclass(frozen=True, slots=True)
class Snmp:
    """An SNMP agent: its community (None: v3 only), v3 users and OID -> value (text, or a
    dotted OID in OID_VALUED)."""

    community: str | None
    objects: dict[str, str]
    behaviour: Behaviour
    users: tuple[SnmpUserSpec, ...] = ()


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
    users = tuple(_user(u) for u in r.subs("users"))
    community = r.get("community", str, None if users else ...)
    if community is not None and not community:
        raise r.fail("community", "must not be empty")
    if behaviour.name == "engine_churn" and not users:
        raise r.fail("behaviour", "engine_churn needs [[snmp.users]] (it is an SNMPv3 behaviour)")
    r.done()
    return Snmp(community, objects, behaviour, users)


def _user(r: Table) -> SnmpUserSpec:
    """One `[[snmp.users]]` table: authPriv, authNoPriv or noAuthNoPriv by the protocols set."""
    name = r.get("user", str, required=True)
    auth, priv = r.get("auth_protocol", str, None), r.get("priv_protocol", str, None)
    if auth is not None and auth not in AUTH_PROTOCOLS:
        raise r.fail("auth_protocol", f"{auth!r}: expected one of {', '.join(AUTH_PROTOCOLS)}")
    if priv is not None and (priv not in PRIV_PROTOCOLS or auth is None):
        raise r.fail("priv_protocol", f"{priv!r}: expected aes, with an auth_protocol")
    keys = {}
    for key, protocol in (("auth_key", auth), ("priv_key", priv)):
        keys[key] = r.get(key, str, None if protocol is None else ...)
        if (keys[key] is None) != (protocol is None) or keys[key] is not None and len(keys[key]) < 8:
            raise r.fail(key, "needs its protocol, and a passphrase of at least 8 characters (RFC 3414 §11.2)")
    r.done()
    return SnmpUserSpec(name, auth, keys["auth_key"], priv, keys["priv_key"])
