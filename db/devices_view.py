"""The remediation list people act on: one row per flagged device, its policies in one cell.

A finding is one device under one policy, so a camera flagged by five policies is five
finding rows that look alike in a spreadsheet. Facilities remove the camera, not a policy:
the device row (`device_row`) carries the device's identity once, the policies that flag it,
one status, owner, due date and age, and keeps each policy's finding (id, status, history)
in its `findings` list for audit. Columns derived from other sources (a priority, a location
or owner from an asset register) belong in `device_row` too, so every export gains them at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, func, select

from camaudit.advisories import Advisory
from camaudit.db.engine import Database
from camaudit.db.exposure import facts_of
from camaudit.db.lifecycle import ACTIVE, Status
from camaudit.db.queries import T_EVENT, T_FIND, FindingStream, event_dict, finding_rows_of, finding_select
from camaudit.db.record import BATCH
from camaudit.db.register import entries_for
from camaudit.priority import assess

# Least advanced first: a device shows the status of its least advanced finding, so one
# policy still open keeps the device open however many others are remediated.
PROGRESS: tuple[str, ...] = (Status.OPEN, Status.IN_PROGRESS, Status.RISK_ACCEPTED,
                             Status.REMEDIATED, Status.FALSE_POSITIVE)
DEVICE_KEYS: tuple[str, ...] = ("asset_id", "site", "ip", "ipv6", "mac", "vendor", "brand", "model",
                                "firmware", "serial", "device_type", "confidence", "tier")
FINDING_KEYS: tuple[str, ...] = ("finding_id", "policy_id", "policy_title", "policy_citation",
                                 "status", "owner", "due", "note", "first_seen", "last_seen",
                                 "days_open", "not_seen_since", "last_scan_id")
HISTORY_BATCH = 500   # devices whose event trails one query reads


def device_row(findings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One device from its finding rows (`finding_rows` dicts of one asset, in id order).

    `status` is the least advanced one, `status_detail` says "mixed: open 1, remediated 2"
    when they differ; `due` and `days_open` come from the unresolved findings (all of them
    when none is unresolved), `days_open` from the oldest; owners are listed once each.
    """
    first = findings[0]
    active = [f for f in findings if f.get("status") in ACTIVE] or list(findings)
    counts = Counter(str(f.get("status")) for f in findings)
    dues = sorted(str(f["due"]) for f in active if f.get("due"))
    unseen = [f.get("not_seen_since") for f in findings]
    row = {key: first.get(key) for key in DEVICE_KEYS}
    row.update(
        policies=sorted({str(f.get("policy_id")) for f in findings}),
        status=min(counts, key=_progress),
        status_detail=("mixed: " + ", ".join(f"{s} {counts[s]}" for s in sorted(counts, key=_progress))
                       if len(counts) > 1 else None),
        owner=", ".join(dict.fromkeys(str(f["owner"]) for f in findings if f.get("owner"))) or None,
        due=dues[0] if dues else None,
        days_open=max(int(f.get("days_open") or 0) for f in active),
        first_seen=min((f["first_seen"] for f in findings if f.get("first_seen")), default=None),
        last_seen=max((f["last_seen"] for f in findings if f.get("last_seen")), default=None),
        not_seen_since=max(unseen) if None not in unseen else None,
        evidence_summary=first.get("evidence_summary"),
        finding_ids=[f.get("finding_id") for f in findings],
        evidence=first.get("evidence") or [],
        findings=[{**{key: f.get(key) for key in FINDING_KEYS}, "history": list(f.get("history") or [])}
                  for f in findings],
    )
    return row


def device_rows(rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Device rows of finding rows ordered by asset (consecutive rows of one asset are one device)."""
    for _, findings in groupby(rows, key=lambda r: r.get("asset_id")):
        yield device_row(list(findings))


@contextmanager
def device_stream(db: Database, *, status: list[str] | None = None, site: str | None = None,
                  policy: str | None = None, vendor: str | None = None,
                  since: datetime | None = None, tier: list[str] | None = None,
                  advisories: Sequence[Advisory] = ()) -> Iterator[FindingStream]:
    """Device rows, fetched while they are read, inside the `with` block.

    The filters select findings (as for `finding_stream`); a device appears when one of its
    findings matches and carries the matching ones. The count, rows, event trails, removal
    priority (against `advisories`) and asset-register entry come from one snapshot; they
    are read for `HISTORY_BATCH` devices at a time.
    """
    stmt = finding_select(status=status, site=site, policy=policy, vendor=vendor, since=since,
                          tier=tier).order_by(None).order_by(T_FIND.c.asset_id, T_FIND.c.id)
    now = db.clock()
    with db.snapshot() as conn:
        matched = stmt.order_by(None).subquery()
        count = conn.execute(select(func.count(func.distinct(matched.c.asset_id)))).scalar_one()
        result = conn.execution_options(yield_per=BATCH).execute(stmt)
        yield FindingStream(count, _completed(conn, device_rows(finding_rows_of(result, now)), advisories))


def _completed(conn: Connection, devices: Iterator[dict[str, Any]],
               advisories: Sequence[Advisory]) -> Iterator[dict[str, Any]]:
    """The devices, each finding given its event trail (oldest first), each device its
    removal priority and its asset-register entry (location, asset tag, owner)."""
    while batch := [device for _, device in zip(range(HISTORY_BATCH), devices)]:
        by_id = {f["finding_id"]: f for device in batch for f in device["findings"]}
        for event in conn.execute(select(T_EVENT).where(T_EVENT.c.finding_id.in_(list(by_id)))
                                  .order_by(T_EVENT.c.id)):
            by_id[event.finding_id]["history"].append(event_dict(event))
        facts = facts_of(conn, [device["asset_id"] for device in batch])
        entries = entries_for(conn, [(device["mac"], [device["ip"], *device["ipv6"]]) for device in batch])
        for device, entry in zip(batch, entries):
            priority = assess(facts[device["asset_id"]], advisories)
            device.update(priority.to_dict(), location=entry and entry["location"],
                          asset_tag=entry and entry["asset_tag"], register_owner=entry and entry["owner"])
        yield from batch


def _progress(status: str) -> int:
    """Position of a status in `PROGRESS`; an unknown one sorts first (it needs a look)."""
    return PROGRESS.index(status) if status in PROGRESS else -1
