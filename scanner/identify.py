"""Observations → one `Identification` per device. Pure: no I/O, no network, no clock.

Rules (docs/fingerprints.md):

* Devices group by MAC when known, else IP; an IP-only observation joins the MAC group
  that another observation tied to the same IP, and a MAC-less IPv6 observation whose
  interface identifier is a modified EUI-64 (camaudit.addresses.eui64_mac) joins the group
  of that MAC, or makes one: a dual-stack device is one device with both addresses. An
  IPv4-mapped IPv6 address is the IPv4 address it maps.
* Each fingerprint hit is a signal for a vendor (lineage) and/or a brand (label). Signals
  of one `group` are one signal (strongest weight); independent groups combine as
  ``1 - Π(1 - w)``. Generic signals (`generic = true`) count only when the same vendor has
  a non-generic signal too.
* The OUI is a weak signal (`OUI_WEIGHT`); a locally administered MAC gives none. A MAC
  derived from EUI-64 gives it too (its evidence's source is `eui64`, and a note says which
  address it came from); a MAC-less device whose IPv6 interface identifiers are not
  MAC-derived (privacy or random addresses) gets a note saying it has no OUI.
* The vendor with the highest combined confidence wins; the others are recorded in
  `conflicts`. Brand is the strongest brand signal consistent with the vendor (else the
  vendor itself); model/firmware/serial/device type come from the strongest consistent
  capture, and disagreements are recorded too.
* Policies (camaudit.policy) decide `flagged` and `policies`.
* The tier (camaudit.tiers) is the best tier among the chosen vendor's signals, one step
  lower when a strong contrary signal exists (another vendor's registration or firmware
  answer, a general-purpose web server serving the device's page), which is recorded in
  `conflicts` with `"lowers_tier": true`.

`Matcher` does the same incrementally, keeping per device only the hits (not the raw
observations), so `camaudit match` streams files of millions of lines in O(devices) memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from camaudit.addresses import canonical_ip, eui64_mac, ip_sort_key, is_ipv6
from camaudit.fingerprints.fingerprint import Hit
from camaudit.fingerprints.loader import load_fingerprints
from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.observation import Observation, ProbeStatus, dumps_json
from camaudit.policy import PolicySet, load_policies
from camaudit.tiers import CONFIRMED, POSSIBLE, PROBABLE, best, lower

OUI_WEIGHT = 0.35        # weak: resold NICs and OEM boards carry other vendors' OUIs
MAX_EVIDENCE = 64        # per device; a device answering every path still gets a readable record
MAX_SHARED_SIGNALS = 1 << 16  # signals a Matcher keeps to share between devices before starting over
CAPTURE_FIELDS = ("model", "firmware", "serial", "device_type")
# several weaker signals of one vendor agreeing this strongly are a probable identification
CORROBORATED = 0.9
# general-purpose web servers: a page they serve is a site or a proxy, not a camera's own UI
# (Server header product names, RFC 9110 section 10.2.4)
GENERAL_SERVERS = re.compile(r"(?i)(?:nginx|openresty|apache|microsoft-iis)(?![\w-])")


@dataclass(slots=True)
class Identification:
    """What camaudit concluded about one device, with the evidence behind it.

    `ip` names the device: its IPv4 address when it has one, else its first IPv6 address;
    `ipv6` lists every IPv6 address its observations came from. `notes` say what could not be
    concluded or where a value came from (a MAC derived from an IPv6 address).
    """

    ip: str | None
    mac: str | None
    vendor: str | None = None          # lineage: whose hardware/firmware
    brand: str | None = None           # label it is sold under
    model: str | None = None
    firmware: str | None = None
    serial: str | None = None
    device_type: str | None = None
    organization: str | None = None    # IEEE registrant of the MAC's prefix, as registered
    flagged: bool = False
    policies: list[str] = field(default_factory=list)
    confidence: float = 0.0
    tier: str | None = None            # confirmed | probable | possible; None: no vendor
    evidence: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    ipv6: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ip": self.ip, "mac": self.mac, "vendor": self.vendor, "brand": self.brand,
                "model": self.model, "firmware": self.firmware, "serial": self.serial,
                "device_type": self.device_type, "organization": self.organization,
                "flagged": self.flagged, "policies": list(self.policies),
                "confidence": self.confidence, "tier": self.tier, "evidence": list(self.evidence),
                "conflicts": list(self.conflicts), "statuses": dict(self.statuses),
                "ipv6": list(self.ipv6), "notes": list(self.notes)}

    def to_json(self) -> str:
        return dumps_json(self.to_dict())


@dataclass(slots=True)
class _Signal:
    """A hit reduced to what scoring needs (the OUI is a signal too)."""

    source: str
    port: int | None
    fingerprint: str
    field: str
    value: str
    weight: float
    group: str
    generic: bool
    vendor: str | None
    brand: str | None
    captures: dict[str, str]
    tier: str | None

    def evidence(self) -> dict[str, Any]:
        out = {"source": self.source, "port": self.port, "fingerprint": self.fingerprint,
               "field": self.field, "value": self.value, "weight": self.weight,
               "vendor": self.vendor, "brand": self.brand, "tier": self.tier}
        if self.generic:
            out["generic"] = True
        return out


@dataclass(slots=True)
class _Device:
    ip: str | None = None
    mac: str | None = None
    # addresses beyond `ip` in the order seen (a dual-stack device's other family; rare: None)
    more: dict[str, None] | None = None
    eui64: str | None = None    # the IPv6 address `mac` was derived from, when none was observed
    # one signal per distinct (fingerprint, source, port, value); signal objects are shared
    # between devices (Matcher._signal) and never changed
    hits: dict[tuple[int, str, int | None, str], _Signal] = field(default_factory=dict)
    statuses: dict[tuple[str, int | None], str] = field(default_factory=dict)
    # "http:80" -> Server header of a general-purpose web server answering there (rare: None)
    servers: dict[str, str] | None = None

    def add_ip(self, ip: str) -> None:
        if self.ip is None:
            self.ip = ip
        elif ip != self.ip:
            if self.more is None:
                self.more = {}
            self.more[ip] = None

    def addresses(self) -> list[str]:
        return ([self.ip] if self.ip else []) + list(self.more or ())

    def merge(self, other: _Device) -> None:
        for ip in other.addresses():
            self.add_ip(ip)
        if other.servers:
            self.servers = {**other.servers, **(self.servers or {})}
        for key, value in other.hits.items():
            self.hits.setdefault(key, value)
        for where, status in other.statuses.items():
            self.status(where, status)

    def status(self, where: tuple[str, int | None], status: str) -> None:
        # one entry per source:port; a failure is more informative than an ok beside it
        if self.statuses.get(where, ProbeStatus.OK) == ProbeStatus.OK:
            self.statuses[where] = status


class Matcher:
    """Feed observations with `add`, then iterate `identifications()`."""

    def __init__(self, fingerprints: FingerprintSet | None = None, policies: PolicySet | None = None):
        self.fps = fingerprints or load_fingerprints()
        self.policies = policies if policies is not None else load_policies()
        self.by_mac: dict[str, _Device] = {}
        self.by_ip: dict[str, _Device] = {}     # IP-only devices
        self.ip_to_mac: dict[str, str] = {}
        self.observations = 0
        # the signal of one hit at one source:port: a fleet repeats the same answers (and the
        # fingerprint set returns the same Hit objects for them), so it is built once, not per
        # device; the Hit is kept beside it so that its id() stays its own
        self._signals: dict[tuple[int, str, int | None], tuple[Hit, _Signal]] = {}

    def add(self, obs: Observation) -> None:
        self.observations += 1
        ip = obs.ip
        if ip and ":" in ip:
            ip = canonical_ip(ip)    # one spelling per IPv6 address; IPv4-mapped is IPv4
        if obs.mac:
            dev = self.by_mac.get(obs.mac)
            if dev is None:
                dev = self.by_mac[obs.mac] = _Device(ip=ip, mac=obs.mac)
            elif ip and ip != dev.ip:
                dev.add_ip(ip)
            if ip:
                self.ip_to_mac.setdefault(ip, obs.mac)
        else:
            dev = self.by_ip.get(ip)  # type: ignore[arg-type]
            if dev is None:
                dev = self.by_ip[ip] = _Device(ip=ip)  # type: ignore[index]
        source, port = obs.source, obs.port
        dev.status((source, port), obs.status)
        if source == "http" or source == "https":
            server = _server_header(obs.data)
            if server and GENERAL_SERVERS.match(server):
                if dev.servers is None:
                    dev.servers = {}
                dev.servers.setdefault(f"{source}:{port}", server[:200])
        hits = dev.hits
        for hit in self.fps.match(obs):
            key = (id(hit.fingerprint), source, port, hit.value)
            if key not in hits:
                hits[key] = self._signal(hit, source, port)

    def _signal(self, hit: Hit, source: str, port: int | None) -> _Signal:
        key = (id(hit), source, port)
        shared = self._signals.get(key)
        if shared is not None:
            return shared[1]
        if len(self._signals) >= MAX_SHARED_SIGNALS:
            self._signals.clear()
        sig = _from_hit(hit, source, port)
        self._signals[key] = (hit, sig)
        return sig

    def identifications(self) -> Iterator[Identification]:
        """One Identification per device, each concluded when it is reached: `camaudit match`
        writes and drops them one by one instead of holding a million-line file's worth."""
        joined = set()
        for ip, dev in self.by_ip.items():
            mac = self.ip_to_mac.get(ip)
            if mac is None and ":" in ip and (mac := eui64_mac(ip)) is not None \
                    and mac not in self.by_mac:
                self.by_mac[mac] = _Device(mac=mac, eui64=ip)
            if mac is not None:
                self.by_mac[mac].merge(dev)
                joined.add(ip)
        for dev in self.by_mac.values():
            yield self._conclude(dev)
        for ip, dev in self.by_ip.items():
            if ip not in joined:
                yield self._conclude(dev)

    def _conclude(self, dev: _Device) -> Identification:
        statuses = {(f"{src}:{port}" if port is not None else src): str(status)
                    for (src, port), status in dev.statuses.items()}
        ident = Identification(ip=dev.ip, mac=dev.mac, statuses=dict(sorted(statuses.items())))
        if dev.more is not None or (dev.ip and ":" in dev.ip):
            _addresses(ident, dev)
        signals = list(dev.hits.values())
        if dev.mac:
            oui = self.fps.oui.lookup(dev.mac)
            if oui is not None:
                ident.organization = oui.organization
                brand = self.fps.vocabulary.brand_of_org(oui.organization)
                vendor = self.fps.vocabulary.lineage(brand)
                if brand or vendor:
                    value = f"{oui.prefix}/{oui.bits} {oui.organization}"
                    signals.append(_Signal("eui64" if dev.eui64 else "mac", None, "oui", "mac.oui",
                                           f"{value} (EUI-64 of {dev.eui64})" if dev.eui64 else value,
                                           OUI_WEIGHT, "oui", False, vendor, brand, {}, PROBABLE))
        _decide(ident, signals)
        _grade(ident, signals, dev.servers or {})
        ident.evidence = [s.evidence() for s in sorted(signals, key=lambda s: -s.weight)[:MAX_EVIDENCE]]
        ident.policies = self.policies.flags(ident)
        ident.flagged = bool(ident.policies)
        return ident


def identify(observations: Iterable[Observation], fingerprints: FingerprintSet | None = None,
             policies: PolicySet | None = None) -> list[Identification]:
    """One Identification per device seen in `observations` (see module docstring)."""
    matcher = Matcher(fingerprints, policies)
    for obs in observations:
        matcher.add(obs)
    return list(matcher.identifications())


def _addresses(ident: Identification, dev: _Device) -> None:
    """`ip` (IPv4 first), `ipv6` and the notes on where the MAC came from, of a device seen
    at an IPv6 address or at more than one address (a few in a scan: not the hot path)."""
    addresses = dev.addresses()
    ident.ipv6 = sorted({ip for ip in addresses if is_ipv6(ip)}, key=ip_sort_key)
    ident.ip = next((ip for ip in addresses if ip not in ident.ipv6), addresses[0])
    if dev.eui64:
        ident.notes.append(f"MAC {dev.mac} derived from the EUI-64 interface identifier of {dev.eui64} "
                           "(RFC 4291 appendix A); no frame with it was observed")
    elif not dev.mac and ident.ipv6:
        ident.notes.append(f"IPv6 interface identifier of {', '.join(ident.ipv6)} is not MAC-derived "
                           "(a temporary or stable random address, RFC 8981, RFC 7217); no MAC, no OUI")


def _from_hit(hit: Hit, source: str, port: int | None) -> _Signal:
    fp = hit.fingerprint
    caps = dict(hit.captures)
    caps.pop("brand", None)
    if fp.device_type and "device_type" not in caps:
        caps["device_type"] = fp.device_type
    tier = fp.tier
    if tier == POSSIBLE and fp.vendor is None and hit.vendor is not None:
        tier = PROBABLE   # a label the vendor owns (its lineage): the OEM line is the vendor's
    return _Signal(source, port, fp.id, fp.field, hit.value, fp.weight, fp.group,
                   fp.generic, hit.vendor, hit.brand, caps, tier)


def _server_header(data: dict[str, Any]) -> str | None:
    """The Server header of an HTTP observation's data (names case-insensitive), if text."""
    headers = data.get("headers")
    if not isinstance(headers, dict):
        return None
    value = headers.get("Server") or headers.get("server")
    if value is None:   # another spelling: most answers have no Server header at all
        value = next((v for k, v in headers.items()
                      if isinstance(k, str) and len(k) == 6 and k.lower() == "server"), None)
    return value if isinstance(value, str) else None


def combine(weights: Iterable[float]) -> float:
    """Independent signals: the chance that all of them are wrong shrinks with each one."""
    miss = 1.0
    for w in weights:
        miss *= 1.0 - w
    return 1.0 - miss


def vendor_scores(signals: list[_Signal]) -> dict[str, float]:
    """Combined confidence per vendor; generic signals only with a non-generic one beside."""
    groups: dict[str, dict[str, float]] = {}
    corroborated: set[str] = set()
    for sig in signals:
        if sig.vendor is None:
            continue
        g = groups.setdefault(sig.vendor, {})
        g[sig.group] = max(g.get(sig.group, 0.0), sig.weight)
        if not sig.generic:
            corroborated.add(sig.vendor)
    return {v: combine(g.values()) for v, g in groups.items() if v in corroborated}


def _decide(ident: Identification, signals: list[_Signal]) -> None:
    scores = vendor_scores(signals)
    if scores:
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        ident.vendor, best = ranked[0]
        ident.confidence = round(best, 3)
        for vendor, score in ranked[1:]:
            ident.conflicts.append({"field": "vendor", "value": vendor, "confidence": round(score, 3),
                                    "fingerprints": sorted({s.fingerprint for s in signals if s.vendor == vendor})})
    consistent = sorted((s for s in signals if s.vendor in (None, ident.vendor)), key=lambda s: -s.weight)
    brands = [s for s in consistent if s.brand]
    if brands:
        ident.brand = brands[0].brand
        _note_disagreement(ident, "brand", brands, lambda s: s.brand)
    else:
        ident.brand = ident.vendor
    for name in CAPTURE_FIELDS:
        having = [s for s in consistent if name in s.captures]
        if having:
            setattr(ident, name, having[0].captures[name])
            _note_disagreement(ident, name, having, lambda s, n=name: s.captures[n])


def _note_disagreement(ident: Identification, name: str, ranked: list[_Signal], value_of: Any) -> None:
    chosen = value_of(ranked[0])
    others: dict[str, str] = {}
    for sig in ranked[1:]:
        value = value_of(sig)
        if value != chosen and value not in others:
            others[value] = sig.fingerprint
    for value, fid in others.items():
        ident.conflicts.append({"field": name, "value": value, "fingerprint": fid,
                                "chosen": chosen, "chosen_by": ranked[0].fingerprint})


def _grade(ident: Identification, signals: list[_Signal], servers: dict[str, str]) -> None:
    """Set `ident.tier` (docs/fingerprints.md, "Confidence tiers"): the best tier among the
    chosen vendor's signals (weaker ones agreeing at CORROBORATED count as probable), one step
    lower when a strong contrary signal exists, each of which is marked in `conflicts`."""
    if ident.vendor is None:
        return
    vendor = ident.vendor
    tier = best({s.tier for s in signals if s.vendor == vendor}) or POSSIBLE
    if tier == POSSIBLE and ident.confidence >= CORROBORATED and \
            len({s.group for s in signals if s.vendor == vendor and not s.generic}) > 1:
        tier = PROBABLE
    contrary = False
    for conflict in ident.conflicts:
        if conflict["field"] != "vendor":
            continue
        theirs = [s for s in signals if s.vendor == conflict["value"]]
        # another vendor's registration, or its firmware answering: not a weak look-alike
        if any(s.source in ("mac", "eui64") or s.tier == CONFIRMED for s in theirs):
            conflict["lowers_tier"] = contrary = True
    for where, server in sorted(servers.items()):
        ident.conflicts.append({"field": "server", "value": server, "where": where, "lowers_tier": True})
        contrary = True
    ident.tier = lower(tier) if contrary else tier
