"""Fixtures for the report tests: finding rows shaped like `Store.finding_rows`, some of
them carrying the injection payload battery in every device-controlled field."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

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
        "confidence": 0.97, "evidence_summary": "http:80 /ISAPI/ answered; OUI c0:56:e3",
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
