"""Terminal summary: the numbers people act on, and no markup or escapes from devices."""

from __future__ import annotations

import io
from datetime import date

from rich.console import Console

from camaudit.report.terminal import print_summary


def render(rows, series) -> tuple[str, object]:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True, color_system=None)
    summary = print_summary(rows, series, console, today=date(2026, 11, 28))
    return out.getvalue(), summary


def test_summary_counts_and_tables(rows, series):
    text, summary = render(rows, series)
    assert summary.findings == len(rows)
    # row 104 is a second policy on asset 101: one device, two findings
    assert summary.devices == len(rows) - 1
    assert summary.overdue == 1  # in_progress, due 2026-11-01
    for title in ("camaudit summary", "Findings by status", "Flagged devices by vendor",
                  "Flagged devices by site", "Latest scans", "Oldest open findings"):
        assert title in text
    assert "Dahua" in text and "branch-1" in text


def test_device_text_cannot_inject_markup_or_escape_sequences(hostile, series):
    text, _ = render(hostile, series)
    assert "\x1b]0;pwned" not in text and "\x1b[2J" not in text
    assert "\\x1b]0;pwned" in text  # shown, not obeyed
    assert "[link=http://127.0.0.1:9]" in text  # printed literally, not turned into a link
    assert "\x1b]8;" not in text  # no OSC 8 hyperlink emitted


def test_empty_inventory_prints_zeroes():
    text, summary = render([], [])
    assert summary.findings == 0 and summary.devices == 0
    assert "camaudit summary" in text and "Findings by status" in text
    assert "by vendor" not in text  # no empty breakdowns
