"""Writing findings and their event trail: opening, refreshing and moving them.

Every status change written here is a move `camaudit.db.lifecycle` decided (manual: `check`;
automatic: `on_seen`, `on_missed`, `on_expiry`); this module only turns those decisions into
batched SQL (executemany, a few statements per batch) and one event row per move.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from camaudit.db.bulk import among, insert_rows, update_rows
from camaudit.db.device import Device
from camaudit.db.engine import Database
from camaudit.db.errors import NoSuchFinding
from camaudit.db.lifecycle import WATCHED, Change, Status, TransitionError, check, on_expiry, on_missed, on_seen
from camaudit.db.models import Asset, Finding, FindingEvent, Policy, fit

T_ASSET, T_POLICY = Asset.__table__, Policy.__table__
T_FIND, T_EVENT = Finding.__table__, FindingEvent.__table__
EXPIRY_ACTOR = "camaudit"
# what deciding a finding's next state reads (not its owner, note or dates of record)
_FINDING_STATE = (T_FIND.c.id, T_FIND.c.asset_id, T_FIND.c.policy_id, T_FIND.c.status,
                  T_FIND.c.suppressed_fingerprints, T_FIND.c.status_changed_at,
                  T_FIND.c.last_scan_id, T_FIND.c.not_seen_since)


def iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def fingerprints(evidence: Iterable[dict[str, Any]] | None) -> set[str]:
    """The fingerprint ids behind an identification (OUI-only evidence names its source)."""
    return {str(e.get("fingerprint") or f"{e.get('source')}:{e.get('field')}")
            for e in evidence or [] if isinstance(e, dict)}


def event(finding_id: int, at: datetime, actor: str, from_status: str | None, to_status: str,
          note: str | None, scan_id: int | None) -> dict[str, Any]:
    """An event row; its texts composed by the program (fingerprint lists, labels) are cut to
    their columns like device text (a typed actor or note was refused before, if too long)."""
    return {"finding_id": finding_id, "at": at, "actor": fit(T_EVENT.c.actor, actor),
            "from_status": None if from_status is None else str(from_status),
            "to_status": str(to_status), "note": fit(T_EVENT.c.note, note), "scan_id": scan_id}


def upsert_policies(db: Database, conn: Connection, policies: Iterable[Any]) -> None:
    """Known titles/citations overwrite; a bare id only creates a placeholder row."""
    for p in policies:
        # an id is a key: cutting it could merge two policies, so a long one is refused
        if isinstance(p, str):
            pid = fit(T_POLICY.c.id, p, typed=True, field="policy id")
            conn.execute(db.insert(T_POLICY).values(id=pid, title=fit(T_POLICY.c.title, p),
                                                    citation=None)
                         .on_conflict_do_nothing(index_elements=["id"]))
        else:
            stmt = db.insert(T_POLICY).values(
                id=fit(T_POLICY.c.id, p.id, typed=True, field="policy id"),
                title=fit(T_POLICY.c.title, p.title),
                citation=fit(T_POLICY.c.citation, getattr(p, "citation", None)))
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["id"], set_={"title": stmt.excluded.title,
                                             "citation": stmt.excluded.citation}))


def findings_of(conn: Connection, asset_ids: Iterable[int]) -> dict[tuple[int, str], Any]:
    """The findings of these assets by (asset, policy), with what changing them reads."""
    ids = list(asset_ids)
    if not ids:
        return {}
    return {(r.asset_id, r.policy_id): r for r in conn.execute(
        select(*_FINDING_STATE).where(among(conn, T_FIND.c.asset_id, ids)))}


def apply_flags(db: Database, conn: Connection, flagged: Mapping[int, Device],
                existing: Mapping[tuple[int, str], Any], scan_id: int | None, actor: str,
                seen_by: str, now: datetime) -> tuple[int, int]:
    """Open, refresh or reopen (`on_seen`) findings for assets flagged now (`existing`: their
    findings, `findings_of`); returns (opened, reopened)."""
    if not flagged:
        return 0, 0
    policy_ids = {p for ident in flagged.values() for p in ident.policies}
    upsert_policies(db, conn, sorted(policy_ids))
    new_rows, refresh, events = [], [], []
    reopened = 0
    for asset_id, ident in flagged.items():
        for policy in ident.policies:
            row = existing.get((asset_id, policy))
            if row is None:
                new_rows.append({"asset_id": asset_id, "policy_id": policy, "status": Status.OPEN,
                                 "owner": None, "due": None, "note": None, "expires": None,
                                 "suppressed_fingerprints": [], "opened_at": now,
                                 "status_changed_at": now, "last_seen": now,
                                 "last_scan_id": scan_id, "not_seen_since": None})
                continue
            move = on_seen(row.status, seen_by=seen_by,
                           not_seen_since=row.not_seen_since and row.not_seen_since.date(),
                           fingerprints=(fingerprints(ident.evidence)
                                         if row.status == Status.FALSE_POSITIVE else set()),
                           suppressed=row.suppressed_fingerprints or ())
            to = move.to if move else row.status
            if to != row.status:
                reopened += 1
            refresh.append({"b_id": row.id, "status": to, "last_seen": now,
                            "last_scan_id": scan_id if scan_id is not None else row.last_scan_id,
                            "not_seen_since": None,
                            "status_changed_at": now if to != row.status else row.status_changed_at})
            if move:
                events.append(event(row.id, now, actor, row.status, to, move.note, scan_id))
    opened = 0
    if new_rows:
        # a concurrent site scanner may open the same finding first: count what we inserted
        for r in insert_rows(db, conn, T_FIND, new_rows, conflict=["asset_id", "policy_id"],
                             returning=[T_FIND.c.id]):
            opened += 1
            events.append(event(r.id, now, actor, None, Status.OPEN,
                                f"first flagged in {seen_by}", scan_id))
    update_rows(conn, T_FIND, refresh)
    insert_rows(db, conn, T_EVENT, events)
    return opened, reopened


def mark_not_seen(conn: Connection, gone: Mapping[int, tuple[Any, int]], threshold: int,
                  scan_id: int, actor: str, now: datetime) -> None:
    """Mark the watched findings of assets gone (`gone`: asset id → (row with ip and
    last_seen, misses counting this scan)) not seen since their last sighting (`on_missed`)."""
    rows = conn.execute(select(T_FIND.c.id, T_FIND.c.asset_id, T_FIND.c.status).where(
        among(conn, T_FIND.c.asset_id, gone), T_FIND.c.status.in_(list(WATCHED)),
        T_FIND.c.not_seen_since.is_(None))).all()
    moves = []
    for r in rows:
        asset, misses = gone[r.asset_id]
        move = on_missed(r.status, misses=misses, threshold=threshold,
                         last_seen=asset.last_seen.date(), ip=asset.ip or next(iter(asset.ipv6 or ()), None))
        if move:
            moves.append((r, move))
    if not moves:
        return
    update_rows(conn, T_FIND, [{"b_id": r.id, "not_seen_since": gone[r.asset_id][0].last_seen}
                               for r, _ in moves])
    conn.execute(insert(T_EVENT), [event(r.id, now, actor, r.status, move.to, move.note, scan_id)
                                   for r, move in moves])


def expire_risk_acceptances(db: Database) -> int:
    """Reopen risk acceptances whose expiry day has come (`on_expiry`); returns how many."""
    now = db.clock()
    with db.write() as conn:
        rows = conn.execute(select(T_FIND.c.id, T_FIND.c.status, T_FIND.c.expires).where(
            T_FIND.c.status == Status.RISK_ACCEPTED, T_FIND.c.expires <= now.date())).all()
        moves = [(r, m) for r in rows
                 if (m := on_expiry(r.status, expires=r.expires, today=now.date())) is not None]
        by_target: dict[str, list[int]] = defaultdict(list)
        for r, move in moves:
            by_target[move.to].append(r.id)
        for to, ids in by_target.items():
            conn.execute(update(T_FIND).where(T_FIND.c.id.in_(ids)).values(
                status=to, status_changed_at=now, expires=None))
        if moves:
            conn.execute(insert(T_EVENT), [event(r.id, now, EXPIRY_ACTOR, r.status, move.to,
                                                 move.note, None) for r, move in moves])
        return len(moves)


def remediate(db: Database, finding_ids: Iterable[int], change: Change) -> list[dict[str, Any]]:
    """Apply a manual status change to findings, all or none; returns the events written."""
    finding_ids = list(finding_ids)
    now = db.clock()
    change = replace(change, actor=fit(T_EVENT.c.actor, change.actor, typed=True, field="actor"),
                     owner=fit(T_FIND.c.owner, change.owner, typed=True, field="owner"),
                     note=fit(T_FIND.c.note, change.note, typed=True, field="note"))
    with db.write() as conn:
        rows = conn.execute(select(T_FIND, T_ASSET.c.evidence).join(
            T_ASSET, T_ASSET.c.id == T_FIND.c.asset_id).where(
            T_FIND.c.id.in_(finding_ids)).order_by(T_FIND.c.id)).all()
        missing = set(finding_ids) - {r.id for r in rows}
        if missing:
            raise NoSuchFinding(sorted(missing)[0])
        for r in rows:
            try:
                check(r.status, change, now.date())
            except TransitionError as exc:
                raise exc.of(r.id) from None
        events = []
        for r in rows:
            values: dict[str, Any] = {"status": change.to, "note": change.note or r.note,
                                      "owner": change.owner or r.owner,
                                      "due": change.due or r.due, "expires": change.expires}
            if change.to != r.status:
                values["status_changed_at"] = now
            if change.to == Status.FALSE_POSITIVE:
                values["suppressed_fingerprints"] = sorted(fingerprints(r.evidence))
            conn.execute(update(T_FIND).where(T_FIND.c.id == r.id).values(**values))
            note = change.note or ""
            extras = [f"owner {change.owner}" if change.owner else "",
                      f"due {change.due}" if change.due else "",
                      f"expires {change.expires}" if change.expires else ""]
            text = "; ".join(x for x in [note, *extras] if x) or None
            events.append(event(r.id, now, change.actor, r.status, change.to, text, None))
        conn.execute(insert(T_EVENT), events)
    return [{"finding_id": e["finding_id"], "at": iso(e["at"]), "actor": e["actor"],
             "from": e["from_status"], "to": e["to_status"], "note": e["note"],
             "scan_id": None} for e in events]
