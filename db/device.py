"""The one definition of what the store reads of an identification, and its cleaned form.

`camaudit.identify.Identification` produces identifications; every part of db/ consumes them
through `IdentificationLike` (declared here only) and `clean`, the one conversion into a
`Device`. Device-supplied text is untrusted: it is stripped of NUL (PostgreSQL refuses it)
and cut to its column's size before any use, so both dialects store and match the same text.
The rows written for an asset or a sighting take the Device fields that are columns of their
table, so a field added here reaches both tables without another list to keep in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

from camaudit.addresses import MAX_ADDRESS_CHARS, canonical, ip_sort_key, is_ipv6
from camaudit.db.models import Asset, Sighting, fit
from camaudit.observation import normalize_mac
from camaudit.tiers import TIERS

MAX_EVIDENCE_VALUE = 1000     # characters of one evidence value (it has no column of its own)
MAX_IPV6 = 16                 # IPv6 addresses kept per device (global, link-local, temporary…)

T_ASSET, T_SIGHT = Asset.__table__, Sighting.__table__


class IdentificationLike(Protocol):
    """What the store reads of camaudit.identify.Identification (duck-typed, read-only)."""

    @property
    def ip(self) -> str | None: ...
    @property
    def mac(self) -> str | None: ...
    @property
    def vendor(self) -> str | None: ...
    @property
    def brand(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def firmware(self) -> str | None: ...
    @property
    def serial(self) -> str | None: ...
    @property
    def device_type(self) -> str | None: ...
    @property
    def flagged(self) -> bool: ...
    @property
    def policies(self) -> Sequence[str]: ...
    @property
    def confidence(self) -> float: ...
    @property
    def evidence(self) -> Sequence[dict[str, Any]]: ...
    @property
    def tier(self) -> str | None: ...
    @property
    def ipv6(self) -> Sequence[str] | None: ...


@dataclass(slots=True, frozen=True)
class Device:
    """An identification as the store keeps it (see `clean`); it is IdentificationLike too."""

    ip: str | None
    mac: str | None
    vendor: str | None
    brand: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    device_type: str | None
    flagged: bool
    policies: tuple[str, ...]
    confidence: float
    evidence: list[dict[str, Any]]
    tier: str | None = None
    ipv6: list[str] | None = None   # `ip` is never IPv6; None: no IPv6 address seen

    @property
    def address(self) -> str | None:
        """The address that names the device: IPv4, else its first IPv6 address."""
        return self.ip or (self.ipv6[0] if self.ipv6 else None)

    def joined(self, other: Device) -> Device:
        """This answer with the addresses of another answer about the same asset in the same
        scan (its IPv4 and IPv6 sides identified apart, e.g. only by one serial)."""
        return replace(self, ip=self.ip or other.ip, ipv6=_ipv6([*(other.ipv6 or ()), *(self.ipv6 or ())]))


def _tier(value: Any) -> str | None:
    """A known tier, else None (an unknown word must not reach the column or the exit code)."""
    return value if isinstance(value, str) and value in TIERS else None


def _text(value: Any, column: Any = None) -> str | None:
    if value is None:
        return None
    cleaned = str(value).replace("\x00", "").strip()
    cleaned = fit(column, cleaned) if column is not None else cleaned[:MAX_EVIDENCE_VALUE]
    return cleaned or None


def _ipv6(addresses: Iterable[Any]) -> list[str] | None:
    """The IPv6 addresses among `addresses`, canonical, unique, in address order, at most
    MAX_IPV6; None when there is none."""
    found = {text for a in addresses if isinstance(a, str) and (text := canonical(a)) is not None}
    return sorted((a for a in found if is_ipv6(a)), key=ip_sort_key)[:MAX_IPV6] or None


def _evidence(entry: dict[str, Any]) -> dict[str, Any]:
    """A copy of an evidence entry with its text cleaned by `_text`. Nearly all device text
    needs no change (no NUL, no outer blanks, not too long): such an entry is copied as is,
    so cleaning a scan's tens of thousands of entries calls `_text` only for the few others."""
    for v in entry.values():
        if isinstance(v, str) and not (0 < len(v) <= MAX_EVIDENCE_VALUE and "\x00" not in v
                                        and not v[0].isspace() and not v[-1].isspace()):
            return {k: (_text(v) if isinstance(v, str) else v) for k, v in entry.items()}
    return dict(entry)


def clean(ident: IdentificationLike) -> Device:
    """The Device of an identification: text cleaned and cut, MAC normalised, policies unique,
    its IPv6 addresses (an IPv6 `ip` among them) apart from its IPv4 one."""
    evidence = [_evidence(e) for e in (ident.evidence or []) if isinstance(e, dict)]
    c = T_ASSET.c
    ip = (canonical(ident.ip) or ident.ip) if isinstance(ident.ip, str) else ident.ip
    more = getattr(ident, "ipv6", None)
    # text without a colon is no IPv6 address: an IPv4 `ip` is not parsed a second time
    ipv6 = _ipv6([*([ip] if isinstance(ip, str) and ":" in ip else ()),
                  *(more if isinstance(more, (list, tuple)) else ())])
    # an IPv6 `ip` is among `ipv6`; text too long to be an address stays where it was, cut
    v6_ip = isinstance(ip, str) and len(ip) <= MAX_ADDRESS_CHARS and is_ipv6(ip)
    return Device(ip=None if v6_ip else _text(ip, c.ip),
                  ipv6=ipv6, mac=normalize_mac(ident.mac) if ident.mac else None,
                  vendor=_text(ident.vendor, c.vendor), brand=_text(ident.brand, c.brand),
                  model=_text(ident.model, c.model), firmware=_text(ident.firmware, c.firmware),
                  serial=_text(ident.serial, c.serial),
                  device_type=_text(getattr(ident, "device_type", None), c.device_type),
                  flagged=bool(ident.flagged), policies=tuple(dict.fromkeys(ident.policies or [])),
                  confidence=float(ident.confidence or 0.0), evidence=evidence,
                  tier=_tier(getattr(ident, "tier", None)))


ASSET_FIELDS = tuple(f.name for f in fields(Device) if f.name in T_ASSET.c)
SIGHTING_FIELDS = tuple(f.name for f in fields(Device) if f.name in T_SIGHT.c)


def asset_values(d: Device) -> dict[str, Any]:
    """The columns of an asset row this device sets."""
    return {name: getattr(d, name) for name in ASSET_FIELDS}


def sighting_values(d: Device) -> dict[str, Any]:
    """The columns of a sighting row this device sets (policies as a JSON list)."""
    values = {name: getattr(d, name) for name in SIGHTING_FIELDS}
    values["policies"] = list(d.policies)
    return values
