"""Which flagged device to remove first: a pure ranking from what the inventory knows.

`assess(facts, advisories)` orders devices by, in this order of weight (docs/priority.md):

1. firmware status against the known exploited vulnerabilities (camaudit.advisories):
   ``vulnerable`` (firmware inside a listed range) > ``unknown`` with an advisory naming the
   product > ``unknown`` > ``not-listed``. Unknown firmware is never treated as safe: a
   device whose firmware was not read, or whose advisory gives no range, is "unknown";
2. device class: a recorder (NVR/DVR) or network gear (router, switch, gateway, OLT…)
   carries many cameras' video or a network segment, so it goes before a single camera;
3. exposure: how many management services are open (web 80/8080, web TLS 443/8443,
   Telnet 23, SSH 22, vendor SDK 8000/37777);
4. confidence tier: confirmed > probable > possible.

`Priority.score` packs these into one integer (higher first) so callers sort without
knowing the rule; `reason` says it in words: "CVE-2021-36260, known exploited; web UI open".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from camaudit.advisories import Advisory, Affected
from camaudit.firmware_version import in_range

VULNERABLE, UNKNOWN, NOT_LISTED = "vulnerable", "unknown", "not-listed"

# management services: port → what the reason calls it
MANAGEMENT_PORTS: dict[int, str] = {80: "web UI", 8080: "web UI", 443: "web UI (TLS)",
                                    8443: "web UI (TLS)", 23: "Telnet", 22: "SSH",
                                    8000: "vendor SDK", 37777: "vendor SDK"}
RECORDERS = frozenset({"nvr", "dvr", "xvr", "recorder"})
NETWORK_GEAR = frozenset({"router", "switch", "switch/router", "gateway", "firewall", "olt",
                          "ont", "access node", "media gateway"})
_TIER_RANK = {"confirmed": 2, "probable": 1}


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What the inventory knows of one device (an asset row plus its open ports)."""

    vendor: str | None
    brand: str | None = None
    model: str | None = None
    firmware: str | None = None
    device_type: str | None = None
    tier: str | None = None
    open_ports: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Priority:
    score: int                      # higher: remove sooner
    firmware_status: str            # vulnerable | unknown | not-listed
    cves: tuple[str, ...]           # known exploited CVEs the firmware is inside
    possible_cves: tuple[str, ...]  # known exploited CVEs of the product; firmware unknown
    exposure: tuple[str, ...]       # open management services, e.g. ("web UI", "Telnet")
    device_class: str               # recorder | network | camera | other
    tier: str | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"priority_score": self.score, "firmware_status": self.firmware_status,
                "kev_cves": list(self.cves), "kev_possible_cves": list(self.possible_cves),
                "exposure": list(self.exposure), "device_class": self.device_class,
                "priority_reason": self.reason}


def device_class(device_type: str | None) -> str:
    kind = (device_type or "").strip().casefold()
    if kind in RECORDERS:
        return "recorder"
    if kind in NETWORK_GEAR:
        return "network"
    return "camera" if kind == "camera" else "other"


_CLASS_RANK = {"recorder": 3, "network": 3, "camera": 2, "other": 1}


def _product_matches(entry: Affected, facts: DeviceFacts) -> bool:
    if entry.model is not None:
        return bool(facts.model) and entry.model.match(facts.model.strip()) is not None
    return (facts.device_type or "").casefold() in entry.device_types


def _judge(advisory: Advisory, facts: DeviceFacts) -> str | None:
    """VULNERABLE / UNKNOWN for an advisory naming this device's product; None otherwise."""
    if advisory.vendor != facts.vendor:
        return None
    status = None
    for entry in advisory.affected:
        if not _product_matches(entry, facts):
            continue
        if entry.versions is None or not facts.firmware:
            status = UNKNOWN
            continue
        answers = [in_range(facts.firmware, lo, hi) for lo, hi in entry.versions]
        if True in answers:
            return VULNERABLE
        if None in answers:
            status = UNKNOWN
        elif status is None:
            status = NOT_LISTED
    return None if status == NOT_LISTED else status


def assess(facts: DeviceFacts, advisories: Iterable[Advisory]) -> Priority:
    """The removal priority of one device (see the module docstring for the order)."""
    verdicts = [(a.cve, _judge(a, facts)) for a in advisories]
    cves = tuple(sorted(c for c, v in verdicts if v == VULNERABLE))
    possible = tuple(sorted(c for c, v in verdicts if v == UNKNOWN))
    if cves:
        status, status_rank = VULNERABLE, 3
    elif possible:
        status, status_rank = UNKNOWN, 2
    elif not facts.firmware:
        status, status_rank = UNKNOWN, 1
    else:
        status, status_rank = NOT_LISTED, 0
    exposure = tuple(dict.fromkeys(MANAGEMENT_PORTS[p] for p in sorted(facts.open_ports)
                                   if p in MANAGEMENT_PORTS))
    kind = device_class(facts.device_type)
    score = (status_rank * 1000 + _CLASS_RANK[kind] * 100 + min(len(exposure), 9) * 10
             + _TIER_RANK.get(facts.tier or "", 0))
    return Priority(score, status, cves, possible, exposure, kind, facts.tier,
                    _reason(status, cves, possible, exposure, kind, facts.firmware))


def _reason(status: str, cves: Sequence[str], possible: Sequence[str], exposure: Sequence[str],
            kind: str, firmware: str | None) -> str:
    if cves:
        parts = [f"{', '.join(cves)}, known exploited"]
    elif possible:
        why = "firmware unknown" if not firmware else "affected versions not published"
        parts = [f"product named by {', '.join(possible)} (known exploited); {why}"]
    elif status == UNKNOWN:
        parts = ["firmware unknown"]
    else:
        parts = ["firmware not in a known exploited range"]
    if kind in ("recorder", "network"):
        parts.append("recorder" if kind == "recorder" else "network equipment")
    if exposure:
        parts.append(" and ".join(exposure) + " open")
    return "; ".join(parts)


def rank(items: Iterable[tuple[object, Priority]]) -> list[tuple[object, Priority]]:
    """(device, priority) pairs, first to remove first; ties keep their given order."""
    return sorted(items, key=lambda pair: -pair[1].score)
