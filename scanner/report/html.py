"""HTML report: one self-contained file that works offline and cannot run device input.

Autoescape is on for every value; charts are inline SVG computed in `charts.py`; the table's
sort/filter script and the stylesheet are inline and allowed by hash in a strict
Content-Security-Policy, so the page fetches nothing and no other script can run even if an
escaping bug slipped through.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import jinja2

from camaudit.report import charts
from camaudit.report.base import BY_POLICY, ReportMeta, Row, Rows, filter_text
from camaudit.report.summary import asset_key, per_finding, summarize
from camaudit.tiers import POSSIBLE

_TEMPLATES = resources.files("camaudit.report") / "templates"
# Columns of the remediation table: the ones a person acts on (the CSV has them all), one
# row per device (`DEVICE_TABLE_COLUMNS`) or, by policy, per finding (`TABLE_COLUMNS`).
DEVICE_TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("asset_id", "Device", "number"), ("ip", "IP", "text"), ("ipv6", "IPv6", "text"), ("site", "Site", "text"),
    ("vendor", "Vendor", "text"), ("brand", "Brand", "text"), ("model", "Model", "text"),
    ("device_type", "Type", "text"), ("tier", "Tier", "text"), ("policies", "Policies", "text"),
    ("status", "Status", "text"), ("owner", "Owner", "text"), ("due", "Due", "text"),
    ("days_open", "Days open", "number"), ("last_seen", "Last seen", "text"),
)
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("ip", "IP", "text"), ("ipv6", "IPv6", "text"), ("site", "Site", "text"), ("vendor", "Vendor", "text"),
    ("brand", "Brand", "text"), ("model", "Model", "text"), ("policy_id", "Policy", "text"),
    ("confidence", "Confidence", "number"), ("tier", "Tier", "text"), ("status", "Status", "text"),
    ("owner", "Owner", "text"), ("due", "Due", "text"), ("days_open", "Days open", "number"),
    ("last_seen", "Last seen", "text"),
)


class HtmlExporter:
    name = "html"
    suffix = ".html"

    def write(self, rows: Rows, meta: ReportMeta, stream: BinaryIO) -> None:
        # written as the template produces it: the page is never one string (and its bytes)
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        try:
            text.writelines(page(list(rows), meta))   # summary, table and devices reread the rows
            text.flush()
        finally:
            text.detach()  # the caller owns and closes the binary stream


def page(rows: Sequence[Row], meta: ReportMeta) -> Iterator[str]:
    """The report page as pieces of text, in order."""
    from markupsafe import Markup  # imported when a report is written: start-up stays short

    css = (_TEMPLATES / "report.css").read_text(encoding="utf-8")
    script = (_TEMPLATES / "report.js").read_text(encoding="utf-8")
    summary = summarize(rows, meta.generated_at.date())
    by_policy = meta.layout == BY_POLICY
    grouped = devices(rows if by_policy else per_finding(rows))
    return _environment().get_template("report.html.j2").generate(
        meta=meta,
        summary=summary,
        css=Markup(css),
        script=Markup(script),
        csp=content_security_policy(css, script),
        bar_charts=(
            charts.bar_chart("Flagged devices by vendor", summary.devices_by_vendor),
            charts.bar_chart("Flagged devices by site", summary.devices_by_site),
            charts.bar_chart("Findings by status", summary.by_status, keep_order=True),
        ),
        burn_down=charts.burn_down(meta.series),
        columns=TABLE_COLUMNS if by_policy else DEVICE_TABLE_COLUMNS,
        rows=rows,
        row_noun="findings" if by_policy else "devices",
        statuses=list(summary.by_status),
        devices=grouped,
        review=[device for device in grouped if device["row"].get("tier") == POSSIBLE],
        filters=_filter_items(meta.filters),
    )


def content_security_policy(css: str, script: str) -> str:
    """Nothing may load from anywhere; only this page's own style and script may run."""
    return ("default-src 'none'; "
            f"style-src '{_sha256(css)}'; script-src '{_sha256(script)}'; "
            "img-src data:; base-uri 'none'; form-action 'none'")


def devices(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """Findings grouped per device, with that device's evidence listed once."""
    grouped: dict[Any, dict[str, Any]] = {}
    for row in rows:
        device = grouped.setdefault(asset_key(row), {"row": row, "findings": [], "evidence": []})
        device["findings"].append(row)
        for item in row.get("evidence") or ():
            if item not in device["evidence"]:
                device["evidence"].append(item)
    return list(grouped.values())


def _filter_items(filters: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(key, text) for key, value in filters.items() if (text := filter_text(value)) is not None]


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _blank(value: Any) -> Any:
    """None shows as an empty cell rather than the word "None"; a list is one cell."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return "" if value is None else value


def _minute(value: Any) -> Any:
    """An ISO datetime shortened to `YYYY-MM-DD HH:MM` for the table; other values unchanged.

    Still sorts correctly as text; the exact timestamps are in the CSV/JSON exports.
    """
    if isinstance(value, str) and len(value) >= 16 and value[10:11] == "T":
        return value[:10] + " " + value[11:16]
    return _blank(value)


def _environment() -> jinja2.Environment:
    import jinja2  # imported when a report is written: every command would otherwise pay ~30 ms

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: (_TEMPLATES / name).read_text(encoding="utf-8")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["blank"] = _blank
    env.filters["minute"] = _minute
    return env
