"""`camaudit export` / `camaudit report` through a real SQLite inventory."""

from __future__ import annotations

import csv
import io
import json
import stat
from dataclasses import dataclass
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from camaudit.db.lifecycle import Change
from camaudit.db.store import Store
from camaudit.cli import main
from camaudit.identify import Identification
from camaudit.report.sanitize import is_formula_like


@dataclass
class Policy:
    id: str
    title: str
    citation: str


ISAPI_EVIDENCE = {"source": "http", "port": 80, "fingerprint": "hikvision-isapi", "field": "path",
                  "value": "/ISAPI/System/deviceInfo", "weight": 0.9, "vendor": "Hikvision"}


def flagged_camera(ip: str, mac: str, *, vendor: str, brand: str, model: str, firmware: str = "V5.4.5",
                   serial: str | None = None, evidence: dict[str, Any] = ISAPI_EVIDENCE) -> Identification:
    """A camera flagged under us-ndaa-889, as camaudit.identify produces it."""
    return Identification(ip=ip, mac=mac, vendor=vendor, brand=brand, model=model, firmware=firmware,
                          serial=serial, device_type="camera", flagged=True, policies=["us-ndaa-889"],
                          confidence=0.95, evidence=[dict(evidence)])


POLICY = Policy("us-ndaa-889", "NDAA FY2019 §889", "Pub. L. 115-232, §889(a)(1)(A)")


@pytest.fixture
def db_url(tmp_path, payloads) -> str:
    """An inventory with two scans: plain devices, hostile devices, one remediated finding."""
    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    idents = [flagged_camera("198.18.0.10", "c0:56:e3:00:00:10", vendor="Hikvision", brand="Hikvision",
                             model="DS-2CD2032-I"),
              flagged_camera("198.18.0.11", "3c:ef:8c:00:00:11", vendor="Dahua", brand="Lorex",
                             model="LNB8005")]
    idents += [flagged_camera(f"198.18.0.{100 + i}", f"c0:56:e3:00:01:{i:02x}", vendor="Hikvision",
                              brand=p, model=p, firmware=p, serial=p,
                              evidence={**ISAPI_EVIDENCE, "field": "title", "value": p})
               for i, p in enumerate(payloads)]
    with Store(url) as store:
        for _ in range(2):
            sid = store.begin_scan(["198.18.0.0/24"], "hq", [POLICY], "test", "fp")
            store.record_identifications(sid, idents, ["198.18.0.0/24"])
            store.finish_scan(sid, "complete")
        first = store.finding_rows()[0]["finding_id"]
        store.remediate([first], Change(to="remediated", actor="tester", note="replaced"))
    return url


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_csv_export_to_file_is_inert_complete_and_private(db_url, tmp_path, payloads):
    out = tmp_path / "findings.csv"
    result = run("export", "--db", db_url, "-o", str(out), "--by-policy")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"), newline="")))
    assert len(rows) == 2 + len(payloads)
    assert {r["Citation"] for r in rows} == {POLICY.citation}
    for row in rows:
        for header, value in row.items():
            assert not is_formula_like(value), (header, value)
    models = {r["Model"] for r in rows}
    assert "'=cmd|' /C calc'!A0" in models and "<script>alert(1)</script>" in models


def test_filters_reach_the_store(db_url, payloads):
    result = run("export", "--db", db_url, "--format", "json", "--status", "remediated")
    doc = json.loads(result.stdout)
    assert doc["count"] == 1 and doc["devices"][0]["status"] == "remediated"
    assert doc["filters"]["status"] == ["remediated"]
    doc = json.loads(run("export", "--db", db_url, "-f", "json", "--vendor", "dahua").stdout)
    assert [f["brand"] for f in doc["devices"]] == ["Lorex"]
    doc = json.loads(run("export", "--db", db_url, "-f", "json", "--since", "2999-01-01").stdout)
    assert doc["count"] == 0
    doc = json.loads(run("export", "--db", db_url, "-f", "json", "--since", "2000-01-01T00:00").stdout)
    assert doc["count"] == 2 + len(payloads)


def test_xlsx_export_read_with_openpyxl(db_url, tmp_path, payloads):
    out = tmp_path / "findings.xlsx"
    assert run("export", "--db", db_url, "-o", str(out)).exit_code == 0
    sheet = openpyxl.load_workbook(out)["Devices"]
    assert sheet.max_row == 1 + 2 + len(payloads)
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type in ("s", "n")
            if cell.data_type == "s" and is_formula_like(cell.value):
                assert cell.quotePrefix


def test_html_export_has_burn_down_from_the_scans(db_url, tmp_path):
    out = tmp_path / "report.html"
    assert run("export", "--db", db_url, "-o", str(out)).exit_code == 0
    text = out.read_text("utf-8")
    assert text.count('class="bar-chart"') == 3 and 'class="burn-down"' in text
    assert "<script>alert(1)</script>" not in text


def test_unwritable_target_fails_cleanly_and_keeps_old_file(db_url, tmp_path):
    result = run("export", "--db", db_url, "-o", str(tmp_path / "missing-dir" / "x.csv"))
    assert result.exit_code == 2  # a bad path is a usage error; a full disk is 3
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "missing-dir" in result.stderr and "directory does not exist" in result.stderr


def test_format_needed_when_suffix_does_not_say(db_url, tmp_path):
    result = run("export", "--db", db_url, "-o", str(tmp_path / "findings.txt"))
    assert result.exit_code == 2 and "--format" in result.stderr


def test_report_prints_tables_and_exit_code_says_open_findings(db_url, payloads):
    result = run("report", "--db", db_url)
    assert result.exit_code == 1  # open findings remain
    assert "camaudit summary" in result.stdout and "Lorex" not in result.stdout  # vendors, not brands
    assert "Dahua" in result.stdout and "\x1b]0;pwned" not in result.stdout
    clean = run("report", "--db", db_url, "--status", "remediated")
    assert clean.exit_code == 0


def test_unsupported_database_is_a_runtime_error_with_a_fix():
    result = run("report", "--db", "nonsense://")
    assert result.exit_code == 3
    assert "unsupported database 'nonsense'" in result.stderr


def test_bad_since_is_a_usage_error(db_url):
    result = run("export", "--db", db_url, "-f", "csv", "--since", "last week")
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.stderr
