"""The one interface every export format implements, and the columns they share.

Formatters take plain rows, never the database: device rows (`Store.device_rows`, one per
flagged device, the default) or finding rows (`Store.finding_rows`, one per device × policy,
`ReportMeta.layout == BY_POLICY`), both documented in docs/exports.md, so each format is testable on rows a test builds and
a new format touches only its own module plus the registry in `camaudit.report`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO, Protocol

from camaudit import __version__

Row = Mapping[str, Any]


class Rows(Protocol):
    """The rows an exporter writes: iterated once, in order, with their number known first
    (JSON's `count` and the XLSX filter range precede the rows). A list is Rows; so is the
    store's `finding_stream`, which fetches rows while they are written, so an export does not
    hold every finding at once."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Row]: ...


@dataclass(frozen=True)
class Column:
    """One export column: the row key and the header people read."""

    key: str
    header: str


BY_DEVICE, BY_POLICY = "device", "policy"   # ReportMeta.layout: what one row is

# Where and what the device is: the same columns in both layouts.
IDENTITY: tuple[Column, ...] = (
    Column("site", "Site"),
    Column("ip", "IP"),       # IPv4
    Column("ipv6", "IPv6"),   # every IPv6 address, one cell: a dual-stack device is one row
    Column("mac", "MAC"),
    Column("vendor", "Vendor"),
    Column("brand", "Brand"),
    Column("model", "Model"),
    Column("firmware", "Firmware"),
    Column("serial", "Serial"),
    Column("device_type", "Device type"),
)

# The columns of the tabular exports (CSV, XLSX) by policy, in order. One row per finding:
# a finding is one (asset, policy) pair, so policy id/title/citation are plain columns.
COLUMNS: tuple[Column, ...] = (
    Column("finding_id", "Finding"),
    Column("asset_id", "Asset"),
    *IDENTITY,
    Column("policy_id", "Policy"),
    Column("policy_title", "Policy title"),
    Column("policy_citation", "Citation"),
    Column("confidence", "Confidence"),
    Column("tier", "Tier"),
    Column("evidence_summary", "Evidence"),
    Column("status", "Status"),
    Column("owner", "Owner"),
    Column("due", "Due"),
    Column("note", "Note"),
    Column("first_seen", "First seen"),
    Column("last_seen", "Last seen"),
    Column("days_open", "Days open"),
    Column("not_seen_since", "Not seen since"),
    Column("last_scan_id", "Last scan"),
)

# The tabular columns by device (the default): one row per flagged device, the policies that
# flag it in one cell; its status is the least advanced of its findings (`status_detail`
# says when they differ). The per-policy detail is in the JSON export's `findings` lists.
DEVICE_COLUMNS: tuple[Column, ...] = (
    Column("asset_id", "Device"),
    *IDENTITY,
    Column("tier", "Tier"),
    Column("confidence", "Confidence"),
    Column("policies", "Policies"),
    Column("priority_score", "Priority"),
    Column("priority_reason", "Why this priority"),
    Column("firmware_status", "Firmware status"),
    Column("kev_cves", "Known exploited"),
    Column("location", "Location"),
    Column("asset_tag", "Asset tag"),
    Column("register_owner", "Register owner"),
    Column("status", "Status"),
    Column("status_detail", "Status detail"),
    Column("owner", "Owner"),
    Column("due", "Due"),
    Column("days_open", "Days open"),
    Column("first_seen", "First seen"),
    Column("last_seen", "Last seen"),
    Column("not_seen_since", "Not seen since"),
    Column("evidence_summary", "Evidence"),
    Column("finding_ids", "Findings"),
)

@dataclass(frozen=True)
class ReportMeta:
    """What an export says about itself: when, by which version, under which filters.

    `series` is `Store.scan_series(...)` (one dict per scan, oldest first) for the burn-down
    chart; formats that do not chart ignore it.
    """

    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    filters: Mapping[str, Any] = field(default_factory=dict)
    series: Sequence[Mapping[str, Any]] = ()
    title: str = "camaudit findings"
    version: str = __version__
    layout: str = BY_DEVICE    # BY_DEVICE: rows are device rows; BY_POLICY: finding rows

    @property
    def columns(self) -> tuple[Column, ...]:
        """The tabular columns of this layout."""
        return COLUMNS if self.layout == BY_POLICY else DEVICE_COLUMNS


class Exporter(Protocol):
    """One export format. `write` must not close `stream`; the caller owns it."""

    name: str      # the --format value
    suffix: str    # default file suffix, with the dot

    def write(self, rows: Rows, meta: ReportMeta, stream: BinaryIO) -> None: ...


def cell(row: Row, key: str) -> Any:
    """A row value for a tabular cell: missing keys are empty, not an error.

    Rows from older stores may lack newer keys; an export must still come out. A list (a
    device's policies or finding ids) is one cell, its items separated by ", ".
    """
    value = row.get(key)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return "" if value is None else value


def filter_text(value: Any) -> str | None:
    """A filter value as people read it in an export header; None when it does not filter."""
    if value in (None, "", [], ()):
        return None
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)
