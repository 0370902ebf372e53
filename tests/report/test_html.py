"""HTML report parsed as HTML: self-contained, escaped, one script allowed by hash."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from html.parser import HTMLParser

from camaudit.report import ReportMeta
from camaudit.report.base import BY_POLICY
from camaudit.report.html import HtmlExporter


class Page(HTMLParser):
    """Collects what matters for safety: elements, attributes, script and style bodies."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._open = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag):
        self._open = None

    def handle_data(self, data):
        if self._open == "script":
            self.scripts.append(data)
        elif self._open == "style":
            self.styles.append(data)


def render(rows, series, generated_at) -> str:
    buffer = io.BytesIO()
    HtmlExporter().write(rows, ReportMeta(layout=BY_POLICY, generated_at=generated_at, series=series,
                                          filters={"status": ["open", "in_progress"]}), buffer)
    return buffer.getvalue().decode("utf-8")


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_payloads_never_become_markup(rows, series, generated_at):
    page = parse(render(rows, series, generated_at))
    tag_names = [tag for tag, _ in page.tags]
    assert tag_names.count("script") == 1  # ours only
    assert "img" not in tag_names
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert "javascript:" not in (value or "").lower(), (tag, name, value)


def test_payload_text_is_shown_literally(hostile, series, generated_at):
    text = render(hostile, series, generated_at)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in text
    assert "{{7*7}}" in text  # data is never evaluated as a template


def test_strict_csp_allows_only_the_inline_script_and_style(rows, series, generated_at):
    page = parse(render(rows, series, generated_at))
    csp = next(attrs["content"] for tag, attrs in page.tags
               if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp
    assert f"script-src {sha256(page.scripts[0])}" in csp
    assert f"style-src {sha256(page.styles[0])}" in csp
    assert "unsafe-inline" not in csp and "http" not in csp


def test_no_external_references(rows, series, generated_at):
    page = parse(render(rows, series, generated_at))
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "data", "poster", "srcset"):
            assert name not in attrs or not re.match(r"^\s*(https?:)?//", attrs[name] or ""), (tag, name)
    assert "@import" not in page.styles[0] and "url(" not in page.styles[0]


def test_charts_and_table_are_present(rows, series, generated_at):
    page = parse(render(rows, series, generated_at))
    svg_classes = [attrs.get("class") for tag, attrs in page.tags if tag == "svg"]
    assert svg_classes.count("bar-chart") == 3
    assert svg_classes.count("burn-down") == 1
    assert sum(1 for tag, attrs in page.tags if tag == "tr" and "data-status" in attrs) == len(rows)
    assert sum(1 for tag, attrs in page.tags if tag == "details") == len(rows) - 1  # per device


def test_empty_report_still_renders(generated_at):
    text = render([], [], generated_at)
    assert "No scans recorded yet." in text and "No findings match." in text
    assert "status = open, in_progress" in text  # the page says what it is filtered by
