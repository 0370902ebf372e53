"""Confidence tiers: how sure camaudit is of an identification, in three words people act on.

* ``confirmed`` — the device's own firmware said it: a vendor discovery reply (SADP, DHIP),
  a vendor API answer (`/ISAPI`, `/RPC2_Login`, `magicBox.cgi`), the vendor's default TLS
  certificate, an ONVIF manufacturer or scope naming the vendor.
* ``probable`` — a strong banner naming the vendor, a registration of the vendor or of a
  brand it owns (MAC OUI), several weaker signals agreeing.
* ``possible`` — a weak or single generic signal: a reason to look, not to report.

Rules and examples: docs/fingerprints.md ("Confidence tiers"). Fingerprints carry a tier
(`tier = "…"` in their file, else `default_tier`); identification picks and lowers it
(camaudit.identify). A flagged device counts for the scan's exit code 1 only when its tier is
in `EXIT_TIERS`; `possible` ones go to the report's review list instead.
"""

from __future__ import annotations

from collections.abc import Iterable

CONFIRMED, PROBABLE, POSSIBLE = "confirmed", "probable", "possible"
TIERS: tuple[str, ...] = (CONFIRMED, PROBABLE, POSSIBLE)      # strongest first
RANK: dict[str, int] = {tier: rank for rank, tier in enumerate(TIERS)}
EXIT_TIERS: frozenset[str] = frozenset({CONFIRMED, PROBABLE})  # what makes `scan` exit 1
PROBABLE_WEIGHT = 0.7    # a non-generic signal this strong is a strong banner unless its file says more


def default_tier(weight: float, generic: bool) -> str:
    """The tier of a fingerprint whose file names none: strong non-generic signals are
    probable, the rest possible; confirmed is never a default (it is written per entry)."""
    return PROBABLE if not generic and weight >= PROBABLE_WEIGHT else POSSIBLE


def best(tiers: Iterable[str]) -> str | None:
    """The strongest of `tiers`, None when there is none."""
    return min(tiers, key=RANK.__getitem__, default=None)


def lower(tier: str) -> str:
    """One step down (possible stays possible)."""
    return TIERS[min(RANK[tier] + 1, len(TIERS) - 1)]


def counts_for_exit(tier: str | None) -> bool:
    """Whether a flagged device of this tier makes the exit code 1. An unknown tier (a row
    stored before tiers existed, or written by another tool) counts: never silently clean."""
    return tier is None or tier in EXIT_TIERS


def parse_tiers(values: Iterable[str]) -> list[str]:
    """Tiers a user typed (repeated options and/or comma lists), checked; ValueError names
    the first unknown one."""
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in TIERS:
                raise ValueError(f"unknown tier {part.strip()!r}; one of {', '.join(TIERS)}")
            if name not in out:
                out.append(name)
    return out
