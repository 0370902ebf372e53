"""Counts over the exported rows, shared by the HTML report and the terminal summary.

Counting from the rows (not from `Store.summary()`) keeps the numbers consistent with the
rows actually exported, filters included. Device rows count by their findings, so the
numbers (and the exit code built on `alerting`) are the same whichever layout is shown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from camaudit.db.lifecycle import ACTIVE, ALL_STATUSES
from camaudit.report.base import Row
from camaudit.tiers import POSSIBLE, counts_for_exit

UNKNOWN = "(unknown)"


@dataclass(frozen=True)
class Summary:
    findings: int
    unresolved: int
    alerting: int        # unresolved findings whose device's tier counts for exit code 1
    review: int          # devices identified only as `possible`: listed for a person to check
    devices: int
    sites: int
    overdue: int
    by_status: dict[str, int]
    devices_by_vendor: dict[str, int]
    devices_by_site: dict[str, int]


def summarize(rows: Sequence[Row], today: date) -> Summary:
    """The headline numbers: what is flagged, where, and how far remediation has come."""
    rows = list(per_finding(rows))
    unresolved = [row for row in rows if row.get("status") in ACTIVE]
    by_site = devices_by(rows, "site")
    return Summary(
        findings=len(rows),
        unresolved=len(unresolved),
        alerting=sum(1 for row in unresolved if counts_for_exit(row.get("tier"))),
        review=len({asset_key(row) for row in rows if row.get("tier") == POSSIBLE}),
        devices=len({asset_key(row) for row in rows}),
        sites=len(by_site),
        overdue=sum(1 for row in unresolved if _is_overdue(row.get("due"), today)),
        by_status=findings_by_status(rows),
        devices_by_vendor=devices_by(rows, "vendor"),
        devices_by_site=by_site,
    )


def per_finding(rows: Iterable[Row]) -> Iterator[Row]:
    """Finding rows: a finding row as it is, a device row (`Store.device_rows`) as one row
    per finding in its `findings` list, with the device's identity."""
    for row in rows:
        if "findings" not in row:
            yield row
            continue
        for finding in row["findings"]:
            yield {**row, **finding}


def devices_by(rows: Sequence[Row], key: str) -> dict[str, int]:
    """How many distinct devices (assets) per value of `key` (vendor, site)."""
    seen: dict[str, set[Any]] = {}
    for row in rows:
        seen.setdefault(label(row.get(key)), set()).add(asset_key(row))
    return {name: len(assets) for name, assets in seen.items()}


def findings_by_status(rows: Sequence[Row]) -> dict[str, int]:
    """Findings per remediation status: every known status (zero included), then any other."""
    counts = Counter(label(row.get("status")) for row in rows)
    ordered = {status: counts.get(status, 0) for status in ALL_STATUSES}
    ordered.update((status, n) for status, n in counts.items() if status not in ordered)
    return ordered


def asset_key(row: Row) -> Any:
    """The device a finding is about: its asset id, else MAC/IP for rows without one."""
    return row.get("asset_id") or (row.get("mac"), row.get("ip"))


def label(value: Any) -> str:
    return str(value) if value not in (None, "") else UNKNOWN


def _is_overdue(due: Any, today: date) -> bool:
    if not due:
        return False
    try:
        return date.fromisoformat(str(due)[:10]) < today
    except ValueError:
        return False
