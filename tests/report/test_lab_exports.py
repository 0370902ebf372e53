"""End to end: scan the shared lab for real, then export and report.

The persona (scanner/lab/personas/hostile-payloads.toml) is a flagged Hikvision camera whose
model, serial, firmware, page title and ONVIF scopes are injection payloads. Whatever the
identifier keeps of them reaches the inventory; this checks it comes out inert everywhere.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from rich.console import Console

from camaudit.db.store import Store

from camaudit.cli import main
from camaudit.report.sanitize import is_formula_like
from camaudit.report.terminal import print_summary

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PERSONA = "hostile-payloads"
MODEL = "=cmd|' /C calc'!A0"          # the persona's ONVIF/SADP model
FIRMWARE = "<script>alert(1)</script>"  # its firmware version string


@pytest.fixture(scope="module")
def inventory(lab, tmp_path_factory) -> str:
    """A real scan of the shared lab (every shipped persona, the hostile one included)."""
    assert any(d["persona"] == PERSONA for d in lab.truth()), f"the lab lacks the {PERSONA} persona"
    url = f"sqlite:///{tmp_path_factory.mktemp('lab-inventory') / 'inventory.sqlite3'}"
    scan = lab.exec([sys.executable, "-m", "camaudit", "scan", "198.18.0.0/24", "--db", url,
                     "--site", "lab", "--quiet"],
                    stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False)
    assert scan.returncode == 1, f"the scan should flag devices:\n{scan.stderr[-3000:]}"
    return url


def hostile_ip(lab) -> str:
    return next(d["ip"] for d in lab.truth() if d["persona"] == PERSONA)


def export(url: str, path: Path) -> Path:
    result = CliRunner().invoke(main, ["export", "--db", url, "-o", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return path


def test_the_payloads_reached_the_inventory(inventory, lab):
    result = CliRunner().invoke(main, ["export", "--db", inventory, "-f", "json"])
    findings = [f for f in json.loads(result.stdout)["devices"] if f["ip"] == hostile_ip(lab)]
    assert findings and {f["vendor"] for f in findings} == {"Hikvision"}
    assert {f["model"] for f in findings} == {MODEL}  # otherwise this test proves nothing
    assert {f["firmware"] for f in findings} == {FIRMWARE}


def test_csv_cells_are_inert(inventory, lab, tmp_path):
    text = export(inventory, tmp_path / "lab.csv").read_text("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert {r["Model"] for r in rows if r["IP"] == hostile_ip(lab)} == {"'" + MODEL}
    for row in rows:
        for header, value in row.items():
            assert not is_formula_like(value), (header, value)


def test_xlsx_cells_are_inert(inventory, lab, tmp_path):
    path = export(inventory, tmp_path / "lab.xlsx")
    sheet = openpyxl.load_workbook(path)["Devices"]
    header = [c.value for c in sheet[1]]
    hostile = [row for row in sheet.iter_rows(min_row=2) if row[header.index("IP")].value == hostile_ip(lab)]
    assert hostile
    for row in hostile:
        model = row[header.index("Model")]
        assert model.value == MODEL and model.data_type == "s" and model.quotePrefix
    for row in sheet.iter_rows(min_row=2):
        assert all(cell.data_type in ("s", "n") for cell in row)
    with zipfile.ZipFile(path) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<hyperlink" not in sheet_xml


@pytest.mark.browser
def test_html_report_shows_payloads_as_text_in_chromium(inventory, tmp_path, open_in_chromium):
    report = export(inventory, tmp_path / "lab.html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report.read_text("utf-8")
    with open_in_chromium(report, tmp_path / "profile") as browser:
        dom = browser.evaluate("""({
            ready: document.documentElement.getAttribute('data-report-ready'),
            scripts: document.scripts.length, images: document.images.length,
            text: document.body.textContent})""")
        assert browser.requested_urls() == [report.as_uri()]
        assert not browser.script_alarms()
    assert dom["ready"] == "1" and dom["scripts"] == 1 and dom["images"] == 0
    assert FIRMWARE in dom["text"] and MODEL in dom["text"]  # shown literally, not run


def test_terminal_report_prints_no_escape_sequences(inventory, lab):
    result = CliRunner().invoke(main, ["report", "--db", inventory])
    assert result.exit_code == 1  # open findings
    assert "camaudit summary" in result.stdout and "\x1b" not in result.stdout
    with Store(inventory) as store:
        rows = [r for r in store.finding_rows() if r["ip"] == hostile_ip(lab)]
    out = io.StringIO()
    print_summary(rows, [], Console(file=out, width=200, color_system=None), date.today())
    assert MODEL in out.getvalue() and "\x1b" not in out.getvalue()
