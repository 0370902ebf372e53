"""The vocabulary: vendor (lineage) and brand names, their aliases and IEEE organisations.

`fingerprints/vocabulary.toml` is the one list every fingerprint, policy and OUI organisation
names a vendor or brand from; docs/fingerprints.md explains vendor, brand and lineage.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from camaudit.fingerprints.data import data_root
from camaudit.fingerprints.fingerprint import MAX_CAPTURE_CHARS
from camaudit.fingerprints.errors import FingerprintError
from camaudit.oui import normalize_org


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The one list of vendor (lineage) and brand names, their aliases and IEEE organisations."""

    vendors: frozenset[str]
    lineage_of: dict[str, str | None]          # brand → vendor it implies (vendors map to themselves)
    alias_to_brand: dict[str, str]             # casefolded alias → brand
    org_to_brand: dict[str, str]               # normalize_org(org) → brand
    flagged_orgs: tuple[str, ...]              # organisations copied into oui/flagged.csv

    @property
    def brands(self) -> frozenset[str]:
        return frozenset(self.lineage_of)

    def canonical_brand(self, text: str) -> str:
        """A self-reported manufacturer, mapped to the vocabulary when it is a known alias;
        otherwise the (cleaned) text itself, so an unknown maker is named, not guessed."""
        clean = " ".join(text.replace("\u00a0", " ").split())[:MAX_CAPTURE_CHARS]
        return self.alias_to_brand.get(clean.casefold(), clean)

    def lineage(self, brand: str | None) -> str | None:
        return self.lineage_of.get(brand) if brand else None

    def brand_of_org(self, organization: str) -> str | None:
        return self.org_to_brand.get(normalize_org(organization))


def load_vocabulary(text: str | None = None, file: str = "fingerprints/vocabulary.toml") -> Vocabulary:
    raw = tomllib.loads(text if text is not None else data_root().joinpath("vocabulary.toml").read_text("utf-8"))
    lineage: dict[str, str | None] = {}
    aliases: dict[str, str] = {}
    orgs: dict[str, str] = {}
    flagged: list[str] = []
    vendors = frozenset(raw.get("vendors", {}))
    for kind in ("vendors", "brands"):
        for name, entry in raw.get(kind, {}).items():
            if name in lineage:
                raise FingerprintError(file, None, f"{name!r} defined twice")
            parent = name if kind == "vendors" else entry.get("lineage")
            if parent is not None and parent not in vendors:
                raise FingerprintError(file, None, f"brand {name!r}: lineage {parent!r} is not a vendor")
            lineage[name] = parent
            for alias in [name, *entry.get("aliases", [])]:
                other = aliases.setdefault(alias.casefold(), name)
                if other != name:
                    raise FingerprintError(file, None, f"alias {alias!r} names both {other!r} and {name!r}")
            for org in entry.get("organizations", []):
                orgs[normalize_org(org)] = name
                if entry.get("flagged_oui"):
                    flagged.append(org)
    return Vocabulary(vendors, lineage, aliases, orgs, tuple(flagged))
