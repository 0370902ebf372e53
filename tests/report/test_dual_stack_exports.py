"""A dual-stack device is one row in every export, with its IPv4 and its IPv6 addresses;
a device seen only over IPv6 shows its IPv6 addresses (real SQLite store, `camaudit export`,
the HTML read back in headless Chromium)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from camaudit.cli import main
from camaudit.db.store import Store
from camaudit.identify import Identification

DUAL_V4, DUAL_V6 = "198.18.0.30", ["fdca:a0d1:0:1::30", "fe80::c256:e3ff:fe00:30%veth-ca-cam30"]
ONLY_V6 = "fdca:a0d1:0:1::31"
EXPECTED = {(DUAL_V4, ", ".join(DUAL_V6)), ("", ONLY_V6)}


@pytest.fixture
def inventory(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    idents = [Identification(ip=ip, mac=mac, ipv6=ipv6, vendor="Hikvision", brand="Hikvision",
                             flagged=True, policies=["us-ndaa-889"], confidence=0.9, tier="probable")
              for ip, mac, ipv6 in ((DUAL_V4, "c0:56:e3:00:00:30", DUAL_V6), (ONLY_V6, None, [ONLY_V6]))]
    with Store(url) as store:
        sid = store.begin_scan(["198.18.0.0/24"], "hq", ["us-ndaa-889"], "test", "fp")
        store.record_identifications(sid, idents, ["198.18.0.0/24"])
        store.finish_scan(sid, "complete")
    return url


def export(url: str, out: Path, *args: str) -> Path:
    result = CliRunner().invoke(main, ["export", "--db", url, "-o", str(out), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("layout", [(), ("--by-policy",)])
def test_csv_and_xlsx_rows_carry_both_families(inventory: str, tmp_path: Path, layout: tuple[str, ...]) -> None:
    rows = list(csv.DictReader(io.StringIO(export(inventory, tmp_path / "f.csv", *layout).read_text("utf-8-sig"))))
    assert {(r["IP"], r["IPv6"]) for r in rows} == EXPECTED
    sheet = openpyxl.load_workbook(export(inventory, tmp_path / "f.xlsx", *layout)).worksheets[0]
    header = [c.value for c in sheet[1]]
    ip, ipv6 = header.index("IP"), header.index("IPv6")
    assert ipv6 == ip + 1
    assert {(r[ip] or "", r[ipv6]) for r in sheet.iter_rows(min_row=2, values_only=True)} == EXPECTED


def test_json_lists_the_ipv6_addresses(inventory: str, tmp_path: Path) -> None:
    doc: dict[str, Any] = json.loads(export(inventory, tmp_path / "f.json").read_text())
    assert doc["schema_version"] == 4
    assert {(d["ip"], tuple(d["ipv6"])) for d in doc["devices"]} == {(DUAL_V4, tuple(DUAL_V6)), (None, (ONLY_V6,))}
    by_policy = json.loads(export(inventory, tmp_path / "p.json", "--by-policy").read_text())
    assert {(f["ip"], tuple(f["ipv6"])) for f in by_policy["findings"]} == {(DUAL_V4, tuple(DUAL_V6)), (None, (ONLY_V6,))}


@pytest.mark.browser
def test_html_table_and_device_summary_show_both_families(inventory: str, tmp_path: Path, open_in_chromium) -> None:
    report = export(inventory, tmp_path / "report.html")
    with open_in_chromium(report, tmp_path / "profile") as browser:
        dom = browser.evaluate("""(() => {
            const heads = [...document.querySelectorAll('#findings thead th')].map(h => h.textContent);
            const ip = heads.indexOf('IP'), ipv6 = heads.indexOf('IPv6');
            return {cells: [...document.querySelectorAll('#findings tbody tr')].map(
                        r => [r.cells[ip].textContent.trim(), r.cells[ipv6].textContent.trim()]),
                    summaries: [...document.querySelectorAll('details.device summary')].map(s => s.textContent)};
        })()""")
    assert {tuple(c) for c in dom["cells"]} == EXPECTED
    dual = next(s for s in dom["summaries"] if DUAL_V4 in s)
    assert all(address in dual for address in DUAL_V6)
    assert any(ONLY_V6 in s for s in dom["summaries"])
