"""The demo's findings table: one line per device, compact evidence, device text printed inert."""

from __future__ import annotations

import io

from rich.console import Console

from camaudit.demo import findings_table
from camaudit.report.flagged import evidence_line


def ev(source: str, port: int | None, fingerprint: str, weight: float) -> dict:
    return {"source": source, "port": port, "fingerprint": fingerprint, "weight": weight}


def test_evidence_shows_the_strongest_match_per_probe_answer() -> None:
    evidence = [ev("http", 80, "hik.http.server", 0.85), ev("http", 80, "hik.http.isapi", 0.9),
                ev("sadp", 37020, "hik.sadp.reply", 0.95), ev("mac", None, "oui", 0.35),
                ev("rtsp", 554, "hik.rtsp.realm", 0.8), ev("banner", 8000, "hik.banner", 0.7)]
    assert evidence_line(evidence) == ("sadp:37020 hik.sadp.reply, http:80 hik.http.isapi, "
                                       "rtsp:554 hik.rtsp.realm, banner:8000 hik.banner (+2 more matches)")
    assert evidence_line([ev("mac", None, "oui", 0.35)]) == "mac oui"


def test_one_row_per_device_and_device_text_stays_inert() -> None:
    base = {"asset_id": 7, "ip": "198.18.0.10", "mac": "c0:56:e3:10:00:10", "vendor": "Hikvision",
            "brand": "LTS", "model": "[bold red]X[/] \x1b[2J", "evidence": [ev("http", 80, "hik", 0.9)]}
    rows = [{**base, "policy_id": "us-ndaa-889"}, {**base, "policy_id": "ca-hikvision-2025"},
            {**base, "asset_id": 8, "ip": "198.18.0.9", "brand": None, "policy_id": "us-ndaa-889"}]
    table = findings_table(rows)
    assert table.row_count == 2
    out = io.StringIO()
    Console(file=out, width=250, color_system=None).print(table)
    text = out.getvalue()
    assert "[bold red]X[/]" in text and "\x1b" not in text
    assert "Hikvision (LTS)" in text and "ca-hikvision-2025, us-ndaa-889" in text
    assert text.index("198.18.0.9 ") < text.index("198.18.0.10 ")  # numeric address order
