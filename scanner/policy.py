"""Jurisdiction policies: which laws and directives flag an identified device.

Each policy is data, `fingerprints/policies/<id>.toml`: id, title, jurisdiction, citation,
optional url, effective date, scope note, the entities it names (vendor names from
fingerprints/vocabulary.toml: the *lineage*, so an OEM relabel of Hikvision hardware is
flagged wherever Hikvision is) and `min_confidence`. Shipped policies use 0.0: a device whose
only signal is a flagged vendor's OUI is flagged, with its low confidence shown, because an
auditor would rather check one Hytera radio too many than miss one; a policy file may raise
the bar. docs/policies.md lists them.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from camaudit.fingerprints.data import data_root

_KEYS = {"id", "title", "jurisdiction", "citation", "url", "effective", "scope", "min_confidence", "entity"}
_ENTITY_KEYS = {"vendor", "named_as"}


class PolicyError(ValueError):
    """A policy file is wrong or a policy id is unknown; the message says which and what to do."""


class _Identified(Protocol):
    vendor: str | None
    confidence: float


@dataclass(frozen=True, slots=True)
class Entity:
    vendor: str       # vocabulary vendor (lineage)
    named_as: str     # how the instrument names it


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    title: str
    jurisdiction: str
    citation: str
    url: str | None
    effective: dt.date
    scope: str
    min_confidence: float
    entities: tuple[Entity, ...]
    vendors: frozenset[str]   # the entities' vendors, precomputed: flags() runs per device

    def flags(self, ident: _Identified) -> bool:
        return ident.vendor in self.vendors and ident.confidence >= self.min_confidence


class PolicySet:
    """The active policies, in id order; iterating yields `Policy` objects."""

    def __init__(self, policies: Iterable[Policy]):
        self._policies = {p.id: p for p in sorted(policies, key=lambda p: p.id)}

    def __iter__(self) -> Iterator[Policy]:
        return iter(self._policies.values())

    def __len__(self) -> int:
        return len(self._policies)

    def __getitem__(self, pid: str) -> Policy:
        return self._policies[pid]

    @property
    def ids(self) -> list[str]:
        return list(self._policies)

    def flags(self, ident: _Identified) -> list[str]:
        """Ids of the policies that flag this identification."""
        return [p.id for p in self._policies.values() if p.flags(ident)]


def parse_policy(text: str, file: str, vendors: frozenset[str]) -> Policy:
    """One policy file, validated; PolicyError names the file and the problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{file}: not valid TOML: {exc}") from None
    unknown = set(raw) - _KEYS
    if unknown:
        raise PolicyError(f"{file}: unknown keys {sorted(unknown)}")
    for key in ("id", "title", "jurisdiction", "citation", "scope"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise PolicyError(f"{file}: '{key}' must be a non-empty string")
    if not isinstance(raw.get("effective"), dt.date):
        raise PolicyError(f"{file}: 'effective' must be a TOML date (e.g. effective = 2019-08-13)")
    minimum = raw.get("min_confidence", 0.0)
    if not isinstance(minimum, (int, float)) or not 0 <= minimum <= 1:
        raise PolicyError(f"{file}: 'min_confidence' must be a number in [0, 1]")
    entities = []
    listed = raw.get("entity", [])
    if not isinstance(listed, list):  # wrong TOML types must be a PolicyError (found by tests/fuzz)
        raise PolicyError(f"{file}: entities are [[entity]] tables")
    for n, e in enumerate(listed, 1):
        if not isinstance(e, dict) or set(e) - _ENTITY_KEYS or not isinstance(e.get("named_as"), str):
            raise PolicyError(f"{file}: entity #{n} needs exactly 'vendor' and 'named_as'")
        if not isinstance(e.get("vendor"), str) or e["vendor"] not in vendors:
            raise PolicyError(f"{file}: entity #{n}: vendor {e.get('vendor')!r} is not a vendor "
                              f"of fingerprints/vocabulary.toml ({', '.join(sorted(vendors))})")
        entities.append(Entity(e["vendor"], e["named_as"]))
    if not entities:
        raise PolicyError(f"{file}: names no entity ([[entity]] vendor = \"…\")")
    return Policy(raw["id"], raw["title"], raw["jurisdiction"], raw["citation"], raw.get("url"),
                  raw["effective"], " ".join(raw["scope"].split()), float(minimum), tuple(entities),
                  frozenset(e.vendor for e in entities))


@lru_cache(maxsize=1)
def _all_policies() -> tuple[Policy, ...]:
    from camaudit.fingerprints.vocabulary import load_vocabulary

    vendors = load_vocabulary().vendors
    folder = data_root().joinpath("policies")
    out = []
    for name in sorted(p.name for p in folder.iterdir() if p.name.endswith(".toml")):
        file = f"fingerprints/policies/{name}"
        policy = parse_policy(folder.joinpath(name).read_text("utf-8"), file, vendors)
        if f"{policy.id}.toml" != name:
            raise PolicyError(f"{file}: id {policy.id!r} must match the file name")
        out.append(policy)
    return tuple(out)


def load_policies(ids: Iterable[str] | None = None) -> PolicySet:
    """The shipped policies, or only `ids` (PolicyError naming the unknown ones)."""
    return select_policies(PolicySet(_all_policies()), ids)


def select_policies(policies: PolicySet, ids: Iterable[str] | None) -> PolicySet:
    """`--policy` selection: None or empty keeps all; an unknown id is an error the user can fix."""
    wanted = list(ids or [])
    if not wanted:
        return policies
    unknown = [i for i in wanted if i not in policies.ids]
    if unknown:
        raise PolicyError(f"unknown policy id(s) {', '.join(unknown)}; available: {', '.join(policies.ids)}")
    return PolicySet(policies[i] for i in wanted)


def describe(policy: Policy) -> dict[str, Any]:
    """JSON-able summary, for `camaudit fingerprints policies` and reports."""
    return {"id": policy.id, "title": policy.title, "jurisdiction": policy.jurisdiction,
            "citation": policy.citation, "url": policy.url, "effective": policy.effective.isoformat(),
            "scope": policy.scope, "min_confidence": policy.min_confidence,
            "entities": [{"vendor": e.vendor, "named_as": e.named_as} for e in policy.entities]}
