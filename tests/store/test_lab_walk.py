"""The inventory walks with real scans: `camaudit scan` runs inside the lab's
scanner namespace against persona devices and writes the inventory these tests then read.

Personas are removed and brought back by rebuilding the lab with another persona set; the
variants (same camera re-addressed, a second camera) are copies of the shipped Hikvision
persona with another id, address or MAC.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from camaudit.db.store import Store
from camaudit.cli import main
from camaudit.exitcodes import ExitCode
from camaudit.lab.control import Lab
from camaudit.lab.persona import shipped_paths

pytestmark = [pytest.mark.lab, pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")]

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
SHIPPED_MAC, SHIPPED_IP = "c0:56:e3:10:00:10", "198.18.0.10"
CAM_MAC, CAM_IP, MOVED_IP = "c0:56:e3:10:01:20", "198.18.0.120", "198.18.0.121"
TWO_MAC = "c0:56:e3:10:01:22"
# The lab segment without the scanner (.1) and the lab router (.254, not a persona).
TARGETS = "198.18.0.2-253"


@pytest.fixture
def variants(tmp_path: Path) -> dict[str, Path]:
    """Copies of the shipped Hikvision camera: st-cam; st-cam-moved (st-cam re-addressed by
    DHCP: same MAC, new IP); st-cam-two (another camera). A lab loads every persona file it is
    given and refuses duplicate MACs, so each lab gets only the variants it runs."""
    text = next(p for p in shipped_paths() if p.stem == "hikvision-camera").read_text()
    out = {}
    for pid, ip, mac in (("st-cam", CAM_IP, CAM_MAC), ("st-cam-moved", MOVED_IP, CAM_MAC),
                         ("st-cam-two", "198.18.0.122", TWO_MAC)):
        body = (text.replace('id = "hikvision-camera"', f'id = "{pid}"')
                .replace(f'ip = "{SHIPPED_IP}"', f'ip = "{ip}"')
                .replace(f'mac = "{SHIPPED_MAC}"', f'mac = "{mac}"'))
        assert f'id = "{pid}"' in body and f'ip = "{ip}"' in body and f'mac = "{mac}"' in body, \
            "the shipped persona changed shape; update this fixture"
        out[pid] = tmp_path / f"{pid}.toml"
        out[pid].write_text(body)
    return out


@contextmanager
def lab_with(variants: dict[str, Path], *personas: str) -> Iterator[Lab]:
    lab = Lab(f"st{os.getpid() % 10**8}")
    lab.up(only=list(personas), extra_personas=[variants[p] for p in personas])
    try:
        yield lab
    finally:
        lab.down()


def lab_scan(lab: Lab, url: str) -> int:
    """One real `camaudit scan` of the lab segment; returns its exit code."""
    result = lab.exec([CAMAUDIT, "scan", TARGETS, "--db", url,
                       "--site", "lab", "--policy", "us-ndaa-889", "--config", "/dev/null", "--quiet"],
                      capture_output=True, text=True, timeout=180)
    assert result.returncode in (ExitCode.CLEAN, ExitCode.FLAGGED), result.stderr
    return result.returncode


def test_lifecycle_over_lab_scans(tmp_path: Path, variants: dict[str, Path]):
    """appear → open → remediated → removed from the lab → not seen → back → reopened."""
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    with lab_with(variants, "st-cam") as lab:
        assert lab_scan(lab, url) == ExitCode.FLAGGED
    store = Store(url)
    [row] = store.finding_rows()
    fid = row["finding_id"]
    assert (row["mac"], row["ip"], row["vendor"], row["status"]) == (CAM_MAC, CAM_IP, "Hikvision", "open")

    done = CliRunner().invoke(main, ["remediate", CAM_MAC, "--status", "remediated", "--actor", "auditor",
                                     "--note", "removed from the lobby", "--db", url, "--config", "/dev/null"])
    assert done.exit_code == 0, done.output

    with lab_with(variants, "st-cam-two") as lab:     # the camera is gone, another appears
        lab_scan(lab, url)
        lab_scan(lab, url)
    row = next(r for r in store.finding_rows() if r["finding_id"] == fid)
    assert row["status"] == "remediated" and row["not_seen_since"] is not None

    with lab_with(variants, "st-cam") as lab:
        assert lab_scan(lab, url) == ExitCode.FLAGGED
    row = next(r for r in store.finding_rows() if r["finding_id"] == fid)
    assert (row["status"], row["not_seen_since"]) == ("open", None)
    scans = [s["scan_id"] for s in reversed(store.scans())]
    events = store.events(fid)
    assert [(e["actor"], e["from"], e["to"], e["scan_id"]) for e in events] == [
        ("camaudit scan", None, "open", scans[0]),
        ("auditor", "open", "remediated", None),
        ("camaudit scan", "remediated", "remediated", scans[2]),
        ("camaudit scan", "remediated", "open", scans[3])]
    assert "not seen since" in events[2]["note"] and CAM_IP in events[2]["note"]
    assert events[3]["note"] == f"seen again in scan {scans[3]}"
    assert len(store.assets()) == 2                    # the camera is one asset throughout
    store.close()


def test_diff_between_two_lab_scans(tmp_path: Path, variants: dict[str, Path]):
    """Persona set {camera, second} → {camera re-addressed}: one gone, one changed, then one new."""
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    with lab_with(variants, "st-cam", "st-cam-two") as lab:
        lab_scan(lab, url)
    with lab_with(variants, "st-cam-moved") as lab:
        lab_scan(lab, url)
    with lab_with(variants, "st-cam-moved", "st-cam-two") as lab:
        lab_scan(lab, url)
    runner = CliRunner()
    first = json.loads(runner.invoke(main, ["diff", "1", "2", "--json", "--db", url,
                                            "--config", "/dev/null"]).stdout)
    assert first["new"] == []
    assert [g["mac"] for g in first["gone"]] == [TWO_MAC]
    assert [(c["mac"], c["changes"]) for c in first["changed"]] == [
        (CAM_MAC, {"ip": {"from": CAM_IP, "to": MOVED_IP}})]
    last = json.loads(runner.invoke(main, ["diff", "--json", "--db", url, "--config", "/dev/null"]).stdout)
    assert ([n["mac"] for n in last["new"]], last["gone"], last["changed"]) == ([TWO_MAC], [], [])
