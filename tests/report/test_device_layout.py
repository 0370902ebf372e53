"""The remediation list by device through a real SQLite inventory: `camaudit export` in every
format and `camaudit report` give one row per flagged device (policies in one cell), the
HTML table works in a real Chromium, and `--by-policy` still gives one row per finding."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from camaudit.cli import main
from camaudit.db.lifecycle import Change
from camaudit.db.store import Store
from camaudit.identify import Identification
from camaudit.report.json_export import DEVICE_KEYS
from camaudit.report.sanitize import is_formula_like


@dataclass
class Policy:
    id: str
    title: str
    citation: str


POLICIES = [Policy("au-commonwealth-2023", "Australian Commonwealth directive", "PSPF 2023"),
            Policy("uk-gov-2022", "UK government sensitive sites", "Cabinet Office 2022"),
            Policy("us-ndaa-889", "NDAA FY2019 §889", "Pub. L. 115-232, §889(a)(1)(A)")]
EVIDENCE = {"source": "http", "port": 80, "fingerprint": "hikvision-isapi", "field": "path",
            "value": "/ISAPI/System/deviceInfo", "weight": 0.9, "vendor": "Hikvision"}
HIK_IP, DAHUA_IP = "198.18.0.10", "198.18.0.11"


def camera(ip: str, mac: str, policies: list[str], tier: str, **fields: Any) -> Identification:
    values = {"vendor": "Hikvision", "brand": "Hikvision", "model": "DS-2CD2032-I", **fields}
    return Identification(ip=ip, mac=mac, device_type="camera", flagged=True, policies=policies,
                          confidence=0.95, tier=tier, evidence=[dict(EVIDENCE)], **values)


@pytest.fixture
def inventory(tmp_path, payloads) -> dict[str, Any]:
    """A Hikvision under three policies (one remediated), a Dahua under one, and one hostile
    device per payload under two; the expected device and finding counts."""
    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    ids = [p.id for p in POLICIES]
    idents = [camera(HIK_IP, "c0:56:e3:00:00:10", ids, "confirmed"),
              camera(DAHUA_IP, "3c:ef:8c:00:00:11", ["us-ndaa-889"], "probable", vendor="Dahua",
                     brand="Lorex", model="LNB8005")]
    idents += [camera(f"198.18.0.{100 + i}", f"c0:56:e3:00:01:{i:02x}", ids[1:], "confirmed",
                      brand=p, model=p, firmware=p, serial=p)
               for i, p in enumerate(payloads)]
    with Store(url) as store:
        sid = store.begin_scan(["198.18.0.0/24"], "hq", POLICIES, "test", "fp")
        store.record_identifications(sid, idents, ["198.18.0.0/24"])
        store.finish_scan(sid, "complete")
        first = next(r for r in store.finding_rows() if r["ip"] == HIK_IP)
        store.remediate([first["finding_id"]], Change(to="remediated", actor="tester", note="replaced"))
        findings = len(store.finding_rows())
    return {"url": url, "devices": len(idents), "findings": findings}


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_csv_has_one_row_per_device_with_a_policies_cell(inventory, tmp_path):
    out = tmp_path / "remediation.csv"
    assert run("export", "--db", inventory["url"], "-o", str(out)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"), newline="")))
    assert len(rows) == inventory["devices"] < inventory["findings"]
    hik = next(r for r in rows if r["IP"] == HIK_IP)
    assert hik["Policies"] == "au-commonwealth-2023, uk-gov-2022, us-ndaa-889"
    assert (hik["Tier"], hik["Status"]) == ("confirmed", "open")
    assert hik["Status detail"] == "mixed: open 2, remediated 1"
    assert next(r for r in rows if r["IP"] == DAHUA_IP)["Tier"] == "probable"
    for row in rows:
        for header, value in row.items():
            assert not is_formula_like(value), (header, value)
    by_policy = tmp_path / "by-policy.csv"
    assert run("export", "--db", inventory["url"], "-o", str(by_policy), "--by-policy").exit_code == 0
    assert len(list(csv.DictReader(io.StringIO(by_policy.read_text("utf-8-sig"), newline="")))) == inventory["findings"]


def test_json_v3_devices_keep_each_policy_finding_and_its_history(inventory):
    doc = json.loads(run("export", "--db", inventory["url"], "-f", "json").stdout)
    assert (doc["schema_version"], doc["layout"]) == (4, "by_device") and "findings" not in doc
    assert doc["count"] == len(doc["devices"]) == inventory["devices"]
    assert all(list(device) == list(DEVICE_KEYS) for device in doc["devices"])
    hik = next(d for d in doc["devices"] if d["ip"] == HIK_IP)
    assert hik["policies"] == [p.id for p in POLICIES] and hik["tier"] == "confirmed"
    trails = {f["policy_id"]: [(e["to"], e["actor"]) for e in f["history"]] for f in hik["findings"]}
    assert trails["au-commonwealth-2023"][-1] == ("remediated", "tester")
    assert [to for to, _ in trails["us-ndaa-889"]] == ["open"]
    assert "<script>alert(1)</script>" in {d["model"] for d in doc["devices"]}   # JSON is data
    doc = json.loads(run("export", "--db", inventory["url"], "-f", "json", "--by-policy").stdout)
    assert (doc["layout"], doc["count"], len(doc["findings"])) == ("by_policy", inventory["findings"], inventory["findings"])


def test_xlsx_devices_sheet_one_row_per_device(inventory, tmp_path):
    out = tmp_path / "remediation.xlsx"
    assert run("export", "--db", inventory["url"], "-o", str(out)).exit_code == 0
    sheet = openpyxl.load_workbook(out)["Devices"]
    header = [c.value for c in sheet[1]]
    assert sheet.max_row == 1 + inventory["devices"]
    assert {"Policies", "Tier", "Status", "Owner", "Due", "Days open", "Last seen"} <= set(header)
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if cell.data_type == "s" and is_formula_like(cell.value):
                assert cell.quotePrefix


def test_report_lists_oldest_open_devices_and_keeps_the_exit_code(inventory):
    result = run("report", "--db", inventory["url"])
    assert result.exit_code == 1 and "Oldest open devices" in result.stdout
    assert "Oldest open findings" in run("report", "--db", inventory["url"], "--by-policy").stdout
    assert run("report", "--db", inventory["url"], "--status", "remediated").exit_code == 0


@pytest.mark.browser
def test_html_device_table_sorts_and_filters_in_chromium(inventory, tmp_path, open_in_chromium):
    report = tmp_path / "report.html"
    assert run("export", "--db", inventory["url"], "-o", str(report)).exit_code == 0
    with open_in_chromium(report, tmp_path / "profile") as browser:
        dom = browser.evaluate("""(() => {
            const headers = [...document.querySelectorAll('#findings th')].map(h => h.textContent);
            const col = headers.indexOf('Policies');
            const rows = [...document.querySelectorAll('#findings tbody tr')];
            const text = document.getElementById('filter-text');
            text.value = 'lorex'; text.dispatchEvent(new Event('input'));
            return {ready: document.documentElement.getAttribute('data-report-ready'), headers,
                    rows: rows.length, policies: rows.map(r => r.cells[col].textContent),
                    counter: document.getElementById('row-count').textContent,
                    devices: document.querySelectorAll('details.device').length,
                    images: document.images.length};
        })()""")
        assert dom["ready"] == "1" and dom["images"] == 0
        assert dom["rows"] == dom["devices"] == inventory["devices"]
        assert "au-commonwealth-2023, uk-gov-2022, us-ndaa-889" in dom["policies"]
        assert {"Device", "Tier", "Policies", "Status", "Days open"} <= set(dom["headers"])
        assert dom["counter"] == f"1 of {inventory['devices']} devices"
        assert browser.requested_urls() == [report.as_uri()] and not browser.script_alarms()
