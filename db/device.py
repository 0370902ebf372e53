"""The one definition of what the store reads of an identification, and its cleaned form.

`camaudit.identify.Identification` produces identifications; every part of db/ consumes them
through `IdentificationLike` (declared here only) and `clean`, the one conversion into a
`Device`. Device-supplied text is untrusted: it is stripped of NUL (PostgreSQL refuses it)
and cut to its column's size before any use, so both dialects store and match the same text.
The rows written for an asset or a sighting take the Device fields that are columns of their
table, so a field added here reaches both tables without another list to keep in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

from camaudit.db.models import Asset, Sighting, fit
from camaudit.observation import normalize_mac
from camaudit.tiers import TIERS

MAX_EVIDENCE_VALUE = 1000     # characters of one evidence value (it has no column of its own)

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


def _tier(value: Any) -> str | None:
    """A known tier, else None (an unknown word must not reach the column or the exit code)."""
    return value if isinstance(value, str) and value in TIERS else None


def _text(value: Any, column: Any = None) -> str | None:
    if value is None:
        return None
    cleaned = str(value).replace("\x00", "").strip()
    cleaned = fit(column, cleaned) if column is not None else cleaned[:MAX_EVIDENCE_VALUE]
    return cleaned or None


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
    """The Device of an identification: text cleaned and cut, MAC normalised, policies unique."""
    evidence = [_evidence(e) for e in (ident.evidence or []) if isinstance(e, dict)]
    c = T_ASSET.c
    return Device(ip=_text(ident.ip, c.ip), mac=normalize_mac(ident.mac) if ident.mac else None,
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
