"""Fixtures for the report tests: finding rows shaped like `Store.finding_rows`, some of
them carrying the injection payload battery in every device-controlled field."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
TIMEOUT = 30.0

# Strings a hostile device can put in a banner, model name or ONVIF scope.
PAYLOADS: tuple[str, ...] = (
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(1)",
    "\t=1",
    "\r=1",
    " =HYPERLINK(\"http://127.0.0.1:9/x\",\"click\")",
    "\uff1d1+1",
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "{{7*7}}",
    "'; DROP TABLE assets;--",
    "[link=http://127.0.0.1:9]x[/link]\x1b]0;pwned\x07\x1b[2J",
)
DEVICE_FIELDS = ("vendor", "brand", "model", "firmware", "serial", "device_type", "evidence_summary", "note", "owner")


def make_row(n: int, **overrides: Any) -> dict[str, Any]:
    """One finding row with every key of the `Store.finding_rows` contract."""
    row: dict[str, Any] = {
        "finding_id": n, "asset_id": n, "site": "hq", "ip": f"198.18.0.{10 + n}",
        "mac": f"c0:56:e3:00:00:{n:02x}", "vendor": "Hikvision", "brand": "Hikvision",
        "model": "DS-2CD2042WD-I", "firmware": "V5.4.5", "serial": f"SN{n:06d}",
        "device_type": "ip-camera", "policy_id": "ndaa-889",
        "policy_title": "NDAA FY2019 Section 889", "policy_citation": "Pub. L. 115-232 §889(a)(1)(A)",
        "confidence": 0.97, "tier": "confirmed", "evidence_summary": "http:80 /ISAPI/ answered; OUI c0:56:e3",
        "evidence": [{"source": "http", "port": 80, "fingerprint": "hikvision.isapi", "field": "path",
                      "value": "/ISAPI/System/deviceInfo", "weight": 0.9, "vendor": "Hikvision"}],
        "status": "open", "owner": None, "due": None, "note": None,
        "first_seen": "2026-11-01T10:00:00+00:00", "last_seen": "2026-11-27T10:00:00+00:00",
        "days_open": 27, "last_scan_id": 3, "not_seen_since": None,
    }
    row.update(overrides)
    return row


def hostile_rows() -> list[dict[str, Any]]:
    """One row per payload, the payload in every device-controlled field and the evidence."""
    rows = []
    for i, payload in enumerate(PAYLOADS, start=1):
        row = make_row(i, **{field: payload for field in DEVICE_FIELDS}, site=payload)
        row["evidence"] = [{"source": "http", "port": 80, "fingerprint": "hikvision.isapi",
                            "field": "title", "value": payload, "weight": 0.9, "vendor": payload}]
        rows.append(row)
    return rows


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    plain = [
        make_row(101),
        make_row(102, vendor="Dahua", brand="Lorex", model="LNB8005", site="branch-1",
                 status="in_progress", owner="it-ops", due="2026-11-01", days_open=40),
        make_row(103, vendor="Huawei", brand="Huawei", model="S5720", device_type="switch",
                 status="remediated", site="branch-1"),
        make_row(104, asset_id=101, policy_id="fcc-covered-list", policy_title="FCC Covered List",
                 policy_citation="47 CFR 1.50002"),
    ]
    return plain + hostile_rows()


@pytest.fixture
def series() -> list[dict[str, Any]]:
    return [
        {"scan_id": i, "site": "hq", "started_at": f"2026-11-{i:02d}T10:00:00+00:00",
         "finished_at": f"2026-11-{i:02d}T10:05:00+00:00", "status": "complete",
         "open": o, "in_progress": p, "remediated": r, "risk_accepted": 0, "false_positive": 0,
         "flagged_assets": o + p}
        for i, (o, p, r) in enumerate([(20, 0, 0), (15, 3, 2), (9, 4, 7), (4, 2, 14)], start=1)
    ]


@pytest.fixture
def generated_at() -> datetime:
    return datetime(2026, 11, 28, 5, 0, tzinfo=timezone.utc)


@pytest.fixture
def payloads() -> tuple[str, ...]:
    return PAYLOADS


@pytest.fixture
def hostile() -> list[dict[str, Any]]:
    return hostile_rows()


@pytest.fixture
def row_factory():
    return make_row


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe.

    `--remote-debugging-pipe` reads commands on fd 3 and writes replies/events to fd 4 as
    NUL-separated JSON. Chromium runs under `unshare --net`: a fresh network namespace with
    only a down loopback, so nothing the page tries can leave it.
    """

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

    def requested_urls(self) -> list[str]:
        """Every URL the page asked for (sent or blocked later), in order."""
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    def script_alarms(self) -> list[dict[str, Any]]:
        """Dialogs opened (alert payloads) and Content-Security-Policy violations logged."""
        return [e for e in self.events if e["method"] == "Page.javascriptDialogOpening"
                or (e["method"] == "Log.entryAdded"
                    and "Content Security Policy" in e["params"]["entry"].get("text", ""))]

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
def open_in_chromium() -> Callable[[Path, Path], Any]:
    """`with open_in_chromium(html_file, profile_dir) as browser:` the page loaded, events logged."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("needs Debian chromium (make test installs it)")
    if os.geteuid() != 0:
        pytest.skip("needs root for a private network namespace")

    @contextmanager
    def load(page: Path, profile: Path) -> Iterator[DevTools]:
        browser = DevTools(profile)
        try:
            page_id = next(t["targetId"] for t in browser.call("Target.getTargets")["targetInfos"]
                           if t["type"] == "page")
            browser.session = browser.call("Target.attachToTarget", targetId=page_id,
                                           flatten=True)["sessionId"]
            for domain in ("Network", "Page", "Log"):
                browser.call(f"{domain}.enable")
            browser.call("Page.navigate", url=page.as_uri())
            browser.wait_event("Page.loadEventFired")
            yield browser
        finally:
            browser.close()
            shutil.rmtree(profile, ignore_errors=True)

    return load
