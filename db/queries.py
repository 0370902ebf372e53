"""Read models of the inventory for the CLI and reports: finding rows (listed or streamed),
assets, scans, one asset's history, the diff of two scans, the burn-down series, a summary,
and the resolution of what a user types (F12, A7, a MAC, an IP) to stored ids.

Reads only: each function opens its own read transaction and returns plain dicts (keys:
docs/inventory.md), so callers never hold rows bound to a connection.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Text, cast, false, func, or_, select

from camaudit.addresses import canonical_ip, is_ipv6
from camaudit.db.engine import Database
from camaudit.db.errors import AmbiguousAsset, NoSuchAsset, NoSuchFinding, NotEnoughScans, StoreError
from camaudit.db.findings import iso
from camaudit.db.lifecycle import ACTIVE, Status
from camaudit.db.models import Asset, Finding, FindingEvent, Policy, Scan, Sighting
from camaudit.db.record import BATCH, scan_row
from camaudit.observation import normalize_mac
from camaudit.tiers import EXIT_TIERS

MAX_ROW_ID = 2**31 - 1       # ids are INTEGER columns: 32 bits on PostgreSQL
T_SCAN, T_ASSET, T_SIGHT = Scan.__table__, Asset.__table__, Sighting.__table__
T_POLICY, T_FIND, T_EVENT = Policy.__table__, Finding.__table__, FindingEvent.__table__


class FindingStream:
    """Finding rows as one read fetches them (`Store.finding_stream`): `len()` is known before
    the rows, which can be iterated once."""

    def __init__(self, count: int, rows: Iterator[dict[str, Any]]) -> None:
        self.count = count
        self._rows: Iterator[dict[str, Any]] | None = rows

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._rows is None:
            raise StoreError("finding rows of a stream can be read once; keep them (list) to reread")
        rows, self._rows = self._rows, None
        return rows


def open_flagged_count(db: Database, site: str | None = None) -> int:
    """Assets with an open or in-progress finding (the scan's exit code is 1 when > 0).

    A `possible` asset is for review, not for the exit code; an asset without a tier (stored
    by another tool) counts, as `camaudit.tiers.counts_for_exit` says."""
    stmt = (select(func.count(func.distinct(T_FIND.c.asset_id)))
            .select_from(T_FIND.join(T_ASSET, T_ASSET.c.id == T_FIND.c.asset_id))
            .where(T_FIND.c.status.in_(list(ACTIVE)),
                   or_(T_ASSET.c.tier.is_(None), T_ASSET.c.tier.in_(sorted(EXIT_TIERS)))))
    if site is not None:
        stmt = stmt.where(T_ASSET.c.site == site)
    with db.read() as conn:
        return conn.execute(stmt).scalar_one()


def resolve(db: Database, ref: str, site: str | None = None) -> list[int]:
    """Finding ids a user reference names: `F12`/`12` (finding), or every finding of a device:
    `D7`/`A7` (its asset id), its MAC or its IP."""
    ref = ref.strip()
    with db.read() as conn:
        if ref.isdigit() or (ref[:1] in "Ff" and ref[1:].isdigit()):
            fid = int(ref.lstrip("Ff"))
            # an id beyond the column's range names nothing (and would overflow the driver)
            if fid > MAX_ROW_ID or conn.execute(
                    select(T_FIND.c.id).where(T_FIND.c.id == fid)).first() is None:
                raise NoSuchFinding(fid)
            return [fid]
        asset_ids = _resolve_assets(conn, ref, site)
        ids = list(conn.execute(select(T_FIND.c.id).where(T_FIND.c.asset_id.in_(asset_ids))
                                .order_by(T_FIND.c.id)).scalars())
        if not ids:
            raise StoreError(f"asset {ref} has no findings (it was never flagged)")
        return ids


def _resolve_assets(conn: Connection, ref: str, site: str | None) -> list[int]:
    if ref[:1] in "AaDd" and ref[1:].isdigit():
        asset_id = int(ref[1:])     # beyond the id range: names nothing (never bound)
        cond = T_ASSET.c.id == asset_id if asset_id <= MAX_ROW_ID else false()
    else:
        cond = _address_condition(ref)
    stmt = select(T_ASSET.c.id, T_ASSET.c.site).where(cond)
    if site is not None:
        stmt = stmt.where(T_ASSET.c.site == site)
    rows = conn.execute(stmt).all()
    if not rows:
        raise NoSuchAsset(ref, site)
    if len({r.site for r in rows}) > 1:
        raise AmbiguousAsset(ref, len(rows), sorted(str(r.site) for r in rows))
    return [r.id for r in rows]


def _address_condition(ref: str) -> Any:
    """`WHERE` for an asset named by MAC or IP (IPv4, or one of its IPv6 addresses), or a
    StoreError saying what is accepted."""
    try:
        ipaddress.ip_address(ref)
    except ValueError:
        pass
    else:
        address = canonical_ip(ref)
        if is_ipv6(address):   # an item of the JSON list, quoted as JSON text writes it
            return cast(T_ASSET.c.ipv6, Text).contains(f'"{address}"', autoescape=True)
        return T_ASSET.c.ip == address
    try:
        return T_ASSET.c.mac == normalize_mac(ref)
    except ValueError:
        raise StoreError(f"{ref!r} is not a finding id (F12), device id (D7 or A7), MAC or IP") from None


def scans(db: Database, site: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    stmt = select(T_SCAN).order_by(T_SCAN.c.id.desc())
    if site is not None:
        stmt = stmt.where(T_SCAN.c.site == site)
    if limit:
        stmt = stmt.limit(limit)
    with db.read() as conn:
        return [_scan_dict(r) for r in conn.execute(stmt)]


def assets(db: Database, *, site: str | None = None, vendor: str | None = None,
           flagged: bool | None = None) -> list[dict[str, Any]]:
    stmt = select(T_ASSET).order_by(T_ASSET.c.id)
    if site is not None:
        stmt = stmt.where(T_ASSET.c.site == site)
    if vendor is not None:
        stmt = stmt.where(func.lower(T_ASSET.c.vendor) == vendor.lower())
    if flagged is not None:
        stmt = stmt.where(T_ASSET.c.flagged == flagged)
    with db.read() as conn:
        return [_asset_dict(r) for r in conn.execute(stmt)]


@contextmanager
def finding_stream(db: Database, *, status: list[str] | None = None, site: str | None = None,
                   policy: str | None = None, vendor: str | None = None,
                   since: datetime | None = None,
                   tier: list[str] | None = None) -> Iterator[FindingStream]:
    """Finding rows, fetched while they are read, inside the `with` block.

    An export of a large inventory then holds a batch of rows, not all of them (10,000
    devices' findings with their evidence were ~300 MB). Its length is counted up front
    (the JSON export writes `count` before the findings) in the same snapshot as the rows,
    so a scan committing meanwhile cannot make the two disagree.
    """
    stmt = finding_select(status=status, site=site, policy=policy, vendor=vendor, since=since,
                          tier=tier)
    now = db.clock()
    with db.snapshot() as conn:
        count = conn.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
        result = conn.execution_options(yield_per=BATCH).execute(stmt)
        yield FindingStream(count, finding_rows_of(result, now))


def finding_select(*, status: list[str] | None = None, site: str | None = None,
                   policy: str | None = None, vendor: str | None = None,
                   since: datetime | None = None, tier: list[str] | None = None) -> Select[Any]:
    """The query of the finding rows under these filters, in finding id order (the filters
    of `finding_stream`, shared with the per-device rows of `camaudit.db.devices_view`)."""
    stmt = (select(T_FIND, T_ASSET.c.site, T_ASSET.c.ip, T_ASSET.c.ipv6, T_ASSET.c.mac, T_ASSET.c.vendor,
                   T_ASSET.c.brand, T_ASSET.c.model, T_ASSET.c.firmware, T_ASSET.c.serial,
                   T_ASSET.c.device_type, T_ASSET.c.confidence, T_ASSET.c.tier, T_ASSET.c.evidence,
                   T_POLICY.c.title.label("policy_title"),
                   T_POLICY.c.citation.label("policy_citation"))
            .join(T_ASSET, T_ASSET.c.id == T_FIND.c.asset_id)
            .join(T_POLICY, T_POLICY.c.id == T_FIND.c.policy_id)
            .order_by(T_FIND.c.id))
    if status:
        stmt = stmt.where(T_FIND.c.status.in_(status))
    if site is not None:
        stmt = stmt.where(T_ASSET.c.site == site)
    if policy is not None:
        stmt = stmt.where(T_FIND.c.policy_id == policy)
    if vendor is not None:
        stmt = stmt.where(func.lower(T_ASSET.c.vendor) == vendor.lower())
    if since is not None:
        stmt = stmt.where(or_(T_FIND.c.last_seen >= since, T_FIND.c.status_changed_at >= since))
    if tier:
        stmt = stmt.where(T_ASSET.c.tier.in_(tier))
    return stmt


def events(db: Database, finding_id: int) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [event_dict(r) for r in conn.execute(
            select(T_EVENT).where(T_EVENT.c.finding_id == finding_id).order_by(T_EVENT.c.id))]


def history(db: Database, ref: str, site: str | None = None) -> dict[str, Any]:
    """One asset: its record, every sighting (IP/firmware over time), findings and events."""
    with db.read() as conn:
        ids = _resolve_assets(conn, ref, site)
        if len(ids) > 1:
            raise AmbiguousAsset(ref, len(ids), [])
        asset = conn.execute(select(T_ASSET).where(T_ASSET.c.id == ids[0])).one()
        sightings = conn.execute(select(T_SIGHT).where(T_SIGHT.c.asset_id == asset.id)
                                 .order_by(T_SIGHT.c.scan_id)).all()
        findings = conn.execute(select(T_FIND).where(T_FIND.c.asset_id == asset.id)
                                .order_by(T_FIND.c.id)).all()
        trail = conn.execute(select(T_EVENT).where(T_EVENT.c.finding_id.in_(
            [f.id for f in findings])).order_by(T_EVENT.c.id)).all()
    per_finding: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in trail:
        per_finding[e.finding_id].append(event_dict(e))
    return {"asset": _asset_dict(asset),
            "sightings": [_sighting_dict(s) for s in sightings],
            "findings": [dict(finding_id=f.id, policy_id=f.policy_id, status=f.status,
                              owner=f.owner, due=iso(f.due), events=per_finding[f.id])
                         for f in findings]}


def diff(db: Database, scan_a: int | None = None, scan_b: int | None = None,
         site: str | None = None) -> dict[str, Any]:
    """Assets new in B, gone since A, and changed (IP, firmware, vendor) between two scans.

    A field counts as changed only when both scans learnt a value and the values differ: a
    dual-stack asset seen at its IPv4 address in one scan and only over IPv6 in the other is
    one asset, neither new nor gone, and its `ip` did not change.

    Without ids: the last two complete scans (of `site`, when given).
    """
    with db.read() as conn:
        if scan_a is None or scan_b is None:
            stmt = select(T_SCAN.c.id).where(T_SCAN.c.status == "complete")
            if site is not None:
                stmt = stmt.where(T_SCAN.c.site == site)
            last = list(conn.execute(stmt.order_by(T_SCAN.c.id.desc()).limit(2)).scalars())
            if len(last) < 2:
                raise NotEnoughScans(len(last), site)
            scan_b, scan_a = last
        for sid in (scan_a, scan_b):
            scan_row(db, conn, sid)
        a = {s.asset_id: s for s in conn.execute(select(T_SIGHT).where(T_SIGHT.c.scan_id == scan_a))}
        b = {s.asset_id: s for s in conn.execute(select(T_SIGHT).where(T_SIGHT.c.scan_id == scan_b))}
    changed = []
    for asset_id in sorted(a.keys() & b.keys()):
        # a value one scan did not learn (probe timed out) is unknown, not a change
        fields = {k: {"from": getattr(a[asset_id], k), "to": getattr(b[asset_id], k)}
                  for k in ("ip", "firmware", "vendor")
                  if None not in (getattr(a[asset_id], k), getattr(b[asset_id], k))
                  and getattr(a[asset_id], k) != getattr(b[asset_id], k)}
        if fields:
            changed.append({**_sighting_dict(b[asset_id]), "changes": fields})
    return {"scan_a": scan_a, "scan_b": scan_b,
            "new": [_sighting_dict(b[i]) for i in sorted(b.keys() - a.keys())],
            "gone": [_sighting_dict(a[i]) for i in sorted(a.keys() - b.keys())],
            "changed": changed}


def scan_series(db: Database, site: str | None = None) -> list[dict[str, Any]]:
    """Finding counts by status as of the end of each finished scan (burn-down chart).

    Replays the append-only event trail, so a status set between two scans shows at the
    end of the next scan. `flagged_assets`: assets with an open or in-progress finding.
    """
    with db.read() as conn:
        stmt = select(T_SCAN).where(T_SCAN.c.finished_at.is_not(None))
        if site is not None:
            stmt = stmt.where(T_SCAN.c.site == site)
        finished = conn.execute(stmt.order_by(T_SCAN.c.finished_at, T_SCAN.c.id)).all()
        ev = (select(T_EVENT.c.finding_id, T_EVENT.c.at, T_EVENT.c.to_status, T_FIND.c.asset_id)
              .join(T_FIND, T_FIND.c.id == T_EVENT.c.finding_id)
              .join(T_ASSET, T_ASSET.c.id == T_FIND.c.asset_id))
        if site is not None:
            ev = ev.where(T_ASSET.c.site == site)
        trail = conn.execute(ev.order_by(T_EVENT.c.at, T_EVENT.c.id)).all()
    state: dict[int, tuple[str, int]] = {}
    out, i = [], 0
    for scan in finished:
        while i < len(trail) and trail[i].at <= scan.finished_at:
            state[trail[i].finding_id] = (trail[i].to_status, trail[i].asset_id)
            i += 1
        counts = Counter(s for s, _ in state.values())
        row = {"scan_id": scan.id, "site": scan.site, "started_at": iso(scan.started_at),
               "finished_at": iso(scan.finished_at), "status": scan.status}
        row.update({s.value: counts.get(s.value, 0) for s in Status})
        row["flagged_assets"] = len({a for s, a in state.values() if s in ACTIVE})
        out.append(row)
    return out


def summary(db: Database) -> dict[str, Any]:
    """Finding counts by status, by vendor and by site, plus totals."""
    with db.read() as conn:
        rows = conn.execute(select(T_FIND.c.status, T_ASSET.c.vendor, T_ASSET.c.site)
                            .join(T_ASSET, T_ASSET.c.id == T_FIND.c.asset_id)).all()
        n_assets = conn.execute(select(func.count()).select_from(T_ASSET)).scalar_one()
        n_scans = conn.execute(select(func.count()).select_from(T_SCAN)).scalar_one()
    by_vendor: dict[str, Counter[str]] = defaultdict(Counter)
    by_site: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        by_vendor[r.vendor or "unknown"][r.status] += 1
        by_site[r.site or "(none)"][r.status] += 1
    return {"assets": n_assets, "scans": n_scans, "findings": len(rows),
            "by_status": {s.value: sum(1 for r in rows if r.status == s) for s in Status},
            "by_vendor": {k: dict(v) for k, v in sorted(by_vendor.items())},
            "by_site": {k: dict(v) for k, v in sorted(by_site.items())}}


def event_dict(r: Any) -> dict[str, Any]:
    return {"event_id": r.id, "finding_id": r.finding_id, "at": iso(r.at), "actor": r.actor,
            "from": r.from_status, "to": r.to_status, "note": r.note, "scan_id": r.scan_id}


def _scan_dict(r: Any) -> dict[str, Any]:
    return {"scan_id": r.id, "site": r.site, "targets": r.targets, "covered": r.covered,
            "policies": r.policies, "started_at": iso(r.started_at),
            "finished_at": iso(r.finished_at), "status": r.status,
            "tool_version": r.tool_version, "fingerprint_version": r.fingerprint_version,
            "observations": r.observation_count, "devices": r.device_count,
            "flagged": r.flagged_count, "new_assets": r.new_assets,
            "findings_opened": r.findings_opened, "findings_reopened": r.findings_reopened}


def _asset_dict(r: Any) -> dict[str, Any]:
    return {"asset_id": r.id, "identity": r.identity, "site": r.site, "ip": r.ip,
            "ipv6": list(r.ipv6 or ()), "mac": r.mac,
            "serial": r.serial, "vendor": r.vendor, "brand": r.brand, "model": r.model,
            "firmware": r.firmware, "device_type": r.device_type, "flagged": r.flagged,
            "confidence": r.confidence, "tier": r.tier, "first_seen": iso(r.first_seen),
            "last_seen": iso(r.last_seen), "last_scan_id": r.last_scan_id,
            "missed_scans": r.missed_scans}


def _sighting_dict(r: Any) -> dict[str, Any]:
    return {"asset_id": r.asset_id, "scan_id": r.scan_id, "seen_at": iso(r.seen_at), "ip": r.ip,
            "ipv6": list(r.ipv6 or ()), "mac": r.mac, "vendor": r.vendor, "brand": r.brand, "model": r.model,
            "firmware": r.firmware, "serial": r.serial, "flagged": r.flagged,
            "policies": r.policies, "confidence": r.confidence, "tier": r.tier}


def _evidence_summary(evidence: list[dict[str, Any]], limit: int = 3) -> str:
    """Short text of the strongest evidence, e.g. `sadp DeviceType=DS-2CD2032; http:80 Server=App-webs/`."""
    strongest = sorted((e for e in evidence if isinstance(e, dict)),
                       key=lambda e: -float(e.get("weight") or 0))[:limit]
    parts = []
    for e in strongest:
        where = f"{e.get('source')}:{e['port']}" if e.get("port") else str(e.get("source"))
        value = str(e.get("value") or "")[:60]
        parts.append(f"{where} {e.get('field') or ''}={value}".replace(" =", " "))
    return "; ".join(parts)


def finding_rows_of(result: Iterable[Any], now: datetime) -> Iterator[dict[str, Any]]:
    """Finding rows; consecutive findings of one asset (opened together, so mostly adjacent
    in id order) share its evidence list and summary instead of a copy each: a report that
    keeps every row (HTML) holds each asset's evidence about once, not per policy."""
    last_asset, evidence, summary_text = None, [], ""
    for r in result:
        if r.asset_id != last_asset:
            last_asset, evidence = r.asset_id, list(r.evidence or [])
            summary_text = _evidence_summary(evidence)
        yield _finding_row(r, now, evidence, summary_text)


def _finding_row(r: Any, now: datetime, evidence: list[dict[str, Any]], summary_text: str) -> dict[str, Any]:
    end = now if r.status in ACTIVE else r.status_changed_at
    return {"finding_id": r.id, "asset_id": r.asset_id, "site": r.site, "ip": r.ip,
            "ipv6": list(r.ipv6 or ()), "mac": r.mac,
            "vendor": r.vendor, "brand": r.brand, "model": r.model, "firmware": r.firmware,
            "serial": r.serial, "device_type": r.device_type, "policy_id": r.policy_id,
            "policy_title": r.policy_title, "policy_citation": r.policy_citation,
            "confidence": r.confidence, "tier": r.tier, "evidence_summary": summary_text,
            "evidence": evidence, "status": r.status, "owner": r.owner, "due": iso(r.due),
            "note": r.note, "first_seen": iso(r.opened_at), "last_seen": iso(r.last_seen),
            "days_open": max(0, (end - r.opened_at).days), "last_scan_id": r.last_scan_id,
            "not_seen_since": iso(r.not_seen_since)}
