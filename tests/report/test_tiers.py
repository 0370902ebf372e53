"""Every export carries the confidence tier, `--tier` filters them, and the HTML report shows
the tier and lists the `possible` devices for review (checked in Chromium)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from camaudit.cli import main
from camaudit.db.store import Store
from camaudit.identify import Identification

DEVICES = {"198.18.0.10": "confirmed", "198.18.0.11": "possible", "198.18.0.12": "probable"}


@pytest.fixture
def inventory(tmp_path: Path) -> str:
    """A real SQLite inventory of three flagged devices, one per tier."""
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    with Store(url) as store:
        sid = store.begin_scan(["198.18.0.0/24"], "hq", ["us-ndaa-889"], "test", "fp")
        store.record_identifications(sid, [
            Identification(ip=ip, mac=f"c0:56:e3:00:00:{ip.rsplit('.', 1)[1]}", vendor="Hikvision",
                           brand="Hikvision", model=f"DS-{tier}", flagged=True, policies=["us-ndaa-889"],
                           confidence=0.9, tier=tier,
                           evidence=[{"source": "http", "port": 80, "fingerprint": f"test.{tier}",
                                      "field": "http.body", "value": "x", "weight": 0.9,
                                      "vendor": "Hikvision", "tier": tier}])
            for ip, tier in DEVICES.items()], ["198.18.0.0/24"])
        store.finish_scan(sid, "complete")
    return url


def export(url: str, path: Path, *args: str) -> Path:
    result = CliRunner().invoke(main, ["export", "--db", url, "--config", "/dev/null", "-o", str(path), *args])
    assert result.exit_code == 0, result.output
    return path


def test_csv_json_and_xlsx_carry_the_tier(inventory: str, tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(export(inventory, tmp_path / "f.csv").read_text("utf-8-sig"))))
    assert {r["IP"]: r["Tier"] for r in rows} == DEVICES

    doc = json.loads(export(inventory, tmp_path / "f.json").read_text())
    assert doc["schema_version"] == 4
    assert {f["ip"]: f["tier"] for f in doc["devices"]} == DEVICES
    assert {f["ip"]: f["evidence"][0]["tier"] for f in doc["devices"]} == DEVICES

    sheet = openpyxl.load_workbook(export(inventory, tmp_path / "f.xlsx"))["Devices"]
    header = [c.value for c in sheet[1]]
    assert {row[header.index("IP")].value: row[header.index("Tier")].value
            for row in sheet.iter_rows(min_row=2)} == DEVICES


def test_export_tier_filter_is_recorded(inventory: str, tmp_path: Path) -> None:
    doc = json.loads(export(inventory, tmp_path / "f.json", "--tier", "possible,probable").read_text())
    assert doc["filters"]["tier"] == ["possible", "probable"]
    assert sorted(f["ip"] for f in doc["devices"]) == ["198.18.0.11", "198.18.0.12"]


@pytest.mark.browser
def test_html_shows_the_tier_and_lists_possible_devices_for_review(inventory: str, tmp_path: Path,
                                                                   open_in_chromium) -> None:
    report = export(inventory, tmp_path / "f.html")
    with open_in_chromium(report, tmp_path / "profile") as browser:
        dom = browser.evaluate("""(() => {
            const th = [...document.querySelectorAll('#findings th')].find(h => h.textContent === 'Tier');
            const col = th ? [...th.parentNode.children].indexOf(th) : -1;
            const ipCol = [...document.querySelectorAll('#findings th')].findIndex(h => h.textContent === 'IP');
            return {
              tiers: col < 0 ? null : Object.fromEntries([...document.querySelectorAll('#findings tbody tr')]
                        .map(r => [r.cells[ipCol].textContent, r.cells[col].textContent])),
              review: [...document.querySelectorAll('#review li')].map(li => li.textContent),
              reviewShown: document.getElementById('review').getBoundingClientRect().height > 0,
              deviceTiers: [...document.querySelectorAll('details.device dl')].map(dl => {
                  const dt = [...dl.querySelectorAll('dt')].find(d => d.textContent === 'Tier');
                  return dt ? dt.nextElementSibling.textContent : null; }),
            };
        })()""")
    assert dom["tiers"] == DEVICES
    assert len(dom["review"]) == 1 and "198.18.0.11" in dom["review"][0] and dom["reviewShown"]
    assert sorted(dom["deviceTiers"]) == sorted(DEVICES.values())
