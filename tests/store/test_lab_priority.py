"""Removal priority over a real lab scan: `camaudit scan` stores the devices, then
camaudit.priority ranks what the inventory holds (firmware, type, tier, open ports)."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from camaudit.advisories import load_advisories
from camaudit.cli import main
from camaudit.db.store import Store
from camaudit.exitcodes import ExitCode
from camaudit.lab.control import Lab
from camaudit.priority import UNKNOWN, VULNERABLE, assess, rank

pytestmark = [pytest.mark.lab, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")]

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
PERSONAS = ["hikvision-legacy-camera", "hikvision-camera", "hikvision-nvr-ssdp", "hikvision-nvr",
            "dahua-camera", "huawei-ar-router"]
LEGACY_IP, NO_FIRMWARE_NVR_IP = "198.18.0.96", "198.18.0.62"


def test_a_camera_on_known_exploited_firmware_ranks_first(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    lab = Lab(f"pr{os.getpid() % 10**8}")
    lab.up(only=PERSONAS)
    try:
        result = lab.exec([CAMAUDIT, "scan", "198.18.0.2-253", "--db", url, "--site", "lab",
                           "--config", "/dev/null", "--quiet"],
                          capture_output=True, text=True, timeout=180)
    finally:
        lab.down()
    assert result.returncode == ExitCode.FLAGGED, result.stderr
    with Store(url) as store:
        assets = {a["asset_id"]: a for a in store.assets(flagged=True)}
        facts = store.device_facts(list(assets))
    ranked = rank((assets[i], assess(f, load_advisories())) for i, f in facts.items())
    first, top = ranked[0]
    assert first["ip"] == LEGACY_IP, [(a["ip"], p.reason) for a, p in ranked]
    assert top.firmware_status == VULNERABLE and top.cves == ("CVE-2017-7921",)
    assert top.reason.startswith("CVE-2017-7921, known exploited") and top.reason.endswith("web UI and vendor SDK open")
    assert {80, 8000} <= facts[first["asset_id"]].open_ports
    by_ip = {a["ip"]: p for a, p in ranked}
    nvr = by_ip[NO_FIRMWARE_NVR_IP]
    assert facts[next(i for i, a in assets.items() if a["ip"] == NO_FIRMWARE_NVR_IP)].firmware is None
    assert nvr.firmware_status == UNKNOWN and "firmware unknown" in nvr.reason
    assert all(p.firmware_status != VULNERABLE for a, p in ranked[1:])
    # the remediation list people act on: the same device first, its reason and register
    # location in the row, in `findings` and in the CSV export
    register = tmp_path / "register.csv"
    register.write_text(f"IP Address,Asset Tag,Location,Owner\n{LEGACY_IP},CAM-0096,Lobby east door,Facilities\n")
    code, out = cli(url, "register", "load", str(register))
    assert code == 0, out
    code, out = cli(url, "findings", "--json")
    rows = json.loads(out)
    assert code == 0 and rows[0]["ip"] == LEGACY_IP, [(r["ip"], r["priority_reason"]) for r in rows]
    assert rows[0]["priority_reason"].startswith("CVE-2017-7921, known exploited")
    assert (rows[0]["location"], rows[0]["asset_tag"], rows[0]["register_owner"]) == (
        "Lobby east door", "CAM-0096", "Facilities")
    nvr_row = next(r for r in rows if r["ip"] == NO_FIRMWARE_NVR_IP)
    assert nvr_row["firmware_status"] == UNKNOWN and nvr_row["location"] is None
    code, _ = cli(url, "export", "--format", "csv", "-o", str(tmp_path / "list.csv"))
    with (tmp_path / "list.csv").open(newline="", encoding="utf-8") as fh:
        csv_rows = list(csv.DictReader(fh))
    legacy = next(r for r in csv_rows if r["IP"] == LEGACY_IP)
    assert legacy["Location"] == "Lobby east door" and "CVE-2017-7921" in legacy["Known exploited"]
    assert len(csv_rows) == len(rows)


def cli(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--db", url, "--config", "/dev/null"])
    return result.exit_code, result.output
