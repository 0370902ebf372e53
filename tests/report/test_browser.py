"""The HTML report in headless Chromium: charts and table render, the sort/filter script
runs under the page's CSP, no payload executes, and the page makes no network request.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: fds 3
and 4, NUL-separated JSON), so every request the page makes is observed, not inferred. It runs
in a fresh, anonymous network namespace (`unshare --net`: no interface but a down loopback),
so even a regression that made the page fetch something could not send a packet anywhere.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from scanner.report import ReportMeta
from scanner.report.atomic import write_atomic
from scanner.report.html import HtmlExporter

CHROMIUM = "/usr/bin/chromium"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
TIMEOUT = 30.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="needs Debian chromium (make test installs it)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a private network namespace"),
]


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_fds() -> None:  # the child expects commands on fd 3 and writes replies to fd 4
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.process = subprocess.Popen(
            [UNSHARE, "--net", "--", CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-extensions",
             "--disable-features=Translate,OptimizationHints,MediaRouter",
             '--host-resolver-rules=MAP * ~NOTFOUND', "--window-size=1280,1600",
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds, pass_fds=(3, 4))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        reply = self._until(lambda m: m.get("id") == self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event["method"] == method:
                return event
        return self._until(lambda m: m.get("method") == method)

    def _until(self, wanted) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._from_chrome], [], [], remaining)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self._buffer += chunk

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture
def page(tmp_path, rows, series, generated_at):
    """The report of the fixture rows (payload battery included) loaded in Chromium."""
    report = tmp_path / "report.html"
    meta = ReportMeta(generated_at=generated_at, series=series)
    write_atomic(report, lambda out: HtmlExporter().write(rows, meta, out))
    browser = DevTools(tmp_path / "profile")
    try:
        page_id = next(t["targetId"] for t in browser.call("Target.getTargets")["targetInfos"]
                       if t["type"] == "page")
        browser.session = browser.call("Target.attachToTarget", targetId=page_id, flatten=True)["sessionId"]
        browser.call("Network.enable")
        browser.call("Page.enable")
        browser.call("Log.enable")
        browser.call("Page.navigate", url=report.as_uri())
        browser.wait_event("Page.loadEventFired")
        yield browser, report
    finally:
        browser.close()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


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

    requests = [e["params"]["request"]["url"] for e in browser.events
                if e["method"] == "Network.requestWillBeSent"]
    assert requests == [report.as_uri()], f"the page fetched {requests}"
    assert not [e for e in browser.events if e["method"] == "Page.javascriptDialogOpening"]
    violations = [e for e in browser.events if e["method"] == "Log.entryAdded"
                  and "Content Security Policy" in e["params"]["entry"].get("text", "")]
    assert not violations, violations


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
