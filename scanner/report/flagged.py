"""The table of flagged devices: what `camaudit scan` prints and what the demo shows.

One row per device, device text made inert (`inert_text`). Devices come from a scan's
identifications (`from_identifications`, in the order identified) or from the inventory's
finding rows (`from_findings`: one device per asset, its policies merged, address order).
Two column sets: `BRIEF` for the scan's table (which probe answered), `DETAILED` for the
demo (which fingerprints matched, strongest first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from camaudit.addresses import ip_sort_key
from camaudit.report.sanitize import inert_text
from camaudit.tiers import POSSIBLE


@dataclass(frozen=True)
class FlaggedDevice:
    ip: str | None
    mac: str | None
    vendor: str | None
    brand: str | None
    model: str | None
    policies: tuple[str, ...]
    evidence: tuple[Mapping[str, Any], ...]
    tier: str | None = None


Columns = Sequence[tuple[str, Callable[[FlaggedDevice], str | None]]]


def from_identifications(identifications: Iterable[Any]) -> list[FlaggedDevice]:
    """The flagged ones among a scan's identifications, in the order they were identified."""
    return [FlaggedDevice(i.ip, i.mac, i.vendor, i.brand, i.model, tuple(i.policies), tuple(i.evidence or ()),
                          getattr(i, "tier", None))
            for i in identifications if i.flagged]


def from_findings(rows: Iterable[Mapping[str, Any]]) -> list[FlaggedDevice]:
    """One device per asset of the finding rows (`Store.finding_rows`), policies merged, by address."""
    per_asset: dict[Any, tuple[Mapping[str, Any], set[str]]] = {}
    for row in sorted(rows, key=lambda r: ip_sort_key(r.get("ip"))):
        per_asset.setdefault(row["asset_id"], (row, set()))[1].add(row["policy_id"])
    # a device seen only over IPv6 is named by its first IPv6 address, as identify names it
    return [FlaggedDevice(r.get("ip") or next(iter(r.get("ipv6") or ()), None), r.get("mac"),
                          r.get("vendor"), r.get("brand"), r.get("model"),
                          tuple(sorted(policies)), tuple(r.get("evidence") or ()), r.get("tier"))
            for r, policies in per_asset.values()]


def answered_by(device: FlaggedDevice) -> str:
    """`http:80, sadp:37020`: the probe answers that carried evidence."""
    return ", ".join(sorted({f"{e.get('source')}:{e.get('port') or ''}".rstrip(":") for e in device.evidence}))


def evidence_line(evidence: Sequence[Mapping[str, Any]], limit: int = 4) -> str:
    """`sadp:37020 hikvision.sadp.reply, http:80 hikvision.http.isapi (+9 more matches)`: the strongest
    matched fingerprint of each probe answer (source:port), strongest answers first."""
    best: dict[str, tuple[float, str]] = {}
    for item in evidence:
        where = f"{item.get('source')}:{item.get('port')}" if item.get("port") else str(item.get("source"))
        weight = float(item.get("weight") or 0)
        if where not in best or weight > best[where][0]:
            best[where] = (weight, f"{where} {item.get('fingerprint')}")
    ranked = [text for _, text in sorted(best.values(), key=lambda b: -b[0])]
    more = len(evidence) - min(limit, len(ranked))
    return ", ".join(ranked[:limit]) + (f" (+{more} more matches)" if more > 0 else "")


def _vendor_and_brand(device: FlaggedDevice) -> str:
    vendor = device.vendor or "-"
    return f"{vendor} ({device.brand})" if device.brand and device.brand != vendor else vendor


BRIEF: Columns = (("IP", lambda d: d.ip), ("MAC", lambda d: d.mac), ("vendor", lambda d: d.vendor),
                  ("brand", lambda d: d.brand), ("model", lambda d: d.model), ("tier", lambda d: d.tier),
                  ("evidence", answered_by),
                  ("policies", lambda d: ", ".join(d.policies)))
DETAILED: Columns = (("IP", lambda d: d.ip), ("MAC", lambda d: d.mac), ("vendor (brand)", _vendor_and_brand),
                     ("model", lambda d: d.model), ("tier", lambda d: d.tier),
                     ("policies", lambda d: ", ".join(d.policies)),
                     ("evidence", lambda d: evidence_line(d.evidence)))


def flagged_table(devices: Iterable[FlaggedDevice], title: str, columns: Columns = BRIEF, *,
                  blank: str = "", fold: bool = False) -> Table:
    """A rich table, one row per device; unknown values show as `blank`, long ones wrap if `fold`."""
    table = Table(title=title)
    for header, _ in columns:
        table.add_column(header, overflow="fold" if fold else "ellipsis")
    for device in devices:
        table.add_row(*(inert_text(cell(device), blank) for _, cell in columns))
    return table


def print_flagged(identifications: Sequence[Any], stream: IO[str]) -> None:
    """The scan's table of flagged devices (plain text when `stream` is not a terminal)."""
    flagged = from_identifications(identifications)
    console = Console(file=stream, soft_wrap=True, width=None if stream.isatty() else 200)
    if not flagged:
        console.print(f"no flagged devices among {len(identifications)} identified")
        return
    review = sum(1 for d in flagged if d.tier == POSSIBLE)
    console.print(flagged_table(flagged, f"{len(flagged)} flagged device(s) of {len(identifications)} identified"
                                + (f", {review} possible (to review, not counted in the exit code)" if review else "")))
