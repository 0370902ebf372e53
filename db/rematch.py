"""Re-identifying stored devices after a fingerprint or policy update, without rescanning.

Each asset's observations are those of its last sighting (same scan, its MAC, or its IP for
MAC-less observations); `identify` runs on them again, the asset row takes the new answer,
and its findings follow: newly flagged ones open or reopen (`camaudit.db.lifecycle.on_seen`), active
ones no longer supported become false positives (`camaudit.db.lifecycle.on_rematch`). Work goes in
chunks of `BATCH` assets, a few statements each: rematch of 1M observations is ~200k assets.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, select, update

from camaudit.db.device import ASSET_FIELDS, Device, IdentificationLike, asset_values, clean
from camaudit.db.engine import Database
from camaudit.db.findings import apply_flags, event, findings_of, upsert_policies
from camaudit.db.lifecycle import on_rematch
from camaudit.db.models import Asset, Finding, FindingEvent, Sighting, StoredObservation, fit
from camaudit.db.record import chunks
from camaudit.observation import Observation, normalize_mac

REMATCH_ACTOR = "camaudit rematch"
T_ASSET, T_SIGHT, T_OBS = Asset.__table__, Sighting.__table__, StoredObservation.__table__
T_FIND, T_EVENT = Finding.__table__, FindingEvent.__table__
# what rematch rewrites of an asset (its evidence too, compared apart: never its addresses
# or serial, which the observations of one sighting cannot change)
_REMATCHED = tuple(name for name in ASSET_FIELDS if name not in ("ip", "ipv6", "mac", "serial", "evidence"))

Identify = Callable[[list[Observation]], Sequence[IdentificationLike]]


@dataclass(slots=True)
class RematchSummary:
    assets: int = 0
    changed_assets: int = 0
    findings_opened: int = 0
    findings_reopened: int = 0
    findings_cleared: int = 0


def rematch(db: Database, identify: Identify, fingerprint_version: str | None = None,
            policies: Sequence[Any] = ()) -> RematchSummary:
    """Re-identify every asset from the observations of its last sighting; update findings
    (see `Store.rematch`)."""
    out = RematchSummary()
    evaluated = {p if isinstance(p, str) else p.id for p in policies} or None
    if policies:
        with db.write() as conn:
            upsert_policies(db, conn, policies)
    label = f"rematch with fingerprints {fingerprint_version}" if fingerprint_version else "rematch"
    with db.read() as conn:
        # each asset's last sighting says which scan, MAC and IP its observations carry
        sightings = conn.execute(select(T_SIGHT.c.asset_id, T_SIGHT.c.scan_id, T_SIGHT.c.mac,
                                        T_SIGHT.c.ip, T_SIGHT.c.ipv6).join(T_ASSET, and_(
            T_ASSET.c.id == T_SIGHT.c.asset_id, T_ASSET.c.last_scan_id == T_SIGHT.c.scan_id))
            .order_by(T_SIGHT.c.asset_id)).all()
    for chunk in chunks(sightings):
        with db.write() as conn:
            now = db.clock()
            by_asset = observations_of(conn, chunk)
            observed = [a for a in chunk if by_asset.get(a.asset_id)]
            out.assets += len(observed)
            idents = _reidentify(identify, observed, by_asset)
            out.changed_assets += _rematch_assets(conn, idents)
            # one read serves both: a finding cleared here is one no policy of its asset
            # flags any more, so apply_flags never touches it
            findings = findings_of(conn, idents)
            out.findings_cleared += _clear_unsupported(conn, idents, findings, now, label, evaluated)
            flagged = {asset_id: ident for asset_id, ident in idents.items()
                       if ident.flagged and ident.policies}
            opened, reopened = apply_flags(db, conn, flagged, findings, None, REMATCH_ACTOR,
                                           label, now)
            out.findings_opened += opened
            out.findings_reopened += reopened
    return out


def observations_of(conn: Connection, sightings: Sequence[Any]) -> dict[int, list[Observation]]:
    """Stored observations per asset: same scan as the sighting, its MAC, or one of its IPs
    (IPv4 or IPv6) when the observation has no MAC (identify groups them the same way; a
    MAC derived from an IPv6 address is on no observation)."""
    by_mac = {(s.scan_id, s.mac): s.asset_id for s in sightings if s.mac}
    by_ip = {(s.scan_id, ip): s.asset_id for s in sightings for ip in (s.ip, *(s.ipv6 or ())) if ip}
    # Two queries, each served by its (scan_id, mac) / (scan_id, ip) index: one OR of both
    # made SQLite walk every observation of the scan per chunk (quadratic in scan size).
    scans = list({s.scan_id for s in sightings})
    columns = select(T_OBS.c.id, T_OBS.c.scan_id, T_OBS.c.mac, T_OBS.c.ip, T_OBS.c.raw)
    macs, ips = list({s.mac for s in sightings if s.mac}), list({ip for _, ip in by_ip})
    rows = []
    if macs:
        rows += conn.execute(columns.where(T_OBS.c.scan_id.in_(scans), T_OBS.c.mac.in_(macs))).all()
    if ips:
        rows += conn.execute(columns.where(T_OBS.c.scan_id.in_(scans), T_OBS.c.mac.is_(None),
                                           T_OBS.c.ip.in_(ips))).all()
    rows.sort(key=lambda r: r.id)
    out: dict[int, list[Observation]] = defaultdict(list)
    for r in rows:
        asset_id = by_mac.get((r.scan_id, r.mac)) if r.mac else by_ip.get((r.scan_id, r.ip))
        if asset_id is not None:
            out[asset_id].append(Observation.from_dict(r.raw))
    return out


def _reidentify(identify: Identify, sightings: Sequence[Any],
                by_asset: dict[int, list[Observation]]) -> dict[int, Device]:
    """The new identification of each asset (sightings: asset_id, scan_id, mac, ip).

    `identify` runs once per scan among the sightings, on all their assets' observations (one
    matcher per asset cost a third more): that scan's devices, grouped as the scan grouped
    them. Each asset takes the identification of its MAC, else of its IP; an asset that names
    none, or names one another asset names too, is identified from its own observations.
    """
    per_scan: dict[int, list[Any]] = defaultdict(list)
    for s in sightings:
        per_scan[s.scan_id].append(s)
    out: dict[int, Device] = {}
    for group in per_scan.values():
        results = identify([o for s in group for o in by_asset[s.asset_id]])
        by_mac = {normalize_mac(i.mac): i for i in results if i.mac}
        ips = Counter(i.ip for i in results if i.ip)
        by_ip = {i.ip: i for i in results if i.ip and ips[i.ip] == 1}
        chosen = {s.asset_id: (by_mac.get(s.mac) if s.mac else None) or by_ip.get(s.ip)
                  for s in group}
        claims = Counter(id(i) for i in chosen.values() if i is not None)
        for s in group:
            ident = chosen[s.asset_id]
            if ident is None or claims[id(ident)] > 1:
                ident = _pick(identify(by_asset[s.asset_id]), s.mac, s.ip)
            if ident is not None:
                out[s.asset_id] = clean(ident)
    return out


def _pick(idents: Sequence[IdentificationLike], mac: str | None, ip: str | None) -> IdentificationLike | None:
    """The identification of this asset among what identify() returned for its observations."""
    for ident in idents:
        if mac and ident.mac and normalize_mac(ident.mac) == mac:
            return ident
    for ident in idents:
        if ip and ident.ip == ip:
            return ident
    return idents[0] if len(idents) == 1 else None


def _rematch_assets(conn: Connection, idents: dict[int, Device]) -> int:
    """Write the new identification of each asset whose stored one differs (a few
    statements per chunk, not per asset); returns how many changed, evidence aside.

    Most assets come out as they were stored: rows equal to their new values, evidence
    included, are not rewritten.
    """
    if not idents:
        return 0
    current = {r.id: r for r in conn.execute(
        select(T_ASSET.c.id, *(T_ASSET.c[k] for k in _REMATCHED), T_ASSET.c.evidence)
        .where(T_ASSET.c.id.in_(list(idents))))}
    changed, updates = 0, []
    for asset_id, ident in idents.items():
        values = asset_values(ident)
        row = current[asset_id]
        differs = any(getattr(row, k) != values[k] for k in _REMATCHED)
        changed += differs
        if differs or row.evidence != values["evidence"]:
            updates.append({**{k: values[k] for k in (*_REMATCHED, "evidence")}, "b_id": asset_id})
    if updates:
        conn.execute(update(T_ASSET).where(T_ASSET.c.id == bindparam("b_id")), updates)
    return changed


def _clear_unsupported(conn: Connection, idents: Mapping[int, Device],
                       findings: Mapping[tuple[int, str], Any], now: datetime, label: str,
                       evaluated: set[str] | None) -> int:
    """Findings (of `findings`, `findings_of` the assets) `on_rematch` moves: active ones of an
    `evaluated` policy the new identification no longer supports become false_positive."""
    moves = []
    for r in sorted(findings.values(), key=lambda r: r.id):
        ident = idents[r.asset_id]
        move = on_rematch(r.status, policy=r.policy_id, evaluated=evaluated, label=label,
                          flagged_under=ident.policies if ident.flagged else ())
        if move is not None:
            moves.append((r, move.to, fit(T_FIND.c.note, move.note)))
    if not moves:
        return 0
    conn.execute(update(T_FIND).where(T_FIND.c.id == bindparam("b_id")), [
        {"b_id": r.id, "status": to, "status_changed_at": now, "note": note}
        for r, to, note in moves])
    conn.execute(insert(T_EVENT), [event(r.id, now, REMATCH_ACTOR, r.status, to, note, None)
                                   for r, to, note in moves])
    return len(moves)
