"""Terminal summary (`camaudit report`) with rich tables, for people who prefer the console.

Every device-controlled value goes in as a `rich.text.Text` after `printable()`: rich would
otherwise read `[link=...]` in a banner as markup, and ESC sequences would reach the terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from camaudit.db.lifecycle import ACTIVE
from camaudit.report.base import Row, address, cell
from camaudit.report.sanitize import inert_text
from camaudit.report.summary import Summary, summarize

OLDEST_SHOWN = 15


def print_summary(rows: Sequence[Row], series: Sequence[Mapping[str, Any]], console: Console,
                  today: date) -> Summary:
    """Print headline numbers, breakdowns, the latest scans and the oldest open devices (or,
    given finding rows, the oldest open findings)."""
    summary = summarize(rows, today)
    console.print(_headline(summary))
    console.print(_counts("Findings by status", "status", summary.by_status, keep_order=True))
    if rows:
        console.print(_counts("Flagged devices by vendor", "vendor", summary.devices_by_vendor))
        console.print(_counts("Flagged devices by site", "site", summary.devices_by_site))
    if series:
        console.print(_scans(series[-5:]))
    oldest = sorted((r for r in rows if r.get("status") in ACTIVE),
                    key=lambda r: -(r.get("days_open") or 0))[:OLDEST_SHOWN]
    if oldest:
        console.print(_oldest(oldest))
    return summary


def _headline(summary: Summary) -> Table:
    table = Table(title="camaudit summary", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for what, count in (("flagged devices", summary.devices), ("findings", summary.findings),
                        ("open or in progress", summary.unresolved), ("overdue", summary.overdue),
                        ("to review (possible)", summary.review),
                        ("sites", summary.sites)):
        table.add_row(what, str(count))
    return table


def _counts(title: str, what: str, counts: Mapping[str, int], keep_order: bool = False) -> Table:
    """Largest first, unless the order means something (statuses follow the state machine)."""
    table = Table(title=title)
    table.add_column(what)
    table.add_column("count", justify="right")
    items = list(counts.items()) if keep_order else sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for name, count in items:
        table.add_row(_text(name), str(count))
    return table


def _scans(series: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="Latest scans")
    for header in ("scan", "site", "started", "status", "open", "in progress", "remediated"):
        table.add_column(header)
    for scan in series:
        table.add_row(*(_text(scan.get(key)) for key in
                        ("scan_id", "site", "started_at", "status", "open", "in_progress", "remediated")))
    return table


def _oldest(rows: Sequence[Row]) -> Table:
    """One line per device (or finding); the IP and id whole, device text cut with an ellipsis.

    The site column only appears when the rows span several sites, to fit 80 columns.
    """
    by_device = "findings" in rows[0]
    table = Table(title=f"Oldest open {'devices' if by_device else 'findings'} (up to {OLDEST_SHOWN})")
    columns = [("asset_id" if by_device else "finding_id", "id"), ("ip", "ip"), ("site", "site"),
               ("vendor", "vendor"), ("model", "model"), ("tier", "tier"),
               ("policies" if by_device else "policy_id", "policies" if by_device else "policy"),
               ("status", "status"), ("days_open", "days")]
    if len({row.get("site") for row in rows}) < 2:
        columns.remove(("site", "site"))
    widths = {"finding_id": (3, None), "asset_id": (3, None), "ip": (15, None), "days_open": (4, None),
              "policies": (8, 30),
              "status": (6, 11), "tier": (4, 9), "site": (4, 12), "vendor": (6, 12), "model": (8, 18), "policy_id": (8, 18)}
    for key, header in columns:
        low, high = widths[key]
        table.add_column(header, no_wrap=not high, min_width=low, max_width=high)
    for row in rows:
        table.add_row(*(_text(address(row) if key == "ip" else cell(row, key), clip=widths[key][1] is not None)
                        for key, _ in columns))
    return table


def _text(value: Any, clip: bool = False) -> Text:
    """Device text as plain rich Text; `clip` keeps it to one line, cut with an ellipsis."""
    text = inert_text(value)
    if clip:
        text.no_wrap, text.overflow = True, "ellipsis"
    return text
