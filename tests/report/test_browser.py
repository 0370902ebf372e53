"""The HTML report in headless Chromium: charts and table render, the sort/filter script
runs under the page's CSP, no payload executes, and the page makes no network request.

Chromium runs under the DevTools client of conftest.py (`open_in_chromium`): every request
the page makes is observed, and it runs in a private network namespace, so even a regression
that made the page fetch something could not send a packet anywhere.
"""

from __future__ import annotations

import base64

import pytest

from camaudit.report import ReportMeta
from camaudit.report.base import BY_POLICY
from camaudit.outfile import write_atomic
from camaudit.report.html import HtmlExporter

pytestmark = [pytest.mark.browser]


@pytest.fixture
def page(tmp_path, rows, series, generated_at, open_in_chromium):
    """The by-policy report of the fixture rows (payload battery included) loaded in Chromium."""
    report = tmp_path / "report.html"
    meta = ReportMeta(layout=BY_POLICY, generated_at=generated_at, series=series)
    write_atomic(report, lambda out: HtmlExporter().write(rows, meta, out))
    with open_in_chromium(report, tmp_path / "profile") as browser:
        yield browser, report


def test_charts_and_table_render_and_nothing_is_fetched(page, rows, tmp_path):
    browser, report = page
    dom = browser.evaluate("""(() => {
        const box = (el) => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
        return {
          ready: document.documentElement.getAttribute('data-report-ready'),
          bars: [...document.querySelectorAll('svg.bar-chart')].map(box),
          barRects: document.querySelectorAll('svg.bar-chart rect').length,
          burnDown: [...document.querySelectorAll('svg.burn-down')].map(box),
          lines: document.querySelectorAll('svg.burn-down polyline').length,
          rows: document.querySelectorAll('#findings tbody tr').length,
          table: box(document.getElementById('findings')),
          devices: document.querySelectorAll('details.device').length,
          scripts: document.scripts.length,
          images: document.images.length,
        };
    })()""")
    assert dom["ready"] == "1", "the report script did not run (CSP hash mismatch?)"
    assert len(dom["bars"]) == 3 and all(w > 100 and h > 10 for w, h in dom["bars"])
    assert dom["barRects"] > 0
    assert len(dom["burnDown"]) == 1 and dom["burnDown"][0][0] > 300 and dom["lines"] == 2
    assert dom["rows"] == len(rows) and dom["table"][1] > 100
    assert dom["devices"] == len(rows) - 1
    assert dom["scripts"] == 1 and dom["images"] == 0  # no payload became an element

    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png",
                                         captureBeyondViewport=False)["data"])
    (tmp_path / "report.png").write_bytes(shot)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(shot[16:20], "big") == 1280  # IHDR width

    assert browser.requested_urls() == [report.as_uri()], "the page fetched something"
    assert not browser.script_alarms()


def test_table_sorts_and_filters_without_external_scripts(page, rows):
    browser, _ = page
    days = browser.evaluate("""(() => {
        const th = [...document.querySelectorAll('#findings th')].find(h => h.textContent === 'Days open');
        const col = [...th.parentNode.children].indexOf(th);
        th.click(); th.click();  // second click: descending
        return {sort: th.getAttribute('aria-sort'),
                values: [...document.querySelectorAll('#findings tbody tr')].map(r => Number(r.cells[col].textContent))};
    })()""")
    assert days["sort"] == "descending"
    assert days["values"] == sorted(days["values"], reverse=True) and days["values"][0] == 40

    shown = browser.evaluate("""(() => {
        const select = document.getElementById('filter-status');
        select.value = 'in_progress'; select.dispatchEvent(new Event('change'));
        const visible = [...document.querySelectorAll('#findings tbody tr')].filter(r => !r.hidden).length;
        const text = document.getElementById('filter-text');
        select.value = ''; select.dispatchEvent(new Event('change'));
        text.value = 'lorex'; text.dispatchEvent(new Event('input'));
        return [visible, [...document.querySelectorAll('#findings tbody tr')].filter(r => !r.hidden).length,
                document.getElementById('row-count').textContent];
    })()""")
    assert shown[0] == 1 and shown[1] == 1
    assert shown[2] == f"1 of {len(rows)} findings"
